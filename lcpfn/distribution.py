"""The Riemann ("bar") distribution the PFN predicts, with half-normal tails.

The real line is cut at ``borders`` (``K + 1`` increasing values, fitted as
quantiles of prior targets by :func:`fit_borders`) into ``K`` bars; the model
gives a logit per bar. Inner bars spread their mass uniformly. The first and
last bar extend to -inf/+inf as half-normals anchored at their inner border,
with half their mass inside the original bar (as in PFNs' full-support bars).

Known limits ``lo``/``hi`` of the metric (an accuracy's 0 and 1, a loss's 0) act
on the distribution in one of two ways, :data:`LIMITS`, fixed when a model is
trained and written in its card:

- ``"truncated"``: each bar keeps the part of its mass inside ``[lo, hi]`` and the
  rest is renormalized; every value has a density, none a probability of its own.
- ``"censored"``: the mass beyond a limit sits on the limit itself, an atom, as when
  an accuracy saturates at exactly 1. The prior clamps noisy values to their limits,
  so its curves do reach them (LCDB's accuracies end at exactly 1.000 in 3.5 % of
  its curves): only a censored distribution can give that outcome a probability,
  and an interval that holds it. ``log_prob`` at a limit is then the log of the
  atom's probability, elsewhere a log-density (the likelihood of censored data).

:class:`BarDistribution` is the numpy side (inference: cdf, log_prob, quantile,
mean, sampling; :meth:`BarDistribution.limited` gives a :class:`TruncatedBars` or
:class:`CensoredBars` that answers many questions about the same distributions
without renormalizing each time); :func:`nll_loss` is the torch training loss. Both
go through :func:`bar_cdf` and :func:`log_density_in_bar`, written once against ``xp``.
"""

from __future__ import annotations

import math

import numpy as np

# sigma of a half-normal with half its mass within width w: w / (sqrt(2) * erfinv(0.5)).
_HALF_MASS_Z = 0.6744897501960817
_LOG_2_OVER_SQRT_2PI = math.log(2.0 / math.sqrt(2.0 * math.pi))
LIMITS = ("truncated", "censored")
# A normalized value this close to a limit is on it: targets are clamped to their limits in float32, and a value
# the prior clamped lands on the limit up to the rounding of the affine map to normalized units.
AT_LIMIT = 1e-5


def on_limit(z, limit, *, xp=np):
    """Whether each ``z`` sits on its known ``limit`` (within :data:`AT_LIMIT`); never where the limit is infinite."""
    return xp.isfinite(limit) & (xp.abs(z - limit) <= AT_LIMIT)


def tail_sigmas(borders, *, xp=np):
    """Scales of the left and right half-normal tails."""
    return (borders[1] - borders[0]) / _HALF_MASS_Z, (borders[-1] - borders[-2]) / _HALF_MASS_Z


def _erf(x, xp):
    if xp is np:
        return _np_erf(x)
    return xp.special.erf(x)


_np_erf_scalar = np.vectorize(math.erf, otypes=[float])


def _np_erf(x):
    return _np_erf_scalar(np.asarray(x, dtype=np.float64))


def bar_cdf(borders, z, *, xp=np):
    """Fraction of each bar's mass at or below ``z``: ``(..., K)`` for ``z`` of shape ``(...)``."""
    sig_l, sig_r = tail_sigmas(borders, xp=xp)
    z = z[..., None]
    inner = xp.clip((z - borders[1:-2]) / (borders[2:-1] - borders[1:-2]), 0.0, 1.0)
    left = 1.0 - _erf(xp.clip(borders[1] - z, 0.0, math.inf) / (sig_l * math.sqrt(2.0)), xp)
    right = _erf(xp.clip(z - borders[-2], 0.0, math.inf) / (sig_r * math.sqrt(2.0)), xp)
    return xp.concatenate([left, inner, right], axis=-1)


def bar_index(borders, z, *, xp=np):
    """Index of the bar ``z`` falls in; the tails take everything beyond the inner borders."""
    inner = borders[1:-1]
    if xp is np:
        return np.searchsorted(inner, z, side="right")
    return xp.searchsorted(inner.contiguous(), z.contiguous(), right=True)


