import gzip
import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from training import evaluate  # noqa: E402
from training.evaluate import CUTOFFS, EvalCurve, _Normal, last_value, power_law, prior_curves, real_curves, score  # noqa: E402


def _noisy_constant_curves(n_curves=40, n_points=200, sd=0.1, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(1.0, n_points + 1)
    return [EvalCurve(f"c{i}", x, 1.0 + sd * rng.standard_normal(n_points), "min") for i in range(n_curves)]


def test_score_of_the_true_predictive_is_calibrated_and_scores_its_log_density():
    curves = _noisy_constant_curves()

    def truth(curve, n_ctx, xq):
        return _Normal(np.ones(len(xq)), np.full(len(xq), 0.1))

    res = score(curves, truth)
    for c in CUTOFFS:
        assert abs(res[c]["cover90"] - 0.9) < 0.03 and abs(res[c]["cover50"] - 0.5) < 0.04
        # E[log N(y; 1, 0.1)] = -log(0.1 sqrt(2 pi e)) = 0.884, per unit of range 1.0.
        assert res[c]["ll"] == pytest.approx(0.884, abs=0.05)
        assert np.allclose(res[c]["calibration"], evaluate.CALIBRATION_LEVELS, atol=0.05)


def test_overconfident_predictive_is_caught_by_coverage_and_likelihood():
    curves = _noisy_constant_curves()
    honest = score(curves, lambda c, n, xq: _Normal(np.ones(len(xq)), np.full(len(xq), 0.1)))
    narrow = score(curves, lambda c, n, xq: _Normal(np.ones(len(xq)), np.full(len(xq), 0.01)))
    assert narrow[0.2]["cover90"] < 0.2 and narrow[0.2]["ll"] < honest[0.2]["ll"] - 5


def test_baselines_predict_a_power_law_curve():
    x = np.arange(1.0, 101.0)
    curve = EvalCurve("pl", x, 0.5 + 2.0 * x**-0.7, "min", y_range=float(np.ptp(0.5 + 2.0 * x**-0.7)))
    pl, last = score([curve], power_law), score([curve], last_value)
    # The fit extrapolates the decay the last value ignores (0.05 vs 0.09 range units at 20 %).
    assert all(pl[c]["final_abs_err"] < 0.7 * last[c]["final_abs_err"] for c in (0.1, 0.2, 0.4))


def test_real_curves_read_the_shared_data_format(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    rows = [
        {"id": "a", "suite": "s", "metric": "accuracy", "direction": "max", "x": [1, 2, 3], "y": [0.1, 0.5, 0.6], "lr": None},
        {
            "id": "b",
            "suite": "s",
            "metric": "loss",
            "direction": "min",
            "x": [1, 2, 4],
            "y": [3.0, 2.0, 1.0],
            "lr": [1e-3, 1e-3, 5e-4],
        },
    ]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows))
    a, b = real_curves(path)
    assert a.bounds == (0.0, 1.0) and a.schedule is None and a.y_range == pytest.approx(0.5)
    assert b.bounds == (0.0, None) and np.allclose(b.schedule[1], [1e-3, 1e-3, 5e-4])
    assert real_curves(path, with_schedule=False)[1].schedule is None


def test_prior_curves_are_reproducible_held_out_curves():
    one, two = prior_curves(6), prior_curves(6)
    assert all(np.array_equal(p.y, q.y) for p, q in zip(one, two))
    assert not np.array_equal(prior_curves(6, seed=1)[0].y, one[0].y)
    assert all(c.y_range > 0 for c in one)


def test_prior_curves_come_from_the_prior_config_given():
    from priors.config import PriorConfig

    only_progress = PriorConfig(source_weights=(0, 0, 0, 0, 0, 1.0), p_known_schedule=1.0, progress_horizon=(20.0, 40.0))
    curves = prior_curves(8, config=only_progress)
    assert all(c.schedule is not None and 20.0 <= c.horizon <= 40.0 for c in curves)
    assert any(c.schedule is None for c in prior_curves(16))


