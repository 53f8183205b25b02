"""Stop a training run when it is unlikely to beat the best run so far (LC-PFN's criterion).

>>> import lcpfn
>>> stopper = lcpfn.EarlyStopper(horizon=100, direction="max", threshold=0.05, bounds=(0, 1))
>>> d = stopper.should_stop(range(1, 11), [0.1 + 0.01 * i for i in range(10)], best_so_far=0.95)
>>> d.stop, round(d.prob_improve, 3) < 0.05
(True, True)

The streaming form keeps the run's history and asks the model every ``every`` updates:

>>> stopper = lcpfn.EarlyStopper(horizon=100, direction="max", bounds=(0, 1), best_so_far=0.95, every=5)
>>> for epoch in range(1, 11):
...     d = stopper.update(epoch, 0.1 + 0.01 * epoch)
>>> d.stop
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from lcpfn.errors import InvalidCurveError
from lcpfn.inputs import DIRECTIONS, ScheduleLike, check_observed


@dataclass(frozen=True)
class Decision:
    stop: bool
    prob_improve: float  # P(final value beats best_so_far); 1.0 when there is nothing to beat
    predicted_final: float  # median of the predicted final value
    reason: str


@lru_cache(maxsize=1)
def _default_model():
    from lcpfn.inference import load

    return load()


class EarlyStopper:
    """Decides, from a partial curve, whether to stop a run planned to last ``horizon`` steps.

    Stops when ``P(final value beats best_so_far) < threshold``, never before
    ``min_points`` observed points. ``schedule`` and ``bounds`` are passed to
    :meth:`lcpfn.Model.predict`; ``model`` defaults to the shipped one.

    :meth:`update` is the streaming form for one run: it keeps the history, asks the
    model every ``every`` updates against ``best_so_far`` (given here or to
    ``update``), and stops a run whose latest value is NaN or infinite (diverged);
    non-finite values earlier in the history are left out of the curve the model sees.
    """

    def __init__(
        self,
        horizon: float,
        direction: str = "min",
        threshold: float = 0.05,
        *,
        min_points: int = 5,
        schedule: ScheduleLike = None,
        bounds: tuple[float | None, float | None] | None = None,
        model=None,
        best_so_far: float | None = None,
        every: int = 1,
    ):
        if not (isinstance(horizon, (int, float)) and math.isfinite(horizon) and horizon > 0):
            raise InvalidCurveError(f"horizon must be a finite number of steps > 0, got {horizon=}")
        if direction not in DIRECTIONS:
            raise InvalidCurveError(f"direction must be 'min' or 'max', got {direction=}")
        if not 0 < threshold < 1:
            raise InvalidCurveError(f"threshold must lie strictly between 0 and 1, got {threshold=}")
        if not (isinstance(min_points, int) and min_points >= 1):
            raise InvalidCurveError(f"min_points must be an integer >= 1, got {min_points=}")
        self.horizon, self.direction, self.threshold = float(horizon), direction, threshold
        if not (isinstance(every, int) and every >= 1):
            raise InvalidCurveError(f"every must be an integer >= 1, got {every=}")
        self.min_points, self.schedule, self.bounds = min_points, schedule, bounds
        self.best_so_far, self.every = best_so_far, every
        self._model = model
        self._steps: list[float] = []
        self._values: list[float] = []
        self._last = Decision(False, 1.0, math.nan, "no observation yet")

    @property
    def model(self):
        return self._model if self._model is not None else _default_model()

    def should_stop(self, x: Sequence[float], y: Sequence[float], best_so_far: float | None) -> Decision:
        """Decision for the run observed at steps ``x`` with values ``y``, against the best final value so far."""
        x, y = list(x), list(y)
        pred = self.model.predict(
            x, y, horizon=self.horizon, schedule=self.schedule, direction=self.direction, bounds=self.bounds
        )
        return self.decide(pred, len(x), best_so_far)

    def decide(self, prediction, n_points: int, best_so_far: float | None) -> Decision:
        """The decision from a prediction of the final value (any model's, at ``x_query=[horizon]``) of a run
        observed at ``n_points`` steps: what :meth:`should_stop` does after asking the model."""
        final = float(prediction.median[0])
        if best_so_far is None:
            return Decision(False, 1.0, final, "no finished run to compare with")
        if not (isinstance(best_so_far, (int, float)) and math.isfinite(best_so_far)):
            raise InvalidCurveError(f"best_so_far must be a finite number or None, got {best_so_far=}")
        p = float(prediction.prob_better_than(best_so_far)[0])
        if n_points < self.min_points:
            return Decision(False, p, final, f"only {n_points} points observed, fewer than min_points={self.min_points}")
        if p < self.threshold:
            return Decision(True, p, final, f"P(final beats {best_so_far:g}) = {p:.3f} < threshold {self.threshold:g}")
        return Decision(False, p, final, f"P(final beats {best_so_far:g}) = {p:.3f} >= threshold {self.threshold:g}")

    def update(self, step: float, value: float, *, best_so_far: float | None = None) -> Decision:
        """Add the value observed at ``step`` to this run's history; the decision, fresh every ``every`` updates.

        An update that is refused (a step that does not increase or lies past the horizon, a value outside the bounds)
        leaves the history as it was.
        """
        step, value = _number(step, "step"), _number(value, "value")
        if not math.isfinite(value):
            self._last = Decision(True, 0.0, math.nan, f"diverged: the value at step {step:g} is {value}")
            return self._last
        if not math.isfinite(step):
            raise InvalidCurveError(f"step must be a finite number, got step={step}")
        if self._steps and not step > self._steps[-1]:
            raise InvalidCurveError(f"step must increase, but step={step:g} <= the previous {self._steps[-1]:g}")
        if step > self.horizon:
            raise InvalidCurveError(f"step={step:g} is after the horizon={self.horizon:g}, where the run ends")
        steps, values = [*self._steps, step], [*self._values, value]
        try:  # the history before it passed these checks, so what fails is the new point
            check_observed(steps, values, direction=self.direction, bounds=self.bounds)
        except InvalidCurveError as e:
            raise InvalidCurveError(f"value={value:g} at step {step:g}: {e}") from None
        best = self.best_so_far if best_so_far is None else best_so_far
        if len(steps) % self.every == 0 or len(steps) == 1:
            self._last = self.should_stop(steps, values, best)
        self._steps, self._values = steps, values
        return self._last

    def reset(self) -> None:
        """Forget the history: the next :meth:`update` starts a new run."""
        self._steps, self._values = [], []
        self._last = Decision(False, 1.0, math.nan, "no observation yet")


def _number(v, name: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise InvalidCurveError(f"{name} must be a number, got {name}={v!r}") from None
