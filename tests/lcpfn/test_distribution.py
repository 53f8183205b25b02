import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lcpfn.distribution import BarDistribution, fit_borders, nll_loss

RNG = np.random.default_rng(0)
BORDERS = fit_borders(RNG.standard_normal(20_000) * 2.0, 40)
BARS = BarDistribution(BORDERS)
LOGITS = RNG.standard_normal((3, 40))
LIMITS = [(None, None), (-1.0, 0.5), (0.3, np.inf), (-np.inf, -2.5)]


def _grid_density(lo, hi):
    z = np.linspace(-40, 40, 100_001)
    dens = np.exp(BARS.log_prob(LOGITS[:, None, :].repeat(len(z), 1), np.broadcast_to(z, (3, len(z))), lo, hi))
    return z, dens


@pytest.mark.parametrize("lo,hi", LIMITS)
def test_density_integrates_to_one_and_matches_cdf_mean(lo, hi):
    z, dens = _grid_density(lo, hi)
    dz = z[1] - z[0]
    np.testing.assert_allclose(dens.sum(1) * dz, 1.0, atol=2e-3)
    np.testing.assert_allclose((dens * z).sum(1) * dz, BARS.mean(LOGITS, lo, hi), atol=5e-3)
    at = np.array([-1.0, 0.0, 0.4])
    numeric = [(dens[i] * (z <= at[i])).sum() * dz for i in range(3)]
    np.testing.assert_allclose(BARS.cdf(LOGITS, at, lo, hi), numeric, atol=3e-3)


@pytest.mark.parametrize("lo,hi", LIMITS)
def test_no_mass_beyond_known_limits(lo, hi):
    q = BARS.quantile(LOGITS, [1e-6, 0.5, 1 - 1e-6], lo, hi)
    assert np.all(q >= (-np.inf if lo is None else lo)) and np.all(q <= (np.inf if hi is None else hi))
    if lo is not None and np.isfinite(lo):
        assert np.all(BARS.log_prob(LOGITS, np.full(3, lo - 1e-3), lo, hi) == -np.inf)
        assert np.all(BARS.cdf(LOGITS, np.full(3, lo), lo, hi) <= 1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.001, 0.999))
def test_quantile_inverts_cdf(level):
    for lo, hi in LIMITS:
        z = BARS.quantile(LOGITS, [level], lo, hi)[:, 0]
        np.testing.assert_allclose(BARS.cdf(LOGITS, z, lo, hi), level, atol=1e-6)


def test_tails_reach_beyond_the_borders():
    logits = np.full((1, 40), -20.0)
    logits[0, -1] = 20.0  # all mass in the right tail
    assert BARS.quantile(logits, [0.99])[0, 0] > BORDERS[-1]


@pytest.mark.parametrize("lo,hi", LIMITS)
def test_torch_loss_equals_numpy_log_prob(lo, hi):
    z = BARS.quantile(LOGITS, [0.3])[:, 0]
    z = np.clip(z, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    t_lo = torch.full((3,), -np.inf if lo is None else lo, dtype=torch.float64)
    t_hi = torch.full((3,), np.inf if hi is None else hi, dtype=torch.float64)
    loss = nll_loss(torch.tensor(LOGITS), torch.tensor(BORDERS), torch.tensor(z), t_lo, t_hi)
    np.testing.assert_allclose(loss.numpy(), -BARS.log_prob(LOGITS, z, lo, hi), rtol=1e-6, atol=1e-6)


def test_sampling_follows_the_cdf():
    draws = BARS.sample(LOGITS[:1], np.random.default_rng(1), 20_000)[0]
    for v in (-1.0, 0.0, 1.0):
        assert abs(np.mean(draws <= v) - BARS.cdf(LOGITS[:1], np.array([v]))[0]) < 0.015


def test_fit_borders_are_equal_mass_and_strictly_increasing():
    targets = np.concatenate([np.zeros(500), RNG.standard_normal(1000)])  # ties
    b = fit_borders(targets, 10)
    assert np.all(np.diff(b) > 0) and len(b) == 11
    with pytest.raises(ValueError, match="n_bars=10"):
        fit_borders(np.ones(5), 10)
