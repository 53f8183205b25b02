"""What if the schedule changed now? Candidate schedules for the rest of a run, compared before they run.

The PFN conditions on the planned schedule, so one forward pass per candidate gives
where the run would end under it. :func:`compare_schedules` ranks named candidates;
:func:`plan_cooldown` scans WSD cooldowns over start steps x lengths. Both are also
:meth:`lcpfn.Model.compare_schedules` and :meth:`lcpfn.Model.plan_cooldown`.

Every candidate must agree with the run so far: its learning rate at the observed
steps (and between them) is the one the run had, else :class:`InvalidScheduleError`
names the first step where two candidates differ.

The probability that a candidate ends best uses the common-quantile coupling: the
candidates are the same run (same data, same initialization), so its luck is shared,
and at each quantile level ``q`` of the predictive distributions the candidate whose
``q``-quantile is best wins. ``P(best)`` is the share of ``q`` in (0, 1) it wins.
Treating the candidates as independent instead would spread the probability over
candidates that can only differ by their schedule.

>>> import lcpfn
>>> from lcpfn.schedules import constant, wsd
>>> x = [500, 1000, 1500, 2000, 2500, 3000]
>>> loss = [4.1, 3.72, 3.55, 3.46, 3.40, 3.36]
>>> plans = {"constant": constant(total=12000, peak=3e-4), "wsd": wsd(total=12000, peak=3e-4, cooldown=0.2)}
>>> result = lcpfn.load().compare_schedules(x, loss, plans, bounds=(0, None))
>>> sorted(result.prob_best) == ["constant", "wsd"] and abs(sum(result.prob_best.values()) - 1) < 1e-9
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lcpfn.errors import InvalidCurveError
from lcpfn.inputs import check_curve, check_observed, schedule_on_grid
from lcpfn.prediction import Prediction
from priors.schedules import SHAPES, InvalidScheduleError, from_name

# Quantile levels of the common-quantile coupling.
COUPLING_LEVELS = np.linspace(0.0005, 0.9995, 1000)
# Relative difference of learning rates still taken as the same (float rounding of stored schedules).
SAME_LR_RTOL = 1e-4


@dataclass(frozen=True)
class Comparison:
    """Per candidate (in the order given): the prediction at its query step, and ``P(it ends best)``."""

    predictions: dict[str, Prediction]
    prob_best: dict[str, float]

    @property
    def best(self) -> str:
        """The candidate most likely to end best."""
        return max(self.prob_best, key=self.prob_best.get)

    def to_dict(self, levels: Sequence[float] = (0.05, 0.5, 0.95)) -> dict:
        return {
            "candidates": {name: p.to_dict(levels) for name, p in self.predictions.items()},
            "prob_best": self.prob_best,
            "best": self.best,
        }


@dataclass(frozen=True)
class CooldownPlan:
    """Predicted final values over cooldown ``starts`` (rows) x ``lengths`` (columns), in the user's units."""

    starts: np.ndarray  # (S,) steps where the cooldown begins
    lengths: np.ndarray  # (L,) steps it lasts
    median: np.ndarray  # (S, L); NaN where start + length passes the total (no such plan)
    low: np.ndarray  # (S, L) 5 % quantile
    high: np.ndarray  # (S, L) 95 % quantile
    best: tuple[float, float]  # (start, length) with the best median
    direction: str

    def to_dict(self) -> dict:
        def rows(a):
            return [[None if np.isnan(v) else float(v) for v in row] for row in a]

        return {
            "starts": self.starts.tolist(),
            "lengths": self.lengths.tolist(),
            "median": rows(self.median),
            "low": rows(self.low),
            "high": rows(self.high),
            "best": {"start": self.best[0], "length": self.best[1]},
        }


def compare_schedules(
    model,
    x: Sequence[float],
    y: Sequence[float],
    schedules: Mapping[str, object],
    *,
    x_query: float | None = None,
    horizon: float | None = None,
    direction: str = "min",
    bounds: tuple[float | None, float | None] | None = None,
) -> Comparison:
    """Where the run ends under each of ``schedules`` (name -> schedule), and which ends best.

    Each candidate is asked at ``x_query`` if given (one step every candidate reaches),
    else at its own end (``horizon``, else where the schedule ends).
    """
    if not isinstance(schedules, Mapping) or len(schedules) < 1:
        raise InvalidCurveError(f"schedules must be a non-empty mapping of name -> schedule, got {type(schedules).__name__}")
    check_observed(x, y, direction=direction, bounds=bounds)  # the run's own faults, named without a schedule's
    curves, lr_at = {}, {}
    for name, s in schedules.items():
        if s is None:
            raise InvalidCurveError(f"schedules[{name!r}] is None: every candidate needs a schedule")
        try:
            curves[name] = check_curve(x, y, x_query, horizon=horizon, direction=direction, bounds=bounds, schedule=s)
            lr_at[name] = schedule_on_grid(curves[name])[0]  # checks its lr over the run (negative, all zero) under its name
        except InvalidCurveError as e:
            raise InvalidCurveError(f"schedules[{name!r}]: {e}") from None
    _check_same_prefix(curves, lr_at)
    preds = dict(zip(curves, model.predict_many([_arguments(c) for c in curves.values()])))
    return Comparison(preds, _prob_best(preds, direction))


