"""The MCMC baseline: Bayesian extrapolation under the PFN's own prior, done the slow way.

>>> from lcpfn.mcmc import MCMCExtrapolator
>>> mcmc = MCMCExtrapolator(draws=500, chains=2, time_budget_s=300, families=("pow3",), seed=1)
>>> pred = mcmc.predict(range(1, 21), [1 - 0.5 * t ** -0.5 for t in range(1, 21)], [100], direction="max")
>>> pred.quantile([0.05, 0.95]).shape, pred.diagnostics["chains"], pred.diagnostics["sampler"]
((2, 1), 2, 'smc')

**The model is the prior.** Every random quantity the prior sampler draws from a
uniform (:mod:`priors.sample`) is here a standard normal mapped through the same
distribution object (:meth:`priors.parameters.Uniform.from_normal`), and the curve is
computed by the same functions (:mod:`priors.laws`), so there is one definition of
each parameter's prior (:func:`prior_model` builds it as a PyMC model, and a test
checks its draws against the sampler's):

* without a schedule, the ``families`` source: a mix of 1-3 of the eleven Domhan et al.
  families (one picked, each other joining with the prior's inclusion probability,
  uniform weights) at a log-normal time scale;
* with a schedule, the sources that draw under one, mixed by the prior's source
  weights: the multi-power law, the LR-annealing law, the intrinsic-time law and
  ``progress`` (the families on the clock ∫ lr^p with jumps at lr drops);
* the prior's acceptance of a curve (accuracy-like curves in [0, 1] and improving,
  losses positive and decreasing, at every step evaluated) restricts the prior;
* the prior's noise model: Gaussian with a log-normal scale relative to the curve's
  range, heteroscedastic on a share of curves, outliers on a share of curves.

Values are in the PFN's normalized units (:func:`lcpfn.features.normalize_context`).
Known bounds pin the map from a law to them as the prior's bounds do (an accuracy
with limits 0 and 1 is the law itself); otherwise a scale ``a ~ LogNormal(0, 2)`` and,
without a best bound, a shift ``b ~ Normal(0, 10)`` map it, weakly informative in
those units (the prior's random affine map acts on values before normalization, so
it has no exact twin after it). Left out, and said so: the prior's time warps and
events (plateaus, spikes, divergence, overfitting), quantized accuracies and LC-PFN's
own source.

**The sampler** is tempered sequential Monte Carlo (:mod:`lcpfn.smc`) over all
particles at once: the families' mixture weights and the choice of law are
multimodal, where NUTS chains stay in one mode (the previous NUTS baseline logged
r-hat > 1.01 on 494 of 500 fits). The likelihood of every particle comes from one
compiled pytensor call, compiled once per model structure (schedule or not, which
bounds are known) and reused. The predictive is the mixture over posterior draws
of the observation density (normal, or an outlier, truncated at known bounds), so
``log_prob`` compares with the PFN's. ``prediction.diagnostics`` holds r-hat and
bulk ESS over every coordinate (rank-normalized, so they hold for any monotone
function of them) and the log marginal likelihood per chain; a warning is logged
when r-hat exceeds 1.01.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lcpfn.errors import BudgetExceededError, InvalidCurveError, require
from lcpfn.features import evenly_spaced, normalize_context
from lcpfn.inputs import SCHEDULE_GRID, Curve, ScheduleLike, check_curve, schedule_on_grid
from lcpfn.prediction import Prediction
from lcpfn.smc import OutOfTime, smc
from priors.config import SOURCES, PriorConfig
from priors.laws import (
    FAMILIES,
    POWER_PARAMS,
    SCHEDULE_LAWS,
    at_horizon,
    early_transient,
    family_mixture,
    family_weights,
    is_family_curve,
    is_loss_curve,
    multi_power,
    power_term,
    progress_clock,
    progress_drop_priors,
    progress_jump,
    schedule_law_priors,
)
from priors.parameters import LogNormal, LogUniform, Normal, Uniform, params_from_normal
from priors.schedules import ScheduleGrid, interpolate, schedule_grid

log = logging.getLogger(__name__)

MAX_FIT_POINTS = 100  # longer contexts are subsampled evenly for the likelihood (first and latest points kept)
MAX_PREDICTIVE_DRAWS = 1000  # posterior draws the predictive mixture keeps (evenly thinned)
RHAT_WARNING = 1.01
SCHEDULE_SOURCES = ("multi_power", "lr_annealing", "intrinsic_time", "progress")
# Where no known bound pins the map from a law to normalized units (see the module docstring).
SCALE_PRIOR = LogNormal(0.0, 2.0)
SHIFT_PRIOR = Normal(0.0, 10.0)
_SLOPE = Uniform(-2.0, 2.0)  # heteroscedastic noise: log sd changes by this over the run (priors.noise.draw_noise)
_OUTLIER_SIZE = (0.1, 1.1)  # an outlier's jump, x the curve's range, either sign (priors.noise.add_noise)
_CARD = Path(__file__).resolve().parent / "models" / "default.json"


# --------------------------------------------------------------------------- the predictive


@dataclass(frozen=True)
class MixturePredictive:
    """Mixture over ``D`` draws of ``(1 - r) N(mu, sigma) + r Outlier(mu, sigma, span)``, truncated to ``[lo, hi]``.

    ``mu``, ``sigma`` are ``(D, Q)`` (``sigma`` may be ``(D, 1)``); ``rate``, ``span`` ``(D, 1)``
    (default: no outliers). An outlier adds to the normal a jump uniform in
    ``span * [0.1, 1.1]`` of either sign, the prior's.
    """

    mu: np.ndarray
    sigma: np.ndarray
    lo: float = -math.inf
    hi: float = math.inf
    rate: np.ndarray | None = None
    span: np.ndarray | None = None

    def _parts(self, z):
        """log pdf and cdf of each component at ``z`` (broadcast against ``mu``), before truncation."""
        from scipy.special import ndtr

        s = (z - self.mu) / self.sigma
        with np.errstate(over="ignore"):  # a value far out in a tail: its log density is -inf, as it should be
            log_pdf_n = -0.5 * s**2 - np.log(self.sigma * math.sqrt(2 * math.pi))
        if self.rate is None:
            return log_pdf_n, None, ndtr(s), None
        low, high = _OUTLIER_SIZE[0] * self.span, _OUTLIER_SIZE[1] * self.span
        d = z - self.mu

        def box(v):  # E_j Φ((v - j) / σ) over j ~ U(low, high), and its derivative
            a, b = (v - low) / self.sigma, (v - high) / self.sigma
            cdf = self.sigma * (_psi(a) - _psi(b)) / (high - low)
            return cdf, (ndtr(a) - ndtr(b)) / (high - low)

        up_cdf, up_pdf = box(d)
        down_cdf, down_pdf = box(-d)
        with np.errstate(divide="ignore"):
            log_pdf_o = np.log(0.5 * (up_pdf + down_pdf))
        return log_pdf_n, log_pdf_o, ndtr(s), 0.5 * up_cdf + 0.5 * (1.0 - down_cdf)

    def _component_cdf(self, z):
        """The mixture's cdf per draw at ``z`` (0 at -inf, 1 at +inf, where the outliers' formula has no value)."""
        finite = np.clip(z, -1e300, 1e300)
        _, _, cdf_n, cdf_o = self._parts(finite)
        cdf = cdf_n if cdf_o is None else (1.0 - self.rate) * cdf_n + self.rate * cdf_o
        return np.where(np.isposinf(z), 1.0, np.where(np.isneginf(z), 0.0, cdf))

    def _log_mass(self):
        """log P(lo <= value <= hi) per draw and query; exact in the tails when there are no outliers."""
        if self.rate is None:
            return _log_ndtr_diff((self.lo - self.mu) / self.sigma, (self.hi - self.mu) / self.sigma)
        with np.errstate(divide="ignore"):
            return np.log(np.clip(self._component_cdf(self.hi) - self._component_cdf(self.lo), 0.0, None))

    def cdf(self, z):
        z = np.clip(np.broadcast_to(np.asarray(z, dtype=float), self.mu.shape[1:]), self.lo, self.hi)
        if self.rate is None:
            below = np.exp(_log_ndtr_diff((self.lo - self.mu) / self.sigma, (z[None] - self.mu) / self.sigma) - self._log_mass())
        else:
            below = (self._component_cdf(z[None]) - self._component_cdf(self.lo)) / np.exp(self._log_mass())
        return np.clip(np.mean(below, axis=0), 0.0, 1.0)

    def on_atom(self, z):
        """Nowhere: the observation density is truncated at known bounds, not censored."""
        return np.zeros(self.mu.shape[1:], dtype=bool)

    def log_prob(self, z):
        z = np.broadcast_to(np.asarray(z, dtype=float), self.mu.shape[1:])
        log_pdf_n, log_pdf_o, _, _ = self._parts(z[None])
        if log_pdf_o is None:
            log_pdf = log_pdf_n
        else:
            with np.errstate(divide="ignore"):
                log_pdf = np.logaddexp(np.log1p(-self.rate) + log_pdf_n, np.log(self.rate) + log_pdf_o)
        log_pdf = log_pdf - self._log_mass()
        top = log_pdf.max(axis=0)
        out = top + np.log(np.mean(np.exp(log_pdf - top), axis=0))
        return np.where((z >= self.lo) & (z <= self.hi), out, -np.inf)

    def quantile(self, levels):
        """By bisection on the mixture's cdf: ``(Q, L)``."""
        levels = np.asarray(levels, dtype=float)
        reach = 10.0 * self.sigma.max() + (0.0 if self.span is None else _OUTLIER_SIZE[1] * self.span.max())
        low = np.full((self.mu.shape[1], len(levels)), max(self.lo, self.mu.min() - reach))
        high = np.full_like(low, min(self.hi, self.mu.max() + reach))
        for _ in range(60):
            mid = 0.5 * (low + high)
            below = np.stack([self.cdf(mid[:, j]) for j in range(len(levels))], axis=1) < levels[None, :]
            low, high = np.where(below, mid, low), np.where(below, high, mid)
        return 0.5 * (low + high)

    def mean(self):
        """Truncated normal means, with outliers counted at their (symmetric) centre ``mu``."""
        from scipy.stats import truncnorm

        sigma = np.broadcast_to(self.sigma, self.mu.shape)
        a, b = (self.lo - self.mu) / sigma, (self.hi - self.mu) / sigma
        normal = truncnorm.mean(a, b, loc=self.mu, scale=sigma)
        if self.rate is not None:
            normal = (1.0 - self.rate) * normal + self.rate * np.clip(self.mu, self.lo, self.hi)
        return np.mean(normal, axis=0)


