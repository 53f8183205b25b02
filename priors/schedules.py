"""Learning-rate schedules and the integrals of them that loss laws depend on.

Every schedule is one formula of normalized time ``u = step / total`` in [0, 1]
returning the learning rate relative to its peak, written once against an array
namespace ``xp`` (numpy at inference, torch on any device in training):

* ``decay``: warmup, a stable phase, then a cooldown over the last ``cooldown``
  fraction of the run with a shape (linear, cosine, 1-sqrt, exponential) down to
  ``final_ratio``. Constant (cooldown 0), cosine / linear / exponential decay
  (cooldown 1) and warmup-stable-decay (WSD) are all this one formula.
* ``step``: multiply by ``factor`` at each milestone (MultiStepLR / StepLR).
* ``inverse_sqrt``: ``sqrt(timescale / max(u, timescale))``.

Users build a :class:`Schedule` with the named constructors (``wsd(total=24000,
peak=3e-4, cooldown=0.2)``); the prior draws a :class:`ScheduleParams` batch with
:func:`random_schedules` (:func:`schedules_from_uniform` from given uniforms). Both
evaluate through :func:`relative_lr`.

Loss laws under a schedule need the intrinsic time ``S1(u) = ∫ lr`` and the
annealing area ``S2`` (Tissue et al. 2024) at arbitrary points; they are computed
on a :class:`ScheduleGrid` by :func:`schedule_grid` and :func:`annealing_area`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from priors.errors import LCPFNError

KINDS = ("decay", "step", "inverse_sqrt")
SHAPES = ("linear", "cosine", "1-sqrt", "exponential")
MAX_MILESTONES = 4
# Exponential decay to exactly zero is undefined; this is the floor it decays to.
MIN_EXPONENTIAL_RATIO = 1e-4
_EPS = 1e-9
# Momentum time constant (fraction of the run) of the annealing area the PFN sees as a feature.
FEATURE_DECAY_TIME = 0.05


class InvalidScheduleError(LCPFNError, ValueError):
    """A schedule parameter is out of range; the message names the field and value."""


# --------------------------------------------------------------------------- formula


@dataclass(frozen=True)
class ScheduleParams:
    """Parameters of :func:`relative_lr`, in normalized time.

    Fields are python numbers or arrays broadcastable against the ``u`` they are
    evaluated at (``(batch, 1)`` for a batch of schedules); ``milestones`` has a
    trailing axis of length ``MAX_MILESTONES``, unused entries padded with 2.0.
    """

    kind: Any  # index into KINDS
    warmup: Any  # fraction of the run with a linear warmup from 0
    cooldown: Any  # decay: fraction of the run spent decaying
    shape: Any  # decay: index into SHAPES
    final_ratio: Any  # decay: lr at the end / peak
    milestones: Any  # step: fractions of the run where lr is multiplied by factor
    factor: Any  # step: multiplier at each milestone
    timescale: Any  # inverse_sqrt: fraction of the run before the 1/sqrt decay


def relative_lr(p: ScheduleParams, u, *, xp=np):
    """Learning rate relative to peak at normalized times ``u``; same shape as ``u``."""
    # Written with arithmetic rather than branches so python scalars, numpy and
    # torch tensors (per-row parameters) all go through the same lines.
    warm = xp.clip((u + _EPS) / (p.warmup + _EPS), 0.0, 1.0)

    progress = xp.clip((u - (1.0 - p.cooldown)) / xp.clip(p.cooldown + 0.0 * u, _EPS, math.inf), 0.0, 1.0)
    r = p.final_ratio
    linear = 1.0 - (1.0 - r) * progress
    cosine = r + (1.0 - r) * 0.5 * (1.0 + xp.cos(math.pi * progress))
    one_minus_sqrt = 1.0 - (1.0 - r) * xp.sqrt(progress)
    exponential = xp.exp(progress * xp.log(xp.clip(r + 0.0 * u, MIN_EXPONENTIAL_RATIO, 1.0)))
    decay = xp.where(
        p.shape == 0 + 0 * u,
        linear,
        xp.where(p.shape == 1 + 0 * u, cosine, xp.where(p.shape == 2 + 0 * u, one_minus_sqrt, exponential)),
    )

    # milestones (..., M) against u (..., N): compare on a new trailing axis.
    passed = xp.sum(1.0 * (u[..., :, None] >= p.milestones[..., None, :]), axis=-1)
    step = xp.exp(passed * xp.log(p.factor + 0.0 * u))

    inverse_sqrt = xp.sqrt((p.timescale + _EPS) / xp.maximum(u, p.timescale + _EPS))

    lr = xp.where(p.kind == 0 + 0 * u, decay, xp.where(p.kind == 1 + 0 * u, step, inverse_sqrt))
    return warm * lr


# --------------------------------------------------------------------------- user schedules


@dataclass(frozen=True)
class Schedule:
    """A planned learning-rate schedule over ``total`` steps, callable on steps.

    >>> s = wsd(total=24000, peak=3e-4, cooldown=0.2)
    >>> float(s(0)), float(s(19200)), round(float(s(24000)), 12)
    (0.0003, 0.0003, 0.0)
    """

    name: str
    total: float
    peak: float
    warmup: float = 0.0  # steps
    cooldown: float = 0.0  # fraction of total
    shape: str = "linear"
    final_ratio: float = 0.0
    milestones: tuple[float, ...] = ()  # steps
    factor: float = 1.0
    timescale: float = 0.0  # steps

    def __post_init__(self) -> None:
        _check(self.name in _CONSTRUCTORS, "name", self.name, f"one of {sorted(_CONSTRUCTORS)}")
        _check(_finite(self.total) and self.total > 0, "total", self.total, "a finite number > 0")
        _check(_finite(self.peak) and self.peak > 0, "peak", self.peak, "a finite number > 0")
        _check(_finite(self.warmup) and 0 <= self.warmup < self.total, "warmup", self.warmup, f"in [0, total={self.total})")
        _check(_finite(self.cooldown) and 0 <= self.cooldown <= 1, "cooldown", self.cooldown, "a fraction in [0, 1]")
        _check(self.shape in SHAPES, "shape", self.shape, f"one of {SHAPES}")
        _check(_finite(self.final_ratio) and 0 <= self.final_ratio <= 1, "final_ratio", self.final_ratio, "in [0, 1]")
        _check(len(self.milestones) <= MAX_MILESTONES, "milestones", self.milestones, f"at most {MAX_MILESTONES} steps")
        for m in self.milestones:
            _check(_finite(m) and 0 < m <= self.total, "milestones", self.milestones, f"steps in (0, total={self.total}]")
        _check(list(self.milestones) == sorted(self.milestones), "milestones", self.milestones, "increasing")
        _check(_finite(self.factor) and 0 < self.factor <= 1, "factor", self.factor, "in (0, 1]")
        _check(
            _finite(self.timescale) and 0 <= self.timescale <= self.total,
            "timescale",
            self.timescale,
            f"in [0, total={self.total}]",
        )
        if self.name == "inverse_sqrt":
            _check(self.timescale > 0, "timescale", self.timescale, "> 0 for inverse_sqrt")

    @property
    def params(self) -> ScheduleParams:
        """The schedule in normalized time, for :func:`relative_lr`."""
        pad = (2.0,) * (MAX_MILESTONES - len(self.milestones))
        return ScheduleParams(
            kind=KINDS.index(_CONSTRUCTORS[self.name][0]),
            warmup=self.warmup / self.total,
            cooldown=self.cooldown,
            shape=SHAPES.index(self.shape),
            final_ratio=self.final_ratio,
            milestones=np.array([m / self.total for m in self.milestones] + list(pad)),
            factor=self.factor,
            timescale=self.timescale / self.total,
        )

    def __call__(self, steps) -> np.ndarray:
        """Learning rate at ``steps`` (any shape); steps past ``total`` keep the last value."""
        u = np.clip(np.asarray(steps, dtype=np.float64) / self.total, 0.0, 1.0)
        return self.peak * relative_lr(self.params, u.reshape(-1), xp=np).reshape(u.shape)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schedule:
        d = dict(d)
        d["milestones"] = tuple(d.get("milestones", ()))
        return cls(**d)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _check(ok: bool, field: str, value, expected: str) -> None:
    if not ok:
        raise InvalidScheduleError(f"schedule field {field!r} must be {expected}, got {value!r}")


def constant(*, total: float, peak: float, warmup: float = 0.0) -> Schedule:
    """Constant learning rate after an optional linear warmup."""
    return Schedule("constant", total, peak, warmup=warmup)


def cosine(*, total: float, peak: float, final_ratio: float = 0.0, warmup: float = 0.0) -> Schedule:
    """Cosine decay over the whole run to ``final_ratio * peak``."""
    return Schedule("cosine", total, peak, warmup=warmup, cooldown=1.0, shape="cosine", final_ratio=final_ratio)


def linear(*, total: float, peak: float, final_ratio: float = 0.0, warmup: float = 0.0) -> Schedule:
    """Linear decay over the whole run to ``final_ratio * peak``."""
    return Schedule("linear", total, peak, warmup=warmup, cooldown=1.0, shape="linear", final_ratio=final_ratio)


def exponential(*, total: float, peak: float, final_ratio: float = 0.01, warmup: float = 0.0) -> Schedule:
    """Exponential decay over the whole run (``gamma = final_ratio ** (1 / total)`` per step)."""
    return Schedule("exponential", total, peak, warmup=warmup, cooldown=1.0, shape="exponential", final_ratio=final_ratio)


def wsd(
    *, total: float, peak: float, cooldown: float = 0.2, shape: str = "linear", final_ratio: float = 0.0, warmup: float = 0.0
) -> Schedule:
    """Warmup-stable-decay: constant, then decay over the last ``cooldown`` fraction."""
    return Schedule("wsd", total, peak, warmup=warmup, cooldown=cooldown, shape=shape, final_ratio=final_ratio)


def step(
    *, total: float, peak: float, milestones: tuple[float, ...] = (), factor: float = 1 / math.sqrt(10), warmup: float = 0.0
) -> Schedule:
    """Multiply the learning rate by ``factor`` at each milestone step.

    The default milestones are 80 % and 90 % of the run.
    """
    milestones = tuple(float(m) for m in milestones) or (0.8 * total, 0.9 * total)
    return Schedule("step", total, peak, warmup=warmup, milestones=milestones, factor=factor)


def inverse_sqrt(*, total: float, peak: float, warmup: float = 0.0, timescale: float | None = None) -> Schedule:
    """``peak * sqrt(timescale / step)`` after ``timescale`` steps (default: the warmup)."""
    timescale = float(timescale if timescale is not None else (warmup or 0.01 * total))
    return Schedule("inverse_sqrt", total, peak, warmup=warmup, timescale=timescale)


_CONSTRUCTORS = {
    "constant": ("decay", constant),
    "cosine": ("decay", cosine),
    "linear": ("decay", linear),
    "exponential": ("decay", exponential),
    "wsd": ("decay", wsd),
    "step": ("step", step),
    "inverse_sqrt": ("inverse_sqrt", inverse_sqrt),
}
NAMES = tuple(_CONSTRUCTORS)


def from_name(name: str, **kwargs: Any) -> Schedule:
    """Build a named schedule, e.g. ``from_name("wsd", total=1000, peak=1e-3, cooldown=0.1)``."""
    if name not in _CONSTRUCTORS:
        raise InvalidScheduleError(f"schedule field 'name' must be one of {list(NAMES)}, got {name!r}")
    try:
        return _CONSTRUCTORS[name][1](**kwargs)
    except TypeError as e:  # unknown or missing keyword: say which
        raise InvalidScheduleError(f"schedule {name!r}: {e}") from None


# --------------------------------------------------------------------------- random schedules


SCHEDULE_UNIFORMS = 12 + MAX_MILESTONES  # columns of ``u`` that :func:`schedules_from_uniform` reads


@dataclass(frozen=True)
class ScheduleConfig:
    """The mixture of random schedules (normalized time: fractions of the run)."""

    p_decay: float = 0.75  # the decay formula (constant, full decay, WSD) ...
    p_step: float = 0.15  # ... step drops; inverse-sqrt the rest
    p_constant: float = 0.2  # of the decays: constant ...
    p_full_decay: float = 0.35  # ... cosine / linear / exponential over the whole run; WSD the rest
    wsd_cooldown: tuple[float, float] = (0.05, 0.6)  # uniform
    shape_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)  # of the decays' shapes, over SHAPES
    p_final_zero: float = 1 / 3  # decays to exactly 0, else log-uniformly in final_ratio
    final_ratio: tuple[float, float] = (1e-3, 0.3)
    max_drops: int = 3  # step: 1 to this many milestones (at most MAX_MILESTONES) ...
    milestones: tuple[float, float] = (0.3, 0.95)  # ... uniform in this range
    p_factor_tenth: float = 0.5  # step factor exactly 0.1, else log-uniform in factor
    factor: tuple[float, float] = (0.1, 0.5)
    p_warmup: float = 0.6
    max_warmup: float = field(default=0.1, metadata={"range": (0.0, 1.0)})  # uniform in [0, max_warmup]
    timescale: tuple[float, float] = (0.003, 0.09)  # inverse-sqrt, log-uniform

    def __post_init__(self) -> None:
        for name in ("wsd_cooldown", "shape_weights", "final_ratio", "milestones", "factor", "timescale"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if min(self.shape_weights) < 0 or sum(self.shape_weights) <= 0:
            raise ValueError(f"shape_weights must be {len(SHAPES)} non-negative weights over {SHAPES}, got {self.shape_weights}")
        if not 1 <= self.max_drops <= MAX_MILESTONES:
            raise ValueError(f"max_drops must be in [1, {MAX_MILESTONES}], got {self.max_drops}")


def random_schedules(generator, batch_size: int, *, device=None, config: ScheduleConfig = ScheduleConfig()) -> ScheduleParams:
    """A batch of random schedules as ``(batch, 1)`` torch tensors (milestones ``(batch, M)``).

    Default mixture (:class:`ScheduleConfig`): decay family 75 % (of which constant 20 %,
    full cosine/linear/exponential decay 35 %, WSD with 5-60 % cooldown 45 %), step 15 %,
    inverse-sqrt 10 %; a linear warmup of 0-10 % of the run on 60 % of them.
    """
    import torch

    return schedules_from_uniform(torch.rand(batch_size, SCHEDULE_UNIFORMS, generator=generator, device=device), config)


def schedules_from_uniform(u, config: ScheduleConfig = ScheduleConfig()) -> ScheduleParams:
    """:func:`random_schedules` from independent U(0, 1) ``u`` of shape ``(batch, SCHEDULE_UNIFORMS)``.

    Pure torch, so the prior sampler can fuse it with the laws.
    """
    import torch

    c = config
    (r, sub, cool, shape, has_final, final, count, factor_fixed, factor, has_warmup, warmup, timescale), raw = (
        u[:, :12].split(1, dim=1),
        u[:, 12:],
    )
    kind = torch.where(r < c.p_decay, 0, torch.where(r < c.p_decay + c.p_step, 1, 2))
    wsd_cooldown = c.wsd_cooldown[0] + (c.wsd_cooldown[1] - c.wsd_cooldown[0]) * cool
    cooldown = torch.where(sub < c.p_constant, 0.0, torch.where(sub < c.p_constant + c.p_full_decay, 1.0, wsd_cooldown))
    edges = torch.tensor(c.shape_weights, device=u.device).cumsum(0) / sum(c.shape_weights)
    shape = (shape >= edges[:-1]).sum(1, keepdim=True).to(u.dtype)
    final_ratio = torch.where(has_final < c.p_final_zero, 0.0, _log_uniform(final, c.final_ratio))
    final_ratio = torch.where(shape == 3, final_ratio.clamp(min=c.final_ratio[0]), final_ratio)  # exponential: never 0

    n_milestones = 1 + torch.floor(count * c.max_drops)
    milestones = torch.sort(c.milestones[0] + (c.milestones[1] - c.milestones[0]) * raw, dim=-1).values
    unused = torch.arange(MAX_MILESTONES, device=u.device)[None, :] >= n_milestones
    milestones = torch.where(unused, 2.0, milestones)
    factor = torch.where(factor_fixed < c.p_factor_tenth, 0.1, _log_uniform(factor, c.factor))

    warmup = torch.where(has_warmup < c.p_warmup, c.max_warmup * warmup, 0.0)
    timescale = _log_uniform(timescale, c.timescale)
    warmup = torch.where(kind == 2, torch.minimum(warmup, timescale), warmup)
    return ScheduleParams(kind, warmup, cooldown, shape, final_ratio, milestones, factor, timescale)


def _log_uniform(u, bounds: tuple[float, float]):
    return (math.log(bounds[0]) + u * math.log(bounds[1] / bounds[0])).exp()


# --------------------------------------------------------------------------- integrals


class ScheduleGrid(NamedTuple):
    """A schedule sampled at grid points ``u[..., 0] = 0 < ... < u[..., G]``.

    ``s1`` is the intrinsic time ∫ lr du up to each point (trapezoid rule),
    ``drop`` the decrease of lr from the previous point (increases, as in warmup,
    count as no drop), ``width`` the distance from the previous point.
    """

    u: Any
    lr: Any
    s1: Any
    drop: Any
    width: Any


def cumulative_trapezoid(values, width, *, xp=np):
    """``∫ values`` from the first point to each point ``(..., G + 1)``, by trapezoids of widths ``width`` ``(..., G)``
    (broadcast against the values' rows)."""
    area = 0.5 * (values[..., 1:] + values[..., :-1]) * width
    return xp.concatenate([0.0 * values[..., :1], xp.cumsum(area, axis=-1)], axis=-1)


def schedule_grid(u, lr, *, xp=np) -> ScheduleGrid:
    """Integrals of a schedule given its values ``lr`` at increasing points ``u`` (``u[..., 0]`` the start)."""
    width = u[..., 1:] - u[..., :-1]
    zero = 0.0 * u[..., :1]
    s1 = cumulative_trapezoid(lr, width, xp=xp)
    drop = xp.concatenate([zero, xp.clip(lr[..., :-1] - lr[..., 1:], 0.0, math.inf)], axis=-1)
    return ScheduleGrid(u, lr, s1, drop, xp.concatenate([zero, width], axis=-1))


def annealing_area(u, grid: ScheduleGrid, decay_time, *, xp=np):
    """Annealing area ``S2`` (Tissue et al. 2024) at points ``u``: ``(..., N)``.

    ``S2 = Σ_i m_i`` with the momentum ``m_i = λ m_{i-1} + (lr_{i-1} - lr_i)``; in
    continuous time with ``λ = exp(-1 / decay_time)`` this sums, over each drop
    before ``u``, ``drop * decay_time * (1 - exp(-(u - u_k) / decay_time))``.
    """
    if xp is np and np.ndim(grid.drop) == 1:  # one schedule: only cells where the lr drops add anything
        keep = np.flatnonzero(grid.drop)  # (a WSD schedule has a fifth of them, a constant one none)
        grid = grid._replace(u=grid.u[keep], drop=grid.drop[keep])
    since = xp.clip(u[..., :, None] - grid.u[..., None, :], 0.0, math.inf)  # (..., N, G)
    tau = decay_time[..., None] if hasattr(decay_time, "shape") and decay_time.ndim else decay_time
    terms = grid.drop[..., None, :] * tau * (1.0 - xp.exp(-since / tau))
    return xp.sum(terms, axis=-1)


def annealing_area_at_grid(grid: ScheduleGrid, decay_time, *, xp=np):
    """:func:`annealing_area` at the grid's own points, in O(grid) instead of O(grid²).

    With ``M_j = Σ_{k<=j} drop_k exp(-(u_j - u_k) / τ)`` (``M_j = e^{-Δ/τ} M_{j-1} + drop_j``)
    and ``D_j = Σ_{k<=j} drop_k``, the area is ``τ (D_j - M_j)``. Numpy and torch.
    """
    decay = xp.exp(-grid.width / decay_time)
    m = 0.0 * grid.drop[..., 0]
    momentum = []
    for j in range(grid.drop.shape[-1]):
        m = decay[..., j] * m + grid.drop[..., j]
        momentum.append(m)
    return decay_time * (xp.cumsum(grid.drop, axis=-1) - xp.stack(momentum, axis=-1))


def interpolate(grid_u, values, u, *, xp=np):
    """Piecewise-linear interpolation of ``values`` given at ``grid_u`` (..., G) to ``u`` (..., N).

    Points outside the grid take the end values.
    """
    g = grid_u.shape[-1]
    # Index of the last grid point <= u: by bisection for one numpy grid, else by counting
    # (vectorized for batches of grids, numpy and torch alike).
    if xp is np and np.ndim(grid_u) == 1:
        idx = np.searchsorted(grid_u, u, side="right") - 1
    else:
        idx = xp.sum(1 * (grid_u[..., None, :] <= u[..., :, None]), axis=-1) - 1
    idx = xp.clip(idx, 0, g - 2)
    take = np.take_along_axis if xp is np else _torch_gather
    u0, u1 = take(grid_u, idx, axis=-1), take(grid_u, idx + 1, axis=-1)
    v0, v1 = take(values, idx, axis=-1), take(values, idx + 1, axis=-1)
    w = xp.clip((u - u0) / xp.clip(u1 - u0, _EPS, math.inf), 0.0, 1.0)
    return v0 + w * (v1 - v0)


def _torch_gather(a, idx, axis):
    import torch

    a = a.expand(*idx.shape[:-1], a.shape[-1]) if a.ndim == idx.ndim else a
    return torch.gather(a, axis, idx)
