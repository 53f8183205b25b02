import dataclasses
import json
import shutil

import pytest
import torch

from priors import sample as P
from priors.config import NoiseConfig, PriorConfig


@pytest.fixture(scope="module")
def batch():
    return P.sample(torch.Generator().manual_seed(0), 3000, 60)


def test_shapes_and_dtypes(batch):
    for f in ("x", "y", "y_clean", "lr", "cum_lr", "anneal_area"):
        assert getattr(batch, f).shape == (3000, 60), f
    for f in ("horizon", "known_schedule", "direction", "lower", "upper", "source"):
        assert getattr(batch, f).shape == (3000,), f
    assert batch.known_schedule.dtype == torch.bool and len(batch) == 3000


def test_everything_is_finite(batch):
    for f in ("x", "y", "y_clean", "lr", "cum_lr", "anneal_area", "horizon"):
        assert torch.isfinite(getattr(batch, f)).all(), f


def test_logging_steps_increase_and_end_at_the_horizon(batch):
    assert (batch.x.diff(dim=1) > 0).all()
    assert (batch.x[:, 0] >= 0).all() and (batch.x[:, 0] == 0).any()
    torch.testing.assert_close(batch.x[:, -1], batch.horizon)


def test_same_seed_same_batch_and_other_seed_other_batch():
    a = P.sample(torch.Generator().manual_seed(5), 200, 30)
    b = P.sample(torch.Generator().manual_seed(5), 200, 30)
    c = P.sample(torch.Generator().manual_seed(6), 200, 30)
    for f in dataclasses.fields(P.CurveBatch):
        assert torch.equal(getattr(a, f.name), getattr(b, f.name)), f.name
    assert not torch.equal(a.y, c.y)


def test_global_rng_is_untouched():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    P.sample(torch.Generator().manual_seed(1), 100, 20)
    assert torch.equal(torch.rand(3), expected)


def test_every_source_appears(batch):
    counts = torch.bincount(batch.source, minlength=len(P.SOURCES))
    assert (counts > 0).all(), dict(zip(P.SOURCES, counts.tolist()))


def _end_gain(b: P.CurveBatch) -> tuple[torch.Tensor, torch.Tensor]:
    # float32 rounding after a large random offset may erase a tiny gain, never reverse it.
    return b.direction * (b.y_clean[:, -1] - b.y_clean[:, 0]), 1e-6 * b.y_clean.abs().amax(1)


def test_clean_curves_improve_in_their_direction_unless_an_event_turns_them():
    calm = NoiseConfig(p_overfit=0.0, p_overfit_law=0.0, p_divergence=0.0, p_divergence_law=0.0, p_spike=0.0)
    gain, rounding = _end_gain(P.sample(torch.Generator().manual_seed(3), 2000, 60, config=PriorConfig(noise=calm)))
    assert (gain >= -rounding).all()
    assert (gain > rounding).float().mean() > 0.99


def test_overfitting_ends_some_runs_worse_than_they_started(batch):
    gain, rounding = _end_gain(batch)
    # Real small-network validation losses do, an eighth of them (tests/priors/test_checks.py).
    assert 0.01 < (gain < -rounding).float().mean() < 0.15


def test_schedule_laws_give_losses_and_schedule_free_curves_hide_the_schedule():
    b = P.sample(torch.Generator().manual_seed(1), 2000, 40)
    laws = (b.source >= P.SOURCES.index("multi_power")) & (b.source <= P.SOURCES.index("intrinsic_time"))
    aware = laws | (b.source == P.SOURCES.index("progress"))
    assert (b.direction[laws] == -1).all()
    assert (b.direction[~laws & aware] == 1).any() and (b.direction[~laws & aware] == -1).any()
    assert not b.known_schedule[~aware].any()
    assert b.known_schedule[aware].any() and not b.known_schedule[aware].all()
    assert (b.lr[~aware] == 1).all()
    # Non-constant schedules show up in the lr of schedule-aware curves.
    assert (b.lr[aware].amin(1) < 0.5).any()


