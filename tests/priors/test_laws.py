import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from priors import laws as L
from priors import schedules as S
from priors.config import LawConfig

DATA = Path(__file__).resolve().parents[1] / "data"  # a copy of ../shared/data/mpl_llm_25m.jsonl.gz


def _params(law, rng, steps: float = 4000.0):
    """The law's own parameters from one draw of its prior, for a run of ``steps`` steps."""
    drawn = {k: float(v) for k, v in zip(law.priors, _draw(law, rng))}
    if law.schedule_aware:
        drawn = L.at_horizon(law.name, drawn, steps, LawConfig())
    return law.law_params(drawn)


def _draw(law, rng):
    g = torch.Generator().manual_seed(int(rng.integers(1 << 30)))
    return [d.sample(g, 1)[0] for d in law.priors.values()]


def test_family_values_at_known_points():
    assert L.pow3(1.0, c=1.0, a=0.5, alpha=1.0) == pytest.approx(0.5)
    assert L.ilog2(math.e - 1, c=1.0, a=0.25) == pytest.approx(0.75)
    assert L.janoschek(1.0, a=1.0, beta=0.0, k=math.log(2), delta=1.0) == pytest.approx(0.5)
    assert L.log_power(math.e, a=1.0, b=1.0, c=-1.0) == pytest.approx(0.5)
    assert L.mmf(1.0, alpha=1.0, beta=0.0, kappa=1.0, delta=1.0) == pytest.approx(0.5)
    assert L.vap(1.0, a=0.0, b=0.0, c=1.0) == pytest.approx(1.0)
    assert L.loglog_linear(math.e, a=1.0, b=0.0) == pytest.approx(0.0)
    assert L.exp4(1.0, c=1.0, a=1.0, b=1.0, alpha=1.0) == pytest.approx(0.0)
    assert L.pow4(1.0, c=1.0, a=1.0, b=1.0, alpha=1.0) == pytest.approx(0.5)
    assert L.dr_hill_zero_background(2.0, theta=1.0, eta=1.0, kappa=2.0) == pytest.approx(0.5)
    assert L.weibull(1.0, alpha=1.0, beta=0.0, kappa=1.0, delta=1.0) == pytest.approx(1 - math.exp(-1))


def test_lcpfn_paper_families_use_its_peaked_priors():
    assert L.FAMILIES["pow3"].priors["alpha"] == L.LogNormal(0.0, 2.0)
    assert L.FAMILIES["ilog2"].priors["a"] == L.Uniform(-0.5, 0.5)
    assert L.FAMILIES["janoschek"].priors["k"] == L.LogNormal(-2.0, 1.0)
    assert len(L.FAMILIES) == 11 and len(L.SCHEDULE_LAWS) == 3


def _wsd_grid(cooldown=0.3, cells=64):
    u = np.linspace(0.0, 1.0, cells + 1)
    lr = S.wsd(total=1.0, peak=1.0, cooldown=cooldown, shape="cosine", final_ratio=0.01)(u)
    grid = S.schedule_grid(u, lr)
    return u, grid


def _backends():
    import pytensor.tensor as pt

    def as_pytensor(a):
        return pt.as_tensor_variable(np.asarray(a, dtype=np.float64))

    return [
        ("torch", torch, lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64), lambda r: r.numpy()),
        ("pytensor", pt, as_pytensor, lambda r: r.eval()),
    ]


@pytest.mark.parametrize("name", list(L.FAMILIES))
def test_family_is_the_same_function_in_numpy_torch_and_pytensor(name):
    law = L.FAMILIES[name]
    params = _params(law, np.random.default_rng(hash(name) % 1000))
    t = np.linspace(1.0, 100.0, 25)
    ref = law(t, xp=np, **params)
    for backend, xp, wrap, unwrap in _backends():
        got = unwrap(law(wrap(t), xp=xp, **params))
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12, err_msg=backend)


@pytest.mark.parametrize("name", list(L.SCHEDULE_LAWS))
def test_schedule_law_is_the_same_function_in_numpy_torch_and_pytensor(name):
    law = L.SCHEDULE_LAWS[name]
    params = _params(law, np.random.default_rng(7))
    u, grid = _wsd_grid()
    x = np.linspace(0.02, 1.0, 30)
    s1 = S.interpolate(u, grid.s1, x)
    ref = law(x, s1, grid, xp=np, **params)
    assert np.isfinite(ref).all()
    for backend, xp, wrap, unwrap in _backends():
        g = S.ScheduleGrid(*(wrap(a) for a in grid))
        got = unwrap(law(wrap(x), wrap(s1), g, xp=xp, **params))
        np.testing.assert_allclose(got, ref, rtol=1e-9, err_msg=backend)


