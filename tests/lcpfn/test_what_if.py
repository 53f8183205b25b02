import numpy as np
import pytest

import lcpfn
from lcpfn.errors import InvalidCurveError, InvalidScheduleError
from lcpfn.schedules import constant, cosine, wsd

X = np.arange(200.0, 4200.0, 200.0)
LOSS = 3.0 + 2.0 * (X / 100) ** -0.4
PLANS = {
    "constant": constant(total=10_000, peak=3e-4),
    "wsd": wsd(total=10_000, peak=3e-4, cooldown=0.2),
    "wsd-now": wsd(total=10_000, peak=3e-4, cooldown=0.6),
}


@pytest.fixture(scope="module")
def model():
    return lcpfn.load()


def test_compare_schedules_gives_each_candidate_its_final_and_probabilities_that_sum_to_one(model):
    result = model.compare_schedules(X, LOSS, PLANS, bounds=(0, None))
    assert list(result.predictions) == list(PLANS)
    assert all(p.x_query.tolist() == [10_000.0] for p in result.predictions.values())
    assert sum(result.prob_best.values()) == pytest.approx(1.0)
    # A cooldown beats a constant lr at the end (the schedule is known to the model).
    assert result.predictions["wsd"].median[0] < result.predictions["constant"].median[0]
    assert result.prob_best["constant"] < 0.5 and result.best != "constant"
    d = result.to_dict()
    assert set(d["candidates"]) == set(PLANS) and d["best"] == result.best


def test_the_prediction_of_a_candidate_is_its_own_prediction(model):
    result = model.compare_schedules(X, LOSS, PLANS, bounds=(0, None))
    alone = model.predict(X, LOSS, schedule=PLANS["wsd"], bounds=(0, None))
    np.testing.assert_allclose(result.predictions["wsd"].quantile([0.1, 0.5, 0.9]), alone.quantile([0.1, 0.5, 0.9]), rtol=1e-6)


def test_candidates_that_differ_on_the_observed_run_are_refused_naming_the_step(model):
    early = {"constant": constant(total=10_000, peak=3e-4), "cosine": cosine(total=10_000, peak=3e-4)}
    with pytest.raises(InvalidScheduleError, match=r"'constant' and 'cosine' differ at step \d+"):
        model.compare_schedules(X, LOSS, early)
    with pytest.raises(InvalidCurveError, match="non-empty"):
        model.compare_schedules(X, LOSS, {})


@pytest.mark.parametrize(
    "plans, message",
    [
        ({"ok": PLANS["wsd"], "short": wsd(total=1000, peak=3e-4)}, r"schedules\['short'\]: the schedule ends at step 1000"),
        ({"ok": PLANS["wsd"], "neg": ([0, 10_000], [3e-4, -3e-4])}, r"schedules\['neg'\]: schedule.lr\[1\]=-0.0003 is negative"),
        ({"ok": PLANS["wsd"], "int": 3}, r"schedules\['int'\]: schedule must be"),
        ({"ok": PLANS["wsd"], "none": None}, r"schedules\['none'\] is None"),
    ],
)
def test_a_bad_candidate_is_named(model, plans, message):
    with pytest.raises(InvalidCurveError, match=message):
        model.compare_schedules(X, LOSS, plans)


def test_the_run_s_own_faults_are_not_blamed_on_a_candidate(model):
    with pytest.raises(InvalidCurveError, match=r"^y\[1\]=nan is not a finite number$"):
        model.compare_schedules(X, np.where(X == X[1], np.nan, LOSS), PLANS)


def test_plan_cooldown_scans_starts_and_lengths_and_names_the_best_cell(model):
    plan = model.plan_cooldown(X, LOSS, total=10_000, peak=3e-4, starts=[4_000, 6_000, 8_000], lengths=[1_000, 2_000, 6_000],
                               bounds=(0, None))  # fmt: skip
    assert plan.median.shape == (3, 3)
    # 6,000 + 6,000 and 8,000 + 6,000 pass the total: no such plan.
    assert np.isnan(plan.median[1, 2]) and np.isnan(plan.median[2, 2]) and not np.isnan(plan.median[0, 2])
    ok = ~np.isnan(plan.median)
    assert np.all(plan.low[ok] <= plan.median[ok]) and np.all(plan.median[ok] <= plan.high[ok])
    i, j = list(plan.starts).index(plan.best[0]), list(plan.lengths).index(plan.best[1])
    assert plan.median[i, j] == np.nanmin(plan.median)
    assert plan.to_dict()["median"][1][2] is None


def test_a_cooldown_that_would_start_in_the_observed_run_is_refused(model):
    with pytest.raises(InvalidScheduleError, match=r"starts\[0\]=1000 is before the last observed step 4000"):
        model.plan_cooldown(X, LOSS, total=10_000, peak=3e-4, starts=[1_000], lengths=[1_000])


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(total=float("nan")), InvalidScheduleError, "total must be a finite number of steps > 0, got nan"),
        (dict(total="long"), InvalidScheduleError, "total must be a finite number of steps > 0, got 'long'"),
        (dict(warmup=6_000), InvalidScheduleError, r"warmup=6000 must be a number of steps in \[0, starts\[1\]=5000\)"),
        (dict(direction="up"), InvalidCurveError, "direction must be 'min' or 'max'"),
    ],
)
def test_plan_cooldown_names_a_bad_option(model, options, error, message):
    kwargs = dict(total=10_000, peak=3e-4, starts=[6_000, 5_000], lengths=[1_000]) | options
    with pytest.raises(error, match=message):
        model.plan_cooldown(X, LOSS, **kwargs)


class _Saturated:
    """A candidate's prediction whose final value is ``value`` at every quantile level (an atom, say at 1)."""

    def __init__(self, value):
        self.value = value

    def quantile(self, levels):
        return np.full((len(levels), 1), self.value)


def test_candidates_tied_on_a_limit_share_the_win_instead_of_giving_it_to_the_first():
    from lcpfn.what_if import _prob_best

    prob = _prob_best({"a": _Saturated(1.0), "b": _Saturated(1.0), "c": _Saturated(0.9)}, "max")
    assert prob == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})
