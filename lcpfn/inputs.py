"""What users pass to ``predict``: checked, then turned into arrays.

Every check raises :class:`~lcpfn.errors.InvalidCurveError` naming the field, the
position and the value. Nothing is silently altered: values are converted to
float64 but never clipped, sorted or dropped.

A schedule may be a :class:`priors.schedules.Schedule` (``wsd(total=24000,
peak=3e-4, cooldown=0.2)``), a ``(steps, lrs)`` pair of the planned schedule at
any resolution (piecewise-linear between them) or a callable ``step -> lr``. It
must cover every step up to the last query, since intrinsic time and annealing
area at a query depend on the whole path to it.

The **horizon** is the step the run is planned to end at. The model measures time
in units of it, so it never depends on which steps are asked about: it is the
``horizon`` argument, else the schedule's end (``Schedule.total``, the last of its
``steps``). Without either it is unknown, and time is measured in units of the
last observed step instead (the model was trained on curves shown both ways).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lcpfn.errors import InvalidCurveError
from priors.schedules import (
    FEATURE_DECAY_TIME,
    Schedule,
    annealing_area,
    interpolate,
    schedule_grid,
)

MAX_POINTS = 1_000_000  # observed points per curve (longer contexts are subsampled for the model)
MAX_QUERIES = 10_000  # query steps per curve
# Values and bounds beyond this are refused: spreads and predictions in the user's units
# must stay finite in float64 (a diverged run's 1e40 is fine; it is clipped in normalized units).
MAX_ABS_VALUE = 1e100
# Without a horizon, time is in units of the last observed step, and the model computes in float32: steps beyond this
# many of those units gave answers that jump (1e20) and then NaN (x = [5e-324], x_query = [1]; tests/serve/test_schema_fuzz.py).
MAX_QUERY_RATIO = 1e12
SCHEDULE_GRID = 1024  # cells the schedule's integrals are computed on

ScheduleLike = Schedule | tuple | Callable[[np.ndarray], Any] | None
DIRECTIONS = {"min": -1.0, "max": 1.0}


@dataclass(frozen=True)
class Curve:
    """A checked curve: float64 arrays and the signs/limits the model needs."""

    x: np.ndarray  # (N,) strictly increasing
    y: np.ndarray  # (N,)
    x_query: np.ndarray  # (Q,) each >= x[-1]
    direction: float  # +1 higher is better, -1 lower is better
    lower: float  # -inf if unknown
    upper: float  # inf if unknown
    schedule: ScheduleLike
    horizon: float | None  # planned last step; None if unknown (no schedule and no horizon given)

    @property
    def time_unit(self) -> float:
        """What steps are divided by: the horizon, or the last observed step when it is unknown."""
        return self.horizon if self.horizon is not None else float(self.x[-1])


def _array(v, field: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidCurveError(f"{field} must be a sequence of numbers: {e}") from None
    if a.ndim != 1:
        raise InvalidCurveError(f"{field} must be one-dimensional, got shape {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a))
    if len(bad):
        raise InvalidCurveError(f"{field}[{bad[0]}]={a[bad[0]]} is not a finite number")
    return a


def _increasing(a: np.ndarray, field: str) -> None:
    bad = np.flatnonzero(np.diff(a) <= 0)
    if len(bad):
        i = bad[0] + 1
        raise InvalidCurveError(
            f"{field} must be strictly increasing, but {field}[{i}]={a[i]:g} <= {field}[{i - 1}]={a[i - 1]:g}"
        )


def check_observed(x, y, *, direction: str = "min", bounds=None) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Check the observed points, the direction and the bounds of a curve: ``(x, y, lower, upper)``.

    The part of :func:`check_curve` that does not depend on the schedule, the horizon or the steps asked.

    >>> check_observed([1, 2], [0.5, 0.6], direction="max", bounds=(0, 1))[2:]
    (0.0, 1.0)
    """
    x, y = _array(x, "x"), _array(y, "y")
    if len(x) == 0:
        raise InvalidCurveError("x is empty: at least one observed point is needed")
    if len(x) != len(y):
        raise InvalidCurveError(f"x and y must have the same length, got len(x)={len(x)} and len(y)={len(y)}")
    if len(x) > MAX_POINTS:
        raise InvalidCurveError(f"x has {len(x)} points, more than the limit of {MAX_POINTS}")
    huge = np.flatnonzero(np.abs(y) > MAX_ABS_VALUE)
    if len(huge):
        raise InvalidCurveError(f"y[{huge[0]}]={y[huge[0]]:g} is beyond +-{MAX_ABS_VALUE:g}, too large to predict from")
    _increasing(x, "x")
    if x[0] < 0:
        raise InvalidCurveError(f"x[0]={x[0]:g} is negative: steps count from 0")
    if direction not in DIRECTIONS:
        raise InvalidCurveError(f"direction must be 'min' or 'max', got {direction!r}")
    lower, upper = _bounds(bounds)
    outside = np.flatnonzero((y < lower) | (y > upper))
    if len(outside):
        i = outside[0]
        raise InvalidCurveError(f"y[{i}]={y[i]:g} lies outside the given bounds=({lower:g}, {upper:g})")
    return x, y, lower, upper