@pytest.mark.parametrize("name", list(L.SCHEDULE_LAWS))
def test_wsd_cooldown_drops_loss_below_constant(name):
    law = L.SCHEDULE_LAWS[name]
    params = {"L0": 1.0, "A": 0.5, "alpha": 0.5, "s0": 0.01}
    params.update(
        {"B": 0.3, "C": 1000.0, "beta": 0.6, "gamma": 0.6}
        if name == "multi_power"
        else {"C": 10.0, "decay_time": 0.02}
        if name == "lr_annealing"
        else {"noise": 0.3, "rho": 1.5}
    )
    x = np.linspace(0.05, 1.0, 40)
    cells = np.linspace(0.0, 1.0, 201)
    curves = {}
    for label, sched in [("constant", S.constant(total=1, peak=1)), ("wsd", S.wsd(total=1, peak=1, cooldown=0.2))]:
        grid = S.schedule_grid(cells, sched(cells))
        curves[label] = law(x, S.interpolate(cells, grid.s1, x), grid, **params)
    before = x < 0.8
    np.testing.assert_allclose(curves["wsd"][before], curves["constant"][before], rtol=1e-9)
    assert curves["wsd"][-1] < curves["constant"][-1] - 0.01
    # During the cooldown the loss keeps falling.
    assert np.all(np.diff(curves["wsd"][x >= 0.8]) < 0)


def test_multi_power_without_lr_drops_is_a_power_law():
    u = np.linspace(0.0, 1.0, 33)
    grid = S.schedule_grid(u, np.ones_like(u))
    p = {"L0": 2.0, "A": 1.0, "alpha": 0.4, "s0": 0.01}
    got = L.multi_power(u, grid.s1, grid, B=5.0, C=100.0, beta=0.5, gamma=0.5, **p)
    np.testing.assert_allclose(got, L.power_term(grid.s1, **p))


@given(
    alpha=st.floats(0.15, 1.2),
    s0=st.floats(1e-3, 0.3),
    bend=st.floats(*LawConfig().bend),
)
def test_power_term_falls_for_every_bend_of_the_prior(alpha, s0, bend):
    s1 = np.linspace(0.0, 1.0, 200)
    loss = L.power_term(s1, L0=1.0, A=0.5, alpha=alpha, s0=s0, bend=bend)
    assert np.all(np.diff(loss) < 0)
    assert np.all(loss > 1.0)


def test_positive_bend_steepens_the_power_term_late_and_negative_flattens_it():
    """The local exponent is alpha (1 + bend S): a positive bend leaves more progress to come after 40 % of the run,
    relative to the progress from 10 to 40 %, and a negative one less (the run levels off), than the power law."""
    p = {"L0": 1.0, "A": 0.5, "alpha": 0.5, "s0": 0.01}

    def late_progress(bend):
        at = L.power_term(np.array([0.1, 0.4, 1.0]), **p, bend=bend)
        return (at[1] - at[2]) / (at[0] - at[1])

    assert late_progress(-0.5) < late_progress(0.0) < late_progress(0.5)
    assert L.power_term(0.3, **p) == L.power_term(0.3, **p, bend=0.0) == pytest.approx(1.0 + 0.5 * 0.31**-0.5)


def test_bend_that_would_turn_the_loss_up_is_refused():
    with pytest.raises(ValueError, match="bend"):
        LawConfig(bend=(-0.9, 0.5))


@pytest.mark.parametrize("shape", ["linear", "cosine"])
def test_multi_power_cooldown_gain_on_the_prior_grid_matches_a_fine_grid(shape):
    def lr_at(u):
        if shape == "linear":
            return np.where(u < 0.8, 1.0, np.clip((1.0 - u) / 0.2, 0.0, 1.0))  # WSD, 20 % cooldown
        return 0.5 * (1.0 + np.cos(np.pi * u))

    def gain(cells, C, beta, gamma):
        u = np.linspace(0.0, 1.0, cells + 1)
        end = []
        for lr in (np.ones_like(u), lr_at(u)):
            grid = S.schedule_grid(u, lr)
            p = {"L0": 1.0, "A": 0.19, "alpha": 0.51, "s0": 0.045, "B": 0.11, "C": C, "beta": beta, "gamma": gamma}
            end.append(L.multi_power(u[-1:], grid.s1[-1:], grid, **p)[-1])
        return end[0] - end[1]

    for C, beta, gamma in [(3000.0, 0.58, 0.64), (300.0, 0.5, 0.8), (3e4, 0.9, 0.4), (1000.0, 0.3, 1.2)]:
        assert gain(32, C, beta, gamma) == pytest.approx(gain(1024, C, beta, gamma), rel=0.06)


