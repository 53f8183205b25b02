"""What the PFN sees of a curve: normalized values and per-step features.

Written once against an array namespace ``xp`` (numpy at inference, torch in
training) so that the model is trained on exactly the features it is served.

Values are made units-free with the context only: the metric is flipped so that
lower is better, then shifted by a robust recent level and divided by a robust
spread. Every feature of a value is a function of ``z = (flip(y) - loc) / scale``,
so predictions are equivariant under ``y -> a*y + b`` (``a > 0``) as long as the
context is not constant.

Each position (context or query) carries the step's features
(:data:`TOKEN_FEATURES`): normalized time (in units of the planned horizon, or of
the last observed step where the horizon is unknown), the schedule's relative learning rate,
intrinsic time and annealing area (zero, with the flag off, when the schedule is
unknown), where the metric's known bounds lie in normalized units, and the run's length in steps (cooldowns
gain more, relative to the run before them, in longer runs: :class:`priors.config.LawConfig`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

TOKEN_FEATURES = (
    "t",  # step / planned horizon (or / the last observed step where the horizon is unknown)
    "log_t",  # log(t + 1e-3) / 7: resolution early in the run
    "horizon_known",
    "schedule_known",
    "lr",  # lr / peak lr
    "cum_lr",  # ∫ lr/peak du, the intrinsic time
    "anneal_area",  # annealing area S2 (decay time priors.schedules.FEATURE_DECAY_TIME)
    "best_bound_known",  # the bound values move towards (0 for a loss, 1 for an accuracy)
    "best_bound",  # asinh of its position in z
    "worst_bound_known",
    "worst_bound",
    "log_steps",  # log10 of the time unit in steps (the horizon, or the last observed step), clipped to [1, 10^6], / 6
)
N_TOKEN_FEATURES = len(TOKEN_FEATURES)
# Recent level: median of the last n_ctx / RECENT_FRACTION points, at most RECENT_MAX.
RECENT_FRACTION = 10
RECENT_MAX = 5
# Normalized values are clipped at +-Z_LIMIT spreads from the recent level: a diverged
# evaluation that logs 1e40 among values near 1 must not overflow the model's float32
# inputs (it would make every prediction of the curve NaN). The model saw nothing beyond
# a few hundred spreads, so the clip changes no prediction of a sane curve.
Z_LIMIT = 1e6
# Context values that differ by less than this x their level differ by rounding: a few float32 steps, the precision
# losses are computed and logged in (and the prior sampled in). A context flat up to rounding is normalized as a
# constant one; scaled by its rounding error instead, the future sat 10^5-10^9 spreads away, beyond anything the model
# saw, and a loss stuck at 2.302585 +- 1e-9 was predicted to stay within 0.001 of it.
FLAT_RESOLUTION = 1e-6
# The prior's runs last 10 to 10^6 steps; longer ones (x counted in tokens, say) are read as 10^6 steps.
MAX_STEPS = 1e6


def to_lower_better(y, direction, *, xp=np):
    """``y`` with the sign flipped where ``direction`` is +1 (higher is better); ``direction`` (B,)."""
    return y * (-direction[:, None])


def location_scale(y_ctx, *, xp=np):
    """Robust level and spread ``(B, 1)`` of lower-is-better context values ``(B, Nc)``.

    The level is the median of the last few points (the curve's current value,
    robust to one outlier); the spread is the 10-90 % inter-quantile range. A
    constant context (up to rounding, :data:`FLAT_RESOLUTION`) falls back to the largest deviation, then to 1 % of
    the level.

    >>> [round(float(location_scale(np.array([[2.3, 2.3 + d, 2.3]]))[1][0, 0]), 6) for d in (0.0, 1e-9, 1e-3)]
    [0.023, 0.023, 0.0008]
    """
    n = y_ctx.shape[-1]
    recent = max(1, min(RECENT_MAX, math.ceil(n / RECENT_FRACTION)))
    loc = xp.quantile(y_ctx[..., n - recent :], 0.5, axis=-1, keepdims=True)
    rounding = FLAT_RESOLUTION * xp.abs(loc)
    spread = xp.quantile(y_ctx, 0.9, axis=-1, keepdims=True) - xp.quantile(y_ctx, 0.1, axis=-1, keepdims=True)
    widest = xp.amax(xp.abs(y_ctx - loc), axis=-1, keepdims=True)
    level = 0.01 * xp.abs(loc)
    fallback = xp.where(level > 0, level, 1.0 + 0.0 * loc)
    scale = xp.where(spread > rounding, spread, xp.where(widest > rounding, widest, fallback))
    return loc, scale


def normalized_bounds(lower, upper, direction, loc, scale, *, xp=np):
    """Known limits ``(B,)`` of the metric as (best, worst) bounds of ``z``, each ``(B, 1)``.

    Unknown limits are ``-inf``/``inf`` in ``lower``/``upper`` and stay infinite.
    """
    higher_better = direction[:, None] > 0
    lo, hi = lower[:, None], upper[:, None]
    # Flipping the sign of y swaps which limit is the lower one.
    best = xp.where(higher_better, -hi, lo)
    worst = xp.where(higher_better, -lo, hi)
    return (best - loc) / scale, (worst - loc) / scale


@dataclass(frozen=True)
class ContextNormalization:
    """How a batch of curves becomes units-free, from their contexts; every field ``(B, 1)`` but ``direction`` ``(B,)``."""

    direction: Any  # +1 higher is better, -1 lower is better
    loc: Any
    scale: Any
    best: Any  # known limits of the normalized values (+-inf if unknown)
    worst: Any

    def z(self, y, *, xp=np):
        """Values ``(B, N)`` in normalized units (lower is better), clipped at ``+-Z_LIMIT``."""
        return xp.clip((to_lower_better(y, self.direction, xp=xp) - self.loc) / self.scale, -Z_LIMIT, Z_LIMIT)


def normalize_context(y_ctx, direction, lower, upper, *, xp=np) -> ContextNormalization:
    """The one normalization of training, inference and the MCMC baseline: flip to lower-is-better,
    then shift and scale by the context values ``(B, Nc)`` (:func:`location_scale`); known
    limits ``lower``/``upper`` ``(B,)`` follow into normalized units.

    >>> norm = normalize_context(np.array([[0.2, 0.4, 0.5]]), np.array([1.0]), np.array([0.0]), np.array([1.0]))
    >>> norm.z(np.array([[0.5, 0.6]])).round(3).tolist(), round(float(norm.best[0, 0]), 3)
    ([[0.0, -0.417]], -2.083)
    """
    y_lb = to_lower_better(y_ctx, direction, xp=xp)
    loc, scale = location_scale(y_lb, xp=xp)
    best, worst = normalized_bounds(lower, upper, direction, loc, scale, xp=xp)
    return ContextNormalization(direction, loc, scale, best, worst)


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """At most ``k`` indices of ``range(n)``, evenly spaced, the first and last included.

    >>> evenly_spaced(10, 4).tolist(), evenly_spaced(3, 5).tolist()
    ([0, 3, 6, 9], [0, 1, 2])
    """
    return np.unique(np.round(np.linspace(0, n - 1, min(n, k))).astype(np.int64))


def token_features(t, lr, cum_lr, anneal_area, known, horizon_known, best_z, worst_z, *, steps, xp=np):
    """Features ``(B, N, N_TOKEN_FEATURES)`` of N positions; ``known``, ``horizon_known`` (B,) bool, bounds (B, 1),
    ``steps`` (B,) the time unit of ``t`` in the curve's own x units (the run's length in steps)."""
    known_f = 1.0 * known[:, None] + 0.0 * t
    horizon_f = 1.0 * horizon_known[:, None] + 0.0 * t
    best_known = 1.0 * xp.isfinite(best_z) + 0.0 * t
    worst_known = 1.0 * xp.isfinite(worst_z) + 0.0 * t
    best = xp.where(best_known > 0, xp.asinh(xp.where(xp.isfinite(best_z), best_z, 0.0)), 0.0)
    worst = xp.where(worst_known > 0, xp.asinh(xp.where(xp.isfinite(worst_z), worst_z, 0.0)), 0.0)
    columns = [
        t,
        xp.log(xp.clip(t, 0.0, math.inf) + 1e-3) / 7.0,
        horizon_f,
        known_f,
        lr * known_f,
        cum_lr * known_f,
        anneal_area * known_f,
        best_known,
        best,
        worst_known,
        worst,
        xp.log10(xp.clip(steps, 1.0, MAX_STEPS))[:, None] / 6.0 + 0.0 * t,
    ]
    return xp.stack(columns, axis=-1)


def subsample_context(n: int, max_context: int) -> np.ndarray:
    """Indices of at most ``max_context`` of ``n`` context points: the latest densely, the rest evenly.

    >>> subsample_context(5, 8).tolist()
    [0, 1, 2, 3, 4]
    >>> subsample_context(100, 10).tolist()
    [0, 12, 24, 37, 49, 61, 74, 86, 98, 99]
    """
    if n <= max_context:
        return np.arange(n)
    recent = max(1, max_context // 8)
    return np.concatenate([evenly_spaced(n - recent, max_context - recent), np.arange(n - recent, n)])
