"""Tempered sequential Monte Carlo over a whole population of particles at once.

The MCMC baseline's sampler (:mod:`lcpfn.mcmc`). Particles live in the prior's
standard-normal coordinates (every random quantity of the prior is a standard normal
mapped through its distribution, :meth:`priors.parameters.Uniform.from_normal`), so
the prior is ``N(0, I)`` restricted to the region where the prior keeps a curve, and
one compiled call gives the log-likelihood (and its gradient) of every particle.

A chain starts from exact prior draws (rejection, as the prior sampler does) and
moves through tempered posteriors ``prior * likelihood^β``: each stage raises ``β``
to where the importance weights keep an effective sample size of ``ess_threshold``
of the particles (bisection), resamples them (systematic) and moves every particle
by Hamiltonian Monte Carlo, whitened by the population's covariance, its step size
tuned to the acceptance rate, until the particles have decorrelated from where the
stage began or ``max_moves`` is reached. Without a gradient the moves are
random-walk Metropolis with the population's covariance. Coordinates the likelihood
sees only through a threshold (``switches``: which law, whether a family joins the
mixture) have no gradient to follow, so each move also redraws one of them per
particle from the prior, accepted by the likelihood ratio (Metropolis within Gibbs):
particles change mode at every stage instead of keeping the split they were
resampled with. The log marginal
likelihood is the sum over stages of the log mean weight. Independent chains give
r-hat and effective sample sizes as MCMC chains do.

PyMC's ``pm.sample_smc`` runs this algorithm with Metropolis kernels and evaluates one
particle per Python call; for thousands of particles through hundreds of moves that
takes minutes where one batched call per move takes seconds.

>>> import numpy as np
>>> def loglik(x):  # a N(1, 0.5^2) observation of the first coordinate
...     return -0.5 * ((x[:, 0] - 1.0) / 0.5) ** 2, np.ones(len(x), bool)
>>> def with_gradient(x):
...     grad = np.zeros_like(x)
...     grad[:, 0] = -(x[:, 0] - 1.0) / 0.25
...     return (*loglik(x), grad)
>>> run = smc(loglik, 2, particles=2000, chains=2, rng=np.random.default_rng(0), gradient=with_gradient)
>>> round(float(run.particles[..., 0].mean()), 1), round(float(run.particles[..., 0].std()), 2)  # N(0.8, 0.45^2)
(0.8, 0.45)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

LogLikelihood = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # (n, D) -> log-likelihood (n,), feasible (n,)
# (n, D) -> log-likelihood (n,), feasible (n,), its gradient (n, D)
WithGradient = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

MAX_REJECTION_ROUNDS = 200
RANDOM_WALK_ACCEPTANCE = 0.3  # random-walk Metropolis in a few dozen dimensions
HMC_ACCEPTANCE = 0.7
LEAPFROG_STEPS = 8


class OutOfTime(Exception):
    """The deadline passed before every chain reached the posterior (β = 1)."""


@dataclass(frozen=True)
class SMCRun:
    particles: np.ndarray  # (C, P, D) posterior draws in standard-normal coordinates
    log_marginal_likelihood: np.ndarray  # (C,)
    stages: np.ndarray  # (C,) tempering stages each chain took
    moves: int  # mutation moves over all stages and chains
    acceptance: float  # mean acceptance rate of those moves
    evaluations: int  # particle likelihoods (or gradients) computed


def smc(
    loglik: LogLikelihood,
    dim: int,
    *,
    particles: int,
    chains: int,
    rng: np.random.Generator,
    gradient: WithGradient | None = None,
    ess_threshold: float = 0.5,
    max_moves: int = 25,
    correlation_threshold: float = 0.05,
    deadline: float | None = None,
    switches: Sequence[int] = (),
) -> SMCRun:
    """``chains`` independent SMC runs of ``particles`` each under ``loglik`` (see the module docstring).

    ``gradient`` (the likelihood with its gradient) switches the moves to HMC. ``deadline`` is a
    ``time.monotonic()`` value; past it :class:`OutOfTime` is raised. ``switches`` are the indices of
    coordinates redrawn from the prior at each move (see the module docstring).
    """
    settings = (ess_threshold, max_moves, correlation_threshold, deadline, np.asarray(switches, dtype=int))
    runs = [_Chain(loglik, gradient, dim, particles, rng, *settings).run() for _ in range(chains)]
    moves = sum(r.moves for r in runs)
    return SMCRun(
        particles=np.stack([r.x for r in runs]),
        log_marginal_likelihood=np.array([r.log_ml for r in runs]),
        stages=np.array([r.stages for r in runs]),
        moves=moves,
        acceptance=float(sum(r.accepted for r in runs) / max(moves, 1)),
        evaluations=sum(r.evaluations for r in runs),
    )


def _check_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise OutOfTime


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


class _Chain:
    """One SMC run; its state is the population ``x`` (P, D) and the likelihood ``ll`` (P,) there."""

    def __init__(self, loglik, gradient, dim, n, rng, ess_threshold, max_moves, correlation_threshold, deadline, switches):
        self.loglik, self.gradient, self.dim, self.n, self.rng = loglik, gradient, dim, n, rng
        self.ess_threshold, self.max_moves, self.threshold, self.deadline, self.switches = (
            ess_threshold,
            max_moves,
            correlation_threshold,
            deadline,
            switches,
        )
        self.log_ml, self.stages, self.moves, self.accepted, self.evaluations = 0.0, 0, 0, 0.0, 0
        self.scale = 2.38 / math.sqrt(dim)  # random walk, in units of the population's spread
        self.step = 0.5 / dim**0.25  # leapfrog step, whitened units

    def run(self) -> _Chain:
        self.x, self.ll = self._prior_draws()
        beta = 0.0
        while beta < 1.0:
            _check_time(self.deadline)
            new_beta = _next_beta(self.ll, beta, self.ess_threshold)
            lw = (new_beta - beta) * self.ll
            top = lw.max()
            w = np.exp(lw - top)
            self.log_ml += top + math.log(w.mean())
            keep = _systematic(w / w.sum(), self.rng)
            self.x, self.ll, beta = self.x[keep], self.ll[keep], new_beta
            self.stages += 1
            self._mutate(beta)
        return self

    def _prior_draws(self) -> tuple[np.ndarray, np.ndarray]:
        """``n`` exact draws of the restricted prior, with their log-likelihoods; rejection redraws only what failed."""
        x, ll = np.empty((self.n, self.dim)), np.empty(self.n)
        missing = np.arange(self.n)
        for _ in range(MAX_REJECTION_ROUNDS):
            _check_time(self.deadline)
            draw = self.rng.standard_normal((len(missing), self.dim))
            value, ok = self.loglik(draw)
            self.evaluations += len(draw)
            ok = ok & ~np.isnan(value)
            x[missing[ok]], ll[missing[ok]] = draw[ok], value[ok]
            missing = missing[~ok]
            if not len(missing):
                return x, ll
        raise RuntimeError(f"the prior kept too few curves: {len(missing)} of {self.n} particles still rejected")

    def _mutate(self, beta: float) -> None:
        """Moves under ``prior * likelihood^β`` until the population has left where it started."""
        chol = np.linalg.cholesky(np.cov(self.x, rowvar=False) + 1e-9 * np.eye(self.dim))
        start = self.x.copy()
        for _ in range(self.max_moves):
            _check_time(self.deadline)
            rate = self._hmc(beta, chol) if self.gradient is not None else self._random_walk(beta, chol)
            self.moves, self.accepted = self.moves + 1, self.accepted + rate
            if len(self.switches):
                self._redraw_switch(beta)
            if _mean_abs_correlation(start, self.x) < self.threshold:
                break

    def _accept(self, log_ratio: np.ndarray, proposal: np.ndarray, value: np.ndarray) -> float:
        take = np.log(self.rng.random(self.n)) < log_ratio
        self.x[take], self.ll[take] = proposal[take], value[take]
        return float(take.mean())

    def _redraw_switch(self, beta: float) -> float:
        """Every particle redraws one of its switch coordinates from the prior (``N(0, 1)``, so the prior ratio
        cancels): a Metropolis-within-Gibbs move accepted by the tempered likelihood ratio."""
        proposal = self.x.copy()
        column = self.switches[self.rng.integers(len(self.switches), size=self.n)]
        proposal[np.arange(self.n), column] = self.rng.standard_normal(self.n)
        value, ok = self.loglik(proposal)
        self.evaluations += self.n
        value = np.where(ok & ~np.isnan(value), value, -np.inf)
        return self._accept(beta * (value - self.ll), proposal, value)

    def _random_walk(self, beta: float, chol: np.ndarray) -> float:
        proposal = self.x + self.scale * self.rng.standard_normal(self.x.shape) @ chol.T
        value, ok = self.loglik(proposal)
        self.evaluations += self.n
        value = np.where(ok & ~np.isnan(value), value, -np.inf)
        log_ratio = beta * (value - self.ll) - 0.5 * ((proposal**2).sum(1) - (self.x**2).sum(1))
        rate = self._accept(log_ratio, proposal, value)
        self.scale *= math.exp(rate - RANDOM_WALK_ACCEPTANCE)
        return rate

    def _potential(self, x: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``-log(prior * likelihood^β)``, its gradient and the likelihood, at ``x``; infinite where infeasible."""
        value, ok, grad = self.gradient(x)
        self.evaluations += self.n
        ok = ok & np.isfinite(value)
        u = np.where(ok, 0.5 * (x**2).sum(1) - beta * np.where(ok, value, 0.0), np.inf)
        g = x - beta * np.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
        return u, g, np.where(ok, value, -np.inf)

    def _hmc(self, beta: float, chol: np.ndarray) -> float:
        """One HMC move of every particle: leapfrog in coordinates whitened by the population's covariance
        (``x = chol z``), each particle's step jittered; a trajectory that crosses where the prior keeps no
        curve is rejected (symmetric, so the move stays reversible)."""
        step = self.step * self.rng.uniform(0.8, 1.2, (self.n, 1))
        x = self.x.copy()
        u0, g, _ = self._potential(x, beta)
        r = self.rng.standard_normal(x.shape)
        h0 = u0 + 0.5 * (r**2).sum(1)
        crossed = np.zeros(self.n, bool)
        r = r - 0.5 * step * (g @ chol)
        for k in range(LEAPFROG_STEPS):
            x = x + step * (r @ chol.T)
            u, g, value = self._potential(x, beta)
            crossed |= ~np.isfinite(u)
            if k < LEAPFROG_STEPS - 1:
                r = r - step * (g @ chol)
        r = r - 0.5 * step * (g @ chol)
        h1 = u + 0.5 * (r**2).sum(1)
        log_ratio = np.where(crossed, -np.inf, h0 - h1)
        rate = self._accept(np.nan_to_num(log_ratio, nan=-np.inf), x, value)
        self.step *= math.exp(2.0 * (rate - HMC_ACCEPTANCE))
        return rate


def _mean_abs_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over coordinates of |corr(a[:, j], b[:, j])| across particles (how much of where they started is left)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    denom = np.sqrt((a**2).sum(0) * (b**2).sum(0))
    corr = np.where(denom > 0, (a * b).sum(0) / np.where(denom > 0, denom, 1.0), 0.0)
    return float(np.mean(np.abs(corr)))
