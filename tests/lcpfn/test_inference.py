import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lcpfn
from lcpfn.errors import InvalidCurveError, ModelFileError
from lcpfn.features import FLAT_RESOLUTION
from lcpfn.inputs import MAX_QUERIES
from priors.schedules import constant, wsd

ROOT = Path(__file__).resolve().parents[2]
X = np.arange(1, 21, dtype=float)
LOSS = 2.0 + 3.0 * X**-0.5 + 0.01 * np.sin(X)


@pytest.fixture(scope="module")
def model():
    return lcpfn.load()


def test_prediction_contract(model):
    pred = model.predict(X, LOSS, [30, 60, 100])
    q = pred.quantile([0.05, 0.25, 0.5, 0.75, 0.95])
    assert q.shape == (5, 3) and np.all(np.diff(q, axis=0) >= 0)
    low, high = pred.interval(0.9)
    np.testing.assert_allclose(low, q[0])
    np.testing.assert_allclose(high, q[-1])
    np.testing.assert_allclose(pred.cdf(pred.median), 0.5, atol=1e-6)
    assert np.all(np.isfinite(pred.log_prob(pred.median))) and np.all(np.isfinite(pred.mean))
    np.testing.assert_allclose(pred.prob_better_than(pred.median), 0.5, atol=1e-6)
    d = json.loads(json.dumps(pred.to_dict()))
    assert d["x_query"] == [30, 60, 100] and set(d["quantiles"]) == {"0.05", "0.25", "0.5", "0.75", "0.95"}


@settings(max_examples=25, deadline=None)
@given(st.floats(1e-3, 1e3), st.floats(-1e3, 1e3), st.sampled_from(["min", "max"]))
def test_predictions_are_affine_equivariant(a, b, direction):
    model = lcpfn.load()
    y = LOSS if direction == "min" else 1.0 - LOSS / 10
    # A context whose values differ by rounding alone is a constant one, whatever map made it so.
    assume(np.ptp(a * y) > 10 * FLAT_RESOLUTION * np.abs(a * y + b).max())
    base = model.predict(X, y, [40, 80], direction=direction)
    moved = model.predict(X, a * y + b, [40, 80], direction=direction)
    levels = [0.05, 0.5, 0.95]
    tol = 1e-4 * (abs(b) + a * (1 + np.abs(y).max()))
    np.testing.assert_allclose(moved.quantile(levels), a * base.quantile(levels) + b, atol=tol)
    v = base.median
    np.testing.assert_allclose(moved.log_prob(a * v + b), base.log_prob(v) - np.log(a), atol=1e-3)


def test_max_direction_is_the_mirror_of_min(model):
    lo = model.predict(X, LOSS, [50], direction="min")
    hi = model.predict(X, -LOSS, [50], direction="max")
    np.testing.assert_allclose(hi.quantile([0.1, 0.9]), -lo.quantile([0.9, 0.1]), atol=1e-9)
    np.testing.assert_allclose(hi.prob_better_than(-3.0), lo.prob_better_than(3.0), atol=1e-12)


def test_known_bounds_hold_the_predictions(model):
    acc = 0.97 - 0.5 * X**-0.7
    pred = model.predict(X, acc, [100, 1000], direction="max", bounds=(0, 1))
    q = pred.quantile([0.001, 0.5, 0.999])
    assert np.all(q <= 1.0) and np.all(q >= 0.0)
    assert np.all(pred.cdf(1.0) == 1.0)


def test_schedule_forms_agree(model):
    sched = wsd(total=100, peak=1e-3, cooldown=0.2)
    steps = np.linspace(0, 100, 2001)
    by_object = model.predict(X, LOSS, [100], schedule=sched)
    by_pairs = model.predict(X, LOSS, [100], schedule=(steps, sched(steps)))
    by_callable = model.predict(X, LOSS, [100], schedule=sched.__call__, horizon=100)
    np.testing.assert_allclose(by_pairs.quantile([0.1, 0.5, 0.9]), by_object.quantile([0.1, 0.5, 0.9]), rtol=1e-3)
    np.testing.assert_allclose(by_callable.quantile([0.1, 0.5, 0.9]), by_object.quantile([0.1, 0.5, 0.9]), rtol=1e-9)


def test_a_known_cooldown_lowers_the_predicted_final_loss(model):
    x = np.arange(100, 12_000, 200, dtype=float)
    y = 3.0 + 2.0 * (x / 100) ** -0.4
    flat = model.predict(x, y, [24_000], schedule=constant(total=24_000, peak=3e-4))
    cooled = model.predict(x, y, [24_000], schedule=wsd(total=24_000, peak=3e-4, cooldown=0.2))
    assert cooled.median[0] < flat.median[0]


