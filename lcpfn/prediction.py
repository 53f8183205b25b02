"""The predictive distribution of a curve's values at query steps, in the user's units.

A :class:`Prediction` wraps a distribution over normalized values ``z`` (one per
query step) and the affine map back to the user's units, ``y = sign * (loc +
scale * z)`` with ``sign = -1`` for metrics where higher is better. The PFN
gives bar distributions (:class:`BarPredictive`); the MCMC baseline gives a
mixture over posterior draws. Both answer through the same methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import numpy as np

from lcpfn.distribution import BarDistribution, CensoredBars, TruncatedBars

DEFAULT_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


class NormalizedPredictive(Protocol):
    """Per-query distributions over normalized values; arrays are ``(Q,)`` or ``(Q, L)``."""

    def cdf(self, z: np.ndarray) -> np.ndarray: ...
    def log_prob(self, z: np.ndarray) -> np.ndarray: ...  # a log-probability where on_atom, else a log-density
    def on_atom(self, z: np.ndarray) -> np.ndarray: ...
    def quantile(self, levels: np.ndarray) -> np.ndarray: ...  # (Q, L)
    def mean(self) -> np.ndarray: ...


@dataclass(frozen=True)
class BarPredictive:
    """The PFN's output for one curve: ``logits`` (Q, K) over ``bars``, limited to ``[lo, hi]`` as ``bars.limits`` says."""

    bars: BarDistribution
    logits: np.ndarray
    lo: float = -np.inf
    hi: float = np.inf

    @cached_property
    def _limited(self) -> TruncatedBars | CensoredBars:  # once per prediction, however many questions follow
        return self.bars.limited(self.logits, self.lo, self.hi)

    def cdf(self, z):
        return self._limited.cdf(z)

    def log_prob(self, z):
        return self._limited.log_prob(z)

    def on_atom(self, z):
        return self._limited.on_atom(z)

    def quantile(self, levels):
        return self._limited.quantile(levels)

    def mean(self):
        return self._limited.mean()


@dataclass(frozen=True, eq=False)
class Prediction:
    """Predictive distribution at each of ``x_query``.

    >>> import lcpfn
    >>> pred = lcpfn.load().predict([1, 2, 3, 4], [0.9, 0.7, 0.6, 0.55], [10, 20])
    >>> pred.quantile([0.05, 0.5, 0.95]).shape
    (3, 2)
    >>> bool(pred.prob_better_than(0.55)[1] > 0.5)
    True
    """

    x_query: np.ndarray
    normalized: NormalizedPredictive
    loc: float
    scale: float
    direction: float  # +1 higher is better, -1 lower is better
    model: str = ""
    diagnostics: dict = field(default_factory=dict)

    # y -> z and back; for higher-is-better metrics the order of values flips.
    def _z(self, v) -> np.ndarray:
        try:
            v = np.broadcast_to(np.asarray(v, dtype=np.float64), self.x_query.shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"the value to compare with must be a number or one per query step ({len(self.x_query)}), got {v!r}"
            ) from None
        nan = np.flatnonzero(np.isnan(v))
        if len(nan):  # a NaN would come back as a probability of NaN, not as an error
            i = nan[0]
            raise ValueError(f"the value to compare with must be a number, got nan at query {i} (step {self.x_query[i]:g})")
        return (v * -self.direction - self.loc) / self.scale

    def _y(self, z) -> np.ndarray:
        return (self.loc + self.scale * np.asarray(z)) * -self.direction

    @property
    def mean(self) -> np.ndarray:
        """Predictive mean per query step."""
        return self._y(self.normalized.mean())

    @property
    def median(self) -> np.ndarray:
        return self.quantile([0.5])[0]

    def quantile(self, levels: Sequence[float]) -> np.ndarray:
        """Quantiles ``(len(levels), n_query)`` in the user's units."""
        try:
            levels = np.atleast_1d(np.asarray(levels, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"quantile levels must be numbers, got {levels!r}") from None
        if levels.ndim != 1:
            raise ValueError(f"quantile levels must be a flat sequence of numbers, got shape {levels.shape}")
        if np.any(~(levels > 0) | ~(levels < 1)):
            raise ValueError(f"quantile levels must lie strictly between 0 and 1, got {levels.tolist()}")
        z_levels = levels if self.direction < 0 else 1.0 - levels
        return self._y(self.normalized.quantile(z_levels)).T

    def interval(self, coverage: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Central interval holding ``coverage`` of the predictive mass: ``(low, high)``."""
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must lie strictly between 0 and 1, got {coverage=}")
        low, high = self.quantile([(1 - coverage) / 2, (1 + coverage) / 2])
        return low, high

    def _on(self, z) -> np.ndarray:
        """Probability of exactly ``z`` (an atom on a censored limit; 0 elsewhere)."""
        return np.where(self.normalized.on_atom(z), np.exp(self.normalized.log_prob(z)), 0.0)

    def cdf(self, v) -> np.ndarray:
        """``P(value <= v)`` at each query step."""
        z = self._z(v)
        below_in_z = self.normalized.cdf(z)
        # Higher is better: value <= v is z >= z(v), whose probability includes an atom on z(v).
        return below_in_z if self.direction < 0 else np.clip(1.0 - below_in_z + self._on(z), 0.0, 1.0)

    def log_prob(self, v) -> np.ndarray:
        """Log-density of ``v`` at each query step, in the user's units; on a limit the model censors (an accuracy
        of exactly 1), the log-probability of that value."""
        z = self._z(v)
        log_p = self.normalized.log_prob(z)
        return np.where(self.normalized.on_atom(z), log_p, log_p - np.log(self.scale))

    def is_atom(self, v) -> np.ndarray:
        """Whether the predictive puts a probability on ``v`` itself at each query step (a limit it censors)."""
        return self.normalized.on_atom(self._z(v))

    def prob_better_than(self, v) -> np.ndarray:
        """Probability that the value at each query step beats ``v`` (is lower for "min", higher for "max"); an
        accuracy of exactly 1 beats no 1."""
        z = self._z(v)
        return np.clip(self.normalized.cdf(z) - self._on(z), 0.0, 1.0)

    def to_dict(self, levels: Sequence[float] = DEFAULT_LEVELS) -> dict:
        """JSON-ready summary: steps, mean, median and the quantiles at ``levels``."""
        q = self.quantile(levels)
        return {
            "model": self.model,
            "x_query": self.x_query.tolist(),
            "mean": self.mean.tolist(),
            "median": self.median.tolist(),
            "quantiles": {f"{lv:g}": row.tolist() for lv, row in zip(levels, q)},
            **({"diagnostics": self.diagnostics} if self.diagnostics else {}),
        }
