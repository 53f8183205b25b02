import json
import math

import numpy as np
import pytest
import torch

from priors import schedules as S


def test_wsd_endpoints_and_linear_cooldown():
    s = S.wsd(total=1000, peak=1e-3, cooldown=0.2)
    lr = s([0, 500, 800, 900, 1000])
    np.testing.assert_allclose(lr, [1e-3, 1e-3, 1e-3, 0.5e-3, 0.0], atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "mid"),
    [("linear", 0.5), ("cosine", 0.5), ("1-sqrt", 1 - math.sqrt(0.5)), ("exponential", math.sqrt(0.01))],
)
def test_wsd_cooldown_shapes_at_mid_cooldown(shape, mid):
    ratio = 0.01 if shape == "exponential" else 0.0
    s = S.wsd(total=100, peak=2.0, cooldown=0.5, shape=shape, final_ratio=ratio)
    assert s(75) == pytest.approx(2.0 * mid, rel=1e-6)
    assert s(100) == pytest.approx(2.0 * ratio, abs=1e-8)


def test_cosine_reaches_final_ratio():
    s = S.cosine(total=1000, peak=1.0, final_ratio=0.1)
    np.testing.assert_allclose(s([0, 500, 1000]), [1.0, 0.55, 0.1], rtol=1e-7)


def test_step_drops_by_inverse_sqrt10_at_80_and_90_percent():
    s = S.step(total=100, peak=1.0)
    np.testing.assert_allclose(s([79, 80, 89, 90, 100]), [1, 10**-0.5, 10**-0.5, 0.1, 0.1], rtol=1e-6)


def test_exponential_decays_geometrically():
    s = S.exponential(total=100, peak=1.0, final_ratio=0.01)
    np.testing.assert_allclose(s([0, 50, 100]), [1.0, 0.1, 0.01], rtol=1e-6)


def test_inverse_sqrt_after_timescale():
    s = S.inverse_sqrt(total=1000, peak=1.0, warmup=10)
    np.testing.assert_allclose(s([5, 10, 40, 1000]), [0.5, 1.0, 0.5, 0.1], rtol=1e-6)


def test_linear_warmup_then_constant():
    s = S.constant(total=100, peak=4.0, warmup=10)
    np.testing.assert_allclose(s([0, 5, 10, 50]), [0.0, 2.0, 4.0, 4.0], atol=1e-6)


def test_steps_past_total_keep_the_final_lr():
    s = S.linear(total=10, peak=1.0, final_ratio=0.2)
    assert s(20) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "wsd", "total": 100, "peak": 1.0, "cooldown": 1.5}, "cooldown"),
        ({"name": "wsd", "total": 100, "peak": 1.0, "shape": "square"}, "shape"),
        ({"name": "cosine", "total": -1, "peak": 1.0}, "total"),
        ({"name": "cosine", "total": 100, "peak": 0.0}, "peak"),
        ({"name": "cosine", "total": 100, "peak": float("nan")}, "peak"),
        ({"name": "constant", "total": 100, "peak": 1.0, "warmup": 100}, "warmup"),
        ({"name": "step", "total": 100, "peak": 1.0, "milestones": (90, 80)}, "milestones"),
        ({"name": "step", "total": 100, "peak": 1.0, "factor": 2.0}, "factor"),
        ({"name": "inverse_sqrt", "total": 100, "peak": 1.0, "timescale": 0.0}, "timescale"),
    ],
)
def test_invalid_schedule_names_the_field_and_value(kwargs, field):
    name = kwargs.pop("name")
    with pytest.raises(S.InvalidScheduleError, match=field) as e:
        S.from_name(name, **kwargs)
    assert isinstance(e.value, ValueError)


def test_unknown_schedule_name_lists_the_names():
    with pytest.raises(S.InvalidScheduleError, match="wsd"):
        S.from_name("triangle", total=1, peak=1)
    with pytest.raises(S.InvalidScheduleError, match="cooldown"):
        S.from_name("cosine", total=1, peak=1, cooldown=0.3)


@pytest.mark.parametrize("name", S.NAMES)
def test_schedule_json_round_trip(name):
    s = S.from_name(name, total=1000, peak=3e-4, warmup=10)
    again = S.Schedule.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s
    np.testing.assert_array_equal(again(np.arange(0, 1001, 50)), s(np.arange(0, 1001, 50)))


def test_random_schedules_are_deterministic_and_within_peak():
    u = torch.linspace(0, 1, 257)[None, :].expand(512, -1)
    a = S.relative_lr(S.random_schedules(torch.Generator().manual_seed(3), 512), u, xp=torch)
    b = S.relative_lr(S.random_schedules(torch.Generator().manual_seed(3), 512), u, xp=torch)
    assert torch.equal(a, b)
    assert torch.isfinite(a).all() and (a >= 0).all() and (a <= 1 + 1e-6).all()
    # The mixture holds constant, decaying and step schedules.
    assert (a[:, -1] > 0.999).any() and (a[:, -1] < 0.01).any()


