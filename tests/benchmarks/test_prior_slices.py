import numpy as np

from benchmarks.prior_slices import main, slice_of, slices
from training.evaluate import EvalCurve


def _curve(name: str, y, lr, direction: str, horizon: float) -> EvalCurve:
    x = np.linspace(horizon / 20, horizon, 20)
    return EvalCurve(name, x, np.asarray(y, float), direction, schedule=(x, np.asarray(lr, float)), horizon=horizon)


def test_a_slice_is_named_by_the_run_s_length_metric_warmup_and_early_creep():
    u = np.linspace(0.05, 1.0, 20)
    flat, warmup = np.ones(20), np.minimum(1.0, u / 0.2)
    assert slice_of(_curve("a", 2.0 - 0.01 * u, warmup, "min", 50.0)) == "short loss-like, warmup, creeping"
    assert slice_of(_curve("b", 0.9 - 0.02 / u, flat, "max", 1e4)) == "long accuracy-like, no warmup, improving"
    # the first tenth (2 of 20 points) decides: a loss falling 10 % there improves, whatever comes later
    assert slice_of(_curve("c", np.r_[1.0, 0.9, np.full(18, 0.9)], flat, "min", 500.0)).endswith("no warmup, improving")


def test_slices_read_only_what_the_model_sees():
    """Two curves alike in what the model sees share a slice whatever else differs (their ids and ranges here)."""
    u = np.linspace(0.05, 1.0, 20)
    one = _curve("progress/1", 1.0 - 0.5 * u, np.ones(20), "min", 80.0)
    two = EvalCurve("multi_power/2", one.x, one.y, "min", schedule=one.schedule, y_range=7.0, horizon=80.0)
    hidden = EvalCurve("no-schedule", one.x, one.y, "min", horizon=80.0)
    assert [[c.id for c in g] for g in slices([one, two, hidden], per_slice=5).values()] == [["progress/1", "multi_power/2"]]
    assert [len(g) for g in slices([one, two], per_slice=1).values()] == [1]


def test_the_benchmark_prints_a_row_per_slice_from_the_model_s_own_prior(capsys):
    main(["--curves", "300", "--per-slice", "3", "--points", "20"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| long") or line.startswith("| short")]
    assert len(rows) >= 4 and "training prior" in out
    assert all(len(row.split("|")[3].split("/")) == 4 for row in rows)
