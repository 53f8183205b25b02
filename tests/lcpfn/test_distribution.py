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


CENSORED = BarDistribution(BORDERS, limits="censored")


def _finite_or_zero(limit):
    return 0.0 if limit is None or not np.isfinite(limit) else limit


@pytest.mark.parametrize("lo,hi", LIMITS)
def test_censored_limits_hold_the_mass_beyond_them_as_atoms(lo, hi):
    c = CENSORED.limited(LOGITS, lo, hi)
    whole = BARS.cdf(LOGITS, np.full(3, -np.inf if lo is None else lo))
    np.testing.assert_allclose(c.atom_lo, whole if lo is not None and np.isfinite(lo) else 0.0, atol=1e-12)
    above = 1.0 - BARS.cdf(LOGITS, np.full(3, np.inf if hi is None else hi))
    np.testing.assert_allclose(c.atom_hi, above if hi is not None and np.isfinite(hi) else 0.0, atol=1e-12)
    z, dz = np.linspace(-40, 40, 100_001), 80 / 100_000
    inside = (z > (-np.inf if lo is None else lo)) & (z < (np.inf if hi is None else hi))
    dens = np.exp(CENSORED.log_prob(LOGITS[:, None, :].repeat(len(z), 1), np.broadcast_to(z, (3, len(z))), lo, hi))
    dens = np.where(inside, dens, 0.0)
    np.testing.assert_allclose(dens.sum(1) * dz + c.atom_lo + c.atom_hi, 1.0, atol=2e-3)
    on = c.atom_lo * _finite_or_zero(lo) + c.atom_hi * _finite_or_zero(hi)  # the atoms' share of the mean
    np.testing.assert_allclose((dens * z).sum(1) * dz + on, c.mean(), atol=5e-3)


def test_a_value_on_a_censored_limit_is_scored_by_its_atom_and_covered_by_the_interval():
    lo, hi = -1.0, 0.5
    c = CENSORED.limited(LOGITS, lo, hi)
    on_hi = np.full(3, hi)
    np.testing.assert_allclose(c.log_prob(on_hi), np.log(c.atom_hi))
    assert c.on_atom(on_hi).all() and not c.on_atom(np.full(3, 0.0)).any()
    np.testing.assert_allclose(c.cdf(on_hi), 1.0)
    np.testing.assert_allclose(c.cdf(np.full(3, hi - 1e-3)), 1.0 - c.atom_hi, atol=1e-3)
    q = c.quantile([0.05, 0.95])
    assert np.all(c.atom_hi > 0.05) and np.all(q[:, 1] == hi)  # the 90 % interval ends on the atom, so holds it
    truncated = BARS.quantile(LOGITS, [0.95], lo, hi)[:, 0]
    assert np.all(truncated < hi)  # a truncated distribution's interval never reaches a value on the limit


@settings(max_examples=50, deadline=None)
@given(st.floats(0.001, 0.999))
def test_censored_quantile_inverts_cdf_between_the_atoms(level):
    for lo, hi in LIMITS:
        c = CENSORED.limited(LOGITS, lo, hi)
        z = c.quantile([level])[:, 0]
        between = (level > c.atom_lo) & (level < 1.0 - c.atom_hi)
        np.testing.assert_allclose(c.cdf(z)[between], level, atol=1e-6)


@pytest.mark.parametrize("lo,hi", LIMITS)
def test_censored_torch_loss_equals_numpy_log_prob_on_and_between_the_limits(lo, hi):
    t_lo = torch.full((3,), -np.inf if lo is None else lo, dtype=torch.float64)
    t_hi = torch.full((3,), np.inf if hi is None else hi, dtype=torch.float64)
    for level in (0.0001, 0.3, 0.9999):  # beyond the limits, the quantile is clamped onto them
        z = CENSORED.quantile(LOGITS, [level], lo, hi)[:, 0]
        logits = torch.tensor(LOGITS, requires_grad=True)
        loss = nll_loss(logits, torch.tensor(BORDERS), torch.tensor(z), t_lo, t_hi, censored=True)
        np.testing.assert_allclose(loss.detach().numpy(), -CENSORED.log_prob(LOGITS, z, lo, hi), rtol=1e-6, atol=1e-6)
        loss.sum().backward()
        assert torch.isfinite(logits.grad).all()  # an unknown limit's floored atom passes no NaN


def test_limits_must_be_truncated_or_censored():
    with pytest.raises(ValueError, match="limits must be one of"):
        BarDistribution(BORDERS, limits="clipped")
