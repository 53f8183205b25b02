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

import math

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

    **NaN policy**: a trial whose latest report is NaN or infinite (a diverged run) is
    pruned, as Optuna's own pruners prune an all-NaN trial; non-finite values earlier in
    its history are left out of the curve the model sees.

    Each decision is stored on the trial as the user attribute ``lcpfn`` (``prob_improve``,
    ``predicted_final``, ``reason``; see ``study.trials_dataframe()`` and optuna-dashboard),
    never on the pruner: one pruner serves many threads and processes.

    **Pruned trials and samplers.** TPE reads a pruned trial's last reported value. To give
    it the predicted final value instead, complete the trial with it rather than raising
    ``TrialPruned`` (the pattern Optuna's ``WilcoxonPruner`` documents for its pruned trials):
    ``if trial.should_prune(): return predicted_final(trial)``. The trial then counts as
    complete, with the median the model predicts for its end, which is worse than the
    best value by construction of the pruning rule.
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

    def prune(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if len(study.directions) > 1:
            raise ValueError("LCPFNPruner supports single-objective studies only")
        values = trial.intermediate_values
        if not values:
            return False
        completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if len(completed) < max(1, self.n_startup_trials):
            return False
        steps = sorted(values)
        if not math.isfinite(values[steps[-1]]):
            self._record(study, trial, {"prob_improve": 0.0, "predicted_final": None, "reason": "diverged: non-finite report"})
            return True
        finite = [s for s in steps if math.isfinite(values[s])]
        direction = "min" if study.direction == optuna.study.StudyDirection.MINIMIZE else "max"
        stopper = self._stopper[direction]
        spec = trial.user_attrs.get("lcpfn_schedule")
        if spec is not None:
            stopper = EarlyStopper(self.horizon, direction, schedule=schedule_from_spec(spec), **self._options)
        d = stopper.should_stop(finite, [values[s] for s in finite], study.best_value)
        self._record(study, trial, {"prob_improve": d.prob_improve, "predicted_final": d.predicted_final, "reason": d.reason})
        return d.stop

    @staticmethod
    def _record(study, trial, decision: dict) -> None:
        study._storage.set_trial_user_attr(trial._trial_id, "lcpfn", decision)


def predicted_final(trial) -> float:
    """The final value the pruner last predicted for ``trial`` (to complete a pruned trial with, for TPE).

    Raises ``optuna.TrialPruned`` where there is none (a diverged trial): prune it then.
    """
    decision = trial.study._storage.get_trial_user_attrs(trial._trial_id).get("lcpfn") or {}
    value = decision.get("predicted_final")
    if value is None:
        raise optuna.TrialPruned()
    return float(value)