def _psi(t):
    """``∫_{-inf}^t Φ``: ``t Φ(t) + φ(t)``."""
    from scipy.special import ndtr

    density = np.exp(-0.5 * np.square(np.clip(t, -40.0, 40.0))) / math.sqrt(2 * math.pi)  # 0 past 40 sigmas; no overflow
    return t * ndtr(t) + density


def _log_ndtr_diff(a, b):
    """``log(Φ(b) - Φ(a))`` for ``a <= b``, without the cancellation of ``Φ(b) - Φ(a)`` when
    both lie in the same tail (a truncation limit many sigmas from a draw's mean)."""
    from scipy.special import log_ndtr

    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    flip = a > 0  # Φ(b) - Φ(a) = Φ(-a) - Φ(-b): keep both arguments in the accurate lower tail
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    log_hi, log_lo = log_ndtr(hi), log_ndtr(lo)
    with np.errstate(divide="ignore"):
        return log_hi + np.log1p(-np.exp(np.minimum(log_lo - log_hi, 0.0)))


# --------------------------------------------------------------------------- the problem


@dataclass(frozen=True)
class _Problem:
    """A checked curve in normalized units: the data inputs of the compiled model."""

    u_ctx: np.ndarray  # (Nc,) context times / horizon
    z_ctx: np.ndarray  # (Nc,)
    u_qry: np.ndarray  # (Q,)
    loc: float
    scale: float
    best: float  # known limits in normalized units, +-inf if unknown
    worst: float
    # (s1 at every evaluated time (T,), interpolation weights (T, G + 1), grid fields (5, G + 1), the run's steps ())
    schedule: tuple | None

    @property
    def times(self) -> np.ndarray:
        """Every time the model evaluates: the context, the queries, and the run's end."""
        return np.concatenate([self.u_ctx, self.u_qry, [max(1.0, float(self.u_qry.max()))]])

    @property
    def bounds(self) -> str:
        if math.isfinite(self.best) and math.isfinite(self.worst):
            return "both"
        return "best" if math.isfinite(self.best) else "none"

    def inputs(self) -> list[np.ndarray]:
        data = [self.u_ctx, self.z_ctx, self.u_qry, np.float64(self.best), np.float64(self.worst)]
        return data + (list(self.schedule) if self.schedule is not None else [])