def check_curve(
    x, y, x_query=None, *, horizon: float | None = None, direction: str = "min", bounds=None, schedule: ScheduleLike = None
) -> Curve:
    """Check one curve; raises :class:`InvalidCurveError` naming what is wrong.

    ``x_query`` defaults to the horizon (the run's final step).
    """
    # The observed points, the direction and the bounds are checked before anything derived from the horizon, so that
    # the first error names what the user gave wrong (an empty x is not reported as a missing x_query).
    x, y, lower, upper = check_observed(x, y, direction=direction, bounds=bounds)
    if schedule is not None:
        _check_schedule_type(schedule)
    given_horizon = horizon is not None
    horizon = _horizon(horizon, schedule)
    if horizon is not None and horizon < x[-1]:
        where = f"horizon={horizon:g}" if given_horizon else f"the schedule ends at step {horizon:g}, which"
        raise InvalidCurveError(f"{where} is before the last observed step x[-1]={x[-1]:g}")
    if x_query is None:
        if horizon is None:
            raise InvalidCurveError(
                "x_query is missing: give the steps to predict, or a horizon (or schedule) to predict its end"
            )
        x_query = [horizon]
    x_query = _array(np.atleast_1d(x_query), "x_query")
    if len(x_query) == 0:
        raise InvalidCurveError("x_query is empty: ask for at least one step")
    if len(x_query) > MAX_QUERIES:
        raise InvalidCurveError(f"x_query has {len(x_query)} steps, more than the limit of {MAX_QUERIES}")
    early = np.flatnonzero(x_query < x[-1])
    if len(early):
        i = early[0]
        raise InvalidCurveError(f"x_query[{i}]={x_query[i]:g} is before the last observed step x[-1]={x[-1]:g}")
    if horizon is not None:
        late = np.flatnonzero(x_query > horizon)
        if len(late):
            i = late[0]
            raise InvalidCurveError(f"x_query[{i}]={x_query[i]:g} is after the horizon={horizon:g}, where the run ends")
    elif not x[-1] > 0:
        raise InvalidCurveError(
            f"x[-1]={x[-1]:g}: without a horizon or schedule, time is measured in units of the last "
            "observed step, which must be > 0; give horizon"
        )
    elif not x_query[-1] <= MAX_QUERY_RATIO * x[-1]:  # no division: a tiny x[-1] would overflow it
        raise InvalidCurveError(
            f"x_query[{len(x_query) - 1}]={x_query[-1]:g} is more than {MAX_QUERY_RATIO:g} times the last observed step "
            f"x[-1]={x[-1]:g}, the unit of time without a horizon or schedule; give horizon"
        )
    return Curve(x, y, x_query, DIRECTIONS[direction], lower, upper, schedule, horizon)


