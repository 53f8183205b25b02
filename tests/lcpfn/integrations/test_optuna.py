import numpy as np
import optuna

from lcpfn.integrations.optuna import LCPFNPruner

EPOCHS = 30


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 10))
    w = rng.standard_normal(10)
    y = (x @ w + 0.5 * rng.standard_normal(400) > 0).astype(float)
    return x[:300], y[:300], x[300:], y[300:]


def _objective(trial):
    """Logistic regression trained by gradient descent; the learning rate decides how good it gets."""
    xt, yt, xv, yv = _data()
    lr = trial.suggest_float("lr", 1e-4, 3.0, log=True)
    w = np.zeros(xt.shape[1])
    for epoch in range(1, EPOCHS + 1):
        p = 1 / (1 + np.exp(-(xt @ w)))
        w -= lr * xt.T @ (p - yt) / len(yt)
        pv = np.clip(1 / (1 + np.exp(-(xv @ w))), 1e-7, 1 - 1e-7)
        loss = float(-np.mean(yv * np.log(pv) + (1 - yv) * np.log(1 - pv)))
        trial.report(loss, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return loss


def _study(pruner):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3), pruner=pruner)
    study.optimize(_objective, n_trials=25)
    return study


def test_pruner_prunes_bad_trials_and_keeps_the_best():
    pruned = _study(LCPFNPruner(horizon=EPOCHS, bounds=(0, None)))
    full = _study(optuna.pruners.NopPruner())
    states = [t.state for t in pruned.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) >= 5
    assert pruned.best_params == full.best_params
    # Pruned trials really were worse than the best: their full runs end above the best value.
    finals = {t.number: t.value for t in full.trials}
    for t in pruned.trials:
        if t.state == optuna.trial.TrialState.PRUNED:
            assert finals[t.number] > full.best_value


def test_no_pruning_before_a_trial_completes():
    study = optuna.create_study()
    trial = study.ask()
    for epoch in range(1, 10):
        trial.report(10.0, epoch)
    assert not LCPFNPruner(horizon=EPOCHS).prune(study, study.trials[0])


def test_a_trial_can_carry_its_own_schedule():
    import pytest

    from lcpfn.errors import InvalidCurveError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    done = study.ask()
    for epoch in range(1, EPOCHS + 1):
        done.report(1.0 / epoch, epoch)
    study.tell(done, 1.0 / EPOCHS)
    pruner = LCPFNPruner(horizon=EPOCHS)
    trial = study.ask()
    for epoch in range(1, 8):
        trial.report(2.0 - 0.01 * epoch, epoch)
    trial.set_user_attr("lcpfn_schedule", {"name": "wsd", "total": EPOCHS, "peak": 0.1, "cooldown": 0.2})
    assert pruner.prune(study, study.trials[-1])  # far behind the finished run
    assert pruner.last_decision.prob_improve < 0.05
    trial.set_user_attr("lcpfn_schedule", {"name": "wsd", "total": EPOCHS, "peak": 0.1, "cooldown": 7})
    with pytest.raises(InvalidCurveError, match="cooldown"):
        pruner.prune(study, study.trials[-1])