def _problem(curve: Curve, grid_size: int) -> _Problem:
    keep = evenly_spaced(len(curve.x), MAX_FIT_POINTS)
    xs, ys = curve.x[keep], curve.y[keep]
    norm = normalize_context(ys[None], np.array([curve.direction]), np.array([curve.lower]), np.array([curve.upper]))
    horizon = curve.time_unit
    problem = _Problem(
        xs / horizon,
        norm.z(ys[None])[0],
        curve.x_query / horizon,
        float(norm.loc[0, 0]),
        float(norm.scale[0, 0]),
        float(norm.best[0, 0]),
        float(norm.worst[0, 0]),
        None,
    )
    if curve.schedule is None:
        return problem
    _, grid_lr = schedule_on_grid(curve)
    fine_u = np.linspace(0.0, 1.0, SCHEDULE_GRID + 1)
    fine = schedule_grid(fine_u, grid_lr / grid_lr.max())
    # The laws' pairwise sums run on the prior's coarse grid (``grid_size`` cells, uniform in u), with
    # the fine grid's intrinsic times, as the sampler does; what they add is interpolated to each time.
    every = SCHEDULE_GRID // grid_size
    grid = schedule_grid(fine_u[::every], fine.lr[::every])._replace(s1=fine.s1[::every])
    times = problem.times
    weights = np.stack([interpolate(grid.u, np.eye(len(grid.u))[k], times) for k in range(len(grid.u))], axis=1)
    s1 = interpolate(fine_u, fine.s1, np.clip(times, 0.0, 1.0))
    return dataclasses.replace(problem, schedule=(s1, weights, np.stack(list(grid)), np.float64(horizon)))


