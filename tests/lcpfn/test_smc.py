"""The SMC sampler against posteriors known in closed form."""

import math
import time

import numpy as np
import pytest

from lcpfn.smc import OutOfTime, smc


def _gaussian_observation(value: float, sd: float):
    """An observation ``value`` of the first coordinate with noise ``sd``: the posterior is normal, the evidence known."""

    def loglik(x):
        return -0.5 * ((x[:, 0] - value) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi)), np.ones(len(x), bool)

    return loglik


def _with_gradient(value: float, sd: float):
    loglik = _gaussian_observation(value, sd)

    def both(x):
        grad = np.zeros_like(x)
        grad[:, 0] = -(x[:, 0] - value) / sd**2
        return (*loglik(x), grad)

    return both


@pytest.mark.parametrize("moves", ["random walk", "hmc"])
def test_gaussian_posterior_and_evidence_are_recovered(moves):
    gradient = _with_gradient(1.5, 0.3) if moves == "hmc" else None
    run = smc(_gaussian_observation(1.5, 0.3), 3, particles=3000, chains=2, rng=np.random.default_rng(1), gradient=gradient)
    x = run.particles.reshape(-1, 3)
    post_var = 1.0 / (1.0 + 1.0 / 0.3**2)
    assert x[:, 0].mean() == pytest.approx(post_var * 1.5 / 0.3**2, abs=0.02)
    assert x[:, 0].std() == pytest.approx(math.sqrt(post_var), rel=0.05)
    # Untouched coordinates keep the prior.
    assert x[:, 1:].std(0) == pytest.approx([1.0, 1.0], rel=0.05)
    evidence = -0.5 * 1.5**2 / (1 + 0.3**2) - 0.5 * math.log(2 * math.pi * (1 + 0.3**2))
    np.testing.assert_allclose(run.log_marginal_likelihood, evidence, atol=0.05)


def test_the_prior_restriction_is_honoured_and_the_posterior_stays_inside_it():
    def positive_first(x):  # the prior keeps only x0 > 0: a half-normal, no likelihood
        return np.zeros(len(x)), x[:, 0] > 0

    run = smc(positive_first, 2, particles=2000, chains=1, rng=np.random.default_rng(0))
    assert (run.particles[..., 0] > 0).all()
    assert run.particles[..., 0].mean() == pytest.approx(math.sqrt(2 / math.pi), abs=0.05)


def test_a_bimodal_posterior_keeps_both_modes_in_proportion():
    def two_modes(x):  # modes at -2 and +2, the right one twice as heavy
        a = -0.5 * ((x[:, 0] + 2.0) / 0.2) ** 2
        b = -0.5 * ((x[:, 0] - 2.0) / 0.2) ** 2 + math.log(2.0)
        return np.logaddexp(a, b), np.ones(len(x), bool)

    run = smc(two_modes, 1, particles=4000, chains=2, rng=np.random.default_rng(2))
    right = (run.particles[..., 0] > 0).mean(axis=1)
    np.testing.assert_allclose(right, 2 / 3, atol=0.05)


def test_switch_redraws_leave_a_thresholded_choice_in_its_posterior_proportion():
    # x0 picks one of two laws through a threshold (no gradient): law A (x0 < 0) explains the observation of x1
    # three times better. Both chains must split 3:1, and x1 follow each law's own posterior.
    def loglik(x):
        a = x[:, 0] < 0
        ll = -0.5 * ((x[:, 1] - np.where(a, 1.0, -1.0)) / 0.5) ** 2 + np.where(a, math.log(3.0), 0.0)
        return ll, np.ones(len(x), bool)

    def with_gradient(x):
        a = x[:, 0] < 0
        grad = np.zeros_like(x)
        grad[:, 1] = -(x[:, 1] - np.where(a, 1.0, -1.0)) / 0.25
        return (*loglik(x), grad)

    # Evidence of each law: N(±1; 0, 1 + 0.25), equal by symmetry, so the weights are 3:1.
    run = smc(loglik, 2, particles=4000, chains=2, rng=np.random.default_rng(3), gradient=with_gradient, switches=[0])
    share_a = (run.particles[..., 0] < 0).mean(axis=1)
    np.testing.assert_allclose(share_a, 0.75, atol=0.03)
    a = run.particles[..., 0] < 0
    assert run.particles[..., 1][a].mean() == pytest.approx(0.8, abs=0.03)  # posterior mean 1 / 1.25


def test_a_passed_deadline_stops_the_run():
    with pytest.raises(OutOfTime):
        smc(_gaussian_observation(1.0, 0.01), 2, particles=500, chains=1, rng=np.random.default_rng(0), deadline=time.monotonic())
