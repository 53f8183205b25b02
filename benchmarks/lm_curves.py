"""Real dev curves of small causal language models trained on CPU under many schedules.

``python benchmarks/lm_curves.py --out benchmarks/data/lm_cpu.jsonl.gz [--work runs/lm]``

Byte-level GPT-style transformers learn to predict the Python standard library's
source (the running interpreter's ``Lib/*.py``, files sorted by path, every tenth
held out for validation; nothing downloaded). Per model size, a constant-lr parent
run is trained once and saved at its branch points; cooldown branches resume from
those checkpoints (model, optimizer and data stream), as WSD runs are made in
practice; cosine, linear, step and two-stage runs are trained from scratch. Every
run logs the validation loss on a fixed held-out set at regular steps, from step 0.

Deterministic for a seed on one machine (torch's CPU kernels, one thread); the
work folder keeps checkpoints and finished runs, so a stopped job resumes where
it was (``--work`` again). The output follows ``../shared/data/README.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from priors.schedules import Schedule, from_name  # noqa: E402

log = logging.getLogger("lm_curves")


@dataclass(frozen=True)
class Size:
    """A model size and its run: ``total`` steps of ``batch`` sequences of ``context`` bytes."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    total: int
    peak: float
    warmup: int
    batch: int = 16
    context: int = 128
    eval_every: int = 25
    seed: int = 0


SIZES = (
    Size("s", d_model=64, n_layers=2, n_heads=2, total=4000, peak=3e-3, warmup=150, eval_every=40, seed=1),
    Size("m", d_model=128, n_layers=4, n_heads=4, total=2400, peak=2e-3, warmup=100, seed=2),
)
VAL_SEQUENCES = 96


# --------------------------------------------------------------------------- data


def corpus(max_bytes: int = 8_000_000) -> tuple[np.ndarray, np.ndarray, str]:
    """Train and validation bytes from the standard library's source, and its description."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p for p in root.rglob("*.py") if not {"test", "tests", "site-packages", "idlelib"} & set(p.relative_to(root).parts)
    )
    train, val, size = [], [], 0
    for i, path in enumerate(files):
        data = path.read_bytes()
        (val if i % 10 == 0 else train).append(data)
        size += len(data)
        if size >= max_bytes:
            break
    to_array = lambda parts: np.frombuffer(b"\n".join(parts), dtype=np.uint8).copy()  # noqa: E731
    return to_array(train), to_array(val), f"Python {sys.version.split()[0]} stdlib source, {len(train) + len(val)} files"


def batch_at(data: np.ndarray, step: int, size: Size) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of training step ``step``: the same for every run of a size, so branches see the parent's stream."""
    rng = np.random.default_rng([size.seed, step])
    starts = rng.integers(0, len(data) - size.context - 1, size.batch)
    chunk = torch.from_numpy(np.stack([data[s : s + size.context + 1] for s in starts]).astype(np.int64))
    return chunk[:, :-1], chunk[:, 1:]


# --------------------------------------------------------------------------- model


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, N, dh)
        h = h + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return h + self.mlp(self.norm2(h))


class ByteGPT(nn.Module):
    def __init__(self, size: Size):
        super().__init__()
        self.tok = nn.Embedding(256, size.d_model)
        self.pos = nn.Embedding(size.context, size.d_model)
        self.blocks = nn.Sequential(*(Block(size.d_model, size.n_heads) for _ in range(size.n_layers)))
        self.norm = nn.LayerNorm(size.d_model)
        self.head = nn.Linear(size.d_model, 256, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
        return self.head(self.norm(self.blocks(h)))  # (B, N, 256)


def loss_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())


@torch.no_grad()
def val_loss(model: nn.Module, val_x: torch.Tensor, val_y: torch.Tensor) -> float:
    model.eval()
    out = float(np.mean([loss_of(model, val_x[i : i + 32], val_y[i : i + 32]).item() for i in range(0, len(val_x), 32)]))
    model.train()
    return out


def val_set(val: np.ndarray, size: Size) -> tuple[torch.Tensor, torch.Tensor]:
    starts = np.linspace(0, len(val) - size.context - 2, VAL_SEQUENCES).astype(np.int64)
    chunk = torch.from_numpy(np.stack([val[s : s + size.context + 1] for s in starts]).astype(np.int64))
    return chunk[:, :-1], chunk[:, 1:]


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    """A schedule to train under; ``parent_step`` > 0 resumes the constant run's checkpoint there."""

    id: str
    schedule: Schedule
    parent_step: int = 0


