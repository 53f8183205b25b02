"""Real dev curves of small networks trained on CPU, on tasks unlike those of ``torch_real_dev``.

``python benchmarks/small_net_curves.py --out benchmarks/data/small_nets.jsonl.gz [--runs 40] [--work runs/small_nets]``

``torch_real_dev`` (``../shared/data``) holds MLPs on three tasks (digits, breast cancer, a
3-class synthetic task), 50 epochs each: with 13-30 curves per metric and schedule, the
with/without-schedule comparison of the PFN moves by +-0.15 in log-likelihood between two
models of equal overall quality. These runs widen the sample with other tasks, lengths and
optimizers, all generated here from seeds (nothing downloaded):

* ``spirals``: three interleaved 2-D spirals with noise (nonlinear; networks sit near chance first);
* ``teacher``: 20-D Gaussian inputs labelled by sampling a random 2-layer teacher's softmax (5 classes,
  irreducible label noise, so validation losses overfit);
* ``blobs``: ten overlapping Gaussian clusters in 30-D;
* ``parity``: the product of 3 of 12 random signs, 10 % of labels flipped (long plateaus, then a fall);
* ``regression``: a random teacher's scalar output plus noise, mean squared error (a loss alone).

Each run draws its network (1-3 hidden layers of 16-512 units, ReLU, GELU or tanh, dropout),
optimizer (SGD with momentum, Adam, AdamW), peak lr, weight decay, batch size, length (20, 40 or
80 epochs) and schedule (constant, cosine, linear, exponential, step, inverse-sqrt, WSD; a warmup
on some), applies the lr at every optimizer step and logs the validation loss (and accuracy) after
every epoch with the planned lr at that epoch. Deterministic for a seed on one machine (one thread);
the work folder keeps finished runs, so a stopped job resumes. The output follows
``../shared/data/README.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from priors.schedules import Schedule, from_name  # noqa: E402

log = logging.getLogger("small_net_curves")

TASKS = ("spirals", "teacher", "blobs", "parity", "regression")
N_TRAIN, N_VAL = 1500, 500


# --------------------------------------------------------------------------- tasks


def task_data(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Inputs ``(N_TRAIN + N_VAL, d)``, targets (class indices, or values for ``regression``) and the class count
    (0 for regression), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_VAL
    if name == "spirals":
        arm = rng.integers(3, size=n)
        r = rng.uniform(0.05, 1.0, n)
        angle = 3.5 * math.pi * r + arm * 2 * math.pi / 3
        x = np.stack([r * np.cos(angle), r * np.sin(angle)], 1) + rng.normal(0, 0.04, (n, 2))
        return x, arm, 3
    if name == "teacher":
        x = rng.normal(size=(n, 20))
        hidden = np.tanh(x @ rng.normal(0, 1 / math.sqrt(20), (20, 32)))
        logits = 3.0 * hidden @ rng.normal(0, 1 / math.sqrt(32), (32, 5))
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return x, (p.cumsum(1) > rng.uniform(size=(n, 1))).argmax(1), 5
    if name == "blobs":
        centres = rng.normal(0, 0.9, (10, 30))
        label = rng.integers(10, size=n)
        return centres[label] + rng.normal(0, 1.0, (n, 30)), label, 10
    if name == "parity":
        x = rng.choice([-1.0, 1.0], size=(n, 12))
        label = (x[:, :3].prod(1) > 0).astype(int)
        flip = rng.uniform(size=n) < 0.1
        return x, np.where(flip, 1 - label, label), 2
    if name == "regression":
        x = rng.normal(size=(n, 10))
        hidden = np.tanh(x @ rng.normal(0, 1 / math.sqrt(10), (10, 32)))
        y = hidden @ rng.normal(0, 1 / math.sqrt(32), 32)
        return x, (y + rng.normal(0, 0.3 * y.std(), n)) / y.std(), 0
    raise ValueError(f"task must be one of {TASKS}, got {name!r}")


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunConfig:
    task: str
    seed: int
    depth: int
    width: int
    activation: str
    dropout: float
    optimizer: str
    peak_lr: float
    weight_decay: float
    batch_size: int
    epochs: int
    schedule: dict


def draw_config(task: str, index: int, base_seed: int) -> RunConfig:
    """The run's hyperparameters and schedule, from its own seed."""
    seed = base_seed + 1000 * TASKS.index(task) + index
    rng = np.random.default_rng(seed)
    optimizer = str(rng.choice(["sgd_momentum", "adam", "adamw"]))
    low, high = (3e-3, 0.3) if optimizer == "sgd_momentum" else (1e-4, 1e-2)
    peak = float(math.exp(rng.uniform(math.log(low), math.log(high))))
    epochs = int(rng.choice([20, 40, 80]))
    name = str(rng.choice(["constant", "cosine", "linear", "exponential", "step", "inverse_sqrt", "wsd"]))
    warmup = float(rng.integers(1, max(2, epochs // 10) + 1)) if rng.uniform() < 0.3 else 0.0
    kwargs: dict = {"total": float(epochs), "peak": peak, "warmup": warmup}
    if name == "step":
        drops = sorted(rng.uniform(0.3, 0.9, size=int(rng.integers(1, 3))))
        kwargs.update(milestones=tuple(round(d * epochs) for d in drops), factor=float(rng.choice([0.1, 0.3])))
        if len(set(kwargs["milestones"])) < len(kwargs["milestones"]):
            kwargs["milestones"] = kwargs["milestones"][:1]
    elif name == "wsd":
        kwargs.update(cooldown=float(rng.uniform(0.1, 0.4)), shape=str(rng.choice(["linear", "1-sqrt"])))
    elif name == "inverse_sqrt":
        kwargs.update(timescale=max(warmup, 1.0))
    elif name in ("cosine", "linear"):
        kwargs.update(final_ratio=float(rng.choice([0.0, 0.01, 0.1])))
    schedule = from_name(name, **kwargs).to_dict()
    return RunConfig(
        task=task,
        seed=seed,
        depth=int(rng.integers(1, 4)),
        width=int(round(math.exp(rng.uniform(math.log(16), math.log(512))))),
        activation=str(rng.choice(["relu", "gelu", "tanh"])),
        dropout=float(rng.choice([0.0, 0.0, 0.1, 0.3])),
        optimizer=optimizer,
        peak_lr=peak,
        weight_decay=0.0 if rng.uniform() < 0.5 else float(math.exp(rng.uniform(math.log(1e-5), math.log(1e-2)))),
        batch_size=int(rng.choice([32, 64, 128])),
        epochs=epochs,
        schedule=schedule,
    )


def network(cfg: RunConfig, d_in: int, d_out: int) -> nn.Module:
    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[cfg.activation]
    layers, width = [], d_in
    for _ in range(cfg.depth):
        layers += [nn.Linear(width, cfg.width), act(), nn.Dropout(cfg.dropout)]
        width = cfg.width
    return nn.Sequential(*layers, nn.Linear(width, d_out))


def train_run(cfg: RunConfig, data_seed: int) -> dict:
    """One run: validation loss (and accuracy) and the planned lr after every epoch."""
    x, y, classes = task_data(cfg.task, data_seed)
    torch.manual_seed(cfg.seed)
    xt = torch.tensor(x, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.long if classes else torch.float32)
    x_train, y_train, x_val, y_val = xt[:N_TRAIN], yt[:N_TRAIN], xt[N_TRAIN:], yt[N_TRAIN:]
    model = network(cfg, x.shape[1], classes or 1)
    params = model.parameters()
    if cfg.optimizer == "sgd_momentum":
        opt = torch.optim.SGD(params, lr=cfg.peak_lr, momentum=0.9, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.peak_lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.peak_lr, weight_decay=cfg.weight_decay)
    schedule = Schedule.from_dict(cfg.schedule)
    steps_per_epoch = math.ceil(N_TRAIN / cfg.batch_size)

    def loss_of(out, target):
        if classes:
            return nn.functional.cross_entropy(out, target)
        return nn.functional.mse_loss(out[:, 0], target)

    losses, accuracies, lrs = [], [], []
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(N_TRAIN)
        for k in range(steps_per_epoch):
            for group in opt.param_groups:  # the planned lr at this step, in epochs
                group["lr"] = float(schedule(epoch + k / steps_per_epoch))
            idx = order[k * cfg.batch_size : (k + 1) * cfg.batch_size]
            loss = loss_of(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = model(x_val)
            losses.append(float(loss_of(out, y_val)))
            if classes:
                accuracies.append(float((out.argmax(1) == y_val).float().mean()))
        lrs.append(float(schedule(epoch + 1)))
    return {"loss": losses, "accuracy": accuracies, "lr": lrs}


def records(cfg: RunConfig, result: dict, index: int) -> list[dict]:
    """The run's curves in the format of ``../shared/data/README.md``: a non-finite loss (a diverged run) ends its
    curves at the last finite epoch, said so in ``meta.diverged_at``."""
    run = f"small-nets/{cfg.task}/run{index:03d}"
    x = list(range(1, cfg.epochs + 1))
    diverged = [i for i, v in enumerate(result["loss"]) if not math.isfinite(v)]
    end = diverged[0] if diverged else cfg.epochs
    meta = {
        "source": f"own CPU training run (benchmarks/small_net_curves.py, torch {torch.__version__}, 1 thread)",
        "run": run, "dataset": cfg.task, "n_train": N_TRAIN, "n_val": N_VAL, "epochs": cfg.epochs,
        "planned_horizon": cfg.epochs, "x_unit": "epoch", "config": asdict(cfg), "schedule": cfg.schedule["name"],
        "diverged_at": end + 1 if diverged else None,
    }  # fmt: skip
    out = []
    for metric, direction in (("loss", "min"), ("accuracy", "max")):
        y = result[metric][:end]
        if len(y) >= 5:
            head = {"id": f"{run}/{metric}", "suite": "small_nets", "metric": metric, "direction": direction}
            out.append({**head, "x": x[:end], "y": y, "lr": result["lr"][:end], "group": f"small-nets/{cfg.task}", "meta": meta})
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("benchmarks/data/small_nets.jsonl.gz"))
    p.add_argument("--work", type=Path, default=Path("runs/small_nets"), help="finished runs, so a stopped job resumes")
    p.add_argument("--runs", type=int, default=40, help="runs per task")
    p.add_argument("--seed", type=int, default=700_000)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    done_path = args.work / "runs.jsonl"
    done = {}
    if done_path.exists():
        for line in done_path.read_text().splitlines():
            row = json.loads(line)
            done[(row["task"], row["index"])] = row
    with done_path.open("a") as f:
        for task in TASKS:
            for i in range(args.runs):
                if (task, i) in done:
                    continue
                cfg = draw_config(task, i, args.seed)
                start = time.monotonic()
                result = train_run(cfg, data_seed=args.seed + TASKS.index(task))
                row = {"task": task, "index": i, "config": asdict(cfg), "result": result}
                f.write(json.dumps(row) + "\n")
                f.flush()
                done[(task, i)] = row
                log.info("%s run %d: %s %s, %d epochs, final loss %.4f (%.1f s)", task, i, cfg.optimizer,
                         cfg.schedule["name"], cfg.epochs, result["loss"][-1], time.monotonic() - start)  # fmt: skip
    curves = [r for (task, i), row in sorted(done.items(), key=lambda kv: (TASKS.index(kv[0][0]), kv[0][1]))
              if i < args.runs for r in records(RunConfig(**row["config"]), row["result"], i)]  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt") as f:
        for r in curves:
            f.write(json.dumps(r) + "\n")
    log.info("%d curves of %d runs to %s", len(curves), len(done), args.out)


if __name__ == "__main__":
    main()