# --------------------------------------------------------------------------- the model


class _Columns:
    """Hands out consecutive columns of the standard-normal matrix ``x`` (P, D), each with a name."""

    def __init__(self, x, pt):
        self.x, self.names, self.pt = x, [], pt

    def take(self, names: list[str]):
        start = len(self.names)
        self.names += names
        # A static width, so that (P, 1) columns broadcast against (P, T) curves.
        return self.pt.specify_shape(self.x[:, start : len(self.names)], (None, len(names)))

    def one(self, name: str):
        return self.take([name])


def _phi(x, pt):
    return 0.5 * pt.erfc(-x / math.sqrt(2.0))


def _family_curve(cols: _Columns, t, families: tuple[str, ...], prior: PriorConfig, pt, params: dict, prefix: str = ""):
    """The families' mixture ``(P, T)`` at intrinsic times ``t``, as the prior draws it."""
    scale = prior.time_scale_prior().from_normal(cols.one(f"{prefix}time_scale"), pt)
    pick = _phi(cols.one(f"{prefix}families.pick"), pt)
    include = _phi(cols.take([f"{prefix}families.include[{f}]" for f in families]), pt)
    weight = _phi(cols.take([f"{prefix}families.weight[{f}]" for f in families]), pt)
    w = family_weights(pick, include, weight, prior.family_inclusion, pt)
    each = []
    for f in families:
        priors = FAMILIES[f].priors
        drawn = params_from_normal(priors, cols.take([f"{prefix}{f}.{k}" for k in priors]), pt)
        params.update({f"{prefix}{f}.{k}": v for k, v in drawn.items()})
        each.append(drawn)
    params[f"{prefix}time_scale"] = scale
    params.update({f"{prefix}weight.{f}": w[:, j : j + 1] for j, f in enumerate(families)})
    return family_mixture(pt.clip(t * scale, 1e-3, math.inf), w, each, families, pt)


def _law_curve(name: str, cols: _Columns, s1, grid, weights, steps, prior: PriorConfig, pt, params: dict):
    """A schedule-aware law ``(P, T)`` of a run of ``steps`` steps: exact power term at each time plus what the law
    adds, from the grid, plus the early transient of a share of curves (priors.sample)."""
    law, priors = SCHEDULE_LAWS[name], schedule_law_priors(name, prior.laws)
    drawn = params_from_normal(priors, cols.take([f"{name}.{k}" for k in priors]), pt)
    params.update({f"{name}.{k}": v for k, v in drawn.items()})
    p = law.law_params(at_horizon(name, drawn, steps, prior.laws, pt), pt)
    power = {k: p[k] for k in POWER_PARAMS}
    added = law.fn(grid.u, grid.s1, grid, xp=pt, **p) - power_term(grid.s1, xp=pt, **power)
    has = _phi(cols.one(f"{name}.transient"), pt) < prior.p_transient
    size = pt.where(has, LogUniform(*prior.transient_size).from_normal(cols.one(f"{name}.transient_size"), pt) * p["A"], 0.0)
    time = LogUniform(*prior.transient_time).from_normal(cols.one(f"{name}.transient_time"), pt)
    transient = early_transient(s1[None, :], size, time, xp=pt)
    return power_term(s1[None, :], xp=pt, **power) + pt.dot(added, weights.T) + transient


