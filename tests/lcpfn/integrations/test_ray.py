"""Ray Tune's scheduler and stopper, and Ray Data batch scoring, against the real Ray (local, 2 CPUs)."""

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402

from lcpfn.integrations.ray_data import PredictFinal  # noqa: E402
from lcpfn.integrations.ray_tune import LCPFNStopper, LCPFNStoppingRule  # noqa: E402

EPOCHS = 30
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


LRS = [1.0, 0.3, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5]


def _losses(lr: float):
    """Gradient descent on a logistic regression; the learning rate decides how good it gets."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 10))
    y = (x @ rng.standard_normal(10) + 0.5 * rng.standard_normal(400) > 0).astype(float)
    xt, yt, xv, yv = x[:300], y[:300], x[300:], y[300:]
    w = np.zeros(10)
    for _ in range(EPOCHS):
        p = 1 / (1 + np.exp(-(xt @ w)))
        w -= lr * xt.T @ (p - yt) / len(yt)
        pv = np.clip(1 / (1 + np.exp(-(xv @ w))), 1e-7, 1 - 1e-7)
        yield float(-np.mean(yv * np.log(pv) + (1 - yv) * np.log(1 - pv)))


def _trainable(config):
    for loss in _losses(config["lr"]):
        tune.report({"loss": loss})


def _fit(**tune_config):
    # Good learning rates first, so that a trial completes before the poor ones are judged.
    space = {"lr": tune.grid_search(LRS)}
    config = tune.TuneConfig(metric="loss", mode="min", max_concurrent_trials=1, **tune_config)
    run_config = tune.RunConfig(verbose=0)
    return tune.Tuner(_trainable, param_space=space, tune_config=config, run_config=run_config).fit()


def test_the_stopping_rule_stops_poor_trials_early_and_keeps_the_best():
    rule = LCPFNStoppingRule(horizon=EPOCHS, bounds=(0, None))
    stopped = _fit(scheduler=rule)
    iterations = [r.metrics["training_iteration"] for r in stopped]
    assert len(iterations) == 8 and sum(i < EPOCHS for i in iterations) >= 2
    best_lr = min(LRS, key=lambda lr: list(_losses(lr))[-1])  # every run to the end, without Tune
    assert stopped.get_best_result().config == {"lr": best_lr}
    assert stopped.get_best_result().metrics["training_iteration"] == EPOCHS


def test_the_stopper_ends_a_run_that_cannot_beat_a_known_best():
    stopper = LCPFNStopper("loss", best=0.2, horizon=EPOCHS, bounds=(0, None), min_points=5)
    result = tune.Tuner(
        _trainable, param_space={"lr": 1e-4}, tune_config=tune.TuneConfig(metric="loss", mode="min"),
        run_config=tune.RunConfig(stop=stopper, verbose=0),
    ).fit()  # fmt: skip
    assert result[0].metrics["training_iteration"] < EPOCHS


def test_ray_data_scores_ten_thousand_curves_with_the_model_loaded_once_per_actor():
    rng = np.random.default_rng(0)
    x = np.arange(1.0, 21.0)
    rows = [{"x": x, "y": 2.0 + rng.uniform(1, 3) * x ** -rng.uniform(0.2, 0.9), "horizon": 100.0} for _ in range(10_000)]
    ds = ray.data.from_items(rows).map_batches(PredictFinal, fn_constructor_kwargs={"threads": 1}, concurrency=2, batch_size=1000)
    out = ds.take_all()
    assert len(out) == 10_000
    medians = np.array([r["final_median"] for r in out])
    assert np.isfinite(medians).all() and all(r["final_low"] <= r["final_median"] <= r["final_high"] for r in out[:100])
    import lcpfn

    direct = lcpfn.load().predict(out[0]["x"], out[0]["y"], horizon=100)
    assert out[0]["final_median"] == pytest.approx(direct.median[0], rel=1e-5)