def test_intrinsic_time_noise_term_settles_at_noise_times_lr():
    u = np.linspace(0.0, 1.0, 2001)
    for lr in (1.0, 0.25):
        grid = S.schedule_grid(u, np.full_like(u, lr))
        p = {"L0": 0.0, "A": 0.0, "alpha": 0.5, "s0": 1e-3}
        got = L.intrinsic_time(u, grid.s1, grid, noise=0.4, rho=1.6, **p)
        assert got[-1] == pytest.approx(0.4 * lr, rel=0.05)


def _mpl_curves():
    path = DATA / "mpl_llm_25m.jsonl.gz"
    curves = {}
    for line in gzip.open(path):
        r = json.loads(line)
        x, lr = np.array(r["x"], float), np.array(r["lr"])
        # Per-step schedule: the files log lr every 128 steps from step 2160, after a
        # linear warmup from 0 to 3e-4 over the first 2160 steps (see the data README).
        steps = np.unique(np.concatenate([[0.0, 2160.0], np.arange(2176.0, x[-1], 32.0), [x[-1]]]))
        lrs = np.where(steps <= 2160, 3e-4 * steps / 2160, np.interp(steps, x, lr))
        grid = S.schedule_grid(steps, lrs)
        curves[r["id"]] = (x, np.array(r["y"]), S.interpolate(steps, grid.s1, x), grid)
    return curves


def test_multi_power_fit_on_constant_and_cosine_predicts_wsd_final_loss_within_1_percent():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    curves = _mpl_curves()
    names = ["L0", "A", "alpha", "B", "C", "beta", "gamma"]
    fit_on = [k for k in curves if "constant" in k or "cosine" in k]
    held_out = [k for k in curves if "wsd" in k]
    assert len(fit_on) == 4 and len(held_out) == 5

    def predict(theta, key):
        x, _, s1, grid = curves[key]
        return L.multi_power(x, s1, grid, s0=0.0, **dict(zip(names, np.exp(theta))))

    def residuals(theta):
        return np.concatenate([(predict(theta, k) - curves[k][1]) / curves[k][1] for k in fit_on])

    start = np.log([3.0, 0.5, 0.5, 300.0, 2.0, 0.5, 0.5])
    upper = np.log([10.0, 10.0, 2.0, 1e4, 1e3, 3.0, 2.0])
    fit = scipy_optimize.least_squares(residuals, start, bounds=(np.full(7, -10.0), upper), x_scale="jac")
    errors = {k: abs(predict(fit.x, k)[-1] / curves[k][1][-1] - 1) for k in held_out}
    assert max(errors.values()) < 0.01, errors


@given(st.floats(1.0, 1e7), st.floats(1.0, 1e7))
def test_longer_runs_tie_larger_gains_and_count_loss_drops_per_step(a, b):
    """Cooldown gains and the noise floor grow with the run's length in steps, up to a clip; C is per step."""
    cfg = LawConfig()
    short, long = sorted((a, b))
    drawn = {"gain": 1.0, "C": 0.1}
    ps, pl = (L.at_horizon("multi_power", drawn, s, cfg) for s in (short, long))
    assert ps["gain"] <= pl["gain"] * (1 + 1e-12)
    assert pl["gain"] <= (cfg.gain_steps_clip[1] / cfg.reference_steps) ** cfg.gain_steps_power * (1 + 1e-12)
    assert ps["C"] == pytest.approx(0.1 * short) and pl["C"] == pytest.approx(0.1 * long)
    assert L.at_horizon("lr_annealing", {"gain": 1.0, "decay_time": 0.1}, long, cfg)["decay_time"] == 0.1
    # the noise floor grows with T as the tied gain does
    assert L.at_horizon("intrinsic_time", {"gain": 1.0}, long, cfg)["gain"] == pytest.approx(pl["gain"])
    assert L.at_horizon("multi_power", drawn, cfg.reference_steps, cfg)["gain"] == pytest.approx(1.0)


_LONG_GPT_LEVEL = (
    "a known misfit (2026-12-07): L0 and A are drawn alike at every run length, while a law fixed in steps, L0 + a t^-alpha, "
    "has A = a T^-alpha in units of the run, so a longer run's floor sits higher over its amplitude; the 25M GPT's 72,000 "
    "steps and the 100M GPT's lie at the prior's 0.90 and 0.92 points. Grown as T^alpha past 4,000 steps (prior v2.39, "
    "docs/prior_experiments.md) they lie at 0.67-0.75, but the model trained on it predicted the 25M GPT's 24,000-step "
    "runs worse and was not shipped"
)


