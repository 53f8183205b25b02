"""The prior the PFN is trained on: batches of synthetic training curves.

:func:`sample` draws a :class:`CurveBatch` from a mixture of

* ``families``: schedule-free, accuracy-like curves, a weighted mix of 1-3 of the
  Domhan et al. families at a random time scale, shown as an accuracy, an error
  rate or an unbounded score;
* ``lcpfn``: exactly LC-PFN's own prior (pow3 + ilog2 + janoschek with U(0, 1)
  weights, 100 epochs, noise log σ ~ N(-4, 1)), so its benchmark is in ours;
* ``multi_power``, ``lr_annealing``, ``intrinsic_time``: loss under a random
  learning-rate schedule, which the curve reveals (``known_schedule``) or not;
* ``progress``: the families under a random schedule, as small networks train:
  progress in intrinsic time (slower at a lower lr) and a jump at every lr drop,
  shown as an accuracy, error rate, score or loss, schedule revealed or not;

with irregular logging, pathologies (incl. overfitting) and noise
(:mod:`priors.noise`), accuracies quantized by a finite validation set, and a
random affine map of the values. Everything is batched on the generator's device; the
only Python loops are over mixture components and rejection rounds, and rejection
redraws only the rows that failed.

Each candidate curve takes all of its randomness from one row of uniforms
(parameters by inverse CDF, :meth:`~priors.parameters.Uniform.from_uniform`), so one
fused call per source and round turns a uniform matrix into curves: a few dozen
tensor operations per call rather than thousands.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch

from priors.config import SOURCES, LawConfig, LoggingConfig, PriorConfig
from priors.laws import (
    FAMILIES,
    LCPFN_FAMILIES,
    POWER_PARAMS,
    SCHEDULE_LAWS,
    at_horizon,
    early_transient,
    family_mixture,
    family_weights,
    is_family_curve,
    is_loss_curve,
    multi_power,
    positive_pow,
    power_term,
    progress_clock,
    progress_drop_priors,
    progress_jump,
    schedule_law_priors,
)
from priors.noise import (
    EVENTS_UNIFORMS,
    WARP_UNIFORMS,
    Events,
    Noise,
    Warp,
    add_events,
    add_noise,
    creep_path,
    draw_noise,
    events_from_uniform,
    noise_gain,
    warp_from_uniform,
    warp_time,
)
from priors.parameters import LogNormal, LogUniform, Normal, Uniform, params_from_uniform
from priors.schedules import (
    FEATURE_DECAY_TIME,
    SCHEDULE_UNIFORMS,
    ScheduleGrid,
    ScheduleParams,
    annealing_area_at_grid,
    relative_lr,
    schedule_grid,
    schedules_from_uniform,
)

MAX_REJECTION_ROUNDS = 200


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
    horizon_known: torch.Tensor  # (B,) bool: whether the user reveals the horizon (always with the schedule)
    direction: torch.Tensor  # (B,) +1 higher is better, -1 lower is better
    lower: torch.Tensor  # (B,)
    upper: torch.Tensor  # (B,)
    source: torch.Tensor  # (B,) index into SOURCES

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device) -> CurveBatch:
        return CurveBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def rows(self, start: int, stop: int) -> CurveBatch:
        """Curves ``start:stop`` (views, no copy)."""
        return CurveBatch(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})


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
    CPU, Triton on CUDA): ~15 s of compilation once per process (and a few seconds
    more for each new number of points), then ~3x the throughput on batches of
    thousands of curves and ~4x at a hundred; the random draws are the same,
    values equal up to float rounding.

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
    counts = torch.bincount(source, minlength=len(SOURCES)).tolist()
    rounds, accepted, offset = [], [], 0
    for name, count in zip(SOURCES, counts):
        if count:
            candidates, rows = _rejection(functools.partial(_DRAWS[name], g, n, config, fuse), count)
            rounds += candidates
            accepted.append(rows + offset)
            offset += sum(len(c["horizon"]) for c in candidates)
    # Each source's accepted rows form one block; row i of the batch takes the next
    # unused row of the block of source[i]. (index_select: 3x faster than indexing.)
    take = torch.cat(accepted)[torch.argsort(torch.argsort(source, stable=True))]
    rows = {k: torch.cat([c[k] for c in rounds]).index_select(0, take) for k in rounds[0]}
    return _present(g, rows, source, config, fuse)


def _eager(fn: Callable) -> Callable:
    return fn


@functools.cache
def _compile(fn: Callable) -> Callable:
    compiled = torch.compile(fn, dynamic=None)

    def run(*args):
        # Candidate batches come in every size: the batch axis is dynamic from the
        # first call, the rest (points, columns of uniforms) stays static, which
        # compiles to much faster loops than all-dynamic shapes.
        for a in args:
            if isinstance(a, torch.Tensor) and a.ndim:
                torch._dynamo.maybe_mark_dynamic(a, 0)
        return compiled(*args)

    return run


def _uniforms(g: torch.Generator, k: int, width: int) -> torch.Tensor:
    return torch.rand(k, width, generator=g, device=g.device)


def _columns(u: torch.Tensor, widths: dict[str, int]) -> dict[str, torch.Tensor]:
    """Uniforms ``u`` ``(k, Σ widths)`` as named column groups ``(k, width)``, in the order of ``widths``."""
    return dict(zip(widths, u.split(tuple(widths.values()), 1)))


# --------------------------------------------------------------------------- logging times

TIMES_UNIFORMS = 5  # columns of ``u`` that the logging times read
_IRREGULAR = 2  # ... of which this one says whether the gaps are irregular


def _irregular_gaps(g: torch.Generator, times_u: torch.Tensor, n: int, cfg: LoggingConfig) -> torch.Tensor:
    """U(0, 1) gaps ``(k, n - 1)`` for rows logged irregularly, zeros for the regular ones
    (they ignore their gaps, so only irregular rows draw them)."""
    gaps = torch.zeros(len(times_u), n - 1, device=g.device)
    rows = (times_u[:, _IRREGULAR] < cfg.p_irregular).nonzero().squeeze(1)
    gaps[rows] = _uniforms(g, len(rows), n - 1)
    return gaps


def _first_time(times_u: torch.Tensor, n: int, cfg: LoggingConfig, p_zero: float = 0.0) -> torch.Tensor:
    """Normalized time ``(k, 1)`` of the first logged point: step 0 (``p_zero``, not for
    log-spaced logging), the first step, or late, as after a warmup."""
    late = cfg.late_first[0] + (cfg.late_first[1] - cfg.late_first[0]) * times_u[:, 1:2]
    first = torch.where(times_u[:, :1] < cfg.p_first_step, 1.0 / n, late)
    first = torch.where(_log_spaced(times_u, cfg), LogUniform(*cfg.log_spaced_first).from_uniform(times_u[:, 1:2]), first)
    return torch.where((times_u[:, :1] < p_zero) & ~_log_spaced(times_u, cfg), 0.0, first)


def _log_spaced(times_u: torch.Tensor, cfg: LoggingConfig) -> torch.Tensor:
    return times_u[:, 4:5] < cfg.p_log_spaced


def logging_times(times_u: torch.Tensor, gaps: torch.Tensor, cfg: LoggingConfig, p_zero: float = 0.0) -> torch.Tensor:
    """Normalized times ``(k, n)`` of logged points, strictly increasing, ending at 1.

    From uniforms ``times_u`` ``(k, TIMES_UNIFORMS)`` and :func:`_irregular_gaps`: gaps
    anywhere from regular to exponential; some log-spaced; a share ``p_zero`` from step 0.
    """
    n = gaps.shape[1] + 1
    first = _first_time(times_u, n, cfg, p_zero)
    irregular_u = times_u[:, _IRREGULAR : _IRREGULAR + 1]
    irregular = torch.where(irregular_u < cfg.p_irregular, cfg.max_irregular * times_u[:, 3:4], 0.0)
    log_spaced = _log_spaced(times_u, cfg)
    exp_gaps = -torch.log1p(-gaps)
    steps = (1.0 - irregular) + irregular * exp_gaps
    frac = torch.cumsum(steps, 1) / steps.sum(1, keepdim=True)
    u = torch.cat([first, first + (1.0 - first) * frac[:, :-1]], 1)
    ramp = torch.arange(n - 1, device=u.device) / (n - 1)  # the last point is added below
    u = torch.where(log_spaced, positive_pow(first, 1.0 - ramp, torch), u)
    return torch.cat([u, torch.ones_like(first)], 1)


# --------------------------------------------------------------------------- sources


def _rejection(draw: Callable[[int], tuple[dict, torch.Tensor]], b: int) -> tuple[list[dict], torch.Tensor]:
    """Rounds of candidates from ``draw(k)`` and the indices of ``b`` accepted rows in
    their concatenation.

    ``draw(k)`` gives up to ``k`` candidate rows (a cheap screen may drop some early)
    and whether each is accepted. Accepted rows are kept; each round draws only for
    the rows still missing, at the observed acceptance rate, so a prior that
    accepts 1 in 5 needs a few rounds, not dozens. Rows are not copied out here:
    the batch gathers all sources' rows at once. At least 8 candidates per
    round: tiny draws would compile their own graphs.
    """
    rounds, accepted, have, tried, offset, k = [], [], 0, 0, 0, max(b, 8)
    for _ in range(MAX_REJECTION_ROUNDS):
        rows, ok = draw(k)
        good = ok.nonzero().squeeze(1)[: b - have]
        rounds.append(rows)
        accepted.append(good + offset)
        offset, tried, have = offset + len(ok), tried + k, have + len(good)
        if have == b:
            return rounds, torch.cat(accepted)
        k = int((b - have) / max(have / tried, 0.01) * 1.2) + 8
    raise RuntimeError(f"prior rejection did not converge: {b - have} rows still rejected after {MAX_REJECTION_ROUNDS} rounds")


def _family_params(u: torch.Tensor, names: tuple[str, ...]) -> list[dict]:
    """Each family's parameters ``(k, 1)`` from uniforms ``u`` ``(k, Σ parameters)``."""
    priors = [FAMILIES[name].priors for name in names]
    return [params_from_uniform(p, part) for p, part in zip(priors, u.split([len(p) for p in priors], 1))]


