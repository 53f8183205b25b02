import math

import numpy as np
import pytest

pytest.importorskip("pymc")

from lcpfn.errors import BudgetExceededError, InvalidCurveError  # noqa: E402
from lcpfn.mcmc import MCMCExtrapolator, MixturePredictive  # noqa: E402
from lcpfn.prediction import Prediction  # noqa: E402
from priors.schedules import wsd  # noqa: E402

X = np.arange(1, 31, dtype=float)


@pytest.fixture(scope="module")
def pow3_fit():
    """A pow3 curve with known exponent and noise, fitted by a single-family model."""
    rng = np.random.default_rng(0)
    alpha, sigma = 0.8, 0.004
    clean = 0.9 - 0.6 * (X / 30 * 100) ** -alpha  # pow3 at the prior's time scale (horizon 30 -> t = 100 u)
    y = clean + sigma * rng.standard_normal(len(X))
    mcmc = MCMCExtrapolator(draws=300, tune=400, chains=2, time_budget_s=240, families=("pow3",), sampler="pymc", seed=3)
    return mcmc, mcmc.predict(X, y, [60.0], direction="max"), alpha, sigma, 0.9 - 0.6 * 200**-alpha


@pytest.mark.slow
def test_recovers_the_exponent_noise_and_final_value_of_a_synthetic_curve(pow3_fit):
    _, pred, alpha, sigma, final = pow3_fit
    assert pred.diagnostics["draws"] >= 300
    low, high = pred.interval(0.9)
    assert low[0] < final < high[0]
    assert abs(pred.median[0] - final) < 0.02
    assert abs(pred.diagnostics["posterior_mean"]["pow3.alpha"] - alpha) < 0.25
    assert sigma / 2 < pred.diagnostics["noise_sd"] < sigma * 2


@pytest.mark.slow
def test_prediction_contract_holds(pow3_fit):
    _, pred, *_ = pow3_fit
    assert isinstance(pred, Prediction)
    q = pred.quantile([0.05, 0.5, 0.95])
    assert q.shape == (3, 1) and np.all(np.diff(q, axis=0) > 0)
    np.testing.assert_allclose(pred.cdf(pred.median), 0.5, atol=1e-3)
    assert np.isfinite(pred.log_prob(pred.median)).all() and np.isfinite(pred.mean).all()
    np.testing.assert_allclose(pred.prob_better_than(pred.median), 0.5, atol=1e-3)
    d = pred.to_dict()
    assert {"rhat_max", "ess_bulk_min", "divergences"} <= set(d["diagnostics"])


def test_mixture_predictive_is_a_distribution():
    rng = np.random.default_rng(0)
    mix = MixturePredictive(rng.standard_normal((50, 2)), np.full((50, 1), 0.3), lo=-1.0, hi=math.inf)
    z = np.linspace(-1.0, 8.0, 20_001)
    dens = np.exp(np.stack([mix.log_prob(np.array([v, v])) for v in z]))
    np.testing.assert_allclose(dens.sum(0) * (z[1] - z[0]), 1.0, atol=2e-3)
    q = mix.quantile([0.1, 0.9])
    np.testing.assert_allclose(np.stack([mix.cdf(q[:, j]) for j in range(2)], 1), [[0.1, 0.9], [0.1, 0.9]], atol=1e-6)
    assert np.all(mix.log_prob(np.array([-1.5, -1.5])) == -np.inf)


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
def test_schedule_aware_law_runs_with_a_schedule():
    x = np.arange(100, 1300, 100, dtype=float)
    y = 3.0 + 2.0 * (x / 100) ** -0.5
    mcmc = MCMCExtrapolator(draws=30, tune=30, chains=1, time_budget_s=120, sampler="pymc")
    pred = mcmc.predict(x, y, [2400.0], schedule=wsd(total=2400, peak=1e-3, cooldown=0.2))
    assert pred.model == "mcmc-multi_power" and np.isfinite(pred.median).all()


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
    with pytest.raises(ValueError, match="law"):
        MCMCExtrapolator(law="nope")


@pytest.mark.slow
def test_nutpie_path_when_installed():
    pytest.importorskip("nutpie")
    mcmc = MCMCExtrapolator(draws=100, tune=100, chains=2, time_budget_s=120, sampler="nutpie", families=("pow3",))
    pred = mcmc.predict(X, 0.9 - 0.6 * X**-0.5, [60.0], direction="max")
    assert pred.diagnostics["sampler"] == "nutpie" and pred.diagnostics["draws"] == 200
    assert {"a", "b", "pow3.alpha"} <= set(pred.diagnostics["posterior_mean"])
    assert not [k for k in pred.diagnostics["posterior_mean"] if k.endswith("__")]  # nutpie's unconstrained twins


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_budget_too_small_for_any_draw_is_budget_exceeded(sampler):
    if sampler == "nutpie":
        pytest.importorskip("nutpie")
    mcmc = MCMCExtrapolator(draws=10, tune=50, chains=1, time_budget_s=0.001, sampler=sampler)
    with pytest.raises(BudgetExceededError, match="time_budget_s"):
        mcmc.predict(X, 0.9 - 0.6 * X**-0.5, [60.0], direction="max")
