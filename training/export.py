"""Export a trained checkpoint to ONNX with its model card:
``python -m training.export runs/cpu/checkpoint.pt --out lcpfn/models/default.onnx``.

The graph takes ``x_ctx (B, Nc, F)``, ``y_ctx (B, Nc)``, ``x_qry (B, Nq, F)`` and
``ctx_mask (B, Nc)`` with batch, context length and query count all dynamic, and
returns ``logits (B, Nq, n_bars)``. The export is checked against torch on prior
curves (max |Δlogit| < 1e-3) before anything is written. The card (``.json``
beside the ``.onnx``) holds what :func:`lcpfn.load` needs (bar borders, feature
names, context limit) and what a user wants to know (config, prior, training
steps and curves seen, validation figures, sha256 of the weights).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

import lcpfn
from lcpfn.features import TOKEN_FEATURES
from lcpfn.inference import CARD_FORMAT
from lcpfn.model import PFN
from priors.config import SOURCES
from priors.sample import sample
from training.batches import make_task, random_cut
from training.train import curves_of, model_of

log = logging.getLogger(__name__)

OPSET = 18
PARITY_TOLERANCE = 1e-3
INPUTS = ("x_ctx", "y_ctx", "x_qry", "ctx_mask")


def export_onnx(model: PFN, path: Path) -> None:
    from torch.export import Dim

    f = model.cfg.n_features
    # Example sizes >= 2 so none is specialized into the graph as a constant.
    example = (torch.randn(2, 3, f), torch.randn(2, 3), torch.randn(2, 4, f), torch.ones(2, 3, dtype=torch.bool))
    batch, n_ctx, n_qry = Dim("batch"), Dim("n_ctx"), Dim("n_qry")
    dynamic = {
        "x_ctx": {0: batch, 1: n_ctx},
        "y_ctx": {0: batch, 1: n_ctx},
        "x_qry": {0: batch, 1: n_qry},
        "ctx_mask": {0: batch, 1: n_ctx},
    }
    torch.onnx.export(
        model.eval(),
        example,
        str(path),
        dynamo=True,
        dynamic_shapes=dynamic,
        opset_version=OPSET,
        input_names=list(INPUTS),
        output_names=["logits"],
        external_data=False,
        verbose=False,
    )


def parity(model: PFN, onnx_path: Path, *, n_curves: int = 64, seed: int = 0) -> float:
    """Max |logit difference| between torch and ONNX Runtime on prior curves, with padding masks."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for n_points in (5, 60, 300):
        curves = sample(g, n_curves, n_points)
        n_ctx, query = random_cut(g, n_points, 16)
        task = make_task(curves, n_ctx, query, model.cfg.max_context)
        mask = torch.rand(task.y_ctx.shape, generator=g) > 0.3
        mask[:, -1] = True
        inputs = (task.x_ctx.float(), task.y_ctx.float(), task.x_qry.float(), mask)
        with torch.no_grad():
            ref = model(*inputs).numpy()
        got = session.run(None, {k: v.numpy() for k, v in zip(INPUTS, inputs)})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def _validation(metrics_csv: Path) -> dict[str, float]:
    if not metrics_csv.exists():
        return {}
    with metrics_csv.open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_ll_10")]
    return {k: float(v) for k, v in rows[-1].items() if k.startswith("val_")} if rows else {}


def export(checkpoint: str | Path, out: str | Path, *, name: str | None = None, extra: dict | None = None) -> dict:
    """Write ``out`` (.onnx), its card (.json, with ``extra`` fields added) and the torch weights (.safetensors);
    returns the card."""
    checkpoint, out = Path(checkpoint), Path(out)
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model, cfg = model_of(ckpt)
    step = int(ckpt["step"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_onnx = Path(tmp) / "model.onnx"
        export_onnx(model, tmp_onnx)
        diff = parity(model, tmp_onnx)
        if diff >= PARITY_TOLERANCE:
            raise RuntimeError(f"ONNX export of {checkpoint} differs from torch by {diff:.2e} (tolerance {PARITY_TOLERANCE})")
        data = tmp_onnx.read_bytes()
    out.write_bytes(data)
    card = {
        "name": name or out.stem,
        "format": CARD_FORMAT,
        "package_version": lcpfn.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "onnx_opset": OPSET,
        "sha256": hashlib.sha256(data).hexdigest(),
        "n_params": model.n_params(),
        "model": asdict(cfg.model),
        "token_features": list(TOKEN_FEATURES),
        "borders": [float(b) for b in model.borders.double()],
        "limits": cfg.limits,
        "prior": {"sources": list(SOURCES), "config": asdict(cfg.prior)},
        "training": {
            "preset": cfg.preset,
            "steps": step,
            "curves_seen": curves_of(ckpt),
            **({"soup": ckpt["soup"]} if "soup" in ckpt else {}),  # the runs a weight average was made of (training.soup)
            "config": json.loads(cfg.to_json()),
            # a soup (training.soup) carries its own; a run's are the last evaluated row of its metrics.csv
            "validation": ckpt["validation"] if "validation" in ckpt else _validation(checkpoint.parent / "metrics.csv"),
        },
        "parity_max_abs_logit_diff": diff,
        **(extra or {}),
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=1))
    _save_weights(model, out.with_suffix(".safetensors"))
    log.info("exported %s (%d bytes, parity %.1e) and its card", out, len(data), diff)
    return card


def _save_weights(model: PFN, path: Path) -> None:
    """The torch weights beside the ONNX file, to fine-tune from (``python -m training.finetune --base``)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, help="path of the .onnx file; the card goes beside it as .json")
    p.add_argument("--name", help="model name in the card (default: the file's stem)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)
    export(args.checkpoint, args.out, name=args.name)


if __name__ == "__main__":
    main()