def _n_params(names: tuple[str, ...]) -> int:
    return sum(len(FAMILIES[name].priors) for name in names)


def _mixture(t: torch.Tensor, w: torch.Tensor, params_u: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    return family_mixture(t, w, _family_params(params_u, names), names, torch)


def _screened(g, k: int, width: int, ends_ok: Callable, *args) -> torch.Tensor:
    """Uniforms of the candidates among ``k`` whose curve ends pass ``ends_ok(u, *args)``:
    the ends cost two points, so most rejected rows are never evaluated in full."""
    u = _uniforms(g, k, width)
    return u[ends_ok(u, *args).nonzero().squeeze(1)]


# Each source is ``draw(g, n, cfg, fuse, k) -> (candidates, accepted)``: up to k
# candidate curves, every per-curve value taken from one row of uniforms, all with
# the same fields so that the batch gathers every source's rows at once.


def _constant_schedule(t: torch.Tensor) -> dict:
    return {
        "lr": torch.ones_like(t),
        "anneal_area": torch.zeros_like(t),
        "known_schedule": torch.zeros_like(t[:, 0], dtype=torch.bool),
    }


# families: a weighted mix of 1-3 Domhan et al. families at a random time scale,
# shown as an accuracy (metric 0, half), an error rate (1) or an unbounded score (2).
_NAMES = tuple(FAMILIES)
_FAMILY_COLUMNS = {
    "times": TIMES_UNIFORMS, "horizon": 1, "scale": 1, "metric": 1, "warp": WARP_UNIFORMS, "events": EVENTS_UNIFORMS,
    "pick": 1, "include": len(_NAMES), "weight": len(_NAMES), "params": _n_params(_NAMES),
}  # fmt: skip


def _families(g, n, cfg: PriorConfig, fuse: Callable, k: int) -> tuple[dict, torch.Tensor]:
    u = _screened(g, k, sum(_FAMILY_COLUMNS.values()), fuse(_families_ends_ok), n, cfg)
    gaps = _irregular_gaps(g, u[:, :TIMES_UNIFORMS], n, cfg.logging)
    return fuse(_family_curves)(u, gaps, cfg)


def _metric(u: torch.Tensor, codes: tuple[int, ...], shares: tuple[float, ...]) -> torch.Tensor:
    """A metric code ``(k,)`` per row, ``codes[i]`` with probability ``shares[i]``, from uniforms ``u`` ``(k,)``."""
    edges = torch.tensor(shares, device=u.device).cumsum(0) / sum(shares)
    pick = (u[:, None] >= edges[None, :-1]).sum(1)
    return torch.tensor(codes, device=u.device)[pick]


def _family_setup(cols: dict[str, torch.Tensor], cfg: PriorConfig) -> tuple[torch.Tensor, Warp, torch.Tensor]:
    """Epochs per run ``(k, 1)``, time warp and family weights ``(k, F)``: what the ends screen and the full curve
    of a family-based source (families, progress) share."""
    scale = cfg.time_scale_prior().from_uniform(cols["scale"])
    w = family_weights(cols["pick"], cols["include"], cols["weight"], cfg.family_inclusion, torch)
    return scale, warp_from_uniform(cols["warp"], cfg.noise), w


def _families_ends_ok(u, n: int, cfg: PriorConfig) -> torch.Tensor:
    cols = _columns(u, _FAMILY_COLUMNS)
    scale, warp, w = _family_setup(cols, cfg)
    ends = torch.cat([_first_time(cols["times"], n, cfg.logging), torch.ones_like(scale)], 1)
    return is_family_curve(_mixture(_epochs(ends, warp, scale), w, cols["params"], _NAMES), torch)


def _family_curves(u, gaps, cfg: PriorConfig):
    cols = _columns(u, _FAMILY_COLUMNS)
    scale, warp, w = _family_setup(cols, cfg)
    horizon = LogUniform(*cfg.family_horizon).from_uniform(cols["horizon"])
    metric = _metric(cols["metric"][:, 0], (0, 1, 2), cfg.family_metrics)
    events = events_from_uniform(cols["events"], cfg.noise, False)
    t = logging_times(cols["times"], gaps, cfg.logging)
    law = creep_path(t, _mixture(_epochs(t, warp, scale), w, cols["params"], _NAMES), warp)
    y = add_events(t, law, -1.0, events)
    no_sigma = torch.full_like(horizon[:, 0], math.nan)
    rows = {"x": t * horizon, "y_clean": y, "cum_lr": t, "horizon": horizon[:, 0], "metric": metric, "sigma": no_sigma,
            "log_spaced": _log_spaced(cols["times"], cfg.logging)[:, 0], "noise_gain": noise_gain(t, warp)}  # fmt: skip
    return {**rows, **_constant_schedule(t)}, is_family_curve(law, torch) & _within(y, 0.0, 1.0)


def _within(y: torch.Tensor, lower, upper) -> torch.Tensor:
    """``(k,)``: rows ``(k, m)`` inside ``[lower, upper]`` (per row ``(k, 1)`` or one number) everywhere.

    The prior checks the improving law before its events and only this after them: overfitting may end a run worse
    than it started (real small-network losses do, an eighth of them), but an accuracy never leaves [0, 1].
    """
    return torch.all((y >= lower) & (y <= upper), dim=-1)  # false for NaN


def _epochs(u: torch.Tensor, warp: Warp, scale: torch.Tensor) -> torch.Tensor:
    return (warp_time(u, warp) * scale).clamp(min=1e-3)


# lcpfn: exactly LC-PFN's prior, U(0, 1) weights on its three families at epochs
# 1..100, its noise log σ ~ N(-4, 1), shown as an accuracy whose noise may leave [0, 1].
_LCPFN_COLUMNS = (1, len(LCPFN_FAMILIES), _n_params(LCPFN_FAMILIES))


def _lcpfn(g, n, cfg: PriorConfig, fuse: Callable, k: int) -> tuple[dict, torch.Tensor]:
    u = _screened(g, k, sum(_LCPFN_COLUMNS), fuse(_lcpfn_ends_ok))
    return fuse(_lcpfn_curves)(u, torch.linspace(1.0, 100.0, n, device=g.device), cfg)


def _lcpfn_ends_ok(u) -> torch.Tensor:
    _, w, params_u = u.split(_LCPFN_COLUMNS, 1)
    ends = torch.tensor([[1.0, 100.0]], device=u.device)
    return is_family_curve(_mixture(ends.expand(len(u), 2), w, params_u, LCPFN_FAMILIES), torch)


def _lcpfn_curves(u, epochs, cfg: PriorConfig):
    sigma_u, w, params_u = u.split(_LCPFN_COLUMNS, 1)
    t = epochs.expand(len(u), -1)
    y = _mixture(t, w, params_u, LCPFN_FAMILIES)
    rows = {
        "x": 1.0 * t,
        "y_clean": y,
        "cum_lr": t / 100.0,
        "horizon": torch.full_like(sigma_u[:, 0], 100.0),
        "metric": torch.full_like(sigma_u[:, 0], 3, dtype=torch.long),
        "sigma": LogNormal(*cfg.lcpfn_log_sigma).from_uniform(sigma_u[:, 0]),
        "log_spaced": torch.zeros_like(sigma_u[:, 0], dtype=torch.bool),
        "noise_gain": torch.ones_like(t),
    }
    return {**rows, **_constant_schedule(t)}, is_family_curve(y, torch)


# multi_power, lr_annealing, intrinsic_time: loss (metric 4) under a random schedule
# that the curve reveals (known_schedule) or not.


def _schedule_columns(name: str) -> tuple[int, ...]:
    return (TIMES_UNIFORMS, 1, 1, SCHEDULE_UNIFORMS, len(SCHEDULE_LAWS[name].priors), WARP_UNIFORMS, EVENTS_UNIFORMS, 3)


def _schedule_source(name: str, candidates: Callable):
    def draw(g, n, cfg: PriorConfig, fuse: Callable, k: int) -> tuple[dict, torch.Tensor]:
        u = _uniforms(g, k, sum(_schedule_columns(name)))
        gaps = _irregular_gaps(g, u[:, :TIMES_UNIFORMS], n, cfg.logging)
        return fuse(candidates)(u, gaps, cfg)

    return draw


def _schedule_candidates(name: str, u, gaps, cfg: PriorConfig):
    law = SCHEDULE_LAWS[name]
    times_u, horizon_u, known_u, schedule_u, params_u, warp_u, events_u, transient_u = u.split(_schedule_columns(name), 1)
    t = logging_times(times_u, gaps, cfg.logging, cfg.p_log_from_zero)
    horizon = LogUniform(*cfg.law_horizon).from_uniform(horizon_u)
    drawn = params_from_uniform(schedule_law_priors(name, cfg.laws), params_u)
    params = law.law_params(at_horizon(name, drawn, horizon, cfg.laws, torch), torch)
    sched = schedules_from_uniform(schedule_u, cfg.schedule)
    warp, events = warp_from_uniform(warp_u, cfg.noise, law=True), events_from_uniform(events_u, cfg.noise, True, law=True)
    transient = transient_from_uniform(transient_u, params["A"], cfg)
    y, clean, lr, cum_lr, anneal_area = _schedule_curves(law.fn, cfg.grid_size, t, sched, params, warp, events, transient)
    rows = {
        "x": t * horizon,
        "y_clean": y,
        "cum_lr": cum_lr,
        "horizon": horizon[:, 0],
        "metric": torch.full_like(known_u[:, 0], 4, dtype=torch.long),
        "sigma": torch.full_like(known_u[:, 0], math.nan),
        "log_spaced": _log_spaced(times_u, cfg.logging)[:, 0],
        "lr": lr,
        "anneal_area": anneal_area,
        "known_schedule": known_u[:, 0] < cfg.p_known_schedule,
        "noise_gain": noise_gain(t, warp),
    }
    return rows, is_loss_curve(clean, torch) & _within(y, 0.0, math.inf)


# One entry point per law, so that each compiles into a cache of its own: torch.compile
# keeps at most 8 graphs per function, and three laws times point counts overflow one.
def _multi_power(u, gaps, cfg: PriorConfig):
    return _schedule_candidates("multi_power", u, gaps, cfg)


def _lr_annealing(u, gaps, cfg: PriorConfig):
    return _schedule_candidates("lr_annealing", u, gaps, cfg)


def _intrinsic_time(u, gaps, cfg: PriorConfig):
    return _schedule_candidates("intrinsic_time", u, gaps, cfg)


def _grid(sched: ScheduleParams, cells: int, k: int, device) -> ScheduleGrid:
    gu = torch.linspace(0.0, 1.0, cells + 1, device=device)[None, :].expand(k, -1)
    return schedule_grid(gu, relative_lr(sched, gu, xp=torch), xp=torch)


def _schedule_features(sched: ScheduleParams, grid: ScheduleGrid, u: torch.Tensor, cells: int) -> tuple[torch.Tensor, ...]:
    """What the user's schedule shows at logged times ``u``: lr / peak, intrinsic time, annealing area."""
    at_u = _UniformLerp(u, cells)
    anneal_area = at_u(annealing_area_at_grid(grid, FEATURE_DECAY_TIME, xp=torch))
    return relative_lr(sched, u, xp=torch), at_u(grid.s1), anneal_area


def transient_from_uniform(u: torch.Tensor, amplitude: torch.Tensor, cfg: PriorConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Size ``(k, 1)`` (zero on curves without one) and time constant of the early transient, from uniforms ``(k, 3)``."""
    has, size_u, time_u = u.split(1, 1)
    size = torch.where(has < cfg.p_transient, LogUniform(*cfg.transient_size).from_uniform(size_u) * amplitude, 0.0)
    return size, LogUniform(*cfg.transient_time).from_uniform(time_u)


def _schedule_curves(law: Callable, cells: int, u, sched: ScheduleParams, params: dict, warp: Warp, events: Events,
                     transient: tuple[torch.Tensor, torch.Tensor]):  # fmt: skip
    """Loss curves of ``law`` under ``sched`` at logged times ``u`` ``(k, n)`` with their events, the same before them, and
    the lr, intrinsic time and annealing area there; ``transient`` is (size, time) of :func:`~priors.laws.early_transient`."""
    grid = _grid(sched, cells, u.shape[0], u.device)
    clean = law_curves(law, grid, warp_time(u, warp), params, transient)
    return (add_events(u, clean, 1.0, events), clean, *_schedule_features(sched, grid, u, cells))


def law_curves(law: Callable, grid: ScheduleGrid, u: torch.Tensor, params: dict, transient: tuple[torch.Tensor, torch.Tensor]):
    """Clean losses ``(k, n)`` of a schedule-aware ``law`` at times ``u`` ``(k, n)`` under the schedules of ``grid``, a
    uniform grid of ``G`` cells over the run (``linspace(0, 1, G + 1)``), with the early ``transient`` (size, time).

    Pairwise sums cost grid², so the law runs on the grid only; what it adds to the steep power term is smooth enough to
    interpolate, and the power term itself is evaluated exactly at ``u``.
    """
    power = {p: params[p] for p in POWER_PARAMS}
    added = law_at_grid(law, grid, params) - power_term(grid.s1, xp=torch, **power)
    at_u = _UniformLerp(u, grid.u.shape[-1] - 1)
    s1 = at_u(grid.s1)
    return power_term(s1, xp=torch, **power) + at_u(added) + early_transient(s1, *transient, xp=torch)


# progress: the families under a random schedule, as small networks train. Progress
# runs in intrinsic time (a lower lr slows it) and each lr drop adds a jump, realized
# as the multi-power law realizes its loss drops, of a random share of the curve's own
# gain (large on a curve that plateaued at a high lr). Shown as an accuracy (metric 0),
# error rate (1), score (2) or loss (5).
_PROGRESS_COLUMNS = {
    "times": TIMES_UNIFORMS, "horizon": 1, "known": 1, "schedule": SCHEDULE_UNIFORMS, "scale": 1, "metric": 1,
    "warp": WARP_UNIFORMS, "events": EVENTS_UNIFORMS, "jump": 1, "drop": len(progress_drop_priors(LawConfig())),
    "pick": 1, "include": len(_NAMES), "weight": len(_NAMES), "params": _n_params(_NAMES), "clock": 1,
    "loss_power": 1,
}  # fmt: skip


def _progress(g, n, cfg: PriorConfig, fuse: Callable, k: int) -> tuple[dict, torch.Tensor]:
    u = _screened(g, k, sum(_PROGRESS_COLUMNS.values()), fuse(_progress_ends_ok), n, cfg)
    gaps = _irregular_gaps(g, u[:, :TIMES_UNIFORMS], n, cfg.logging)
    return fuse(_progress_curves)(u, gaps, cfg)


def _progress_schedule(cols: dict[str, torch.Tensor], cfg: PriorConfig) -> tuple[ScheduleParams, ScheduleGrid, torch.Tensor]:
    """The row's schedule, its grid and the clock ``(k, G + 1)`` the families run on."""
    sched = schedules_from_uniform(cols["schedule"], cfg.schedule)
    grid = _grid(sched, cfg.grid_size, len(cols["clock"]), cols["clock"].device)
    return sched, grid, progress_clock(grid, Uniform(*cfg.progress_lr_power).from_uniform(cols["clock"]), torch)


def _on_warped_clock(at_t: _UniformLerp, clock: torch.Tensor, warp: Warp) -> torch.Tensor:
    """The clock ``(k, G + 1)`` at the times ``at_t`` interpolates to, warped as a fraction of its own run: a slow start
    creeps and a plateau stalls for a share of the clock, not of the steps, as escaping a plateau takes the weights'
    movement. Under a decaying lr both end sooner in steps, and a slow starter does not leave most of its fall to the
    run's low-lr end."""
    end = clock[:, -1:]
    return warp_time(at_t(clock) / end, warp) * end


def _progress_ends_ok(u, n: int, cfg: PriorConfig) -> torch.Tensor:
    """The families' mixture at the first and last logged points: rows it rejects there are never evaluated in full
    (four in ten)."""
    cols = _columns(u, _PROGRESS_COLUMNS)
    scale, warp, w = _family_setup(cols, cfg)
    _, _, clock = _progress_schedule(cols, cfg)
    ends = torch.cat([_first_time(cols["times"], n, cfg.logging), torch.ones_like(scale)], 1)
    epochs = (_on_warped_clock(_UniformLerp(ends, cfg.grid_size), clock, warp) * scale).clamp(min=1e-3)
    return is_family_curve(_mixture(epochs, w, cols["params"], _NAMES), torch)


def _progress_curves(u, gaps, cfg: PriorConfig):
    cols = _columns(u, _PROGRESS_COLUMNS)
    scale, warp, w = _family_setup(cols, cfg)
    sched, grid, clock = _progress_schedule(cols, cfg)
    cells = cfg.grid_size
    t = logging_times(cols["times"], gaps, cfg.logging)
    horizon = LogUniform(*cfg.progress_horizon).from_uniform(cols["horizon"])
    metric = _metric(cols["metric"][:, 0], (0, 1, 2, 5), cfg.progress_metrics)
    loss = (metric == 5)[:, None]
    events = events_from_uniform(cols["events"], cfg.noise, loss)
    at_t = _UniformLerp(t, cells)
    # The families in LC-PFN's epoch units at the logged times on that clock, and at the run's end (the jump's unit).
    epochs = (torch.cat([_on_warped_clock(at_t, clock, warp), clock[:, -1:]], 1) * scale).clamp(min=1e-3)
    mix = _mixture(epochs, w, cols["params"], _NAMES)
    clock_share = at_t(clock) / clock[:, -1:]  # the slow start's creep and quiet last a share of the clock
    y_mix = creep_path(clock_share, mix[:, :-1], warp)
    end = mix[:, -1:]
    drop_params = params_from_uniform(progress_drop_priors(cfg.laws), cols["drop"])
    realized = law_at_grid(multi_power, grid, {"L0": 0.0, "A": 0.0, "alpha": 1.0, "s0": 1.0, "B": -1.0, **drop_params})
    share = progress_jump(cols["jump"], horizon, cfg.lr_drop_jump, cfg.lr_drop_jump_steps, cfg.lr_drop_jump_power, torch)
    jump = share * (end - y_mix[:, :1])
    # Overfitting, spikes and divergence need the weights to move: they run on intrinsic time (normalized to end at 1),
    # as jumps at lr drops happen at the drop's step. Under a full decay real small networks' losses barely move after
    # 40 % of the run, in either direction (priors.checks.late_move; on the step, the prior's moved as under a constant lr).
    intrinsic = at_t(grid.s1) / grid.s1[:, -1:]
    y = add_events(intrinsic, y_mix + jump * at_t(realized), -1.0, events)
    # A loss is 1 - y; below 0 (y > 1) its power is NaN, and the row is rejected as it would be without it.
    error_to_power = (1.0 - y) ** LogUniform(*cfg.progress_loss_power).from_uniform(cols["loss_power"])
    y = torch.where(loss, 1.0 - error_to_power, y)
    lr, cum_lr, anneal_area = _schedule_features(sched, grid, t, cells)
    rows = {
        "x": t * horizon,
        "y_clean": y,
        "cum_lr": cum_lr,
        "horizon": horizon[:, 0],
        "metric": metric,
        "sigma": torch.full_like(horizon[:, 0], math.nan),
        "log_spaced": _log_spaced(cols["times"], cfg.logging)[:, 0],
        "lr": lr,
        "anneal_area": anneal_area,
        "known_schedule": cols["known"][:, 0] < cfg.p_known_schedule,
        "noise_gain": noise_gain(clock_share, warp),
    }
    # The families are kept as the families source keeps them (before the jumps, so that the ends screen them), the
    # curve shown within its metric's bounds: a loss is 1 - y here, it may rise past 1 (y below 0) as it overfits,
    # never below 0.
    return rows, is_family_curve(y_mix, torch) & _within(y, torch.where(loss, -math.inf, 0.0), 1.0)


_DRAWS = {
    "families": _families,
    "lcpfn": _lcpfn,
    "multi_power": _schedule_source("multi_power", _multi_power),
    "lr_annealing": _schedule_source("lr_annealing", _lr_annealing),
    "intrinsic_time": _schedule_source("intrinsic_time", _intrinsic_time),
    "progress": _progress,
}


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

# metric codes: 0 accuracy, 1 error rate, 2 unbounded score, 3 LC-PFN accuracy, 4 loss,
# 5 loss from an accuracy-like curve (1 - y)
_DIRECTION = (1.0, -1.0, 1.0, 1.0, -1.0, -1.0)
_LOWER = (0.0, 0.0, -math.inf, -math.inf, 0.0, 0.0)
_UPPER = (1.0, 1.0, math.inf, math.inf, math.inf, math.inf)
_FLIPPED = (False, True, False, False, False, True)
_QUANTIZED = (True, True, False, False, False, False)  # measured on a finite validation set


def _present(g, d: dict, source: torch.Tensor, cfg: PriorConfig, fuse: Callable) -> CurveBatch:
    """Turn clean curves into the metric users log: flip, bound, noise, rescale."""
    dev = source.device
    b, n = d["y_clean"].shape
    metric = d["metric"]

    def table(values):
        return torch.tensor(values, device=dev)[metric]

    lower, upper = table(_LOWER), table(_UPPER)
    noise = draw_noise(g, b, n, cfg.noise)
    # Sample-wise curves (log-spaced: each point trains on a subset of its own) are noisier.
    shift = torch.where(d["log_spaced"][:, None], cfg.noise.log_spaced_shift, 0.0)
    noise = dataclasses.replace(noise, log_sigma=noise.log_sigma + shift, z=noise.z * d["noise_gain"])
    bounds_u, affine_u, scale_u, shift_u, horizon_u, quantized_u, n_val_u = _uniforms(g, b, 7).unbind(1)
    known = (torch.isfinite(lower) | torch.isfinite(upper)) & (bounds_u < cfg.p_bounds_known)
    affine = affine_u < cfg.p_affine
    scale = torch.where(affine, LogUniform(*cfg.affine_scale).from_uniform(scale_u), 1.0)
    shift = torch.where(affine, scale * Normal(0.0, cfg.affine_shift_sd).from_uniform(shift_u), 0.0)
    quantized = table(_QUANTIZED) & (quantized_u < cfg.p_quantized)
    n_val = torch.where(quantized, LogUniform(*cfg.quantized_n).from_uniform(n_val_u).round(), math.nan)

    y, y_clean = fuse(_observed)(
        d["y_clean"], d["x"], d["horizon"], table(_FLIPPED), noise, d["sigma"], lower, upper, n_val, scale, shift
    )
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
        horizon_known=d["known_schedule"] | (horizon_u < cfg.p_horizon_known),
        direction=table(_DIRECTION),
        lower=lower * scale + shift,
        upper=upper * scale + shift,
        source=source,
    )


def _observed(y_clean, x, horizon, flip, noise: Noise, lcpfn_sigma, lower, upper, n_val, scale, shift):
    """Observed and clean values in the curve's units: ``(b, n)`` each."""
    y = torch.where(flip[:, None], 1.0 - y_clean, y_clean)
    noisy = add_noise(x / horizon[:, None], y, noise)
    # LC-PFN's noise is absolute (its curves live in [0, 1]), ours relative to the range.
    sigma = lcpfn_sigma[:, None]
    noisy = torch.where(torch.isnan(sigma), noisy, y + torch.nan_to_num(sigma) * noise.z)
    # Real accuracies, error rates and losses never leave their range: hard limits.
    noisy = torch.minimum(torch.maximum(noisy, lower[:, None]), upper[:, None])
    # An accuracy on n_val examples is a multiple of 1 / n_val.
    n = n_val[:, None]
    noisy = torch.where(torch.isnan(n), noisy, torch.round(noisy * torch.nan_to_num(n, nan=1.0)) / torch.nan_to_num(n, nan=1.0))
    return noisy * scale[:, None] + shift[:, None], y * scale[:, None] + shift[:, None]