def _progress_curve(cols: _Columns, grid, weights, steps, families, prior: PriorConfig, pt, params: dict):
    """The ``progress`` source of a run of ``steps`` steps: the families on the clock ``∫ lr^p`` and the curve they make
    with a jump at each lr drop (priors.sample), an accuracy-like ``(P, T)`` in [0, 1]; the prior keeps the families as
    a family curve."""
    power = params["progress.clock_power"] = Uniform(*prior.progress_lr_power).from_normal(cols.one("progress.clock_power"), pt)
    clock = progress_clock(grid, power, pt)  # (P, G + 1)
    t = pt.concatenate([pt.dot(clock, weights.T), clock[:, -1:]], axis=1)
    mix = _family_curve(cols, t, families, prior, pt, params, prefix="progress.")
    y, end = mix[:, :-1], mix[:, -1][:, None]  # [:, -1:] would lose the static width of 1 that broadcasting needs
    drop_priors = progress_drop_priors(prior.laws)
    drop = params_from_normal(drop_priors, cols.take([f"progress.drop.{k}" for k in drop_priors]), pt)
    realized = multi_power(grid.u, grid.s1, grid, xp=pt, L0=0.0, A=0.0, alpha=1.0, s0=1.0, B=-1.0, **drop)
    u = _phi(cols.one("progress.jump"), pt)
    share = progress_jump(u, steps, prior.lr_drop_jump, prior.lr_drop_jump_steps, prior.lr_drop_jump_power, pt)
    jump = share * (end - y[:, 0][:, None])
    return y, y + jump * pt.dot(realized, weights.T)


def _progress_distance(error, cols: _Columns, bounds: str, prior: PriorConfig, pt, params: dict):
    """The distance from the best value of a progress curve with error ``1 - f``: a loss is the error to a power
    (priors.sample). A curve shown with both bounds is no loss, one with only its best bound is one, and one without
    bounds is one as often as the sampler shows a progress curve as a loss."""
    power = LogUniform(*prior.progress_loss_power).from_normal(cols.one("progress.loss_power"), pt)
    params["progress.loss_power"] = power
    p_loss = {"both": 0.0, "best": 1.0, "none": prior.progress_metrics[-1] / sum(prior.progress_metrics)}[bounds]
    is_loss = params["progress.is_loss"] = _phi(cols.one("progress.is_loss"), pt) < p_loss
    # Clipped: an error below 0 (an accuracy past 1) is infeasible anyway, and a NaN would poison the gradient.
    return pt.clip(error, 0.0, np.inf) ** pt.where(is_loss, power, 1.0)


@dataclass(frozen=True)
class _Structure:
    """What the compiled graph depends on besides the data: equal structures share one compilation."""

    schedule: bool
    bounds: str  # "both", "best" or "none"
    families: tuple[str, ...]
    sources: tuple[str, ...]
    prior_json: str  # the PriorConfig, as JSON

    @property
    def prior(self) -> PriorConfig:
        return PriorConfig(**json.loads(self.prior_json))