def test_the_same_cooldown_gains_more_in_a_run_of_more_steps(model):
    """The same curve and schedule counted in 10x the steps: the prior ties longer runs to deeper cooldowns (prior v2.6)."""
    x = np.arange(100, 20_000, 400, dtype=float)
    y = 3.0 + 2.0 * (x / 100) ** -0.4
    gains = []
    for k in (0.1, 1.0):
        flat = model.predict(k * x, y, [k * 24_000], schedule=constant(total=k * 24_000, peak=3e-4))
        cooled = model.predict(k * x, y, [k * 24_000], schedule=wsd(total=k * 24_000, peak=3e-4, cooldown=0.2))
        gains.append(flat.median[0] - cooled.median[0])
    assert 0 < gains[0] < gains[1], gains


@settings(max_examples=30, deadline=None)
@given(
    st.integers(3, 40),
    st.floats(1.05, 20.0),
    st.lists(st.floats(1.0, 1000.0), min_size=1, max_size=6),
    st.sampled_from([None, "horizon", "schedule"]),
)
def test_the_prediction_at_a_step_does_not_depend_on_the_other_steps_asked(n, ahead, others, planned):
    """Marginal at a step unchanged when other query steps are added (the issue's x=1..20 accuracy example included)."""
    model = lcpfn.load()
    x = np.arange(1.0, n + 1.0)
    acc = 0.9 - 0.6 * x**-0.8
    step = n * ahead
    kw = dict(direction="max", bounds=(0, 1))
    if planned == "horizon":
        kw["horizon"] = n * 1001.0
    elif planned == "schedule":
        kw["schedule"] = wsd(total=n * 1001.0, peak=0.1, cooldown=0.3)
    extra = [n + o * n for o in others]
    alone = model.predict(x, acc, [step], **kw)
    together = model.predict(x, acc, sorted([step, *extra]), **kw)
    at = list(together.x_query).index(step)
    levels = [0.05, 0.5, 0.95]
    np.testing.assert_allclose(together.quantile(levels)[:, at], alone.quantile(levels)[:, 0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("level", [2.302585, 0.1, -7.5])
def test_a_context_flat_up_to_rounding_is_predicted_as_a_flat_one(model, level):
    """Float32 rounding of a stuck loss (ln 10 at initialization) must not read as a curve that has stopped moving
    for good: scaled by its rounding error, the prediction of a loss stuck at ln 10 +- 1e-9 stayed within 0.001."""
    flat = np.full(10, level)
    rounded = flat + 1e-9 * abs(level) * np.array([0, 1, 0, -2, 1, 3, -2, 4, 3, 5])
    levels = [0.05, 0.5, 0.95]
    for kwargs in ({}, {"bounds": (0, None)} if level > 0 else {"direction": "max"}):
        expected = model.predict(np.arange(1, 11), flat, [20, 100], **kwargs).quantile(levels)
        got = model.predict(np.arange(1, 11), rounded, [20, 100], **kwargs).quantile(levels)
        # The rounding moves the normalized context by ~1e-7, which the network passes on to its quantiles as up to
        # ~1e-4 of the interval's width; read as a curve that stopped moving, the interval shrank to a thousandth of it.
        width = expected[-1] - expected[0]
        assert np.all(np.abs(got - expected) <= 1e-3 * width), (got, expected)


def test_a_diverged_evaluation_of_1e40_leaves_every_prediction_finite(model):
    pred = model.predict(range(1, 21), [1e40] + [3 - 0.1 * i for i in range(19)], [40])
    assert np.all(np.isfinite(pred.quantile([0.05, 0.5, 0.95]))) and np.isfinite(pred.mean).all()


@settings(max_examples=25, deadline=None)
@given(st.floats(-1e100, 1e100), st.integers(0, len(X) - 1), st.sampled_from(["min", "max"]))
def test_any_value_within_the_limits_gives_finite_predictions(value, at, direction):
    y = LOSS.copy()
    y[at] = value
    pred = lcpfn.load().predict(X, y, [40, 80], direction=direction)
    for a in (pred.quantile([0.01, 0.5, 0.99]), pred.mean, pred.log_prob(pred.median), pred.cdf(pred.median)):
        assert np.all(np.isfinite(a))


def test_predict_many_equals_predict(model):
    curves = [dict(x=X[:n], y=LOSS[:n], x_query=[25.0, 50.0][: 1 + n % 2]) for n in (3, 8, 20)]
    curves.append(dict(x=X, y=1 - LOSS / 10, x_query=[90.0], direction="max", bounds=(0, 1)))
    for one, many in zip([model.predict(**c) for c in curves], model.predict_many(curves)):
        np.testing.assert_allclose(many.quantile([0.1, 0.5, 0.9]), one.quantile([0.1, 0.5, 0.9]), rtol=1e-4, atol=1e-6)


def test_long_noisy_context_is_subsampled_not_refused(model):
    x = np.arange(0, 34_000, dtype=float)
    y = 3.0 + 5.0 * (x + 100) ** -0.3 + 0.05 * np.random.default_rng(0).standard_normal(len(x))
    pred = model.predict(x, y, [40_000, 100_000])
    assert np.all(np.isfinite(pred.median))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=[1, 2, 3], y=[1, 2]), "same length"),
        (dict(x=[1, 3, 2], y=[1, 2, 3]), "x must be strictly increasing, but x\\[2\\]=2"),
        (dict(x=[1, 2, 3], y=[1, float("nan"), 3]), "y\\[1\\]=nan"),
        (dict(x=[1, 2, float("inf")], y=[1, 2, 3]), "x\\[2\\]=inf"),
        (dict(x=[], y=[]), "x is empty"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], x_query=[2]), "x_query\\[0\\]=2 is before the last observed step"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], x_query=[]), "x_query is empty"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], x_query=np.arange(4, 5 + MAX_QUERIES)), "limit"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], direction="up"), "direction must be 'min' or 'max'"),
        (dict(x=[1, 2, 3], y=[0.1, 0.2, 1.3], bounds=(0, 1)), "y\\[2\\]=1.3 lies outside"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], bounds=(1, 0)), "lower < upper"),
        (dict(x=[1, 2, 3], y=[1, 2e100, 3]), "y\\[1\\]=2e\\+100 is beyond"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], schedule=([0, 10], [1e-3, -1e-3])), "schedule.lr\\[1\\]=-0.001 is negative"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], schedule=([0, 10], [0, 0])), "zero everywhere"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], x_query=[20], schedule=([0, 10], [1, 1])), "x_query\\[0\\]=20 is after the horizon=10"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], x_query=[20], horizon=15), "after the horizon=15"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], horizon=2), "horizon=2 is before the last observed step"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], schedule="cosine"), "schedule must be"),
    ],
)
def test_bad_input_names_the_field(model, kwargs, message):
    kwargs.setdefault("x_query", [10])
    with pytest.raises(InvalidCurveError, match=message):
        model.predict(**kwargs)


