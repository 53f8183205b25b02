import math

import numpy as np
import optuna
import pytest

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
    # Levelled off far behind the finished run. Not a steady creep (2.0 - 0.01 epoch): real losses that creep so
    # break out about half the time, and since prior v2.33 the model gives that one a 7 % chance of winning.
    for epoch in range(1, 8):
        trial.report(1.9 + 0.1 / epoch, epoch)
    trial.set_user_attr("lcpfn_schedule", {"name": "wsd", "total": EPOCHS, "peak": 0.1, "cooldown": 0.2})
    assert pruner.prune(study, study.trials[-1])
    assert study.trials[-1].user_attrs["lcpfn"]["prob_improve"] < 0.05
    trial.set_user_attr("lcpfn_schedule", {"name": "wsd", "total": EPOCHS, "peak": 0.1, "cooldown": 7})
    with pytest.raises(InvalidCurveError, match="cooldown"):
        pruner.prune(study, study.trials[-1])


def _finished_study(storage=None, name=None):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True)
    done = study.ask()
    for epoch in range(1, EPOCHS + 1):
        done.report(0.5 + 1.0 / epoch, epoch)
    study.tell(done, 0.5 + 1.0 / EPOCHS)
    return study


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_diverged_report_prunes_the_trial_instead_of_failing_it(bad):
    study = _finished_study()
    trial = study.ask()
    for epoch in range(1, 8):
        trial.report(2.0 / epoch, epoch)
    trial.report(bad, 8)
    assert LCPFNPruner(horizon=EPOCHS).prune(study, study.trials[-1])
    assert study.trials[-1].user_attrs["lcpfn"]["reason"].startswith("diverged")


def test_non_finite_values_inside_the_history_are_left_out():
    study = _finished_study()
    trial = study.ask()
    for epoch in range(1, 12):
        trial.report(float("nan") if epoch == 4 else 0.5 + 1.0 / epoch, epoch)
    pruner = LCPFNPruner(horizon=EPOCHS)
    pruner.prune(study, study.trials[-1])  # no InvalidCurveError for the NaN at epoch 4
    decision = study.trials[-1].user_attrs["lcpfn"]
    assert 0 < decision["prob_improve"] <= 1 and math.isfinite(decision["predicted_final"])
    assert "user_attrs_lcpfn" in study.trials_dataframe().columns
    assert not hasattr(pruner, "last_decision")


def test_pruned_trials_can_hand_tpe_their_predicted_final_value():
    from lcpfn.integrations.optuna import predicted_final

    def objective(trial):
        rate = trial.suggest_float("rate", 0.01, 1.0, log=True)
        for epoch in range(1, EPOCHS + 1):
            loss = 1.0 / (1.0 + rate * epoch)
            trial.report(loss, epoch)
            if trial.should_prune():
                return predicted_final(trial)
        return loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=4), pruner=LCPFNPruner(horizon=EPOCHS)
    )
    study.optimize(objective, n_trials=14)
    cut = [t for t in study.trials if len(t.intermediate_values) < EPOCHS]
    assert cut, "some trials stopped early"
    for t in cut:
        assert t.state == optuna.trial.TrialState.COMPLETE and t.value == pytest.approx(t.user_attrs["lcpfn"]["predicted_final"])


def _worker(url: str, n: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="shared", storage=url, pruner=LCPFNPruner(horizon=EPOCHS, bounds=(0, None)),
                              sampler=optuna.samplers.RandomSampler())  # fmt: skip
    study.optimize(_objective, n_trials=n)


@pytest.mark.slow
def test_two_processes_share_one_sqlite_study_with_the_pruner(tmp_path):
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="shared", storage=url)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_worker, args=(url, 8)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
        assert w.exitcode == 0
    study = optuna.load_study(study_name="shared", storage=url)
    states = [t.state for t in study.trials]
    assert len(states) == 16 and optuna.trial.TrialState.FAIL not in states
    assert optuna.trial.TrialState.PRUNED in states
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert study.best_value == min(t.value for t in complete)
    # Every pruned trial was worse, by the model, than the best value when it was pruned.
    for t in study.trials:
        if t.state == optuna.trial.TrialState.PRUNED:
            assert t.user_attrs["lcpfn"]["prob_improve"] < 0.05 and len(t.intermediate_values) >= 5
