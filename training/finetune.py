"""Fine-tune a trained PFN on your own runs.

``python -m training.finetune --base lcpfn/models/default.safetensors --curves my_runs.jsonl.gz --out runs/ft``

``--base`` is a training checkpoint (``checkpoint.pt``) or a shipped model's weights
(``lcpfn/models/default.safetensors``, its card ``.json`` beside it). ``--curves`` are
runs in the ``../shared/data`` format. Each step mixes prior curves (what the model was
trained on, so that it keeps that knowledge) with random cut points of your training
runs (targets: their later points); ``--real-share`` of each batch is yours. A held-out
split of your runs (the groups in ``--holdout``, else every fifth run) is scored every
``--eval-every`` steps (log-likelihood and 90 % coverage at cutoffs 10/20/40/80 %) and
the best checkpoint is kept as ``best.pt``; export it as usual:
``python -m training.export runs/ft/best.pt --out my_model.onnx``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from lcpfn.distribution import BarDistribution, nll_loss
from lcpfn.inference import model_inputs, predictions, prepare
from lcpfn.inputs import check_curve
from lcpfn.model import PFN
from priors.sample import sample
from training.batches import make_task, random_cut
from training.evaluate import CUTOFFS, EvalCurve, pfn, real_curves, score
from training.train import _n_points, _save_atomic, learning_rate, load_base

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 600
    batch_size: int = 64
    real_share: float = 0.5  # of each batch: cut points of the user's runs; the rest prior curves
    lr: float = 1e-4
    warmup_steps: int = 30
    eval_every: int = 100
    seed: int = 0


def split(curves: list[EvalCurve], holdout: set[str] | None) -> tuple[list[EvalCurve], list[EvalCurve]]:
    """Training and held-out runs: the held-out groups, else every fifth run (by a stable hash of its id)."""
    if holdout:
        held = [c for c in curves if c.group in holdout]
    else:
        held = [c for c in curves if zlib.crc32(c.id.encode()) % 5 == 0]
    ids = {c.id for c in held}
    return [c for c in curves if c.id not in ids], held


class TorchPredictor:
    """:meth:`lcpfn.Model.predict` on the torch model, through the same preparation (for scoring while training)."""

    def __init__(self, model: PFN, name: str = "finetuned", *, limits: str = "truncated"):
        self.model, self.name = model, name
        self.bars = BarDistribution(model.borders.double().cpu().numpy(), limits=limits)

    @torch.no_grad()
    def predict(self, x, y, x_query=None, **options):
        p = prepare(check_curve(x, y, x_query, **options), self.model.cfg.max_context)
        was_training = self.model.training
        self.model.eval()
        logits = self.model(*(torch.from_numpy(v) for v in model_inputs([p]).values())).double().numpy()
        self.model.train(was_training)
        return predictions([p], logits, self.bars, self.name)[0]


def real_batch(curves: list[EvalCurve], rng: np.random.Generator, k: int, max_queries: int, max_context: int):
    """``k`` random cut points of ``curves`` as padded model inputs, targets and a query mask."""
    prepared, targets = [], []
    for i in rng.integers(0, len(curves), k):
        c = curves[i]
        n = len(c.x)
        n_ctx = int(rng.integers(2, n))
        later = np.arange(n_ctx, n - 1)
        pick = np.sort(rng.choice(later, min(len(later), max_queries - 1), replace=False)) if len(later) else later
        q = np.append(pick, n - 1).astype(int)
        curve = check_curve(c.x[:n_ctx], c.y[:n_ctx], c.x[q], horizon=c.horizon, direction=c.direction, bounds=c.bounds,
                            schedule=c.schedule)  # fmt: skip
        p = prepare(curve, max_context)
        prepared.append(p)
        targets.append(np.clip(p.norm.z(c.y[q][None])[0], p.norm.best[0, 0], p.norm.worst[0, 0]))
    inputs = {k_: torch.from_numpy(v) for k_, v in model_inputs(prepared).items()}
    n_q = inputs["x_qry"].shape[1]
    z = np.zeros((k, n_q))
    mask = np.zeros((k, n_q), bool)
    for i, t in enumerate(targets):
        z[i, : len(t)], mask[i, : len(t)] = t, True
    lo = torch.tensor([[p.norm.best[0, 0]] for p in prepared])
    hi = torch.tensor([[p.norm.worst[0, 0]] for p in prepared])
    return inputs, torch.from_numpy(z).float(), torch.from_numpy(mask), lo.float(), hi.float()


def _scores(model: PFN, curves: list[EvalCurve], limits: str) -> dict[str, float]:
    res = score(curves, pfn(TorchPredictor(model, limits=limits)))
    return {f"{k}_{int(c * 100)}": res[c][k] for c in CUTOFFS for k in ("ll", "cover90")}


def finetune(base: str | Path, curves_path: str | Path, out: str | Path, *, config: FinetuneConfig = FinetuneConfig(),
             holdout: set[str] | None = None) -> Path:  # fmt: skip
    """Fine-tune ``base`` on the runs in ``curves_path``; returns the path of the best checkpoint."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, cfg, base_curves = load_base(base)
    train_runs, held = split(real_curves(curves_path), holdout)
    if not train_runs or not held:
        raise ValueError(f"need runs to train on and held-out runs, got {len(train_runs)} and {len(held)}")
    log.info("fine-tuning on %d runs, scoring %d held-out runs", len(train_runs), len(held))
    schedule = replace(cfg, steps=config.steps, lr=config.lr, warmup_steps=config.warmup_steps, min_lr_ratio=0.1)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    rng = np.random.default_rng(config.seed)
    g = torch.Generator().manual_seed(config.seed)
    n_real = max(1, round(config.real_share * config.batch_size))
    n_prior = config.batch_size - n_real
    rows = [{"step": 0, **_scores(model, held, cfg.limits)}]
    best = _mean_ll(rows[0])
    ft_cfg = replace(cfg, preset=f"{cfg.preset}+finetuned", steps=config.steps)

    def keep(step: int) -> None:  # the base's prior curves and those mixed into each step so far
        state = {"model": model.state_dict(), "step": step, "config": ft_cfg.to_json()}
        _save_atomic({**state, "curves_seen": base_curves + step * n_prior}, out / "best.pt")

    keep(0)
    model.train()
    censored = cfg.limits == "censored"
    for step in range(config.steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(schedule, step)
        inputs, z, mask, lo, hi = real_batch(train_runs, rng, n_real, cfg.max_queries, cfg.model.max_context)
        logits = model(inputs["x_ctx"], inputs["y_ctx"], inputs["x_qry"], inputs["ctx_mask"])
        real_nll = nll_loss(logits.float(), model.borders, z, lo.expand_as(z), hi.expand_as(z), censored=censored)
        loss = config.real_share * real_nll[mask].mean()
        if n_prior:
            n = _n_points(g, cfg)
            task = make_task(sample(g, n_prior, n, config=cfg.prior), *random_cut(g, n, cfg.max_queries), cfg.model.max_context)
            zp = task.z_qry
            prior_nll = nll_loss(model(task.x_ctx, task.y_ctx, task.x_qry).float(), model.borders, zp,
                                 task.lo.expand_as(zp), task.hi.expand_as(zp), censored=censored)  # fmt: skip
            loss = loss + (1.0 - config.real_share) * prior_nll.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            row = {"step": step + 1, "loss": loss.item(), **_scores(model, held, cfg.limits)}
            rows.append(row)
            log.info("step %d: held-out ll %.3f", step + 1, _mean_ll(row))
            if _mean_ll(row) > best:
                best = _mean_ll(row)
                keep(step + 1)
    with (out / "metrics.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, ["step", "loss"] + [k for k in rows[0] if k != "step"])
        w.writeheader()
        w.writerows(rows)
    return out / "best.pt"


def _mean_ll(row: dict) -> float:
    values = [v for k, v in row.items() if k.startswith("ll_") and math.isfinite(v)]
    return float(np.mean(values)) if values else -math.inf


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="checkpoint.pt, or a shipped model's .safetensors (its card beside it)")
    p.add_argument("--curves", required=True, help="your runs, .jsonl.gz in the ../shared/data format")
    p.add_argument("--out", required=True)
    p.add_argument("--holdout", help="comma-separated groups to hold out (default: every fifth run)")
    p.add_argument("--steps", type=int, default=FinetuneConfig.steps)
    p.add_argument("--real-share", type=float, default=FinetuneConfig.real_share, help="share of each batch from your runs")
    p.add_argument("--lr", type=float, default=FinetuneConfig.lr)
    p.add_argument("--eval-every", type=int, default=FinetuneConfig.eval_every)
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    if not 0 < args.real_share <= 1:
        p.error(f"--real-share must be in (0, 1], got {args.real_share}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    config = FinetuneConfig(steps=args.steps, real_share=args.real_share, lr=args.lr, eval_every=args.eval_every)
    holdout = set(args.holdout.split(",")) if args.holdout else None
    best = finetune(args.base, args.curves, args.out, config=config, holdout=holdout)
    log.info("best checkpoint: %s", best)


if __name__ == "__main__":
    main()
