"""The prior the PFN is trained on: batches of synthetic training curves.

:func:`sample` draws a :class:`CurveBatch` from a mixture of

* ``families``: schedule-free, accuracy-like curves, a weighted mix of 1-3 of the
  Domhan et al. families at a random time scale, shown as an accuracy, an error
  rate or an unbounded score;
* ``lcpfn``: exactly LC-PFN's own prior (pow3 + ilog2 + janoschek with U(0, 1)
  weights, 100 epochs, noise log σ ~ N(-4, 1)), so its benchmark is in ours;
* ``multi_power``, ``lr_annealing``, ``intrinsic_time``: loss under a random
  learning-rate schedule, which the curve reveals (``known_schedule``) or not;

with irregular logging, pathologies and noise (:mod:`priors.noise`) and a random
affine map of the values. Everything is batched on the generator's device; the
only Python loops are over mixture components and rejection rounds, and rejection
redraws only the rows that failed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from typing import Callable

import torch

from priors.laws import FAMILIES, SCHEDULE_LAWS, positive_pow, power_term
from priors.noise import (
    Events,
    Noise,
    NoiseConfig,
    Warp,
    add_events,
    add_noise,
    draw_events,
    draw_noise,
    draw_warp,
    lognormal_sigma,
    warp_time,
)
from priors.schedules import (
    FEATURE_DECAY_TIME,
    ScheduleGrid,
    ScheduleParams,
    annealing_area_at_grid,
    random_schedules,
    relative_lr,
    schedule_grid,
)

SOURCES = ("families", "lcpfn", "multi_power", "lr_annealing", "intrinsic_time")
LCPFN_FAMILIES = ("pow3", "ilog2", "janoschek")
MAX_REJECTION_ROUNDS = 200


@dataclass(frozen=True)
class PriorConfig:
    """Mixture weights and knobs of the prior; JSON round-trippable via ``asdict``."""

    source_weights: tuple[float, ...] = (0.35, 0.15, 0.2, 0.15, 0.15)  # over SOURCES
    p_known_schedule: float = 0.75
    p_bounds_known: float = 0.5
    p_affine: float = 0.5
    grid_size: int = 32  # schedule grid cells for the laws' pairwise sums
    family_inclusion: float = 0.2  # chance each family joins a "families" mixture
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def __post_init__(self) -> None:
        if len(self.source_weights) != len(SOURCES) or min(self.source_weights) < 0 or sum(self.source_weights) <= 0:
            raise ValueError(f"source_weights must be {len(SOURCES)} non-negative weights over {SOURCES}, got {self.source_weights}")
        object.__setattr__(self, "source_weights", tuple(float(w) for w in self.source_weights))
        if isinstance(self.noise, dict):  # from JSON
            object.__setattr__(self, "noise", NoiseConfig(**self.noise))


@dataclass(frozen=True)
class CurveBatch:
    """A batch of curves, batch-first; ``(B, N)`` per point, ``(B,)`` per curve.

    Values are in the curve's own (randomly scaled) units; ``lr``, ``cum_lr`` and
    ``anneal_area`` are in normalized units (lr relative to peak, time as a fraction
    of the run) and hold a constant schedule where ``known_schedule`` is False for a
    schedule-free curve. ``lower``/``upper`` are known hard limits of the metric,
    ``-inf``/``inf`` where none is known.
    """

    x: torch.Tensor  # (B, N) logged steps, strictly increasing, x[:, -1] == horizon
    y: torch.Tensor  # (B, N) observed values
    y_clean: torch.Tensor  # (B, N) values before observation noise
    lr: torch.Tensor  # (B, N) learning rate / peak at x
    cum_lr: torch.Tensor  # (B, N) ∫ lr du up to x
    anneal_area: torch.Tensor  # (B, N) annealing area S2 at x (decay time FEATURE_DECAY_TIME)
    horizon: torch.Tensor  # (B,) planned length of the run, in the units of x
    known_schedule: torch.Tensor  # (B,) bool
    direction: torch.Tensor  # (B,) +1 higher is better, -1 lower is better
    lower: torch.Tensor  # (B,)
    upper: torch.Tensor  # (B,)
    source: torch.Tensor  # (B,) index into SOURCES

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device) -> CurveBatch:
        return CurveBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def sample(
    generator: torch.Generator,
    batch_size: int,
    n_points: int,
    device=None,
    *,
    config: PriorConfig = PriorConfig(),
    compiled: bool = False,
) -> CurveBatch:
    """Draw ``batch_size`` curves of ``n_points`` logged points each.

    Deterministic for a given generator state; runs on the generator's device.
    ``compiled=True`` fuses the arithmetic with ``torch.compile`` (a C++ compiler on
    CPU, Triton on CUDA): ~17 s of compilation once per process, then ~1.8x the
    throughput on batches of thousands of curves; the random draws are the same,
    values equal up to float rounding. For bulk sampling: at a hundred curves per
    call, Python overhead dominates and it gains nothing.

    >>> g = torch.Generator().manual_seed(0)
    >>> sample(g, 8, 50).y.shape
    torch.Size([8, 50])
    """
    if batch_size < 1 or n_points < 2:
        raise ValueError(f"need batch_size >= 1 and n_points >= 2, got {batch_size=}, {n_points=}")
    device = torch.device(device) if device is not None else generator.device
    if device.type != generator.device.type:
        raise ValueError(f"generator is on {generator.device} but {device=} was asked for")
    g, b, n = generator, batch_size, n_points
    fuse = _compile if compiled else _eager

    weights = torch.tensor(config.source_weights, dtype=torch.float32, device=device)
    source = torch.multinomial(weights, b, replacement=True, generator=g)
    out = {
        "x": torch.empty(b, n, device=device),
        "y_clean": torch.empty(b, n, device=device),
        "lr": torch.ones(b, n, device=device),
        "cum_lr": torch.empty(b, n, device=device),
        "anneal_area": torch.zeros(b, n, device=device),
        "horizon": torch.empty(b, device=device),
        "known_schedule": torch.zeros(b, dtype=torch.bool, device=device),
        "metric": torch.empty(b, dtype=torch.long, device=device),
        "sigma": torch.full((b, 1), math.nan, device=device),
    }
    draws = {"families": _families, "lcpfn": _lcpfn}
    for i, name in enumerate(SOURCES):
        rows = (source == i).nonzero().squeeze(1)
        if len(rows):
            draw = draws[name] if name in draws else _schedule_law(name)
            part = draw(g, len(rows), n, config, fuse)
            for k, v in part.items():
                out[k][rows] = v
    return _present(g, out, source, config, fuse)


def _eager(fn: Callable) -> Callable:
    return fn


@functools.cache
def _compile(fn: Callable) -> Callable:
    # dynamic: rejection rounds and mixture components come in every batch size.
    return torch.compile(fn, dynamic=True)


# --------------------------------------------------------------------------- logging


def logging_times(g: torch.Generator, b: int, n: int, fuse: Callable = _eager) -> torch.Tensor:
    """Normalized times ``(b, n)`` of logged points, strictly increasing, ending at 1.

    Regular from the first step (half), or starting late (after warmup); gaps
    anywhere from regular to exponential; a sixth log-spaced.
    """
    dev = g.device
    first = torch.where(torch.rand(b, 1, generator=g, device=dev) < 0.5, 1.0 / n, 0.001 + 0.3 * torch.rand(b, 1, generator=g, device=dev))
    irregular = torch.where(torch.rand(b, 1, generator=g, device=dev) < 0.5, 0.0, 0.95 * torch.rand(b, 1, generator=g, device=dev))
    # Regular rows ignore their gaps' randomness: only irregular ones draw it.
    uniform_gaps = torch.zeros(b, n - 1, device=dev)
    rows = (irregular[:, 0] > 0).nonzero().squeeze(1)
    uniform_gaps[rows] = torch.rand(len(rows), n - 1, generator=g, device=dev)
    log_spaced = torch.rand(b, 1, generator=g, device=dev) < 1 / 6
    return fuse(_times)(first, irregular, uniform_gaps, log_spaced)


def _times(first, irregular, uniform_gaps, log_spaced):
    exp_gaps = -torch.log1p(-uniform_gaps)
    gaps = (1.0 - irregular) + irregular * exp_gaps
    frac = torch.cumsum(gaps, 1) / gaps.sum(1, keepdim=True)
    u = torch.cat([first, first + (1.0 - first) * frac[:, :-1]], 1)
    ramp = torch.arange(u.shape[1], device=u.device) / u.shape[1]  # (n,) the last point is added below
    u = torch.where(log_spaced, positive_pow(first, 1.0 - ramp, torch), u)
    return torch.cat([u, torch.ones_like(first)], 1)


# --------------------------------------------------------------------------- sources


def _rejection(draw: Callable[[int], dict], accept: Callable[[dict], torch.Tensor], b: int) -> dict:
    """``draw(k)`` gives k candidate rows; redraw only the rejected rows until all pass.

    Each round draws enough candidates for the rows still missing at the observed
    acceptance rate, so a prior that accepts 1 in 5 needs a few rounds, not dozens.
    """
    out = draw(b)
    ok = accept(out)
    tried, passed = b, int(ok.sum())
    for _ in range(MAX_REJECTION_ROUNDS):
        missing = (~ok).nonzero().squeeze(1)
        if len(missing) == 0:
            return out
        rate = max(passed / tried, 0.01)
        new = draw(int(len(missing) / rate * 1.2) + 8)
        good = accept(new).nonzero().squeeze(1)[: len(missing)]
        tried, passed = tried + len(new["y_clean"]), passed + len(good)
        filled = missing[: len(good)]
        for k in out:
            out[k][filled] = new[k][good]
        ok[filled] = True
    raise RuntimeError(f"prior rejection did not converge: {int((~ok).sum())} rows still rejected after {MAX_REJECTION_ROUNDS} rounds")


class _Mixture:
    """``Σ_f w_f f(t)`` over included families, with parameters drawn once per row."""

    def __init__(self, g, names: tuple[str, ...], include: torch.Tensor, weights: torch.Tensor, fuse: Callable):
        self.parts, self.rows = [], include.shape[0]
        for j, name in enumerate(names):
            rows = include[:, j].nonzero().squeeze(1)
            if len(rows):
                law = FAMILIES[name]
                params = {k: d.sample(g, len(rows), include.device)[:, None] for k, d in law.priors.items()}
                self.parts.append((fuse(law.fn), rows, weights[rows, j : j + 1], params))
        self.fuse = fuse

    def __call__(self, t: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Values at ``t``, for all rows or only ``rows`` (then ``t`` holds just those)."""
        y = torch.zeros_like(t)
        if rows is not None:
            position = torch.full((self.rows,), -1, dtype=torch.long, device=t.device)
            position[rows] = torch.arange(len(rows), device=t.device)
        for law, law_rows, w, params in self.parts:
            where = law_rows
            if rows is not None:  # positions of law_rows inside rows, and which of rows they are
                where = position[law_rows]
                keep = (where >= 0).nonzero().squeeze(1)
                if len(keep) == 0:
                    continue
                where, w, params = where[keep], w[keep], {k: v[keep] for k, v in params.items()}
            y.index_add_(0, where, w * law(t[where], xp=torch, **params))
        return y

    def screened(self, t: torch.Tensor) -> torch.Tensor:
        """Values at ``t``; rows whose ends fail :func:`_unit_range_and_improving` are NaN.

        The ends cost two points, so most rejected rows are never evaluated in full.
        """
        ends = self(t[:, [0, -1]])
        hopeful = self.fuse(_unit_range_and_improving)(ends).nonzero().squeeze(1)
        y = torch.full_like(t, math.nan)
        y[hopeful] = self(t[hopeful], hopeful)
        return y


