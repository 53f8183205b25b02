import math

import numpy as np
import pytest

pytest.importorskip("pymc")

from lcpfn.errors import BudgetExceededError, InvalidCurveError  # noqa: E402
from lcpfn.mcmc import MCMCExtrapolator, MixturePredictive, prior_model  # noqa: E402
from lcpfn.prediction import Prediction  # noqa: E402
from priors.config import PriorConfig  # noqa: E402
from priors.laws import FAMILIES, SCHEDULE_LAWS  # noqa: E402
from priors.parameters import LogUniform, Uniform  # noqa: E402
from priors.schedules import wsd  # noqa: E402

X = np.arange(1, 31, dtype=float)


@pytest.fixture(scope="module")
def pow3_fit():
    """A pow3 curve with known exponent and noise, fitted by a single-family model."""
    rng = np.random.default_rng(0)
    alpha, sigma = 0.8, 0.004
    clean = 0.9 - 0.6 * (X / 30 * 100) ** -alpha  # pow3 at the prior's median time scale (horizon 30 -> t = 100 u)
    y = clean + sigma * rng.standard_normal(len(X))
    mcmc = MCMCExtrapolator(draws=1000, chains=2, time_budget_s=240, families=("pow3",), seed=3)
    return mcmc.predict(X, y, [60.0], direction="max"), alpha, sigma, 0.9 - 0.6 * 200**-alpha


@pytest.mark.slow
def test_recovers_the_exponent_noise_and_final_value_of_a_synthetic_curve(pow3_fit):
    pred, alpha, sigma, final = pow3_fit
    assert pred.diagnostics["draws"] == 2000
    low, high = pred.interval(0.9)
    assert low[0] < final < high[0]
    assert abs(pred.median[0] - final) < 0.02
    assert abs(pred.diagnostics["posterior_mean"]["pow3.alpha"] - alpha) < 0.25
    assert sigma / 2 < pred.diagnostics["noise_sd"] < sigma * 2


@pytest.mark.slow
def test_prediction_contract_holds(pow3_fit):
    pred, *_ = pow3_fit
    assert isinstance(pred, Prediction)
    q = pred.quantile([0.05, 0.5, 0.95])
    assert q.shape == (3, 1) and np.all(np.diff(q, axis=0) > 0)
    np.testing.assert_allclose(pred.cdf(pred.median), 0.5, atol=1e-3)
    assert np.isfinite(pred.log_prob(pred.median)).all() and np.isfinite(pred.mean).all()
    np.testing.assert_allclose(pred.prob_better_than(pred.median), 0.5, atol=1e-3)
    d = pred.to_dict()
    assert {"rhat_max", "ess_bulk_min", "log_marginal_likelihood", "sampler"} <= set(d["diagnostics"])


def _ks(a, b) -> float:
    from scipy.stats import ks_2samp

    return ks_2samp(np.ravel(a), np.ravel(b)).pvalue


def test_the_pymc_prior_draws_every_parameter_as_the_prior_sampler_does():
    import pymc as pm
    import torch

    n = 4000
    g = torch.Generator().manual_seed(0)
    for schedule in (False, True):
        model = prior_model(schedule=schedule, draws=n, prior=PriorConfig())
        laws = {f"{f}.{k}": d for f, law in FAMILIES.items() for k, d in law.priors.items()}
        if schedule:
            laws = {f"progress.{k}": d for k, d in laws.items()}
            laws |= {f"{name}.{k}": d for name, law in SCHEDULE_LAWS.items() for k, d in law.priors.items()}
            laws["progress.clock_power"] = Uniform(*PriorConfig().progress_lr_power)
            laws["progress.loss_power"] = LogUniform(*PriorConfig().progress_loss_power)
        checked = 0
        for name, dist in laws.items():
            drawn = pm.draw(model[name], random_seed=checked)
            expected = dist.sample(g, n).double().numpy()
            assert _ks(drawn, expected) > 1e-3, name
            checked += 1
        assert checked >= 35


@pytest.mark.parametrize("bounds, share", [("both", 0.0), ("best", 1.0), ("none", 0.5)])
def test_the_pymc_prior_reads_a_progress_curve_as_a_loss_as_its_bounds_allow(bounds, share):
    import pymc as pm

    model = prior_model(schedule=True, draws=20_000, prior=PriorConfig(), bounds=bounds)
    # Only a loss shows its best bound alone, never one with both; the sampler shows half of its progress curves as losses.
    assert pm.draw(model["progress.is_loss"], random_seed=2).mean() == pytest.approx(share, abs=0.01)


def test_the_pymc_prior_mixes_families_as_the_prior_sampler_does():
    import pymc as pm

    model = prior_model(schedule=False, draws=20_000, prior=PriorConfig())
    weights = np.concatenate([pm.draw(model[f"weight.{f}"], random_seed=1) for f in FAMILIES], axis=1)
    in_mix = (weights > 0).sum(1)
    # One family picked, each of the other ten joining with probability 0.2: 1 + Binomial(10, 0.2) families.
    assert in_mix.mean() == pytest.approx(1 + 10 * 0.2, abs=0.05)
    np.testing.assert_allclose(weights.sum(1), 1.0)


