"""The small-network dev curves: reproducible from their seeds, in the shared data format, divergence said so."""

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("small_net_curves", ROOT / "benchmarks" / "small_net_curves.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_run_is_reproducible_from_its_seed_and_logs_every_epoch():
    s = _script()
    cfg = replace(s.draw_config("parity", 3, 700_000), epochs=5, width=16, depth=1)
    assert cfg == replace(s.draw_config("parity", 3, 700_000), epochs=5, width=16, depth=1)
    first, second = s.train_run(cfg, data_seed=1), s.train_run(cfg, data_seed=1)
    assert first == second and len(first["loss"]) == len(first["accuracy"]) == len(first["lr"]) == 5
    records = s.records(cfg, first, 3)
    assert [r["metric"] for r in records] == ["loss", "accuracy"]
    for r in records:
        assert r["x"] == [1, 2, 3, 4, 5] and r["meta"]["planned_horizon"] == 5 and r["meta"]["diverged_at"] is None
        assert set(r) == {"id", "suite", "metric", "direction", "x", "y", "lr", "group", "meta"}


def test_the_logged_lr_is_the_planned_schedule_at_each_epoch():
    s = _script()
    cfg = replace(s.draw_config("teacher", 0, 700_000), epochs=6, width=16, depth=1)
    cfg = replace(cfg, schedule=s.from_name("cosine", total=6.0, peak=0.01).to_dict())
    lr = s.train_run(cfg, data_seed=2)["lr"]
    assert np.allclose(lr, [0.01 * 0.5 * (1 + math.cos(math.pi * e / 6)) for e in range(1, 7)])


def test_a_diverged_run_ends_its_curves_at_the_last_finite_epoch():
    s = _script()
    cfg = replace(s.draw_config("regression", 0, 700_000), epochs=8)
    result = {"loss": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, math.inf, math.nan], "accuracy": [], "lr": [0.1] * 8}
    (loss,) = s.records(cfg, result, 0)  # a regression task has no accuracy
    assert loss["y"] == [1.0, 0.9, 0.8, 0.7, 0.6, 0.5] and loss["x"] == [1, 2, 3, 4, 5, 6] and loss["meta"]["diverged_at"] == 7