def _graph(structure: _Structure, pt):
    """Symbolic inputs and outputs of the model: ``x`` (P, D) standard normals and the problem's data."""
    prior = structure.prior
    x = pt.matrix("x")
    u_ctx, z_ctx, u_qry = pt.vector("u_ctx"), pt.vector("z_ctx"), pt.vector("u_qry")
    best, worst = pt.scalar("best"), pt.scalar("worst")
    inputs = [x, u_ctx, z_ctx, u_qry, best, worst]
    times = pt.concatenate([u_ctx, u_qry, pt.maximum(1.0, pt.max(u_qry))[None]])
    cols, params = _Columns(x, pt), {}
    noise = prior.noise
    log_sigma = Normal(noise.log_sigma_loc, noise.log_sigma_scale).from_normal(cols.one("noise.log_sigma"), pt)
    hetero = _phi(cols.one("noise.heteroscedastic"), pt) < noise.p_heteroscedastic
    slope = pt.where(hetero, _SLOPE.from_normal(cols.one("noise.slope"), pt), 0.0)
    rate = pt.where(_phi(cols.one("noise.outliers"), pt) < noise.p_outliers, noise.outlier_rate, 0.0)
    a = SCALE_PRIOR.from_normal(cols.one("a"), pt)
    params.update({"noise.log_sigma": log_sigma, "noise.slope": slope, "noise.outlier_rate": rate, "a": a})
    base = best
    if structure.bounds == "none":
        base = params["b"] = SHIFT_PRIOR.from_normal(cols.one("b"), pt)

    def normalized(h, pinnable: bool):
        """``h`` >= 0 measures the distance from the best value; ``z`` puts it in normalized units."""
        if structure.bounds == "both" and pinnable:
            return best + (worst - best) * h
        return base + a * h

    if not structure.schedule:
        f = _family_curve(cols, times[None, :], structure.families, prior, pt, params)
        z, feasible = normalized(1.0 - f, True), is_family_curve(f, pt)
    else:
        s1, weights, g, steps = pt.vector("s1"), pt.matrix("weights"), pt.matrix("grid"), pt.scalar("steps")
        inputs += [s1, weights, g, steps]
        grid = ScheduleGrid(*(g[i][None, :] for i in range(len(ScheduleGrid._fields))))
        zs, oks = [], []
        for name in structure.sources:
            if name == "progress":
                families, f = _progress_curve(cols, grid, weights, steps, structure.families, prior, pt, params)
                zs.append(normalized(_progress_distance(1.0 - f, cols, structure.bounds, prior, pt, params), True))
                # As the sampler keeps them: the families a family curve, the curve in [0, 1] (overfitting, which
                # lets a loss leave it, is not modelled here).
                oks.append(is_family_curve(families, pt) & is_family_curve(f, pt))
            else:
                loss = _law_curve(name, cols, s1, grid, weights, steps, prior, pt, params)
                zs.append(normalized(loss, False))
                oks.append(is_loss_curve(loss, pt))
        w = np.array([prior.source_weights[SOURCES.index(s)] for s in structure.sources])
        edges = np.cumsum(w / w.sum())[:-1]
        pick = pt.sum(_phi(cols.one("source"), pt) >= edges[None, :], axis=1)  # (P,)
        params["source"] = pick[:, None]
        z, feasible = zs[-1], oks[-1]
        for k in range(len(zs) - 1):
            z = pt.where(pt.eq(pick, k)[:, None], zs[k], z)
            feasible = pt.where(pt.eq(pick, k), oks[k], feasible)

    n_ctx = u_ctx.shape[0]
    span = pt.maximum(pt.max(z, axis=1, keepdims=True) - pt.min(z, axis=1, keepdims=True), 1e-9)
    mu = z[:, :n_ctx]
    sigma = span * pt.exp(log_sigma + slope * (u_ctx[None, :] - 0.5))
    loglik = pt.sum(_log_density(z_ctx[None, :] - mu, sigma, rate, span, pt), axis=1)
    sigma_q = span * pt.exp(log_sigma + slope * (u_qry[None, :] - 0.5))
    outputs = {
        "loglik": pt.where(feasible, loglik, -np.inf),
        # Each particle's likelihood depends on its own row of x only: the gradient of the sum is every row's.
        "gradient": pt.grad(pt.sum(pt.where(feasible, loglik, 0.0)), x),
        "feasible": feasible,
        "mu_q": z[:, n_ctx : n_ctx + u_qry.shape[0]],
        "sigma_q": sigma_q,
        "rate": rate,
        "span": span,
        "sigma": sigma,
        "parameters": pt.concatenate([pt.cast(v, "float64") for v in params.values()], axis=1),
    }
    return inputs, outputs, params, cols.names


def _log_density(d, sigma, rate, span, pt):
    """Log density of residuals ``d`` under the prior's noise: normal, or on outlier points normal plus a jump."""
    log_normal = -0.5 * (d / sigma) ** 2 - pt.log(sigma) - 0.5 * math.log(2 * math.pi)
    low, high = _OUTLIER_SIZE[0] * span, _OUTLIER_SIZE[1] * span
    box = (
        _phi((d - low) / sigma, pt) - _phi((d - high) / sigma, pt) + _phi((-d - low) / sigma, pt) - _phi((-d - high) / sigma, pt)
    )
    log_outlier = pt.log(0.5 * box / (high - low))
    return pt.logaddexp(pt.log1p(-rate) + log_normal, pt.log(rate) + log_outlier)


@functools.cache
def _compiled(structure: _Structure):
    """The model's functions for a structure (likelihood, with its gradient, predictive), compiled once per process."""
    import pytensor

    pt = require("pytensor.tensor", "mcmc")
    inputs, out, params, names = _graph(structure, pt)
    loglik = pytensor.function(inputs, [out["loglik"], out["feasible"]], on_unused_input="ignore")
    gradient = pytensor.function(inputs, [out["loglik"], out["feasible"], out["gradient"]], on_unused_input="ignore")
    keys = ("mu_q", "sigma_q", "rate", "span", "sigma", "parameters")
    predictive = pytensor.function(inputs, [out[k] for k in keys], on_unused_input="ignore")
    return loglik, gradient, predictive, names, tuple(params)


