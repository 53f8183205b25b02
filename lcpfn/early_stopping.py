"""Stop a training run when it is unlikely to beat the best run so far (LC-PFN's criterion).

>>> import lcpfn
>>> stopper = lcpfn.EarlyStopper(horizon=100, direction="max", threshold=0.05, bounds=(0, 1))
>>> d = stopper.should_stop(range(1, 11), [0.1 + 0.01 * i for i in range(10)], best_so_far=0.95)
>>> d.stop, round(d.prob_improve, 3) < 0.05
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from lcpfn.errors import InvalidCurveError
from lcpfn.inputs import DIRECTIONS, ScheduleLike


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
        self.min_points, self.schedule, self.bounds = min_points, schedule, bounds
        self._model = model

    @property
    def model(self):
        return self._model if self._model is not None else _default_model()

    def should_stop(self, x: Sequence[float], y: Sequence[float], best_so_far: float | None) -> Decision:
        """Decision for the run observed at steps ``x`` with values ``y``, against the best final value so far."""
        x, y = list(x), list(y)
        pred = self.model.predict(
            x, y, horizon=self.horizon, schedule=self.schedule, direction=self.direction, bounds=self.bounds
        )
        final = float(pred.median[0])
        if best_so_far is None:
            return Decision(False, 1.0, final, "no finished run to compare with")
        if not (isinstance(best_so_far, (int, float)) and math.isfinite(best_so_far)):
            raise InvalidCurveError(f"best_so_far must be a finite number or None, got {best_so_far=}")
        p = float(pred.prob_better_than(best_so_far)[0])
        if len(x) < self.min_points:
            return Decision(False, p, final, f"only {len(x)} points observed, fewer than min_points={self.min_points}")
        if p < self.threshold:
            return Decision(True, p, final, f"P(final beats {best_so_far:g}) = {p:.3f} < threshold {self.threshold:g}")
        return Decision(False, p, final, f"P(final beats {best_so_far:g}) = {p:.3f} >= threshold {self.threshold:g}")
