import numpy as np
import pytest

import lcpfn
from lcpfn.errors import InvalidCurveError

X = np.arange(1, 16, dtype=float)


def test_stops_a_run_far_behind_the_best():
    stopper = lcpfn.EarlyStopper(horizon=100, direction="max", bounds=(0, 1))
    slow = 0.30 + 0.002 * X  # accuracy creeping up from 30 %
    d = stopper.should_stop(X, slow, best_so_far=0.95)
    assert d.stop and d.prob_improve < 0.05 and d.predicted_final < 0.95


def test_keeps_a_run_that_is_already_ahead():
    stopper = lcpfn.EarlyStopper(horizon=100, direction="min")
    d = stopper.should_stop(X, 1.0 + 2.0 * X**-0.5, best_so_far=2.0)
    assert not d.stop and d.prob_improve > 0.5


def test_never_stops_before_min_points():
    stopper = lcpfn.EarlyStopper(horizon=100, direction="max", min_points=20, bounds=(0, 1))
    d = stopper.should_stop(X, 0.30 + 0.002 * X, best_so_far=0.95)
    assert not d.stop and "min_points=20" in d.reason


def test_nothing_to_beat_means_no_stop():
    d = lcpfn.EarlyStopper(horizon=100).should_stop(X, 1.0 / X, best_so_far=None)
    assert not d.stop and d.prob_improve == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(horizon=0), "horizon"),
        (dict(horizon=100, direction="down"), "direction"),
        (dict(horizon=100, threshold=1.5), "threshold"),
        (dict(horizon=100, min_points=0), "min_points"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(InvalidCurveError, match=message):
        lcpfn.EarlyStopper(**kwargs)


def test_bad_best_so_far_is_named():
    with pytest.raises(InvalidCurveError, match="best_so_far"):
        lcpfn.EarlyStopper(horizon=100).should_stop(X, 1.0 / X, best_so_far=float("nan"))


def test_streaming_updates_ask_the_model_every_few_steps_and_stop_diverged_runs():
    stopper = lcpfn.EarlyStopper(horizon=100, direction="max", bounds=(0, 1), best_so_far=0.95, every=5, min_points=5)
    decisions = [stopper.update(epoch, 0.1 + 0.01 * epoch) for epoch in range(1, 11)]
    assert decisions[1] is decisions[0]  # between asks, the last decision stands
    assert not decisions[0].stop and decisions[-1].stop
    d = stopper.update(11, float("nan"))
    assert d.stop and d.reason.startswith("diverged")
    stopper.reset()
    assert not stopper.update(1, 0.5).stop
    with pytest.raises(lcpfn.InvalidCurveError, match="step must increase"):
        stopper.update(1, 0.6)


@pytest.mark.parametrize(
    "step, value, message",
    [
        (200, 0.5, "step=200 is after the horizon=100"),
        (3, 1.5, r"value=1.5 at step 3: y\[3\]=1.5 lies outside the given bounds"),
        ("three", 0.5, "step must be a number, got step='three'"),
        (float("nan"), 0.5, "step must be a finite number"),
        (3, "high", "value must be a number"),
    ],
)
def test_a_refused_update_names_the_fault_and_leaves_the_history_as_it_was(step, value, message):
    stopper = lcpfn.EarlyStopper(horizon=100, direction="max", bounds=(0, 1), best_so_far=0.95)
    stopper.update(1, 0.3)
    stopper.update(2, 0.4)
    before = stopper.update(2.5, 0.45)
    with pytest.raises(InvalidCurveError, match=message):
        stopper.update(step, value)
    after = stopper.update(3, 0.5)  # raises "step must increase" had the refused step been kept
    assert after is not before and 0.0 <= after.prob_improve <= 1.0