def test_mixture_predictive_is_a_distribution():
    rng = np.random.default_rng(0)
    mix = MixturePredictive(rng.standard_normal((50, 2)), np.full((50, 1), 0.3), lo=-1.0, hi=math.inf)
    z = np.linspace(-1.0, 8.0, 20_001)
    dens = np.exp(np.stack([mix.log_prob(np.array([v, v])) for v in z]))
    np.testing.assert_allclose(dens.sum(0) * (z[1] - z[0]), 1.0, atol=2e-3)
    q = mix.quantile([0.1, 0.9])
    np.testing.assert_allclose(np.stack([mix.cdf(q[:, j]) for j in range(2)], 1), [[0.1, 0.9], [0.1, 0.9]], atol=1e-6)
    assert np.all(mix.log_prob(np.array([-1.5, -1.5])) == -np.inf)


def test_mixture_predictive_with_outliers_is_a_distribution():
    rng = np.random.default_rng(1)
    mu = rng.standard_normal((40, 1))
    mix = MixturePredictive(mu, np.full((40, 1), 0.05), lo=-2.0, hi=3.0, rate=np.full((40, 1), 0.2), span=np.full((40, 1), 2.0))
    z = np.linspace(-2.0, 3.0, 50_001)
    dens = np.exp(np.array([mix.log_prob(np.array([v]))[0] for v in z]))
    assert np.trapezoid(dens, z) == pytest.approx(1.0, rel=2e-3)
    # The cdf is the density's integral, and far from every draw only outliers put mass.
    cdf = np.array([mix.cdf(np.array([v]))[0] for v in (-0.5, 1.0, 2.5)])
    expected = [np.trapezoid(dens[z <= v], z[z <= v]) for v in (-0.5, 1.0, 2.5)]
    np.testing.assert_allclose(cdf, expected, atol=2e-3)
    q = mix.quantile([0.05, 0.5, 0.95])[0]
    np.testing.assert_allclose([mix.cdf(np.array([v]))[0] for v in q], [0.05, 0.5, 0.95], atol=1e-6)


def test_mixture_predictive_stays_exact_when_a_draw_lies_far_beyond_a_limit():
    from scipy.stats import truncnorm

    # A draw whose mean is 40 sigmas below the limit: Φ(hi) - Φ(lo) cancels to 0 in floats.
    mu, sigma, lo = np.array([[-40.0, 3.0]]), np.array([[1.0]]), 0.0
    mix = MixturePredictive(mu, sigma, lo=lo)
    z = np.array([0.01, 3.5])
    expected = truncnorm(np.array([40.0, -3.0]), np.inf, loc=mu[0], scale=1.0)
    np.testing.assert_allclose(mix.log_prob(z), expected.logpdf(z), rtol=1e-9)
    np.testing.assert_allclose(mix.cdf(z), expected.cdf(z), rtol=1e-9)
    grid = np.linspace(0.0, 1.0, 10_001)  # the mass hugs the limit: an exponential of rate ~40
    density = np.exp([mix.log_prob(np.array([v, 3.5]))[0] for v in grid])
    assert np.trapezoid(density, grid) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.slow
def test_schedule_sources_predict_a_cooldown_below_the_constant_run():
    x = np.arange(100, 1300, 100, dtype=float)
    y = 3.0 + 2.0 * (x / 100) ** -0.5
    # One law and one family keep the compiled model small: the whole prior's compiles for minutes on a cold machine, and
    # the multi-power law with the annealing law took 104 s to compile and 4 minutes in all (a third of the suite).
    mcmc = MCMCExtrapolator(draws=100, chains=2, time_budget_s=240, families=("pow3",), sources=("lr_annealing",), seed=2)
    kw = dict(horizon=2400, bounds=(0, None))
    cooled = mcmc.predict(x, y, [2400.0], schedule=wsd(total=2400, peak=1e-3, cooldown=0.2), **kw)
    constant = mcmc.predict(x, y, [2400.0], schedule=wsd(total=2400, peak=1e-3, cooldown=0.0), **kw)
    assert cooled.model == "mcmc-schedule" and np.isfinite(cooled.median).all()
    assert cooled.median[0] < constant.median[0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=[1, 2, 3], y=[1, 2]), "same length"),
        (dict(x=[1, 3, 2], y=[1, 2, 3]), "strictly increasing"),
        (dict(x=[1, 2, 3], y=[1, float("nan"), 3]), "y\\[1\\]=nan"),
        (dict(x=[1, 2, 3], y=[1, 2, 3], x_query=[2]), "before the last observed step"),
        (dict(x=[1], y=[1]), "at least 2 observed points"),
    ],
)
def test_bad_input_raises_the_same_errors_as_the_pfn(kwargs, message):
    kwargs.setdefault("x_query", [10])
    with pytest.raises(InvalidCurveError, match=message):
        MCMCExtrapolator().predict(**kwargs)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="families"):
        MCMCExtrapolator(families=("nope",))
    with pytest.raises(ValueError, match="sources"):
        MCMCExtrapolator(sources=("nope",))
    with pytest.raises(ValueError, match="draws"):
        MCMCExtrapolator(draws=1)


@pytest.mark.slow
def test_budget_too_small_to_reach_the_posterior_is_budget_exceeded():
    mcmc = MCMCExtrapolator(draws=200, chains=1, time_budget_s=0.001, families=("pow3",))
    with pytest.raises(BudgetExceededError, match="time_budget_s"):
        mcmc.predict(X, 0.9 - 0.6 * X**-0.5, [60.0], direction="max")