def plan_cooldown(
    model,
    x: Sequence[float],
    y: Sequence[float],
    *,
    total: float,
    peak: float,
    starts: Sequence[float],
    lengths: Sequence[float],
    shape: str = "linear",
    final_ratio: float = 0.0,
    warmup: float = 0.0,
    direction: str = "min",
    bounds: tuple[float | None, float | None] | None = None,
) -> CooldownPlan:
    """Predicted final value (at ``total``) of a constant-lr run that cools down from ``start`` for ``length`` steps
    (then stays at ``final_ratio * peak``), for every start x length; the run so far had a constant ``peak``."""
    x_a, _, _, _ = check_observed(x, y, direction=direction, bounds=bounds)
    starts_a = np.asarray(starts, dtype=np.float64).reshape(-1)
    lengths_a = np.asarray(lengths, dtype=np.float64).reshape(-1)
    if shape not in SHAPES:
        raise InvalidScheduleError(f"schedule field 'shape' must be one of {SHAPES}, got {shape!r}")
    if len(starts_a) == 0 or len(lengths_a) == 0:
        raise InvalidCurveError("starts and lengths must each hold at least one step")
    if not _finite_or_nan(total) > 0:
        raise InvalidScheduleError(f"total must be a finite number of steps > 0, got {total!r}")
    last = float(x_a[-1])
    for i, s in enumerate(starts_a):
        if not np.isfinite(s) or s < last:
            raise InvalidScheduleError(
                f"starts[{i}]={s:g} is before the last observed step {last:g}: the run had a constant lr there"
            )
    for i, length in enumerate(lengths_a):
        if not (np.isfinite(length) and length > 0):
            raise InvalidScheduleError(f"lengths[{i}]={length:g} must be a number of steps > 0")
    first = int(np.argmin(starts_a))
    if not 0.0 <= _finite_or_nan(warmup) < starts_a[first]:
        raise InvalidScheduleError(
            f"warmup={warmup!r} must be a number of steps in [0, starts[{first}]={starts_a[first]:g}): it ends before a cooldown"
        )
    cells, plans = [], []
    for i, s in enumerate(starts_a):
        for j, length in enumerate(lengths_a):
            if s + length <= total:
                cells.append((i, j))
                plans.append(_cooldown(total, peak, s, length, shape, final_ratio, warmup))
    if not plans:
        raise InvalidScheduleError(f"no start + length fits in total={total:g}")
    curves = [check_curve(x, y, horizon=total, direction=direction, bounds=bounds, schedule=p) for p in plans]
    preds = model.predict_many([_arguments(c) for c in curves])
    median, low, high = (np.full((len(starts_a), len(lengths_a)), np.nan) for _ in range(3))
    for (i, j), p in zip(cells, preds):
        q = p.quantile([0.05, 0.5, 0.95])[:, 0]
        low[i, j], median[i, j], high[i, j] = q
    sign = -1.0 if direction == "min" else 1.0
    i, j = np.unravel_index(np.nanargmax(sign * median), median.shape)
    return CooldownPlan(starts_a, lengths_a, median, low, high, (float(starts_a[i]), float(lengths_a[j])), direction)


def _finite_or_nan(v) -> float:
    """``v`` as a finite float, NaN (which fails every comparison) where it is none."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def _cooldown(total: float, peak: float, start: float, length: float, shape: str, final_ratio: float, warmup: float):
    """A constant lr until ``start``, a cooldown of ``length`` steps, then ``final_ratio * peak`` to ``total``."""
    end = start + length
    cooled = from_name("wsd", total=end, peak=peak, cooldown=length / end, shape=shape, final_ratio=final_ratio, warmup=warmup)
    if end >= total:
        return cooled
    steps = np.unique(np.concatenate([np.linspace(0.0, start + length, 2049), [total]]))
    return steps, np.where(steps <= end, cooled(steps), final_ratio * peak)


def _arguments(curve) -> dict:
    bounds = (None if np.isinf(curve.lower) else curve.lower, None if np.isinf(curve.upper) else curve.upper)
    direction = "min" if curve.direction < 0 else "max"
    return dict(x=curve.x, y=curve.y, x_query=curve.x_query, horizon=curve.horizon, schedule=curve.schedule,
                direction=direction, bounds=bounds)  # fmt: skip


def _check_same_prefix(curves: dict, lr_at: dict) -> None:
    """Every candidate has the lr the run had up to its last observed step; ``lr_at``: name -> lr at any steps."""
    names = list(curves)
    first = curves[names[0]]
    last = float(first.x[-1])
    steps = np.unique(np.concatenate([np.linspace(0.0, last, 513), first.x]))
    lr = {name: np.asarray(lr_at[name](steps), dtype=np.float64) for name in names}
    for name in names[1:]:
        a, b = lr[names[0]], lr[name]
        differ = np.flatnonzero(~np.isclose(a, b, rtol=SAME_LR_RTOL, atol=0.0))
        if len(differ):
            k = differ[0]
            raise InvalidScheduleError(
                f"schedules {names[0]!r} and {name!r} differ at step {steps[k]:g} (lr {a[k]:g} vs {b[k]:g}), within the "
                f"observed part of the run (up to step {last:g}): the candidates must share the run so far"
            )


def _prob_best(preds: dict[str, Prediction], direction: str) -> dict[str, float]:
    sign = -1.0 if direction == "min" else 1.0
    values = sign * np.stack([p.quantile(COUPLING_LEVELS)[:, -1] for p in preds.values()])  # (C, levels)
    # Candidates tied at a level (all on a censored limit, an accuracy of 1) share its win.
    tied = values == values.max(axis=0)
    share = (tied / tied.sum(axis=0)).mean(axis=1)
    return {name: float(v) for name, v in zip(preds, share)}