def _unit_range_and_improving(y: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(y).all(1) & (y >= 0).all(1) & (y <= 1).all(1) & (y[:, -1] > y[:, 0])


def _positive_and_decreasing(y: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(y).all(1) & (y > 0).all(1) & (y[:, -1] < y[:, 0])


def _families(g, b, n, cfg: PriorConfig, fuse: Callable) -> dict:
    names = tuple(FAMILIES)
    dev = g.device

    def draw(k):
        u = logging_times(g, k, n, fuse)
        horizon = torch.exp(math.log(10.0) + torch.rand(k, generator=g, device=dev) * math.log(100.0))
        # Laws are in LC-PFN's epoch units (1..100); a random time scale stretches them.
        scale = 100.0 * torch.exp(0.75 * torch.randn(k, 1, generator=g, device=dev))
        t = fuse(_epochs)(u, draw_warp(g, k, cfg.noise), scale)
        include = torch.rand(k, len(names), generator=g, device=dev) < cfg.family_inclusion
        pick = torch.randint(len(names), (k,), generator=g, device=dev)
        include[torch.arange(k, device=dev), pick] = True
        w = torch.rand(k, len(names), generator=g, device=dev) * include
        w = w / w.sum(1, keepdim=True).clamp(min=1e-12)
        y = _Mixture(g, names, include, w, fuse).screened(t)
        y = fuse(add_events)(u, y, -1.0, draw_events(g, k, cfg.noise))
        return {"x": u * horizon[:, None], "y_clean": y, "cum_lr": u, "horizon": horizon}

    out = _rejection(draw, lambda d: fuse(_unit_range_and_improving)(d["y_clean"]), b)
    # Accuracy (0), error rate (1) or unbounded score (2).
    out["metric"] = torch.multinomial(torch.tensor([0.5, 0.25, 0.25], device=dev), b, replacement=True, generator=g)
    return out


def _epochs(u: torch.Tensor, warp: Warp, scale: torch.Tensor) -> torch.Tensor:
    return (warp_time(u, warp) * scale).clamp(min=1e-3)


def _lcpfn(g, b, n, cfg: PriorConfig, fuse: Callable) -> dict:
    dev = g.device
    epochs = torch.linspace(1.0, 100.0, n, device=dev)[None, :]
    names = LCPFN_FAMILIES

    def draw(k):
        include = torch.ones(k, len(names), dtype=torch.bool, device=dev)
        w = torch.rand(k, len(names), generator=g, device=dev)
        return {"y_clean": _Mixture(g, names, include, w, fuse).screened(epochs.expand(k, n))}

    out = _rejection(draw, lambda d: fuse(_unit_range_and_improving)(d["y_clean"]), b)
    out.update(
        x=epochs.expand(b, n).clone(),
        cum_lr=epochs.expand(b, n) / 100.0,
        horizon=torch.full((b,), 100.0, device=dev),
        metric=torch.full((b,), 3, device=dev),  # accuracy whose noise may leave [0, 1]
        sigma=lognormal_sigma(g, b, -4.0, 1.0),
    )
    return out


def _schedule_law(name: str):
    law = SCHEDULE_LAWS[name]

    def draw_source(g, b, n, cfg: PriorConfig, fuse: Callable) -> dict:
        dev = g.device

        def draw(k):
            u = logging_times(g, k, n, fuse)
            horizon = torch.exp(math.log(500.0) + torch.rand(k, generator=g, device=dev) * math.log(2000.0))
            sched = random_schedules(g, k, device=dev)
            params = {p: d.sample(g, k, dev)[:, None] for p, d in law.priors.items()}
            warp, events = draw_warp(g, k, cfg.noise), draw_events(g, k, cfg.noise)
            y, lr, cum_lr, anneal_area = fuse(_schedule_curves)(law.fn, cfg.grid_size, u, sched, params, warp, events)
            return {"x": u * horizon[:, None], "y_clean": y, "lr": lr, "cum_lr": cum_lr, "anneal_area": anneal_area, "horizon": horizon}

        out = _rejection(draw, lambda d: fuse(_positive_and_decreasing)(d["y_clean"]), b)
        out["known_schedule"] = torch.rand(b, generator=g, device=dev) < cfg.p_known_schedule
        out["metric"] = torch.full((b,), 4, device=dev)  # loss
        return out

    return draw_source


_POWER_PARAMS = ("L0", "A", "alpha", "s0")


def _schedule_curves(law: Callable, cells: int, u, sched: ScheduleParams, params: dict, warp: Warp, events: Events):
    """Loss curves of ``law`` under ``sched`` at logged times ``u`` ``(k, n)``, with their
    lr, intrinsic time and annealing area there."""
    k = u.shape[0]
    gu = torch.linspace(0.0, 1.0, cells + 1, device=u.device)[None, :].expand(k, -1)
    grid = schedule_grid(gu, relative_lr(sched, gu, xp=torch), xp=torch)
    power = {p: params[p] for p in _POWER_PARAMS}
    # Pairwise sums cost grid², so the law runs on the grid only; what it adds
    # to the steep power term is smooth enough to interpolate, and the power
    # term itself is evaluated exactly at the logged (warped) times.
    added = law_at_grid(law, grid, params) - power_term(grid.s1, xp=torch, **power)
    at_uw = _UniformLerp(warp_time(u, warp), cells)
    y = power_term(at_uw(grid.s1), xp=torch, **power) + at_uw(added)
    y = add_events(u, y, 1.0, events)
    at_u = _UniformLerp(u, cells)
    anneal_area = at_u(annealing_area_at_grid(grid, FEATURE_DECAY_TIME, xp=torch))
    return y, relative_lr(sched, u, xp=torch), at_u(grid.s1), anneal_area


def law_at_grid(law: Callable, grid: ScheduleGrid, params: dict, blocks: int = 8) -> torch.Tensor:
    """A schedule-aware law at the grid's own points ``(k, G)``, in causal blocks.

    The laws are causal: the loss at a point depends only on the schedule before
    it (later cells add exact zeros to the pairwise sums). So each block of points
    takes only the cells up to its end: with 8 blocks, 45 % fewer pairs than the
    full square (the triangle would be 48 %), and the pairs are most of the prior's time.
    """
    g = grid.u.shape[-1]
    edges = [round(i * g / blocks) for i in range(blocks + 1)]
    parts = []
    for start, end in zip(edges[:-1], edges[1:]):
        if end > start:
            before = ScheduleGrid(*(f[:, :end] for f in grid))
            parts.append(law(grid.u[:, start:end], grid.s1[:, start:end], before, xp=torch, **params))
    return torch.cat(parts, 1)


class _UniformLerp:
    """Linear interpolation from the uniform grid ``linspace(0, 1, cells + 1)`` to ``u``."""

    def __init__(self, u: torch.Tensor, cells: int):
        pos = u * cells
        self.idx = pos.floor().long().clamp(0, cells - 1)
        self.w = pos - self.idx

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        v0 = torch.gather(values, 1, self.idx)
        return v0 + self.w * (torch.gather(values, 1, self.idx + 1) - v0)


# --------------------------------------------------------------------------- presentation

# metric codes: 0 accuracy, 1 error rate, 2 unbounded score, 3 LC-PFN accuracy, 4 loss
_DIRECTION = (1.0, -1.0, 1.0, 1.0, -1.0)
_LOWER = (0.0, 0.0, -math.inf, -math.inf, 0.0)
_UPPER = (1.0, 1.0, math.inf, math.inf, math.inf)


def _present(g, d: dict, source: torch.Tensor, cfg: PriorConfig, fuse: Callable) -> CurveBatch:
    """Turn clean curves into the metric users log: flip, bound, noise, rescale."""
    dev = source.device
    b, n = d["y_clean"].shape
    metric = d["metric"]

    def table(values):
        return torch.tensor(values, device=dev)[metric]

    lower, upper = table(_LOWER), table(_UPPER)
    noise = draw_noise(g, b, n, cfg.noise)
    bounded = torch.isfinite(lower) | torch.isfinite(upper)
    known = bounded & (torch.rand(b, generator=g, device=dev) < cfg.p_bounds_known)
    affine = torch.rand(b, generator=g, device=dev) < cfg.p_affine
    scale = torch.where(affine, torch.exp(math.log(1e-3) + torch.rand(b, generator=g, device=dev) * math.log(1e6)), 1.0)
    shift = torch.where(affine, scale * 10.0 * torch.randn(b, generator=g, device=dev), 0.0)

    y, y_clean = fuse(_observed)(d["y_clean"], d["x"], d["horizon"], metric == 1, noise, d["sigma"], lower, upper, scale, shift)
    lower = torch.where(known, lower, -math.inf)
    upper = torch.where(known, upper, math.inf)
    return CurveBatch(
        x=d["x"],
        y=y,
        y_clean=y_clean,
        lr=d["lr"],
        cum_lr=d["cum_lr"],
        anneal_area=d["anneal_area"],
        horizon=d["horizon"],
        known_schedule=d["known_schedule"],
        direction=table(_DIRECTION),
        lower=lower * scale + shift,
        upper=upper * scale + shift,
        source=source,
    )


def _observed(y_clean, x, horizon, flip, noise: Noise, lcpfn_sigma, lower, upper, scale, shift):
    """Observed and clean values in the curve's units: ``(b, n)`` each."""
    y = torch.where(flip[:, None], 1.0 - y_clean, y_clean)
    noisy = add_noise(x / horizon[:, None], y, noise)
    # LC-PFN's noise is absolute (its curves live in [0, 1]), ours relative to the range.
    noisy = torch.where(torch.isnan(lcpfn_sigma), noisy, y + torch.nan_to_num(lcpfn_sigma) * noise.z)
    # Real accuracies, error rates and losses never leave their range: hard limits.
    noisy = torch.minimum(torch.maximum(noisy, lower[:, None]), upper[:, None])
    return noisy * scale[:, None] + shift[:, None], y * scale[:, None] + shift[:, None]
