import numpy as np
import pytest

from lcpfn.inputs import SCHEDULE_GRID, check_curve, step_features
from priors.schedules import FEATURE_DECAY_TIME, annealing_area, constant, cosine, interpolate, schedule_grid, step, wsd


@pytest.mark.parametrize(
    "schedule",
    [wsd(total=1000, peak=1e-3, cooldown=0.2), cosine(total=1000, peak=1e-3, final_ratio=0.1), step(total=1000, peak=0.1),
     constant(total=1000, peak=1e-3)],
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
    curve = check_curve([1.0, 2.0, 3.0], [3.0, 2.0, 1.5], [10.0])
    got = step_features(curve, np.array([1.0, 2.0, 3.0, 10.0]))
    assert not got.known and np.allclose(got.t, [0.1, 0.2, 0.3, 1.0]) and np.allclose(got.cum_lr, got.t)
    assert np.all(got.anneal_area == 0) and np.all(got.lr == 1)
