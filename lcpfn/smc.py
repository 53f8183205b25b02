"""Tempered sequential Monte Carlo over a whole population of particles at once.

The MCMC baseline's sampler (:mod:`lcpfn.mcmc`). Particles live in the prior's
standard-normal coordinates (every random quantity of the prior is a standard normal
mapped through its distribution, :meth:`priors.parameters.Uniform.from_normal`), so
the prior is ``N(0, I)`` restricted to the region where the prior keeps a curve, and
one compiled call gives the log-likelihood of every particle.

A chain starts from exact prior draws (rejection, as the prior sampler does) and
moves through tempered posteriors ``prior * likelihood^β``: each stage raises ``β``
to where the importance weights keep an effective sample size of ``ess_threshold``
of the particles (bisection), resamples them (systematic) and moves each by
random-walk Metropolis steps with the particles' covariance, its scale tuned to the
acceptance rate, until the particles have decorrelated from where the stage began
or ``max_steps`` is reached (the rule of PyMC's SMC kernels). The log marginal
likelihood is the sum over stages of the log mean weight. Independent chains give
r-hat and effective sample sizes like MCMC chains do.

PyMC's own ``pm.sample_smc`` runs the same algorithm but evaluates one particle per
Python call; a fit of thousands of particles through hundreds of steps then takes
minutes instead of seconds.

>>> import numpy as np
>>> def loglik(x):  # a N(1, 0.5^2) observation of the first coordinate
...     return -0.5 * ((x[:, 0] - 1.0) / 0.5) ** 2, np.ones(len(x), bool)
>>> run = smc(loglik, 2, particles=2000, chains=2, rng=np.random.default_rng(0))
>>> round(float(run.particles[..., 0].mean()), 1), round(float(run.particles[..., 0].std()), 2)  # N(0.8, 0.45^2)
(0.8, 0.45)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LogLikelihood = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # (n, D) -> log-likelihood (n,), feasible (n,)

MAX_REJECTION_ROUNDS = 200
TARGET_ACCEPTANCE = 0.3  # random-walk Metropolis in a few dozen dimensions


class OutOfTime(Exception):
    """The deadline passed before every chain reached the posterior (β = 1)."""


@dataclass(frozen=True)
class SMCRun:
    particles: np.ndarray  # (C, P, D) posterior draws in standard-normal coordinates
    log_marginal_likelihood: np.ndarray  # (C,)
    stages: np.ndarray  # (C,) tempering stages each chain took
    steps: int  # Metropolis steps over all stages and chains
    acceptance: float  # mean acceptance rate of those steps
    evaluations: int  # particle likelihoods computed


def smc(
    loglik: LogLikelihood,
    dim: int,
    *,
    particles: int,
    chains: int,
    rng: np.random.Generator,
    ess_threshold: float = 0.5,
    max_steps: int = 25,
    correlation_threshold: float = 0.01,
    deadline: float | None = None,
) -> SMCRun:
    """``chains`` independent SMC runs of ``particles`` each under ``loglik`` (see the module docstring).

    ``deadline`` is a ``time.monotonic()`` value; past it :class:`OutOfTime` is raised.
    """
    runs = [_chain(loglik, dim, particles, rng, ess_threshold, max_steps, correlation_threshold, deadline) for _ in range(chains)]
    steps = sum(r[3] for r in runs)
    return SMCRun(
        particles=np.stack([r[0] for r in runs]),
        log_marginal_likelihood=np.array([r[1] for r in runs]),
        stages=np.array([r[2] for r in runs]),
        steps=steps,
        acceptance=float(sum(r[4] * r[3] for r in runs) / max(steps, 1)),
        evaluations=sum(r[5] for r in runs),
    )


def _check_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise OutOfTime


def _prior_draws(loglik: LogLikelihood, dim: int, n: int, rng: np.random.Generator, deadline) -> tuple:
    """``n`` exact draws of the restricted prior, with their log-likelihoods; rejection redraws only what failed."""
    x = np.empty((n, dim))
    ll = np.empty(n)
    missing = np.arange(n)
    evaluations = 0
    for _ in range(MAX_REJECTION_ROUNDS):
        _check_time(deadline)
        draw = rng.standard_normal((len(missing), dim))
        value, ok = loglik(draw)
        evaluations += len(draw)
        ok = ok & ~np.isnan(value)
        x[missing[ok]], ll[missing[ok]] = draw[ok], value[ok]
        missing = missing[~ok]
        if not len(missing):
            return x, ll, evaluations
    raise RuntimeError(f"the prior kept too few curves: {len(missing)} of {n} particles still rejected")


def _next_beta(ll: np.ndarray, beta: float, ess_threshold: float) -> float:
    """The largest ``β' <= 1`` whose weights ``exp((β' - β) ll)`` keep an ESS of ``ess_threshold`` of the particles."""

    def ess(b: float) -> float:
        lw = (b - beta) * ll
        w = np.exp(lw - lw.max())
        return float(w.sum() ** 2 / (w**2).sum())

    target = ess_threshold * len(ll)
    if ess(1.0) >= target:
        return 1.0
    low, high = beta, 1.0
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if ess(mid) >= target else (low, mid)
    return max(low, beta + 1e-12)


def _systematic(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    positions = (rng.random() + np.arange(len(weights))) / len(weights)
    return np.minimum(np.searchsorted(np.cumsum(weights), positions), len(weights) - 1)


def _chain(loglik, dim, n, rng, ess_threshold, max_steps, correlation_threshold, deadline):
    x, ll, evaluations = _prior_draws(loglik, dim, n, rng, deadline)
    beta, log_ml, stages, steps, accepted = 0.0, 0.0, 0, 0, 0.0
    scale = 2.38 / math.sqrt(dim)
    while beta < 1.0:
        _check_time(deadline)
        new_beta = _next_beta(ll, beta, ess_threshold)
        lw = (new_beta - beta) * ll
        top = lw.max()
        log_ml += top + math.log(np.mean(np.exp(lw - top)))
        w = np.exp(lw - top)
        keep = _systematic(w / w.sum(), rng)
        x, ll, beta = x[keep], ll[keep], new_beta
        stages += 1
        # Metropolis on prior * likelihood^β, alternating independent proposals from a normal fitted to the
        # population (long jumps across the posterior, PyMC's IMH kernel) with random-walk ones using its
        # covariance (local moves where the posterior is not normal).
        mean = x.mean(0)
        chol = np.linalg.cholesky(np.cov(x, rowvar=False) + 1e-9 * np.eye(dim))
        fit = _Normal(mean, chol)
        start = x.copy()
        for k in range(max_steps):
            _check_time(deadline)
            independent = k % 2 == 0
            if independent:
                proposal = fit.draw(rng, n)
                correction = fit.log_pdf(x) - fit.log_pdf(proposal)
            else:
                proposal = x + scale * rng.standard_normal(x.shape) @ chol.T
                correction = 0.0
            value, ok = loglik(proposal)
            evaluations += n
            value = np.where(ok & ~np.isnan(value), value, -np.inf)
            log_ratio = beta * (value - ll) - 0.5 * ((proposal**2).sum(1) - (x**2).sum(1)) + correction
            take = np.log(rng.random(n)) < log_ratio
            x[take], ll[take] = proposal[take], value[take]
            rate = float(take.mean())
            steps, accepted = steps + 1, accepted + rate
            if not independent:
                scale *= math.exp(rate - TARGET_ACCEPTANCE)
            if _mean_abs_correlation(start, x) < correlation_threshold:
                break
    return x, log_ml, stages, steps, accepted / max(steps, 1), evaluations


@dataclass(frozen=True)
class _Normal:
    """A multivariate normal ``N(mean, chol chol^T)``: the independent proposal."""

    mean: np.ndarray
    chol: np.ndarray

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.mean + rng.standard_normal((n, len(self.mean))) @ self.chol.T

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Up to a constant (it cancels in the Metropolis ratio)."""
        from scipy.linalg import solve_triangular

        return -0.5 * (solve_triangular(self.chol, (x - self.mean).T, lower=True) ** 2).sum(0)


def _mean_abs_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over coordinates of |corr(a[:, j], b[:, j])| across particles (how much of where they started is left)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    denom = np.sqrt((a**2).sum(0) * (b**2).sum(0))
    corr = np.where(denom > 0, (a * b).sum(0) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(np.mean(np.abs(corr)))