def test_predict_many_names_the_bad_curve(model):
    with pytest.raises(InvalidCurveError, match=r"curves\[1\]\.y\[0\]=nan"):
        model.predict_many([dict(x=[1, 2], y=[1, 2], x_query=[3]), dict(x=[1, 2], y=[np.nan, 2], x_query=[3])])


@pytest.mark.parametrize("threads", [0, -1, 1.5])
def test_threads_must_be_a_positive_integer(threads):
    with pytest.raises(ValueError, match=f"threads must be an integer >= 1.*got {threads}"):
        lcpfn.load(threads=threads)


def test_shipped_models_load_by_name():
    assert lcpfn.load("default").card["sha256"] == lcpfn.load().card["sha256"]
    with pytest.raises(ModelFileError, match="no shipped model named 'huge'.*default"):
        lcpfn.load("huge")


def test_missing_or_corrupt_model_files_are_named(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        lcpfn.load(tmp_path / "nope.onnx")
    src = Path(lcpfn.__file__).parent / "models" / "default.onnx"
    shutil.copy(src, tmp_path / "m.onnx")
    with pytest.raises(ModelFileError, match="m.json does not exist"):
        lcpfn.load(tmp_path / "m.onnx")
    shutil.copy(src.with_suffix(".json"), tmp_path / "m.json")
    data = bytearray((tmp_path / "m.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "m.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt"):
        lcpfn.load(tmp_path / "m.onnx")


def test_prediction_needs_no_torch():
    code = "import sys, lcpfn; lcpfn.load().predict([1, 2, 3], [3., 2., 1.5], [10]); assert 'torch' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_non_spinning_session_predicts_the_same(model):
    quiet = lcpfn.load(threads=1, spin=False)
    x = np.arange(1.0, 30.0)
    y = 2.0 + x**-0.5
    np.testing.assert_allclose(
        quiet.predict(x, y, [100.0]).quantile([0.1, 0.9]), model.predict(x, y, [100.0]).quantile([0.1, 0.9]), rtol=1e-5
    )


def test_the_card_says_whether_known_limits_are_censored(tmp_path):
    src = Path(lcpfn.__file__).parent / "models" / "default.onnx"
    shutil.copy(src, tmp_path / "m.onnx")
    card = json.loads(src.with_suffix(".json").read_text())
    assert "limits" not in card or card["limits"] == "truncated"  # models before censoring: no atom at a bound
    x, acc = np.arange(1.0, 11.0), np.minimum(1.0, 0.9 + 0.02 * np.arange(10))
    truncated = lcpfn.load(src).predict(x, acc, [20.0], direction="max", bounds=(0, 1))
    assert not truncated.is_atom(1.0).any() and truncated.quantile([0.95])[0, 0] < 1.0
    (tmp_path / "m.json").write_text(json.dumps({**card, "limits": "censored"}))
    censored = lcpfn.load(tmp_path / "m.onnx").predict(x, acc, [20.0], direction="max", bounds=(0, 1))
    assert censored.is_atom(1.0).all() and censored.cdf(1.0)[0] == 1.0 and censored.prob_better_than(1.0)[0] == 0.0
    (tmp_path / "m.json").write_text(json.dumps({**card, "limits": "clipped"}))
    with pytest.raises(ModelFileError, match="limits 'clipped'"):
        lcpfn.load(tmp_path / "m.onnx")