def prior_model(*, schedule: bool, draws: int = 1000, families: Sequence[str] = tuple(FAMILIES),
                sources: Sequence[str] = SCHEDULE_SOURCES, prior: PriorConfig | None = None, bounds: str = "none"):  # fmt: skip
    """The baseline's prior as a PyMC model: ``x ~ Normal(0, 1)`` of shape ``(draws, D)`` and every parameter as a
    ``Deterministic`` of it, ``(draws, 1)`` each (``pm.draw(model["pow3.alpha"])``).

    >>> import pymc as pm
    >>> model = prior_model(schedule=False, draws=4000, families=("pow3",))
    >>> round(float(pm.draw(model["pow3.c"], random_seed=0).mean()), 1)  # Uniform(0, 1.25)
    0.6
    """
    pm = require("pymc", "mcmc")
    pt = require("pytensor.tensor", "mcmc")
    structure = _Structure(schedule, bounds, tuple(families), tuple(sources), _prior_json(prior))
    import pytensor

    inputs, _, params, names = _graph(structure, pt)
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0, shape=(draws, len(names)))
        for name, value in params.items():
            pm.Deterministic(name, pytensor.clone_replace(value, {inputs[0]: x}))
    return model


def _prior_json(prior: PriorConfig | None) -> str:
    from dataclasses import asdict

    return json.dumps(asdict(prior if prior is not None else shipped_prior()), sort_keys=True)


@functools.cache
def shipped_prior() -> PriorConfig:
    """The prior the shipped model was trained on (its card), so that the baseline answers under the same one."""
    try:
        return PriorConfig(**json.loads(_CARD.read_text())["prior"]["config"])
    except (OSError, KeyError, TypeError, ValueError):
        log.warning("no readable model card at %s: the MCMC baseline uses the default PriorConfig", _CARD)
        return PriorConfig()


