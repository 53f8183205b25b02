"""Fine-tuning on real runs: a CPU fine-tune of the tiny model on a handful of curves improves their held-out scores."""

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import lcpfn
from training.evaluate import real_curves
from training.export import export
from training.finetune import FinetuneConfig, finetune, load_base, split
from training.train import curves_seen

DATA = Path(__file__).resolve().parents[1] / "data" / "torch_real_dev.jsonl.gz"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One task's loss runs: similar curves, so what the model learns from some helps on the others."""
    path = tmp_path_factory.mktemp("runs") / "runs.jsonl.gz"
    with gzip.open(DATA, "rt") as f:
        records = [json.loads(line) for line in f]
    picked = [r for r in records if r["group"] == "digits/mlp" and r["metric"] == "loss"][:30]
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in picked)
    return path


@pytest.mark.slow
def test_finetuning_improves_the_held_out_runs_and_exports_a_loadable_model(tiny_run, runs, tmp_path):
    run, _ = tiny_run
    # Near the tiny model's own training lr (3e-3): the default 1e-4 suits the shipped model, too little here in 80 steps.
    config = FinetuneConfig(steps=80, batch_size=16, eval_every=40, lr=1e-3)
    best = finetune(run / "checkpoint.pt", runs, tmp_path / "ft", config=config)
    with (tmp_path / "ft" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    ll = [np.mean([float(r[f"ll_{c}"]) for c in (10, 20, 40, 80)]) for r in rows]
    assert max(ll[1:]) > ll[0] + 0.1, ll
    export(best, tmp_path / "ft.onnx")
    model = lcpfn.load(tmp_path / "ft.onnx")
    assert model.card["training"]["preset"] == "tiny+finetuned"
    # The card counts the base's prior curves and the prior half of every fine-tuning step up to the best one.
    best_step = torch.load(best, weights_only=True)["step"]
    assert model.card["training"]["curves_seen"] == curves_seen(run / "checkpoint.pt") + best_step * 8
    assert np.isfinite(model.predict([1, 2, 3, 4], [2.0, 1.5, 1.2, 1.1], horizon=50).median).all()
    # The exported weights are a base to fine-tune from again.
    again, cfg, _ = load_base(tmp_path / "ft.safetensors")
    assert cfg.preset == "tiny+finetuned" and again.n_params() > 0


def test_holdout_groups_or_every_fifth_run():
    curves = real_curves(DATA)
    train, held = split(curves, {"breast_cancer/mlp"})
    assert {c.group for c in held} == {"breast_cancer/mlp"} and "breast_cancer/mlp" not in {c.group for c in train}
    train, held = split(curves, None)
    assert 0.1 < len(held) / len(curves) < 0.3 and not {c.id for c in held} & {c.id for c in train}