def test_observed_values_respect_known_bounds(batch):
    known_low, known_high = torch.isfinite(batch.lower), torch.isfinite(batch.upper)
    assert known_low.any() and known_high.any() and (~known_low).any()
    assert (batch.y[known_low] >= batch.lower[known_low, None] - 1e-4 * batch.y[known_low].abs().clamp(min=1)).all()
    assert (batch.y[known_high] <= batch.upper[known_high, None] + 1e-4 * batch.y[known_high].abs().clamp(min=1)).all()


def test_intrinsic_time_features_are_consistent(batch):
    assert (batch.lr >= 0).all() and (batch.lr <= 1 + 1e-6).all()
    assert (batch.cum_lr.diff(dim=1) >= -1e-6).all()
    assert (batch.cum_lr <= batch.x / batch.horizon[:, None] + 1e-5).all()
    assert (batch.anneal_area >= 0).all()


def test_lcpfn_source_is_lcpfn_prior():
    only = P.PriorConfig(source_weights=(0, 1, 0, 0, 0, 0))
    b = P.sample(torch.Generator().manual_seed(2), 500, 100, config=only)
    torch.testing.assert_close(b.x[0], torch.arange(1.0, 101.0))
    assert (b.direction == 1).all() and not torch.isfinite(b.lower).any()


def test_lcpfn_curves_stay_in_unit_range_before_rescaling():
    only = P.PriorConfig(source_weights=(0, 1, 0, 0, 0, 0), p_affine=0.0)
    b = P.sample(torch.Generator().manual_seed(3), 500, 100, config=only)
    assert (b.y_clean >= 0).all() and (b.y_clean <= 1).all()
    assert (b.y_clean[:, -1] > b.y_clean[:, 0]).all()
    # LC-PFN's noise is absolute with log sigma ~ N(-4, 1): median sigma about e^-4.
    sigma = (b.y - b.y_clean).std(1)
    assert 0.01 < float(sigma.median()) < 0.04


def test_noise_scale_follows_config():
    quiet = P.PriorConfig(
        noise=NoiseConfig(log_sigma_loc=-9.0, log_sigma_scale=0.0, p_outliers=0.0, log_spaced_shift=0.0),
        p_quantized=0.0,
        source_weights=(1, 0, 1, 1, 1, 1),
    )
    b = P.sample(torch.Generator().manual_seed(4), 300, 50, config=quiet)
    span = b.y_clean.amax(1) - b.y_clean.amin(1)
    rounding = 1e-6 * b.y_clean.abs().amax(1)  # float32 after a large random offset
    # sd e^-9 = 1.2e-4 of the span: no deviation reaches 2e-3 of it.
    assert ((b.y - b.y_clean).abs().amax(1) <= 2e-3 * span + rounding + 1e-6).all()


def test_sample_wise_curves_are_noisier_by_the_configured_shift():
    fixed = NoiseConfig(log_sigma_loc=-6.0, log_sigma_scale=0.0, p_outliers=0.0, p_heteroscedastic=0.0, log_spaced_shift=2.0)
    cfg = P.PriorConfig(noise=fixed, p_quantized=0.0, p_affine=0.0, source_weights=(1, 0, 0, 0, 0, 0))
    b = P.sample(torch.Generator().manual_seed(5), 2000, 40, config=cfg)
    t = b.x / b.horizon[:, None]
    log_spaced = (t[:, 1] / t[:, 0] > 1.05) & (t[:, 2] / t[:, 1] - t[:, 1] / t[:, 0]).abs().lt(1e-3)
    span = b.y_clean.amax(1) - b.y_clean.amin(1)
    rel = ((b.y - b.y_clean).std(1) / span).log()
    # e^-6 of the span on most curves, e^-4 on the log-spaced ones (values clipped at 0 and 1 pull both down a little).
    assert 1.6 < rel[log_spaced].median() - rel[~log_spaced].median() < 2.2


def _accepted(rounds, rows):
    return torch.cat([r["id"] for r in rounds])[rows]