def log_density_in_bar(borders, z, idx, *, xp=np):
    """``log`` of bar ``idx``'s own density (mass 1) at ``z``; ``z`` and ``idx`` of equal shape."""
    sig_l, sig_r = tail_sigmas(borders, xp=xp)
    width = borders[1:] - borders[:-1]
    inner = -xp.log(width[idx])
    left = _LOG_2_OVER_SQRT_2PI - xp.log(sig_l) - 0.5 * ((borders[1] - z) / sig_l) ** 2
    right = _LOG_2_OVER_SQRT_2PI - xp.log(sig_r) - 0.5 * ((z - borders[-2]) / sig_r) ** 2
    k = width.shape[0]
    return xp.where(idx == 0, left, xp.where(idx == k - 1, right, inner))


def fit_borders(targets: np.ndarray, n_bars: int) -> np.ndarray:
    """``n_bars + 1`` strictly increasing borders at equal-mass quantiles of ``targets``."""
    targets = np.asarray(targets, dtype=np.float64).ravel()
    targets = targets[np.isfinite(targets)]
    if targets.size < n_bars:
        raise ValueError(f"need at least n_bars={n_bars} finite targets to fit borders, got {targets.size}")
    borders = np.quantile(targets, np.linspace(0.0, 1.0, n_bars + 1))
    # Ties (clamped values) would give empty bars: spread them by a tiny step.
    step = max(1e-6, 1e-9 * float(np.ptp(borders)))
    for i in range(1, len(borders)):
        borders[i] = max(borders[i], borders[i - 1] + step)
    return borders


# --------------------------------------------------------------------------- numpy inference


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))


def _np_erfinv(y: np.ndarray) -> np.ndarray:
    """Inverse of erf on [0, 1), by Newton steps from a closed-form start."""
    y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0 - 1e-16)
    a = 0.147  # Winitzki's approximation, then Newton polishing to float64 accuracy.
    ln = np.log(1.0 - y * y)
    t = 2.0 / (math.pi * a) + ln / 2.0
    x = np.sqrt(np.sqrt(t * t - ln / a) - t)
    for _ in range(4):
        x = x - (_np_erf(x) - y) / (2.0 / math.sqrt(math.pi) * np.exp(-x * x))
    return x