def runs_of(size: Size) -> list[Run]:
    t, p, w = size.total, size.peak, size.warmup

    def cooldown(start: int, end: int, shape: str) -> Run:
        s = from_name("wsd", total=end, peak=p, warmup=w, cooldown=(end - start) / end, shape=shape)
        return Run(f"wsd_{shape}_{start}_{end}", s, parent_step=start)

    runs = [Run("constant", from_name("constant", total=t, peak=p, warmup=w))]
    runs += [cooldown(int(f * t), t, "linear") for f in (0.9, 0.8, 0.7, 0.6, 0.4)]
    runs += [cooldown(int(f * t), t, "1-sqrt") for f in (0.8, 0.6)]
    for end in (t // 4, t // 2, 3 * t // 4):  # shorter runs: a 20 % cooldown of each
        runs += [cooldown(int(0.8 * end), end, shape) for shape in ("linear", "1-sqrt")]
    runs += [
        Run("cosine", from_name("cosine", total=t, peak=p, warmup=w, final_ratio=0.1)),
        Run("cosine_half", from_name("cosine", total=t // 2, peak=p, warmup=w, final_ratio=0.0)),
        Run("linear", from_name("linear", total=t, peak=p, warmup=w)),
        Run("step", from_name("step", total=t, peak=p, warmup=w, milestones=(0.5 * t, 0.75 * t), factor=0.3)),
        # Two-stage: a sudden drop to a lower constant lr, resumed from the parent like a WSD branch.
        Run("twostage_0.3", Schedule("step", t, p, warmup=w, milestones=(0.6 * t,), factor=0.3), parent_step=int(0.6 * t)),
        Run("twostage_0.1", Schedule("step", t, p, warmup=w, milestones=(0.6 * t,), factor=0.1), parent_step=int(0.6 * t)),
    ]
    return runs


def train_run(size: Size, run: Run, data, val_xy, work: Path, branch_points: set[int]) -> dict:
    torch.manual_seed(size.seed)
    model = ByteGPT(size)
    opt = torch.optim.AdamW(model.parameters(), lr=size.peak, betas=(0.9, 0.95), weight_decay=0.1)
    steps, losses, start = [], [], 0
    if run.parent_step:
        ckpt = torch.load(work / f"{size.name}_constant_{run.parent_step}.pt", weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        steps, losses, start = list(ckpt["steps"]), list(ckpt["losses"]), run.parent_step
    total = int(round(run.schedule.total))
    for step in range(start, total + 1):
        if step % size.eval_every == 0 and (not steps or steps[-1] < step):
            steps.append(step)
            losses.append(round(val_loss(model, *val_xy), 5))
        if step in branch_points and run.id == "constant":
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "steps": steps, "losses": losses}
            torch.save(state, work / f"{size.name}_constant_{step}.pt")
        if step == total:
            break
        for group in opt.param_groups:
            group["lr"] = float(run.schedule(step))
        x, y = batch_at(data, step, size)
        loss = loss_of(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return {"steps": steps, "losses": losses}


def record(size: Size, run: Run, result: dict, corpus_name: str, n_params: int) -> dict:
    x = np.asarray(result["steps"], dtype=float)
    return {
        "id": f"lm-cpu/{size.name}/{run.id}",
        "suite": "lm-cpu",
        "metric": "loss",
        "direction": "min",
        "x": x.tolist(),
        "y": result["losses"],
        "lr": [float(v) for v in run.schedule(x)],
        "group": f"lm-cpu/{size.name}",
        "meta": {
            "source": "benchmarks/lm_curves.py (own CPU runs, byte-level causal LM)",
            "corpus": corpus_name,
            "model": {k: v for k, v in asdict(size).items() if k not in ("total", "peak", "warmup")} | {"params": n_params},
            "schedule": run.schedule.to_dict(),
            "parent": f"lm-cpu/{size.name}/constant" if run.parent_step else None,
            "branch_step": run.parent_step or None,
            "planned_horizon": run.schedule.total,
            "x_unit": "optimizer step",
            "val_tokens": VAL_SEQUENCES * size.context,
            "torch": torch.__version__,
        },
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="benchmarks/data/lm_cpu.jsonl.gz")
    p.add_argument("--work", default="runs/lm_curves", help="checkpoints and finished runs (resumable)")
    p.add_argument("--sizes", default=",".join(s.name for s in SIZES))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    train, val, corpus_name = corpus()
    log.info("%s: %d train bytes, %d validation bytes", corpus_name, len(train), len(val))
    records = []
    for size in (s for s in SIZES if s.name in args.sizes.split(",")):
        runs = runs_of(size)
        branch_points = {r.parent_step for r in runs if r.parent_step}
        val_xy = val_set(val, size)
        n_params = sum(q.numel() for q in ByteGPT(size).parameters())
        for run in runs:  # the constant parent comes first: the branches resume its checkpoints
            done = work / f"{size.name}_{run.id}.json"
            if not done.exists():
                t0 = time.monotonic()
                result = train_run(size, run, train, val_xy, work, branch_points)
                done.write_text(json.dumps(result))
                log.info(
                    "%s/%s: %d evals, final %.4f, %.0f s",
                    size.name,
                    run.id,
                    len(result["steps"]),
                    result["losses"][-1],
                    time.monotonic() - t0,
                )
            records.append(record(size, run, json.loads(done.read_text()), corpus_name, n_params))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    log.info("wrote %d curves to %s", len(records), out)


if __name__ == "__main__":
    main()