def _horizon(horizon, schedule: ScheduleLike) -> float | None:
    """The planned last step: ``horizon`` if given, else where the schedule ends, else None (unknown)."""
    if horizon is not None:
        try:
            h = float(horizon)
        except (TypeError, ValueError):
            raise InvalidCurveError(f"horizon must be a number of steps, got {horizon!r}") from None
        if not (math.isfinite(h) and h > 0):
            raise InvalidCurveError(f"horizon must be a finite number of steps > 0, got {horizon!r}")
        return h
    if isinstance(schedule, Schedule):
        return float(schedule.total)
    if isinstance(schedule, (tuple, list)):
        steps = _array(schedule[0], "schedule.steps")
        if not (len(steps) and steps[-1] > 0):
            raise InvalidCurveError(f"schedule.steps must reach a step > 0 (where the run ends), got {steps.tolist()[-3:]}")
        return float(steps[-1])
    if schedule is not None:
        raise InvalidCurveError("a callable schedule does not say where the run ends: give horizon")
    return None


def _bounds(bounds) -> tuple[float, float]:
    if bounds is None:
        return -math.inf, math.inf
    try:
        lo, hi = bounds
    except (TypeError, ValueError):
        raise InvalidCurveError(f"bounds must be a pair (lower, upper) with None for no limit, got {bounds!r}") from None
    out = []
    for name, v, default in (("bounds[0]", lo, -math.inf), ("bounds[1]", hi, math.inf)):
        if v is None:
            out.append(default)
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise InvalidCurveError(f"{name} must be a number or None, got {v!r}") from None
        if math.isnan(v):
            raise InvalidCurveError(f"{name} is NaN; use None for no limit")
        if abs(v) > MAX_ABS_VALUE and math.isfinite(v):
            raise InvalidCurveError(f"{name}={v:g} is beyond +-{MAX_ABS_VALUE:g}; use None for no limit")
        out.append(v)
    if not out[0] < out[1]:
        raise InvalidCurveError(f"bounds must have lower < upper, got bounds=({out[0]:g}, {out[1]:g})")
    return out[0], out[1]


def _check_schedule_type(schedule) -> None:
    if isinstance(schedule, Schedule) or callable(schedule):
        return
    if isinstance(schedule, (tuple, list)) and len(schedule) == 2:
        return
    raise InvalidCurveError(
        "schedule must be a priors.schedules.Schedule, a (steps, lrs) pair or a callable step -> lr, "
        f"got {type(schedule).__name__}"
    )


# --------------------------------------------------------------------------- schedule features


@dataclass(frozen=True)
class StepFeatures:
    """Per-step inputs of :func:`lcpfn.features.token_features` for the steps asked."""

    t: np.ndarray  # step / time unit (the horizon where known)
    lr: np.ndarray  # lr / peak (1 where unknown; masked by known)
    cum_lr: np.ndarray
    anneal_area: np.ndarray
    known: bool  # the schedule
    horizon_known: bool


def step_features(curve: Curve, steps: np.ndarray) -> StepFeatures:
    """Normalized time and schedule features at ``steps`` (a subset of the curve's x and x_query)."""
    t = steps / curve.time_unit
    if curve.schedule is None:
        return StepFeatures(t, np.ones_like(t), t, np.zeros_like(t), False, curve.horizon is not None)
    lr_at, grid_lr = schedule_on_grid(curve)
    peak = float(grid_lr.max())
    u = np.linspace(0.0, 1.0, SCHEDULE_GRID + 1)
    grid = schedule_grid(u, grid_lr / peak)
    return StepFeatures(
        t=t,
        lr=lr_at(steps) / peak,
        cum_lr=interpolate(u, grid.s1, t),
        anneal_area=annealing_area(t, grid, FEATURE_DECAY_TIME),
        known=True,
        horizon_known=True,
    )