def test_numpy_and_torch_evaluate_the_same_schedules():
    p = S.random_schedules(torch.Generator().manual_seed(1), 64)
    u = torch.rand(64, 50, generator=torch.Generator().manual_seed(2))
    as_np = S.ScheduleParams(*(np.asarray(getattr(p, f), dtype=np.float64) for f in S.ScheduleParams.__dataclass_fields__))
    np.testing.assert_allclose(S.relative_lr(p, u, xp=torch).numpy(), S.relative_lr(as_np, u.double().numpy(), xp=np), atol=1e-5)


def test_grid_intrinsic_time_of_constant_schedule_is_time():
    u = np.linspace(0, 1, 11)
    grid = S.schedule_grid(u, np.ones_like(u))
    np.testing.assert_allclose(grid.s1, u)
    assert grid.drop.sum() == 0


def test_annealing_area_matches_momentum_recurrence():
    # Per-step definition of Tissue et al.: m_i = λ m_{i-1} + (lr_{i-1} - lr_i), S2 = Σ m_i.
    steps = 2000
    lr = S.wsd(total=steps, peak=1.0, cooldown=0.3, shape="cosine")(np.arange(steps + 1))
    lam = 0.99
    m, s2 = 0.0, np.zeros(steps + 1)
    for i in range(1, steps + 1):
        m = lam * m + (lr[i - 1] - lr[i])
        s2[i] = s2[i - 1] + m
    t = np.arange(steps + 1, dtype=float)
    grid = S.schedule_grid(t, lr)
    ours = S.annealing_area(t, grid, -1.0 / math.log(lam))
    np.testing.assert_allclose(ours[-1], s2[-1], rtol=0.01)


def test_annealing_area_at_grid_equals_the_pairwise_sum():
    gu = torch.linspace(0, 1, 33, dtype=torch.float64)[None].expand(64, -1)
    sched = S.random_schedules(torch.Generator().manual_seed(0), 64)
    grid = S.schedule_grid(gu, S.relative_lr(sched, gu, xp=torch).double(), xp=torch)
    torch.testing.assert_close(S.annealing_area_at_grid(grid, 0.05, xp=torch), S.annealing_area(gu, grid, 0.05, xp=torch))
    as_np = S.ScheduleGrid(*(a.numpy() for a in grid))
    np.testing.assert_allclose(S.annealing_area_at_grid(as_np, 0.05), S.annealing_area(gu.numpy(), as_np, 0.05))


def test_interpolate_matches_numpy_interp():
    rng = np.random.default_rng(0)
    grid_u = np.sort(rng.uniform(0, 1, 20))
    values = rng.normal(size=20)
    u = rng.uniform(-0.1, 1.1, 50)
    np.testing.assert_allclose(S.interpolate(grid_u, values, u), np.interp(u, grid_u, values))
    np.testing.assert_allclose(S.interpolate(grid_u[None], values[None], u[None])[0], np.interp(u, grid_u, values))
    got = S.interpolate(torch.tensor(grid_u)[None], torch.tensor(values)[None], torch.tensor(u)[None], xp=torch)
    np.testing.assert_allclose(got[0].numpy(), np.interp(u, grid_u, values))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(
    total=st.floats(10, 1e6),
    warmup_frac=st.floats(0, 0.5),
    cooldown=st.floats(0, 1),
    shape=st.sampled_from(S.SHAPES),
    final_ratio=st.floats(0, 1),
)
def test_wsd_never_exceeds_peak_and_never_rises_after_warmup(total, warmup_frac, cooldown, shape, final_ratio):
    s = S.wsd(total=total, peak=2.0, cooldown=cooldown, shape=shape, final_ratio=final_ratio, warmup=warmup_frac * total)
    steps = np.linspace(0, total, 401)
    lr = s(steps)
    assert np.all(lr >= 0) and np.all(lr <= 2.0 * (1 + 1e-9))
    after = steps >= warmup_frac * total
    assert np.all(np.diff(lr[after]) <= 1e-9)
    floor = max(final_ratio, S.MIN_EXPONENTIAL_RATIO) if shape == "exponential" else final_ratio
    # A cooldown shorter than one step is no cooldown.
    if cooldown * total >= 1 and warmup_frac * total < (1 - cooldown) * total:
        assert lr[-1] == pytest.approx(2.0 * min(floor, 1.0), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", ["wsd", "step", "cosine", "constant"])
def test_annealing_area_of_one_schedule_skips_only_cells_without_a_drop(name):
    kwargs = {"wsd": {"cooldown": 0.2}, "step": {}, "cosine": {"final_ratio": 0.1}, "constant": {}}[name]
    u = np.linspace(0.0, 1.0, 1025)
    grid = S.schedule_grid(u, S.from_name(name, total=1.0, peak=1.0, **kwargs)(u))
    t = np.linspace(0.0, 1.0, 77)
    batched = S.annealing_area(t[None], S.ScheduleGrid(*(a[None] for a in grid)), 0.05)[0]  # every cell, pairwise
    np.testing.assert_allclose(S.annealing_area(t, grid, 0.05), batched, rtol=1e-12, atol=1e-15)


def test_invalid_schedule_is_an_lcpfn_error_and_a_value_error():
    from priors.errors import LCPFNError

    with pytest.raises(LCPFNError, match="cooldown"):
        S.wsd(total=10, peak=1e-3, cooldown=3)
    assert issubclass(S.InvalidScheduleError, ValueError)