def test_rejection_keeps_accepted_rows_and_redraws_only_the_missing():
    calls = []

    def draw(k):
        calls.append(k)
        ids = torch.arange(k) + 1000 * len(calls)
        return {"id": ids}, ids % 2 == 0

    ids = _accepted(*P._rejection(draw, 10))
    first = torch.arange(10) + 1000
    assert torch.equal(ids[:5], first[first % 2 == 0])  # round one's accepted rows, in order
    assert (ids % 2 == 0).all() and (ids[5:] >= 2000).all() and len(ids) == 10
    # Round two draws for the 5 missing rows at the observed rate of 1/2 (with a margin), not for all 10.
    assert calls == [10, int(5 / 0.5 * 1.2) + 8]


def test_rejection_accepts_a_screen_that_returns_fewer_rows():
    def draw(k):  # a screen dropped every other candidate before the full check
        ids = torch.arange(0, k, 2)
        return {"id": ids}, torch.ones(len(ids), dtype=torch.bool)

    assert len(_accepted(*P._rejection(draw, 9))) == 9


def test_rejection_that_never_accepts_raises():
    with pytest.raises(RuntimeError, match="did not converge"):
        P._rejection(lambda k: ({"id": torch.zeros(k)}, torch.zeros(k, dtype=torch.bool)), 4)


def test_prior_config_round_trips_through_json():
    cfg = P.PriorConfig(p_affine=0.3, noise=NoiseConfig(p_spike=0.2))
    again = P.PriorConfig(**json.loads(json.dumps(dataclasses.asdict(cfg))))
    assert again == cfg


@pytest.mark.parametrize(("batch_size", "n_points"), [(0, 10), (4, 1)])
def test_bad_sizes_are_rejected(batch_size, n_points):
    with pytest.raises(ValueError, match="batch_size"):
        P.sample(torch.Generator(), batch_size, n_points)


