import numpy as np

from benchmarks.schedule_value import groups_of
from training.evaluate import EvalCurve


def _curve(name: str, lr, direction: str) -> EvalCurve:
    x = np.arange(1.0, 11.0)
    return EvalCurve(name, x, np.linspace(1.0, 0.5, 10), direction, schedule=(x, np.asarray(lr, float)))


def test_curves_are_grouped_by_the_shape_of_their_lr_their_warmup_and_their_metric():
    u = np.linspace(0.0, 1.0, 10)
    curves = [
        _curve("constant-loss", np.ones(10), "min"),
        _curve("cosine-acc", 0.5 * (1 + np.cos(np.pi * u)), "max"),
        _curve("wsd-loss", np.where(u < 0.8, 1.0, 0.1), "min"),
        _curve("warmup-constant-loss", np.minimum(1.0, (u + 0.05) / 0.2), "min"),
        EvalCurve("no-schedule", np.arange(1.0, 11.0), np.ones(10), "min"),
    ]
    groups = groups_of(curves)
    assert {g: [c.id for c in cs] for g, cs in groups.items()} == {
        "constant loss": ["constant-loss"],
        "constant loss, warmup": ["warmup-constant-loss"],
        "full accuracy-like": ["cosine-acc"],
        "late loss": ["wsd-loss"],
    }
