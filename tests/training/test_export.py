import hashlib
import json

import numpy as np
import pytest
import torch

import lcpfn
from lcpfn.features import location_scale, normalized_bounds, to_lower_better, token_features
from training.export import PARITY_TOLERANCE, parity
from training.train import load_checkpoint


@pytest.mark.slow
def test_export_matches_torch_and_writes_a_card(tiny_run):
    run, onnx = tiny_run
    model, cfg, step = load_checkpoint(run / "checkpoint.pt")
    assert parity(model, onnx, seed=1) < PARITY_TOLERANCE
    card = json.loads(onnx.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(onnx.read_bytes()).hexdigest()
    assert card["training"]["steps"] == step and card["training"]["curves_seen"] == step * cfg.batch_size
    assert card["model"]["d_model"] == cfg.model.d_model and len(card["borders"]) == cfg.model.n_bars + 1
    assert "val_ll_10" in card["training"]["validation"] and card["parity_max_abs_logit_diff"] < PARITY_TOLERANCE


@pytest.mark.slow
def test_library_prediction_equals_the_torch_model(tiny_run):
    """lcpfn.load() (numpy features + ONNX Runtime) gives the torch model's logits for the same curve."""
    run, onnx = tiny_run
    model, _, _ = load_checkpoint(run / "checkpoint.pt")
    x = np.arange(1.0, 11.0)
    y = 2.0 + x**-0.5
    pred = lcpfn.load(onnx).predict(x, y, [20.0, 40.0], horizon=40.0)
    # The same features by hand, in torch.
    yl = to_lower_better(torch.tensor(y)[None], torch.tensor([-1.0]), xp=torch)
    loc, scale = location_scale(yl, xp=torch)
    inf = torch.tensor([float("inf")])
    best, worst = normalized_bounds(-inf, inf, torch.tensor([-1.0]), loc, scale, xp=torch)
    t = torch.tensor(np.concatenate([x, [20.0, 40.0]]) / 40.0)[None]
    no, yes = torch.tensor([False]), torch.tensor([True])
    f = token_features(
        t, torch.ones_like(t), t, torch.zeros_like(t), no, yes, best, worst, steps=torch.tensor([40.0]), xp=torch
    ).float()
    with torch.no_grad():
        logits = model(f[:, :10], ((yl - loc) / scale).float(), f[:, 10:])[0].double().numpy()
    np.testing.assert_allclose(pred.normalized.logits, logits, atol=1e-3)
    assert abs(pred.loc - float(loc)) < 1e-12 and abs(pred.scale - float(scale)) < 1e-12