def test_bad_source_weights_are_rejected():
    with pytest.raises(ValueError, match="source_weights"):
        P.PriorConfig(source_weights=(1.0, 1.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_samples_on_cuda():
    b = P.sample(torch.Generator(device="cuda").manual_seed(0), 256, 50, device="cuda")
    assert b.y.is_cuda and torch.isfinite(b.y).all()


@pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None, reason="torch.compile on CPU needs a C++ compiler"
)
@pytest.mark.slow
def test_compiled_sampling_draws_the_same_curves_as_eager():
    eager = P.sample(torch.Generator().manual_seed(8), 400, 30)
    fused = P.sample(torch.Generator().manual_seed(8), 400, 30, compiled=True)
    assert torch.equal(eager.source, fused.source)
    # Same random draws; float rounding may flip a borderline rejection, so compare rows.
    same = torch.isclose(eager.y, fused.y, rtol=1e-4, atol=1e-5).all(1)
    assert same.float().mean() > 0.98
    for f in ("x", "lr", "cum_lr", "anneal_area", "horizon"):
        close = torch.isclose(getattr(eager, f), getattr(fused, f), rtol=1e-4, atol=1e-5)
        assert close.reshape(len(close), -1).all(1).float().mean() > 0.98, f


@pytest.mark.parametrize("name", ["multi_power", "lr_annealing", "intrinsic_time"])
def test_schedule_laws_in_causal_blocks_equal_the_full_square(name):
    from priors.laws import SCHEDULE_LAWS
    from priors.schedules import random_schedules, relative_lr, schedule_grid

    g = torch.Generator().manual_seed(2)
    law = SCHEDULE_LAWS[name]
    gu = torch.linspace(0.0, 1.0, 33).expand(256, -1).double()
    grid = schedule_grid(gu, relative_lr(random_schedules(g, 256), gu, xp=torch).double(), xp=torch)
    params = law.law_params({p: d.sample(g, 256)[:, None].double() for p, d in law.priors.items()}, torch)
    full = law(gu, grid.s1, grid, xp=torch, **params)
    for blocks in (2, 4, 5):
        torch.testing.assert_close(P.law_at_grid(law.fn, grid, params, blocks), full, rtol=1e-12, atol=1e-12)


def test_an_early_transient_lifts_the_first_losses_and_is_gone_by_the_end():
    # Without events a multi-power loss always falls, so both configs accept the same candidates: the rows pair up.
    calm = NoiseConfig(p_overfit_law=0.0, p_divergence_law=0.0, p_spike=0.0, p_slow_start_law=0.0, p_plateau_law=0.0)
    base = dict(source_weights=(0, 0, 1, 0, 0, 0), p_log_from_zero=1.0, p_affine=0.0, noise=calm)
    without = P.sample(torch.Generator().manual_seed(6), 500, 40, config=P.PriorConfig(**base, p_transient=0.0))
    with_it = P.sample(torch.Generator().manual_seed(6), 500, 40, config=P.PriorConfig(**base, p_transient=1.0))
    lift = (with_it.y_clean - without.y_clean).double()
    rounding = 1e-6 * without.y_clean.double().abs().amax(1, keepdim=True)  # float32 near a large initial loss
    assert (lift >= -rounding).all()
    assert (lift[:, :1] > rounding).float().mean() > 0.95
    # Gone by the end: at most a twentieth of the lift at step 0 is left (runs whose lr fell early keep the most).
    assert (lift[:, -1] <= 0.05 * lift[:, 0] + rounding[:, 0]).all()
    # 0.5 to 20 times the power law's amplitude: the loss starts well above where the power law alone would.
    assert (lift[:, 0] / (without.y_clean[:, 0] - without.y_clean[:, -1])).median() > 0.1


def test_progress_on_the_step_clock_keeps_improving_after_the_lr_has_decayed():
    """The progress source's clock ∫ lr^p: at p 1 (intrinsic time) a curve all but stops once the lr has decayed,
    at p 0 (the step) it goes on as under a constant lr; prior v2.8 draws p between."""
    calm = NoiseConfig(p_overfit=0.0, p_divergence=0.0, p_spike=0.0, p_slow_start=0.0, p_plateau=0.0)
    base = dict(source_weights=(0, 0, 0, 0, 0, 1), p_affine=0.0, noise=calm)
    late = {}
    for p in (0.0, 1.0):
        b = P.sample(torch.Generator().manual_seed(8), 600, 40, config=P.PriorConfig(**base, progress_lr_power=(p, p)))
        y = (b.y_clean * b.direction[:, None]).double()
        decayed = b.lr[:, 20] < 0.1 * b.lr.amax(1)  # a tenth of the peak lr or less from half-way on
        share = (y[:, -1] - y[:, 20]) / (y[:, -1] - y[:, 0]).clamp(min=1e-12)
        late[p] = share[decayed].median().item()
    assert late[0.0] > 2.0 * late[1.0], late  # 0.15 against 0.02


def test_a_slow_start_lasts_a_share_of_the_progress_clock_not_of_the_steps():
    """Under a constant lr the warped clock is the old warp of the step; under a decaying lr the clock runs ahead of the
    step, so a slow start that lasts 40 % of the clock ends before 40 % of the steps."""
    warp = P.Warp(
        delay=torch.tensor([[0.4]]),
        creep=torch.tensor([[0.05]]),
        start=torch.zeros(1, 1),
        length=torch.zeros(1, 1),
        creep_shape=torch.ones(1, 1),
        quiet=torch.ones(1, 1),
    )
    t = torch.linspace(0.02, 1.0, 50)[None]
    cells = 32
    grid_u = torch.linspace(0.0, 1.0, cells + 1)[None]
    at_t = P._UniformLerp(t, cells)
    constant = P._on_warped_clock(at_t, grid_u * 3.0, warp)
    assert torch.allclose(constant, P.warp_time(t, warp) * 3.0, atol=1e-6)
    decaying = P._on_warped_clock(at_t, 1.0 - (1.0 - grid_u) ** 2, warp)  # ∫ of a linear decay to 0
    speed = torch.diff(decaying, dim=1) / torch.diff(t, dim=1)
    ends = t[0, 1:][speed[0] > 0.5]  # full speed again (creeping runs at 0.05 x at most 2)
    assert 0.22 < ends.min().item() < 0.3  # 1 - (1 - u) ** 2 = 0.4 at u = 0.225: 40 % of the clock at 22.5 % of the steps