class BarDistribution:
    """A batch of bar distributions: ``logits`` ``(..., K)``, limits ``lo``/``hi`` ``(...)`` (may be ±inf).

    Each method truncates and normalizes the logits first; :meth:`truncate` does it
    once for many questions about the same distributions.

    >>> d = BarDistribution(np.linspace(-1.0, 1.0, 5))
    >>> logits = np.zeros((1, 4))
    >>> round(float(d.cdf(logits, np.array([0.0]))[0]), 6)
    0.5
    """

    def __init__(self, borders: np.ndarray, *, limits: str = "truncated"):
        self.borders = np.asarray(borders, dtype=np.float64)
        if self.borders.ndim != 1 or len(self.borders) < 4 or not np.all(np.diff(self.borders) > 0):
            raise ValueError(f"borders must be >= 4 strictly increasing values, got shape {self.borders.shape}")
        if limits not in LIMITS:
            raise ValueError(f"limits must be one of {LIMITS}, got {limits!r}")
        self.limits = limits
        self.n_bars = len(self.borders) - 1
        self.tail_sigmas = tail_sigmas(self.borders)

    def limited(self, logits, lo=None, hi=None) -> TruncatedBars | CensoredBars:
        """The distributions with the known limits ``[lo, hi]`` applied as :attr:`limits` says."""
        if self.limits == "censored":
            return CensoredBars(self, logits, lo, hi)
        return self.truncate(logits, lo, hi)

    def truncate(self, logits, lo=None, hi=None) -> TruncatedBars:
        """The distributions with their mass outside ``[lo, hi]`` removed and renormalized."""
        logits = np.asarray(logits, dtype=np.float64)
        shape = logits.shape[:-1]
        lo = np.broadcast_to(np.asarray(-np.inf if lo is None else lo, dtype=np.float64), shape)
        hi = np.broadcast_to(np.asarray(np.inf if hi is None else hi, dtype=np.float64), shape)
        log_p = _log_softmax(logits)
        if np.isinf(lo).all() and np.isinf(hi).all():  # the common case: no limit cuts any bar
            whole = np.broadcast_to(1.0, logits.shape)
            return TruncatedBars(self, log_p, np.broadcast_to(0.0, logits.shape), whole, lo, hi)
        f_lo, f_hi = self._limit_cdf(lo, 0.0), self._limit_cdf(hi, 1.0)
        with np.errstate(divide="ignore"):
            log_mass = log_p + np.log(np.clip(f_hi - f_lo, 0.0, 1.0))
        top = np.max(log_mass, -1, keepdims=True)
        log_norm = top[..., 0] + np.log(np.exp(log_mass - top).sum(-1))
        return TruncatedBars(self, log_mass - log_norm[..., None], f_lo, f_hi, lo, hi)

    def _limit_cdf(self, limit: np.ndarray, infinite_value: float) -> np.ndarray:
        """:func:`bar_cdf` at a limit, computed only where the limit is finite."""
        out = np.full(limit.shape + (self.n_bars,), infinite_value)
        finite = np.isfinite(limit)
        if finite.any():
            out[finite] = bar_cdf(self.borders, limit[finite])
        return out

    def log_prob(self, logits, z, lo=None, hi=None) -> np.ndarray:
        """Log-density at ``z`` (``(...)``), of the atom on a censored limit; ``-inf`` outside ``[lo, hi]``."""
        return self.limited(logits, lo, hi).log_prob(z)

    def cdf(self, logits, z, lo=None, hi=None) -> np.ndarray:
        return self.limited(logits, lo, hi).cdf(z)

    def quantile(self, logits, q, lo=None, hi=None) -> np.ndarray:
        """Quantiles ``(..., len(q))`` at levels ``q`` in (0, 1)."""
        return self.limited(logits, lo, hi).quantile(q)

    def mean(self, logits, lo=None, hi=None) -> np.ndarray:
        return self.limited(logits, lo, hi).mean()

    def sample(self, logits, rng: np.random.Generator, n: int, lo=None, hi=None) -> np.ndarray:
        """``n`` draws per distribution: ``(..., n)``, by inverting the cdf."""
        levels = rng.uniform(1e-12, 1.0 - 1e-12, size=n)
        return self.quantile(logits, levels, lo, hi)


