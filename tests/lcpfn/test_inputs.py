import numpy as np
import pytest

from lcpfn.inputs import SCHEDULE_GRID, check_curve, step_features
from priors.schedules import FEATURE_DECAY_TIME, annealing_area, constant, cosine, interpolate, schedule_grid, step, wsd


@pytest.mark.parametrize(
    "schedule",
    [
        wsd(total=1000, peak=1e-3, cooldown=0.2),
        cosine(total=1000, peak=1e-3, final_ratio=0.1),
        step(total=1000, peak=0.1),
        constant(total=1000, peak=1e-3),
    ],
    ids=["wsd", "cosine", "step", "constant"],
)
def test_step_features_equal_the_schedule_integrals_on_the_dense_grid(schedule):
    x = np.linspace(10, 600, 40)
    curve = check_curve(x, 1 / np.sqrt(x), [800.0, 1000.0], schedule=schedule)
    steps = np.concatenate([x, [800.0, 1000.0]])
    got = step_features(curve, steps)
    u = np.linspace(0.0, 1.0, SCHEDULE_GRID + 1)
    lr = schedule(u * 1000)
    grid = schedule_grid(u, lr / lr.max())
    t = steps / 1000
    assert got.known and np.allclose(got.t, t)
    assert np.allclose(got.cum_lr, interpolate(u, grid.s1, t), atol=1e-12)
    assert np.allclose(got.anneal_area, annealing_area(t, grid, FEATURE_DECAY_TIME), atol=1e-12)


def test_step_features_without_schedule_use_time_as_intrinsic_time():
    curve = check_curve([1.0, 2.0, 3.0], [3.0, 2.0, 1.5], [10.0], horizon=10.0)
    got = step_features(curve, np.array([1.0, 2.0, 3.0, 10.0]))
    assert not got.known and got.horizon_known and np.allclose(got.t, [0.1, 0.2, 0.3, 1.0]) and np.allclose(got.cum_lr, got.t)
    assert np.all(got.anneal_area == 0) and np.all(got.lr == 1)


def test_without_horizon_time_is_in_units_of_the_last_observed_step_whatever_is_asked():
    for queries in ([10.0], [10.0, 50.0], [10.0, 1000.0]):
        curve = check_curve([1.0, 2.0, 4.0], [3.0, 2.0, 1.5], queries)
        got = step_features(curve, np.array([1.0, 2.0, 4.0, 10.0]))
        assert not got.horizon_known and np.allclose(got.t, [0.25, 0.5, 1.0, 2.5])


@pytest.mark.parametrize("x", [[5e-324], [1e-300], [1.0, 2.0]])
def test_queries_too_many_last_steps_away_without_a_horizon_are_refused(x):
    """Found by the schema fuzz: x = [5e-324], x_query = [1] made time overflow in float32 and the prediction NaN."""
    from lcpfn.errors import InvalidCurveError
    from lcpfn.inputs import MAX_QUERY_RATIO

    far = max(1.0, 2.0 * MAX_QUERY_RATIO * x[-1])
    with pytest.raises(InvalidCurveError, match=r"x_query\[0\]=.* times the last observed step .*give horizon"):
        check_curve(x, [0.0] * len(x), [far])
    assert check_curve(x, [0.0] * len(x), [MAX_QUERY_RATIO * x[-1]]).horizon is None
    assert check_curve(x, [0.0] * len(x), [far], horizon=far).horizon == far  # in units of the horizon it is step 1


def test_the_horizon_comes_from_the_schedule_or_the_argument():
    s = wsd(total=1000, peak=1e-3)
    assert check_curve([1.0, 2.0], [2.0, 1.0], [5.0], schedule=s).horizon == 1000
    assert check_curve([1.0, 2.0], [2.0, 1.0], [5.0], schedule=([0, 800], [1e-3, 1e-3])).horizon == 800
    assert check_curve([1.0, 2.0], [2.0, 1.0], [5.0], schedule=s, horizon=500).horizon == 500  # the run stops early
    assert check_curve([1.0, 2.0], [2.0, 1.0], horizon=40).x_query.tolist() == [40.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x_query=[5.0]), r"x\[-1\]=0"),
        (dict(x_query=[50.0], horizon=20.0), "after the horizon=20"),
        (dict(horizon=-1.0), "horizon must be a finite number of steps > 0"),
        (dict(horizon=float("nan")), "horizon must be"),
        (dict(horizon="ten"), "horizon must be a number"),
        (dict(), "x_query is missing"),
        (dict(x_query=[5.0], schedule=lambda s: 1e-3 + 0 * s), "give horizon"),
        (dict(x_query=[4.0], schedule=([0.0, 3.0], [1.0, 1.0]), horizon=4.0), "before the horizon 4"),
    ],
)
def test_bad_horizons_name_the_field(kwargs, message):
    from lcpfn.errors import InvalidCurveError
    from lcpfn.inputs import step_features

    x = [0.0] if "x_query" in kwargs and kwargs.get("horizon") is None and "schedule" not in kwargs else [0.0, 1.0]
    with pytest.raises(InvalidCurveError, match=message):
        curve = check_curve(x, [1.0] * len(x), **kwargs)
        step_features(curve, curve.x_query)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=[], y=[]), "x is empty"),
        (dict(x=[1.0, 2.0], y=[1.0]), "same length"),
        (dict(x=[1.0, 2.0], y=[1.0, 0.5], direction="down"), "direction must be 'min' or 'max'"),
        (dict(x=[1.0, 2.0], y=[0.5, 1.5], bounds=(0, 1)), r"y\[1\]=1.5 lies outside"),
        (dict(x=[1.0, 3.0], y=[1.0, 0.5], horizon=2.0), r"horizon=2 is before the last observed step x\[-1\]=3"),
        (dict(x=[1.0, 300.0], y=[1.0, 0.5], schedule=wsd(total=100, peak=1e-3)), "the schedule ends at step 100, which"),
    ],
)
def test_without_x_query_the_error_names_what_was_given_wrong(kwargs, message):
    """x_query defaults to the horizon, so a curve without one used to be reported as missing x_query before its own
    faults were looked at; a horizon before the data was reported as a query before it."""
    from lcpfn.errors import InvalidCurveError

    with pytest.raises(InvalidCurveError, match=message):
        check_curve(**kwargs)
