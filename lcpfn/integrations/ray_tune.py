"""Ray Tune: stop trials whose learning curve is unlikely to beat the best completed trial.

:class:`LCPFNStoppingRule` is a ``TrialScheduler`` like Tune's ``MedianStoppingRule``:
after each result it predicts where the trial ends (at ``horizon`` in units of
``time_attr``) and stops it when P(its final value beats the best completed trial's) <
``threshold``. :class:`LCPFNStopper` is a ``Stopper`` for runs compared with a known
best value. A result whose metric is NaN or infinite (a diverged run) stops its trial;
non-finite values earlier in its history are left out of the curve the model sees.

>>> from ray import tune  # doctest: +SKIP
>>> scheduler = LCPFNStoppingRule(horizon=30, time_attr="training_iteration", bounds=(0, None))  # doctest: +SKIP
>>> tune.Tuner(train, param_space=space, tune_config=tune.TuneConfig(scheduler=scheduler, metric="loss", mode="min",
...            num_samples=16)).fit()  # doctest: +SKIP
"""

from __future__ import annotations

import math

from lcpfn.early_stopping import EarlyStopper
from lcpfn.errors import require
from lcpfn.inputs import ScheduleLike

tune = require("ray.tune", "ray")
from ray.tune.schedulers import FIFOScheduler, TrialScheduler  # noqa: E402
from ray.tune.stopper import Stopper  # noqa: E402


class LCPFNStoppingRule(FIFOScheduler):
    """Stop a trial when P(its final ``metric`` beats the best completed trial) < ``threshold``.

    ``horizon`` is where a trial that runs to completion reports last, in units of
    ``time_attr``; no trial stops before ``min_points`` results or before a trial completed.
    """

    def __init__(
        self,
        horizon: float,
        *,
        time_attr: str = "training_iteration",
        metric: str | None = None,
        mode: str | None = None,
        threshold: float = 0.05,
        min_points: int = 5,
        schedule: ScheduleLike = None,
        bounds: tuple[float | None, float | None] | None = None,
        model=None,
    ):
        super().__init__()
        self.horizon, self.time_attr, self._metric, self._mode = horizon, time_attr, metric, mode
        self._options = dict(threshold=threshold, min_points=min_points, schedule=schedule, bounds=bounds, model=model)
        self._history: dict[str, list[tuple[float, float]]] = {}
        self._completed: list[float] = []
        self.decisions: dict[str, object] = {}  # trial id -> its latest Decision (read-only reporting)

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric, self._mode = self._metric or metric, self._mode or mode
        return True

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if self._metric not in result or self.time_attr not in result:
            return TrialScheduler.CONTINUE
        value, step = float(result[self._metric]), float(result[self.time_attr])
        if not math.isfinite(value):
            return TrialScheduler.STOP
        history = self._history.setdefault(trial.trial_id, [])
        history.append((step, value))
        if not self._completed:
            return TrialScheduler.CONTINUE
        best = min(self._completed) if self._mode == "min" else max(self._completed)
        stopper = EarlyStopper(self.horizon, self._mode, **self._options)
        d = stopper.should_stop([s for s, _ in history], [v for _, v in history], best)
        self.decisions[trial.trial_id] = d
        return TrialScheduler.STOP if d.stop else TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        history = self._history.get(trial.trial_id)
        if history and (not result or float(result.get(self.time_attr, -math.inf)) >= self.horizon):
            self._completed.append(history[-1][1])  # a trial that ran to its horizon

    def debug_string(self) -> str:
        stopped = sum(1 for d in self.decisions.values() if getattr(d, "stop", False))
        return f"LCPFNStoppingRule: {len(self._completed)} completed, {stopped} stopped"


class LCPFNStopper(Stopper):
    """Stop a run once P(its final ``metric`` beats ``best``) < ``threshold`` (``mode`` "min" or "max")."""

    def __init__(self, metric: str, best: float, *, horizon: float, mode: str = "min", time_attr: str = "training_iteration",
                 every: int = 1, **options):  # fmt: skip
        self.metric, self.time_attr = metric, time_attr
        self._stoppers: dict[str, EarlyStopper] = {}
        self._make = lambda: EarlyStopper(horizon, mode, best_so_far=best, every=every, **options)

    def __call__(self, trial_id: str, result: dict) -> bool:
        if self.metric not in result or self.time_attr not in result:
            return False
        stopper = self._stoppers.setdefault(trial_id, self._make())
        return stopper.update(float(result[self.time_attr]), float(result[self.metric])).stop

    def stop_all(self) -> bool:
        return False