class TruncatedBars:
    """Bar distributions ``(...)`` truncated to their limits: per-bar log-masses ``(..., K)``
    (normalized), the bars' cdf at ``lo`` and ``hi`` ``(..., K)``, and the limits ``(...)``."""

    def __init__(self, bars: BarDistribution, log_mass, f_lo, f_hi, lo, hi):
        self.bars, self.log_mass, self.f_lo, self.f_hi, self.lo, self.hi = bars, log_mass, f_lo, f_hi, lo, hi
        self.mass = np.exp(log_mass)
        self.below = np.cumsum(self.mass, -1) - self.mass  # mass of the bars left of each bar

    def _own_cdf(self, z: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Fraction of bar ``idx``'s own mass at or below ``z`` (elementwise)."""
        b, k = self.bars.borders, self.bars.n_bars
        sig_l, sig_r = self.bars.tail_sigmas
        out = np.clip((z - b[idx]) / (b[idx + 1] - b[idx]), 0.0, 1.0)
        tail = (idx == 0) | (idx == k - 1)
        if tail.any():  # erf is slow in numpy and the tails are rarely asked
            zt, it = z[tail], idx[tail]
            left = 1.0 - _np_erf(np.clip(b[1] - zt, 0.0, np.inf) / (sig_l * math.sqrt(2.0)))
            right = _np_erf(np.clip(zt - b[-2], 0.0, np.inf) / (sig_r * math.sqrt(2.0)))
            out[tail] = np.where(it == 0, left, right)
        return out

    def on_atom(self, z) -> np.ndarray:
        """Where ``z`` carries a probability of its own: nowhere, a truncated distribution has a density throughout."""
        return np.zeros(np.broadcast_shapes(np.shape(z), self.lo.shape), dtype=bool)

    def log_prob(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        idx = bar_index(self.bars.borders, z)[..., None]
        # A bar cut by a limit keeps its density; its kept mass was renormalized with the rest.
        frac = np.take_along_axis(self.f_hi, idx, -1)[..., 0] - np.take_along_axis(self.f_lo, idx, -1)[..., 0]
        kept = np.take_along_axis(self.log_mass, idx, -1)[..., 0]
        with np.errstate(divide="ignore"):
            out = kept - np.log(np.clip(frac, 1e-300, 1.0)) + log_density_in_bar(self.bars.borders, z, idx[..., 0])
        return np.where((z >= self.lo) & (z <= self.hi) & (frac > 0), out, -np.inf)

    def cdf(self, z) -> np.ndarray:
        z = np.clip(np.asarray(z, dtype=np.float64), self.lo, self.hi)
        idx = bar_index(self.bars.borders, z)[..., None]
        below = np.take_along_axis(self.below, idx, -1)[..., 0]
        a, b = np.take_along_axis(self.f_lo, idx, -1)[..., 0], np.take_along_axis(self.f_hi, idx, -1)[..., 0]
        own = (self._own_cdf(np.broadcast_to(z, idx.shape[:-1]), idx[..., 0]) - a) / np.clip(b - a, 1e-300, None)
        return np.clip(below + np.take_along_axis(self.mass, idx, -1)[..., 0] * np.clip(own, 0.0, 1.0), 0.0, 1.0)

    def quantile(self, q) -> np.ndarray:
        """Quantiles ``(..., len(q))`` at levels ``q`` in (0, 1)."""
        q = np.asarray(q, dtype=np.float64).ravel()
        k = self.bars.n_bars
        cum = (self.below + self.mass).reshape(-1, k)
        # The bar holding each level: bisection on each distribution's cumulative mass.
        idx = np.stack([np.searchsorted(row, q, side="left") for row in cum]).reshape(self.mass.shape[:-1] + q.shape)
        idx = idx.clip(0, k - 1)
        before = np.take_along_axis(self.below, idx, -1)
        m = np.take_along_axis(self.mass, idx, -1)
        r = np.clip((q - before) / np.clip(m, 1e-300, None), 0.0, 1.0)
        a, b = np.take_along_axis(self.f_lo, idx, -1), np.take_along_axis(self.f_hi, idx, -1)
        f = a + r * (b - a)  # target cdf inside the chosen bar
        borders = self.bars.borders
        z = borders[idx] + f * np.diff(borders)[idx]
        tail = (idx == 0) | (idx == k - 1)
        if tail.any():  # erfinv by Newton steps is slow: only where a level falls in a tail
            sig_l, sig_r = self.bars.tail_sigmas
            ft, it = f[tail], idx[tail]
            left = borders[1] - sig_l * math.sqrt(2.0) * _np_erfinv(1.0 - ft)
            right = borders[-2] + sig_r * math.sqrt(2.0) * _np_erfinv(ft)
            z[tail] = np.where(it == 0, left, right)
        return np.clip(z, self.lo[..., None], self.hi[..., None])

    def mean(self) -> np.ndarray:
        b, lo, hi = self.bars.borders, self.lo, self.hi
        lo_, hi_ = lo[..., None], hi[..., None]
        mid = 0.5 * (np.clip(b[1:-2], lo_, hi_) + np.clip(b[2:-1], lo_, hi_))
        sig_l, sig_r = self.bars.tail_sigmas
        left = b[1] - _truncated_half_normal_mean(sig_l, np.clip(b[1] - hi, 0, np.inf), np.clip(b[1] - lo, 0, np.inf))
        right = b[-2] + _truncated_half_normal_mean(sig_r, np.clip(lo - b[-2], 0, np.inf), np.clip(hi - b[-2], 0, np.inf))
        centers = np.concatenate([left[..., None], mid, right[..., None]], -1)
        return (self.mass * centers).sum(-1)


class CensoredBars:
    """Bar distributions ``(...)`` censored at their limits: the mass beyond ``lo`` (``hi``) is an atom on it.

    ``atom_lo``/``atom_hi`` ``(...)`` are the atoms' probabilities; between the limits the density is the bars'
    own, not renormalized. A value within :data:`AT_LIMIT` of a limit counts as on it.
    """

    def __init__(self, bars: BarDistribution, logits, lo=None, hi=None):
        self.whole = bars.truncate(logits)  # the bars as the model gave them, no limit applied
        self.inner = bars.truncate(logits, lo, hi)  # their mass between the limits, renormalized
        self.lo, self.hi = self.inner.lo, self.inner.hi
        self.atom_lo = (self.whole.mass * self.inner.f_lo).sum(-1)
        self.atom_hi = (self.whole.mass * (1.0 - self.inner.f_hi)).sum(-1)

    def _snap(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        z = np.where(on_limit(z, self.lo), self.lo, z)
        return np.where(on_limit(z, self.hi), self.hi, z)

    def on_atom(self, z) -> np.ndarray:
        """Where ``z`` sits on a known limit, whose atom :meth:`log_prob` scores by its log-probability."""
        return on_limit(z, self.lo) | on_limit(z, self.hi)

    def log_prob(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_atom_lo, log_atom_hi = np.log(self.atom_lo), np.log(self.atom_hi)
        inside = np.where((z > self.lo) & (z < self.hi), self.whole.log_prob(z), -np.inf)
        return np.where(on_limit(z, self.hi), log_atom_hi, np.where(on_limit(z, self.lo), log_atom_lo, inside))

    def cdf(self, z) -> np.ndarray:
        z = self._snap(z)
        return np.where(z < self.lo, 0.0, np.where(z >= self.hi, 1.0, self.whole.cdf(z)))

    def quantile(self, q) -> np.ndarray:
        """Quantiles ``(..., len(q))``: those of the uncensored bars, clamped to the limits."""
        return np.clip(self.whole.quantile(q), self.lo[..., None], self.hi[..., None])

    def mean(self) -> np.ndarray:
        inner = 1.0 - self.atom_lo - self.atom_hi
        on_lo = self.atom_lo * np.where(np.isfinite(self.lo), self.lo, 0.0)  # an unknown limit holds no atom
        on_hi = self.atom_hi * np.where(np.isfinite(self.hi), self.hi, 0.0)
        return np.where(inner > 0, inner * np.nan_to_num(self.inner.mean()), 0.0) + on_lo + on_hi


def _truncated_half_normal_mean(sigma, d1, d2):
    """Mean of a half-normal(sigma) restricted to [d1, d2] (0 where that holds no mass)."""
    s2 = sigma * math.sqrt(2.0)
    den = _np_erf(d2 / s2) - _np_erf(d1 / s2)
    num = sigma * math.sqrt(2.0 / math.pi) * (np.exp(-((d1 / s2) ** 2)) - np.exp(-((np.minimum(d2, 1e150) / s2) ** 2)))
    return np.where(den > 1e-300, num / np.clip(den, 1e-300, None), d1)


# --------------------------------------------------------------------------- torch training loss


def nll_loss(logits, borders, z, lo, hi, *, censored: bool = False):
    """Negative log-likelihood (torch) of targets ``z`` under bars limited to ``[lo, hi]``.

    Truncated limits (the default) renormalize the mass between them; censored ones score a target on a limit by
    the log of the mass beyond it (:class:`CensoredBars`). ``logits`` ``(..., K)``; ``z``, ``lo``, ``hi``
    ``(...)``; returns ``(...)``.
    """
    import torch

    log_p = torch.log_softmax(logits.float(), -1)
    idx = bar_index(borders, z, xp=torch)
    in_bar = torch.gather(log_p, -1, idx[..., None])[..., 0]
    log_density = in_bar + log_density_in_bar(borders, z, idx, xp=torch)
    below_lo, below_hi = bar_cdf(borders, lo, xp=torch), bar_cdf(borders, hi, xp=torch)
    if not censored:
        log_norm = torch.logsumexp(log_p + torch.log((below_hi - below_lo).clamp(min=0.0)), -1)
        return -(log_density - log_norm)
    # Floors keep the unused branch finite where a limit is unknown, so that torch.where passes no NaN gradient.
    log_atom_lo = torch.logsumexp(log_p + torch.log(below_lo.clamp(min=1e-30)), -1)
    log_atom_hi = torch.logsumexp(log_p + torch.log((1.0 - below_hi).clamp(min=1e-30)), -1)
    on_lo, on_hi = on_limit(z, lo, xp=torch), on_limit(z, hi, xp=torch)
    return -torch.where(on_hi, log_atom_hi, torch.where(on_lo, log_atom_lo, log_density))