def schedule_on_grid(curve: Curve) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """The schedule of a curve as lr at any steps, and lr on ``SCHEDULE_GRID + 1`` points from 0 to the horizon.

    A schedule that goes on past the horizon is cut there: the run ends at the horizon.
    """
    schedule, horizon = curve.schedule, curve.horizon
    if isinstance(schedule, Schedule):
        end = float(schedule.total)
        lr_at = schedule
    elif isinstance(schedule, (tuple, list)):
        steps = _array(schedule[0], "schedule.steps")
        lrs = _array(schedule[1], "schedule.lr")
        if len(steps) != len(lrs) or len(steps) < 2:
            raise InvalidCurveError(
                f"schedule.steps and schedule.lr must have the same length >= 2, got {len(steps)} and {len(lrs)}"
            )
        _increasing(steps, "schedule.steps")
        negative = np.flatnonzero(lrs < 0)
        if len(negative):
            raise InvalidCurveError(f"schedule.lr[{negative[0]}]={lrs[negative[0]]:g} is negative: a learning rate is >= 0")
        end = float(steps[-1])

        def lr_at(s, steps=steps, lrs=lrs):
            return np.interp(s, steps, lrs)

    else:
        end = horizon

        def lr_at(s, f=schedule):
            return _call_schedule(f, s)

    if end < horizon:
        raise InvalidCurveError(f"the schedule ends at step {end:g}, before the horizon {horizon:g}: it must cover the whole run")
    grid_lr = np.asarray(lr_at(np.linspace(0.0, horizon, SCHEDULE_GRID + 1)), dtype=np.float64)
    field = "schedule.lr" if isinstance(schedule, (tuple, list)) else "schedule"
    bad = np.flatnonzero(~np.isfinite(grid_lr) | (grid_lr < 0))
    if len(bad):
        raise InvalidCurveError(
            f"{field} must be finite and >= 0, got {grid_lr[bad[0]]:g} at step {bad[0] * horizon / SCHEDULE_GRID:g}"
        )
    if not grid_lr.max() > 0:
        raise InvalidCurveError(f"{field} is zero everywhere: a schedule needs a positive learning rate somewhere")
    return lr_at, grid_lr


def _call_schedule(f, steps: np.ndarray) -> np.ndarray:
    try:
        out = np.asarray(f(steps), dtype=np.float64)
        if out.shape != steps.shape:
            raise TypeError
    except Exception:  # a scalar-only callable: ask point by point
        try:
            out = np.array([float(f(float(s))) for s in steps])
        except Exception as e:
            raise InvalidCurveError(f"schedule(step) failed: {type(e).__name__}: {e}") from None
    bad = np.flatnonzero(~np.isfinite(out) | (out < 0))
    if len(bad):
        raise InvalidCurveError(f"schedule(step) must be finite and >= 0, got {out[bad[0]]:g} at step {steps[bad[0]]:g}")
    return out


def curves_from_dicts(curves: Sequence[dict]) -> list[Curve]:
    """``predict_many`` input: dicts with the keyword arguments of ``predict``; errors say which curve."""
    out = []
    for i, c in enumerate(curves):
        if not isinstance(c, dict):
            raise InvalidCurveError(f"curves[{i}] must be a dict of predict's arguments, got {type(c).__name__}")
        unknown = set(c) - {"x", "y", "x_query", "horizon", "schedule", "direction", "bounds"}
        if unknown:
            raise InvalidCurveError(f"curves[{i}] has unknown keys {sorted(unknown)}")
        missing = {"x", "y"} - set(c)
        if missing:
            raise InvalidCurveError(f"curves[{i}] is missing {sorted(missing)}")
        try:
            out.append(check_curve(**c))
        except InvalidCurveError as e:
            raise InvalidCurveError(f"curves[{i}].{e}") from None
    return out


def schedule_from_spec(spec: dict | None) -> ScheduleLike:
    """A schedule from its JSON form: ``{"steps": [...], "lr": [...]}`` or ``{"name": "wsd", "total": ..., ...}``."""
    if spec is None:
        return None
    spec = {k: v for k, v in spec.items() if v is not None}
    if "name" in spec:
        from priors.schedules import InvalidScheduleError, from_name

        try:
            return from_name(**spec)
        except InvalidScheduleError as e:  # its message already names the schedule field
            raise InvalidCurveError(str(e)) from None
    if set(spec) == {"steps", "lr"}:
        return (_array(spec["steps"], "schedule.steps"), _array(spec["lr"], "schedule.lr"))
    raise InvalidCurveError(f"schedule must be {{'steps': [...], 'lr': [...]}} or {{'name': ..., ...}}, got keys {sorted(spec)}")