# (L0 / A, steps) of the power term fitted to constant-lr LM runs (runs/fit_power.py, bend free; the 25M GPT's 24,000 steps
# as published by Luo et al. 2025): the 25M GPT's 24,000 and 72,000 steps, the 100M GPT's first 26,800 of 33,900
# (../shared/data/gpt100m_per_step.jsonl.gz), our byte-level LMs' 4,000 and 2,400 (their initial fall blurs the floor).
@pytest.mark.parametrize(
    "ratio, steps",
    [
        (16.0, 24000.0),
        pytest.param(34.0, 71936.0, marks=pytest.mark.xfail(strict=True, reason=_LONG_GPT_LEVEL)),
        pytest.param(42.0, 33900.0, marks=pytest.mark.xfail(strict=True, reason=_LONG_GPT_LEVEL)),
        (2.6, 4000.0),
        (0.63, 2400.0),
    ],
)
def test_lm_runs_floor_over_amplitude_lies_inside_the_prior_s_middle(ratio, steps):
    """Where a real LM run's floor sits over its power term's amplitude (``L0 / A``: how far above what it can reach
    a loss still is) lies at 0.2-0.8 of the schedule-aware laws' draws for a run of its length."""
    cfg = LawConfig()
    priors = L.schedule_law_priors("multi_power", cfg)
    n = 20000
    u = torch.rand(2, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    drawn = {"gain": 1.0, "C": 0.1, "L0": priors["L0"].from_uniform(u[0]).numpy(), "A": priors["A"].from_uniform(u[1]).numpy()}
    at = L.at_horizon("multi_power", drawn, steps, cfg)
    rank = float(np.mean(at["L0"] / at["A"] < ratio))
    assert 0.2 <= rank <= 0.8, rank


@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_progress_clock_runs_from_the_step_to_intrinsic_time_as_the_power_grows(lrs, p, q):
    """``∫ lr^p``: the step at p 0, the intrinsic time at p 1, and with lr <= its peak never slower at a smaller p."""
    u = np.linspace(0.0, 1.0, len(lrs))
    grid = S.schedule_grid(u, np.asarray(lrs))
    np.testing.assert_allclose(L.progress_clock(grid, 0.0), u, atol=1e-12)
    np.testing.assert_allclose(L.progress_clock(grid, 1.0), np.maximum(grid.s1, 0.0), atol=1e-9)
    low, high = sorted((p, q))
    assert np.all(L.progress_clock(grid, low) >= L.progress_clock(grid, high) - 1e-12)
    assert np.all(np.diff(L.progress_clock(grid, low)) >= 0.0)


@given(
    low=st.floats(1e-5, 0.4),
    high=st.floats(0.41, 1.0),
    steps=st.floats(1.0, 1e7),
    power=st.floats(0.0, 3.0),
)
def test_progress_jump_stays_between_its_share_s_ends_at_any_run_length(low, high, steps, power):
    """The jump's low end grows with the run's steps; it must stop at the high end, not pass it (a card of prior
    v2.14-v2.16, share (0.005, 0.5), rebuilt with v2.17's growth would draw from an inverted range past 5,000 steps)."""
    at = [float(L.progress_jump(u, steps, (low, high), (50.0, 1e4), power)) for u in (0.0, 0.5, 1.0)]
    rounding = 1e-9 * high
    assert low - rounding <= at[0] and at[2] <= high + rounding, at
    assert at[0] <= at[1] + rounding and at[1] <= at[2] + rounding, at


def test_published_multi_power_gains_lie_inside_the_prior_s_middle_after_24000_steps():
    """The published multi-power fits of GPT models trained 24,000 steps (Luo et al. 2025: 25M, 100M, 400M parameters)
    have gains 1.48, 1.58 and 1.77 in the prior's units; each must lie at 0.25-0.75 of the gain's draws at that length
    (growing as T^0.2, prior v2.18, they lay at 0.85-0.92)."""
    cfg = LawConfig()
    gain = L.schedule_law_priors("multi_power", cfg)["gain"]
    drawn = {"gain": gain.from_normal(np.random.default_rng(0).standard_normal(20000), np), "C": 0.1}
    gains = L.at_horizon("multi_power", drawn, 24000.0, cfg)["gain"]
    ranks = [float(np.mean(gains < g)) for g in (1.48, 1.58, 1.77)]
    assert all(0.25 <= r <= 0.75 for r in ranks), ranks
