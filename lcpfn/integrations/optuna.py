"""An Optuna pruner that stops trials whose learning curve is unlikely to beat the best trial.

>>> import optuna, lcpfn.integrations.optuna as lo
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> def objective(trial):
...     rate = trial.suggest_float("rate", 0.01, 0.5, log=True)
...     for epoch in range(1, 31):
...         loss = 1.0 / (1.0 + rate * epoch)
...         trial.report(loss, epoch)
...         if trial.should_prune():
...             raise optuna.TrialPruned()
...     return loss
>>> study = optuna.create_study(pruner=lo.LCPFNPruner(horizon=30), sampler=optuna.samplers.RandomSampler(seed=0))
>>> study.optimize(objective, n_trials=8)
>>> study.best_value < 0.5
True
"""

from __future__ import annotations

from lcpfn.early_stopping import EarlyStopper
from lcpfn.errors import require
from lcpfn.inputs import ScheduleLike, schedule_from_spec

optuna = require("optuna", "optuna")


class LCPFNPruner(optuna.pruners.BasePruner):
    """Prune a trial when P(its final value beats the best completed trial) < ``threshold``.

    ``horizon`` is the step of the last ``trial.report`` a trial makes when it runs
    to completion; the objective is taken to be the value reported there (as for
    Optuna's other pruners). No trial is pruned before ``min_points`` reports or
    before ``n_startup_trials`` trials have completed. A trial whose learning-rate
    schedule is its own sets it as a user attribute,
    ``trial.set_user_attr("lcpfn_schedule", {"steps": [...], "lr": [...]})`` (or
    ``{"name": "wsd", "total": ..., ...}``); it overrides ``schedule``.
    """

    def __init__(
        self,
        horizon: float,
        *,
        threshold: float = 0.05,
        min_points: int = 5,
        n_startup_trials: int = 1,
        schedule: ScheduleLike = None,
        bounds: tuple[float | None, float | None] | None = None,
        model=None,
    ):
        if n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be >= 0, got {n_startup_trials=}")
        self._options = dict(threshold=threshold, min_points=min_points, bounds=bounds, model=model)
        self._stopper = {d: EarlyStopper(horizon, d, schedule=schedule, **self._options) for d in ("min", "max")}
        self.horizon, self.n_startup_trials = horizon, n_startup_trials
        self.last_decision = None

    def prune(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if len(study.directions) > 1:
            raise ValueError("LCPFNPruner supports single-objective studies only")
        values = trial.intermediate_values
        if not values:
            return False
        completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if len(completed) < max(1, self.n_startup_trials):
            return False
        direction = "min" if study.direction == optuna.study.StudyDirection.MINIMIZE else "max"
        stopper = self._stopper[direction]
        spec = trial.user_attrs.get("lcpfn_schedule")
        if spec is not None:
            stopper = EarlyStopper(self.horizon, direction, schedule=schedule_from_spec(spec), **self._options)
        steps = sorted(values)
        self.last_decision = stopper.should_stop(steps, [values[s] for s in steps], study.best_value)
        return self.last_decision.stop