def test_report_writes_tables_schedule_awareness_and_figures(tmp_path, monkeypatch):
    # MCMC takes seconds per curve; a stand-in checks the subset wiring, the real sampler has its own tests.
    real_method = evaluate._method
    monkeypatch.setattr(evaluate, "_method", lambda name, model, *a: real_method("last" if name == "mcmc" else name, model))
    data = tmp_path / "llm.jsonl.gz"
    x = np.arange(1.0, 61.0)
    lr = np.where(x < 48, 1e-3, 1e-3 * (60 - x) / 12 + 1e-5)
    rows = [
        {
            "id": f"wsd{i}",
            "metric": "loss",
            "direction": "min",
            "x": x.tolist(),
            "y": (2.0 + (1 + i) * x**-0.5 - 0.3 * (lr < 1e-3) * (1 - lr / 1e-3)).tolist(),
            "lr": lr.tolist(),
        }
        for i in range(3)
    ]
    with gzip.open(data, "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "report.md"
    text = evaluate.report(["prior", str(data)], ["pfn", "pfn-noschedule", "last", "mcmc"], out, n_prior=5, mcmc_curves=2)
    assert out.read_text() == text
    assert "## prior (5 held-out curves of our prior)" in text and "## llm.jsonl.gz (3 real curves)" in text
    assert "| mcmc (2 curves) |" in text and "| pfn (same 2) |" in text
    assert "## Schedule awareness" in text and "| llm.jsonl.gz | 40 % | 3 (3) | " in text  # three curves paired, three contexts
    figures = tmp_path / "report"
    assert {p.name for p in figures.glob("*.png")} == {
        "fan_prior.png",
        "fan_llm_jsonl_gz.png",
        "calibration.png",
        "error_vs_cutoff.png",
    }


def test_tolerated_failures_leave_the_curve_out_and_are_counted():
    from lcpfn.errors import BudgetExceededError

    curves = _noisy_constant_curves(n_curves=4)

    def flaky(curve, n_ctx, xq):
        if curve.id == "c1":
            raise BudgetExceededError("MCMC produced no posterior draws within time_budget_s=1")
        return _Normal(np.ones(len(xq)), np.full(len(xq), 0.1))

    res = score(curves, flaky, tolerate=(BudgetExceededError,))
    assert all(res[c]["failed"] == 1 and np.isfinite(res[c]["ll"]) for c in CUTOFFS)
    with pytest.raises(BudgetExceededError):
        score(curves, flaky)


def test_each_curve_s_log_likelihood_is_kept_by_id_and_a_failed_curve_is_left_out_of_the_pairing():
    from lcpfn.errors import BudgetExceededError

    curves = _noisy_constant_curves(n_curves=5)
    honest = score(curves, lambda c, n, xq: _Normal(np.ones(len(xq)), np.full(len(xq), 0.1)))

    def flaky(curve, n_ctx, xq):
        if curve.id == "c3":
            raise BudgetExceededError("out of time")
        return _Normal(np.ones(len(xq)), np.full(len(xq), 0.3))

    wide = score(curves, flaky, tolerate=(BudgetExceededError,))
    for c in CUTOFFS:
        assert list(honest[c]["ll_by_curve"]) == [cv.id for cv in curves]
        assert np.mean(list(honest[c]["ll_by_curve"].values())) == pytest.approx(honest[c]["ll"])
        assert "c3" not in wide[c]["ll_by_curve"]
        d = evaluate.paired_difference(honest[c]["ll_by_curve"], wide[c]["ll_by_curve"])
        kept = [k for k in wide[c]["ll_by_curve"]]
        assert d.n == 4
        assert d.mean == pytest.approx(np.mean([honest[c]["ll_by_curve"][k] - wide[c]["ll_by_curve"][k] for k in kept]))
        assert d.verdict() == "better"


def test_branches_that_show_the_same_points_are_one_context_until_they_part():
    x = np.arange(1.0, 41.0)
    run = 2.0 + x**-0.5
    branches = [EvalCurve(f"b{i}", x, np.where(x > 30, run - 0.05 * (i + 1), run), "min") for i in range(3)]
    other = EvalCurve("o", x, 2.5 + x**-0.5, "min")
    res = score([*branches, other], lambda c, n, xq: _Normal(np.full(len(xq), 2.1), np.full(len(xq), 0.3)))
    assert len(set(res[0.4]["context_by_curve"].values())) == 2  # up to point 16 the branches show the same run
    assert len(set(res[0.8]["context_by_curve"].values())) == 4  # by point 32 they have parted
    shifted = {k: v + (0.1 if k.startswith("b") else 0.3) for k, v in res[0.4]["ll_by_curve"].items()}
    d = evaluate.paired_difference(shifted, res[0.4]["ll_by_curve"], contexts=res[0.4]["context_by_curve"])
    assert (d.n, d.curves) == (2, 4) and d.mean == pytest.approx(0.15)
    assert d.se == pytest.approx(0.1)  # the run's +0.1 and the other's +0.3 (sd 0.141) over the root of 2
    assert np.isfinite(res[0.4]["cover90_se"])


def test_a_small_gap_shared_by_every_curve_is_told_from_a_tie_that_curves_scatter_around_zero():
    rng = np.random.default_rng(0)
    base = {f"c{i}": float(v) for i, v in enumerate(rng.normal(0.0, 2.0, 300))}  # curves differ far more than methods
    consistent = {k: v - 0.01 + 0.005 * rng.standard_normal() for k, v in base.items()}
    scattered = {k: v + 0.2 * rng.standard_normal() for k, v in base.items()}
    worse = evaluate.paired_difference(consistent, base)
    assert worse.mean == pytest.approx(-0.01, abs=0.002) and worse.verdict() == "worse"
    # Unpaired, the same gap is buried: the means' standard errors are 0.12 each.
    assert abs(np.mean(list(consistent.values())) - np.mean(list(base.values()))) < np.std(list(base.values())) / np.sqrt(300)
    assert evaluate.paired_difference(scattered, base).verdict() == "tie"
    assert evaluate.paired_difference({"a": 1.0}, {"b": 1.0}).n == 0


def test_a_value_on_an_atom_is_covered_and_scored_by_its_probability_not_per_unit_of_range():
    from lcpfn.distribution import BarDistribution
    from lcpfn.prediction import BarPredictive, Prediction

    borders = np.linspace(-3.0, 3.0, 31)
    logits = -0.5 * ((borders[:-1] + borders[1:]) / 2 + 0.6) ** 2
    bars = BarDistribution(borders, limits="censored")
    x = np.arange(1.0, 21.0)
    saturated = EvalCurve("at1", x, np.ones(20), "max", bounds=(0.0, 1.0), y_range=0.5)

    def censored(curve, n_ctx, xq):  # an accuracy of 1 maps to z = -1, the best limit
        normalized = BarPredictive(bars, np.tile(logits, (len(xq), 1)), lo=-1.0, hi=9.0)
        return Prediction(xq, normalized, loc=-0.9, scale=0.1, direction=1.0)

    atom = float(np.exp(censored(saturated, 2, x[:1]).log_prob(1.0))[0])
    res = score([saturated], censored)
    for c in CUTOFFS:
        assert res[c]["cover90"] == 1.0 and res[c]["ll"] == pytest.approx(np.log(atom))