def _convergence(values: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank-normalized r-hat and bulk ESS ``(K,)`` of ``values`` ``(chains, draws, K)``.

    SMC particles are exchangeable and stored in ancestor order after resampling; shuffled first, the split-chain
    r-hat compares two halves of one population rather than two groups of resampling lineages.
    """
    import arviz as az

    rng = np.random.default_rng(seed + 1)
    data = az.convert_to_dataset(np.stack([rng.permutation(c) for c in values]))
    return az.rhat(data)["x"].values, az.ess(data, method="bulk")["x"].values


def switch_columns(names: Sequence[str]) -> list[int]:
    """Indices of the coordinates the model uses only through a threshold: which source, which families join the
    mixture (and which is picked), whether a curve has an early transient, heteroscedastic noise or outliers."""
    ends = ("source", "families.pick", ".transient", "noise.heteroscedastic", "noise.outliers")
    return [i for i, n in enumerate(names) if n.endswith(ends) or ".include[" in n]


# --------------------------------------------------------------------------- the extrapolator


class MCMCExtrapolator:
    """SMC under the PFN's prior; ``predict`` has the PFN's signature and returns a :class:`~lcpfn.Prediction`.

    ``draws`` particles per chain, ``chains`` independent SMC runs; ``time_budget_s``
    bounds the whole fit (compilation included; past it :class:`~lcpfn.BudgetExceededError`).
    ``families`` (the families the mixtures draw from) and ``sources`` (the schedule-aware
    sources, mixed by the prior's weights) restrict the model; ``prior`` defaults to the
    shipped model's (:func:`shipped_prior`).
    """

    def __init__(
        self,
        *,
        draws: int = 1000,
        chains: int = 2,
        time_budget_s: float = 120.0,
        families: Sequence[str] = tuple(FAMILIES),
        sources: Sequence[str] = SCHEDULE_SOURCES,
        prior: PriorConfig | None = None,
        seed: int = 0,
    ):
        unknown = [f for f in families if f not in FAMILIES]
        if not families or unknown:
            raise ValueError(f"families must be a non-empty subset of {sorted(FAMILIES)}, got {list(families)}")
        if not sources or [s for s in sources if s not in SCHEDULE_SOURCES]:
            raise ValueError(f"sources must be a non-empty subset of {list(SCHEDULE_SOURCES)}, got {list(sources)}")
        if draws < 10 or chains < 1 or not time_budget_s > 0:
            raise ValueError(f"need draws >= 10, chains >= 1, time_budget_s > 0; got {draws=}, {chains=}, {time_budget_s=}")
        self.draws, self.chains, self.time_budget_s, self.seed = draws, chains, time_budget_s, seed
        self.families, self.sources = tuple(families), tuple(sources)
        self.prior = prior

    def predict(
        self,
        x: Sequence[float],
        y: Sequence[float],
        x_query: Sequence[float] | float | None = None,
        *,
        horizon: float | None = None,
        schedule: ScheduleLike = None,
        direction: str = "min",
        bounds: tuple[float | None, float | None] | None = None,
    ) -> Prediction:
        """Posterior predictive at ``x_query`` (default: the horizon); the arguments of :meth:`lcpfn.Model.predict`.

        >>> mcmc = MCMCExtrapolator(draws=200, chains=2)
        >>> pred = mcmc.predict([1, 2, 3, 4], [3.0, 2.5, 2.3, 2.2], horizon=10)  # doctest: +SKIP
        >>> pred.diagnostics["rhat_max"], pred.diagnostics["ess_bulk_min"]  # doctest: +SKIP
        """
        start = time.monotonic()
        curve = check_curve(x, y, x_query, horizon=horizon, direction=direction, bounds=bounds, schedule=schedule)
        if len(curve.x) < 2:
            raise InvalidCurveError(f"the MCMC baseline needs at least 2 observed points, got {len(curve.x)}")
        require("pytensor", "mcmc")
        prior_json = _prior_json(self.prior)
        problem = _problem(curve, PriorConfig(**json.loads(prior_json)).grid_size)
        structure = _Structure(curve.schedule is not None, problem.bounds, self.families, self.sources, prior_json)
        loglik_fn, gradient_fn, predictive_fn, names, param_names = _compiled(structure)
        data = problem.inputs()
        compiled_at = time.monotonic()
        try:
            run = smc(
                lambda v: loglik_fn(v, *data),
                len(names),
                gradient=lambda v: gradient_fn(v, *data),
                particles=self.draws,
                chains=self.chains,
                rng=np.random.default_rng(self.seed),
                deadline=start + self.time_budget_s,
                switches=switch_columns(names),
            )
        except OutOfTime:
            raise BudgetExceededError(
                f"MCMC did not reach the posterior within time_budget_s={self.time_budget_s:g}; raise it"
            ) from None
        draws = run.particles.reshape(-1, len(names))
        mu, sigma_q, rate, span, sigma_ctx, parameters = predictive_fn(draws, *data)
        # What the prediction depends on, per draw: the curve at each query and the noise at the last observed step.
        functionals = np.concatenate([mu, sigma_ctx[:, -1:]], axis=1).reshape(self.chains, self.draws, -1)
        diagnostics = self._diagnostics(run, names, functionals, start, compiled_at)
        diagnostics["posterior_mean"] = {k: float(v) for k, v in zip(param_names, parameters.mean(0))}
        diagnostics["noise_sd"] = float(np.median(sigma_ctx[:, -1])) * problem.scale  # at the last observed step, user units
        keep = evenly_spaced(len(draws), MAX_PREDICTIVE_DRAWS)
        mu, sigma_q, rate, span = mu[keep], sigma_q[keep], rate[keep], span[keep]
        outliers = {"rate": rate, "span": span} if np.any(rate > 0) else {}
        return Prediction(
            x_query=curve.x_query,
            normalized=MixturePredictive(mu, sigma_q, problem.best, problem.worst, **outliers),
            loc=problem.loc,
            scale=problem.scale,
            direction=curve.direction,
            model=f"mcmc-{'schedule' if structure.schedule else 'families'}",
            diagnostics=diagnostics,
        )

    def _diagnostics(self, run, names: list[str], functionals: np.ndarray, start: float, compiled_at: float) -> dict:
        """Timing, the sampler's figures and convergence: r-hat and bulk ESS of the prediction (``rhat_max``,
        ``ess_bulk_min``: the curve at every query and the noise level, per draw) and of every coordinate
        (``rhat_coordinates_max``, ``ess_coordinates_min``: they include directions the data cannot see, such as a
        time scale that trades against a family's amplitude)."""
        out = {
            "sampler": "smc",
            "seconds": round(time.monotonic() - start, 2),
            "compile_seconds": round(compiled_at - start, 2),
            "chains": self.chains,
            "draws": self.chains * self.draws,
            "stages": run.stages.tolist(),
            "moves": run.moves,
            "acceptance": round(run.acceptance, 3),
            "log_marginal_likelihood": run.log_marginal_likelihood.round(3).tolist(),
            "distinct_draws": int(sum(len(np.unique(c, axis=0)) for c in run.particles)),
            "rhat_max": None,
            "ess_bulk_min": None,
            "rhat_coordinates_max": None,
            "ess_coordinates_min": None,
        }
        if self.chains > 1:
            rhat, ess = _convergence(functionals, self.seed)
            out["rhat_max"], out["ess_bulk_min"] = float(np.nanmax(rhat)), float(min(np.nanmin(ess), out["distinct_draws"]))
            rhat, ess = _convergence(run.particles, self.seed)
            out["rhat_coordinates_max"], out["ess_coordinates_min"] = float(np.nanmax(rhat)), float(np.nanmin(ess))
            out["worst_coordinate"] = names[int(np.nanargmax(rhat))]
            if out["rhat_max"] > RHAT_WARNING:
                log.warning("MCMC has not converged: max r-hat of the prediction %.3f > %.2f", out["rhat_max"], RHAT_WARNING)
        return out
