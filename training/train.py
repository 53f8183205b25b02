"""Train the PFN on the prior: ``python -m training.train --preset cpu --out runs/cpu``.

One code path for CPU, one GPU and many GPUs (``torchrun --nproc_per_node=8 -m
training.train ...``): with a world size of 1 there is simply no gradient
all-reduce. Prior batches are drawn on the training device from a generator
seeded by ``(seed, rank, step)``, so a run resumed from its checkpoint
(``--out`` again) continues exactly as if it had never stopped; ``--max-minutes``
stops cleanly after a time budget, to train in chunks.

The output folder holds ``checkpoint.pt`` (state dicts, step and the config's
JSON; loadable with ``torch.load(weights_only=True)``), ``config.json`` and
``metrics.csv`` (loss per step, validation NLL / coverage when evaluated).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from lcpfn.distribution import LIMITS, BarDistribution, fit_borders, nll_loss, on_limit
from lcpfn.model import PFN, ModelConfig
from priors.config import PriorConfig
from priors.config_json import ConfigError, config_from_json, config_to_json
from priors.sample import sample
from priors.schedules import cosine
from training.batches import cutoff_task, make_task, random_cut

log = logging.getLogger(__name__)

VALIDATION_CUTOFFS = (0.1, 0.2, 0.4, 0.8)
VALIDATION_SEED = 20251122  # fixed, so validation figures compare across runs and presets
THROUGHPUT_EVERY = 50
BUDGET_CHECK_EVERY = 10  # steps between the ranks' shared verdicts on --max-minutes (one tiny collective each)


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    steps: int = 10_000
    batch_size: int = 64  # curves per step, over all ranks
    min_points: int = 10  # points per curve drawn log-uniformly in [min_points, max_points]
    max_points: int = 200
    max_queries: int = 32  # query points per curve per step (the final point always among them)
    lr: float = field(default=1e-3, metadata={"range": (1e-7, 1.0)})
    min_lr_ratio: float = field(default=0.1, metadata={"range": (0.0, 1.0)})
    warmup_steps: int = field(default=200, metadata={"range": (0, None)})
    weight_decay: float = field(default=0.01, metadata={"range": (0.0, 1.0)})
    grad_clip: float = field(default=1.0, metadata={"range": (1e-6, None)})
    # Validation scores and export ships the weights averaged exponentially over the last ~1 / (1 - ema_decay) steps
    # (0: the last step's). Continuations of the shipped model from one seed to the next moved its what-if
    # cooldown-gain error between 22 % and 50 %: one step's weights carry that much of the optimizer's noise.
    ema_decay: float = field(default=0.0, metadata={"range": (0.0, 0.99999)})
    border_curves: int = 20_000  # prior curves the bar borders are fitted on
    val_curves: int = 512
    val_points: int = 100
    eval_every: int = 500
    checkpoint_every: int = 200
    seed: int = field(default=0, metadata={"range": (0, None)})
    amp: bool = True  # bf16 autocast, CUDA only
    compile: bool = False  # torch.compile, CUDA only
    # Consecutive steps that share one prior draw (each takes its own curves from it, with its own cut): on a GPU a
    # draw of 2,048 curves is bound by kernel launches and host syncs, not arithmetic (the first H200 run: ~18k
    # curves/s, 70 % of each step), so one draw of 4 x 2,048 costs little more than one of 2,048.
    steps_per_prior_draw: int = field(default=1, metadata={"range": (1, None)})
    # Start from the weights and bar borders of this model (a checkpoint.pt, or a shipped .safetensors with its card)
    # instead of a fresh one, to continue training on a changed prior; its model config must equal ``model``.
    init_from: str = ""
    # How the predictive treats the metric's known limits (lcpfn.distribution.LIMITS): "censored" puts the mass beyond a
    # limit on it, as the prior's clamped values are; "truncated" (the models before 2026-12-06) renormalizes it away.
    limits: str = "truncated"

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig(**self.model))
        if isinstance(self.prior, dict):
            object.__setattr__(self, "prior", PriorConfig(**self.prior))
        if self.limits not in LIMITS:
            raise ValueError(f"limits must be one of {LIMITS}, got {self.limits!r}")
        if not 3 <= self.min_points <= self.max_points:
            raise ValueError(f"need 3 <= min_points <= max_points, got {self.min_points=}, {self.max_points=}")
        if self.batch_size < 1 or self.steps < 1 or self.max_queries < 1:
            raise ValueError(
                f"batch_size, steps and max_queries must be >= 1, got {self.batch_size=}, {self.steps=}, {self.max_queries=}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls(**json.loads(text))


PRESETS = {
    # CI smoke test: a few seconds on CPU.
    "tiny": TrainConfig(
        preset="tiny",
        model=ModelConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, n_bars=64, max_context=32),
        steps=200,
        batch_size=32,
        min_points=8,
        max_points=40,
        max_queries=8,
        lr=3e-3,
        warmup_steps=5,
        border_curves=1000,
        val_curves=256,  # 64 left the per-cutoff log-likelihood at the mercy of a few heavy-tailed prior curves
        val_points=40,
        eval_every=100,
        checkpoint_every=100,
    ),
    # The shipped CPU model: about 2.5 hours on 2 cores, within the speed targets (2 ms per curve).
    # LC-PFN's own prior weighs a quarter, so its benchmark holds while the rest of the prior grew.
    "cpu": TrainConfig(
        preset="cpu",
        model=ModelConfig(d_model=128, n_layers=4, n_heads=4, d_ff=384, n_bars=1000, max_context=128),
        prior=PriorConfig(source_weights=(0.16, 0.24, 0.22, 0.12, 0.05, 0.21)),
        steps=18_000,
        batch_size=128,
        max_points=200,
        max_queries=32,
        lr=1e-3,
        warmup_steps=200,
        eval_every=500,
        checkpoint_every=200,
        ema_decay=0.999,
    ),
    # One GPU for a few minutes (training/gpu_run.sh sets the steps from its time budget):
    # 3.4M parameters, so that ONNX (13.6 MB) and the checkpoint with its optimizer state
    # (41 MB, in 16 MiB parts) come back from a machine that returns at most 64 MiB.
    "gpu": TrainConfig(
        preset="gpu",
        model=ModelConfig(d_model=256, n_layers=6, n_heads=8, d_ff=512, n_bars=1000, max_context=128),
        prior=PriorConfig(source_weights=(0.16, 0.24, 0.22, 0.12, 0.05, 0.21)),
        steps=40_000,
        batch_size=2048,
        max_points=200,
        max_queries=48,
        lr=1e-3,
        warmup_steps=300,
        # No averaged weights: their 13.6 MB more in the checkpoint (41 MB with the optimizer's state) would take what
        # comes back from the GPU machine past its 64 MiB.
        border_curves=100_000,
        val_curves=2048,
        eval_every=500,
        checkpoint_every=500,
        # torch 2.11's inductor (the H200 image's) fails an assertion in its tiling analysis on this model (dynamic=True);
        # eager bf16 ran at a median 13 steps/s there (2,048 curves a step), the prior's draws included.
        compile=False,
        steps_per_prior_draw=4,
    ),
}


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> _World:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def _over_budget(over: bool, step: int, world: _World, dev: torch.device) -> bool:
    """Whether every rank stops before ``step``: ``over`` is this rank's own verdict on the time budget.

    Ranks must stop at the same step: one that stops alone leaves the others waiting in a collective for ever. So
    with several ranks the verdict is shared (any rank over budget stops all), at steps every rank reaches alike.
    """
    if world.size == 1:
        return over
    if step % BUDGET_CHECK_EVERY:
        return False
    import torch.distributed as dist

    flag = torch.tensor([float(over)], device=dev)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


def _clock(dev: torch.device, sync: bool) -> float:
    """Wall-clock seconds, after the device's queued work when ``sync`` (CUDA runs asynchronously)."""
    if sync and dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.monotonic()


def _step_generator(device: torch.device, seed: int, rank: int, step: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(((seed * 1_000_003 + rank) * 1_000_033 + step) % (2**63))


def _n_points(g: torch.Generator, cfg: TrainConfig) -> int:
    u = float(torch.rand(1, generator=g, device=g.device))
    return int(round(math.exp(math.log(cfg.min_points) + u * (math.log(cfg.max_points) - math.log(cfg.min_points)))))


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warmup, then cosine down to ``min_lr_ratio``: the prior's own cosine schedule, at step + 1."""
    schedule = cosine(total=cfg.steps, peak=cfg.lr, final_ratio=cfg.min_lr_ratio, warmup=min(cfg.warmup_steps, cfg.steps - 1))
    return float(schedule(step + 1))


def prior_borders(cfg: TrainConfig, device: torch.device) -> torch.Tensor:
    """Bar borders at equal-mass quantiles of training targets drawn the way training draws them."""
    g = torch.Generator(device=device).manual_seed(cfg.seed + 7)
    targets, seen = [], 0
    while seen < cfg.border_curves:
        n = _n_points(g, cfg)
        b = min(1024, cfg.border_curves - seen)
        curves = sample(g, b, n, device, config=cfg.prior)
        n_ctx, q = random_cut(g, n, cfg.max_queries)
        targets.append(make_task(curves, n_ctx, q, cfg.model.max_context).z_qry.flatten().cpu().numpy())
        seen += b
    return torch.tensor(fit_borders(np.concatenate(targets), cfg.model.n_bars), dtype=torch.float32)


def validation_set(cfg: TrainConfig, device: torch.device):
    g = torch.Generator(device=device).manual_seed(VALIDATION_SEED)
    return sample(g, cfg.val_curves, cfg.val_points, device, config=cfg.prior)


@torch.no_grad()
def evaluate(model: PFN, curves, max_context: int, limits: str = "truncated") -> dict[str, float]:
    """Per cutoff: log-likelihood per remaining point, densities in units of the curve's range,
    and 90 % central-interval coverage on 5 evenly spaced remaining points (the final one included)."""
    model.eval()
    dist = BarDistribution(model.borders.double().cpu().numpy(), limits=limits)
    censored = limits == "censored"
    log_range = torch.log((curves.y_clean.amax(1) - curves.y_clean.amin(1)).clamp(min=1e-12))[:, None]
    out = {}
    for c in VALIDATION_CUTOFFS:
        task = cutoff_task(curves, c, max_context)
        logits = torch.cat(
            [model(task.x_ctx[i : i + 256], task.y_ctx[i : i + 256], task.x_qry[i : i + 256]) for i in range(0, len(curves), 256)]
        ).float()
        z, lo, hi = task.z_qry, task.lo.expand_as(task.z_qry), task.hi.expand_as(task.z_qry)
        log_p = -nll_loss(logits, model.borders, z, lo, hi, censored=censored)
        # A density is scaled to range units, the probability of an atom on a censored limit is not.
        on_atom = censored & (on_limit(z, lo, xp=torch) | on_limit(z, hi, xp=torch))
        ll = torch.where(on_atom, log_p, log_p - task.log_scale + log_range)
        some = torch.linspace(0, z.shape[1] - 1, min(5, z.shape[1]), device=z.device).round().long()
        logits_s, z_s, lo_s, hi_s = (a[:, some].double().cpu().numpy() for a in (logits, z, lo, hi))
        q = dist.quantile(logits_s, [0.05, 0.95], lo_s, hi_s)
        out[f"val_ll_{int(c * 100)}"] = float(ll.mean())
        out[f"val_cover90_{int(c * 100)}"] = float(np.mean((z_s >= q[..., 0]) & (z_s <= q[..., 1])))
    model.train()
    return out


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class _Metrics:
    """``metrics.csv``, trimmed back to the checkpoint's step on resume so no step appears twice."""

    COLUMNS = ["step", "curves_seen", "loss", "lr", "seconds"] + [
        f"val_{k}_{int(c * 100)}" for k in ("ll", "cover90") for c in VALIDATION_CUTOFFS
    ]
    # Throughput every THROUGHPUT_EVERY steps, timed with the device synchronized, to size the next run: steps/s
    # over those steps, and curves/s of the last prior draw.
    COLUMNS += ["steps_per_s", "prior_curves_per_s", "device_mem_gb"]

    def __init__(self, path: Path, resume_step: int):
        self.path = path
        rows = []
        if path.exists() and resume_step > 0:
            with path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, self.COLUMNS)
            w.writeheader()
            w.writerows(rows)

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.COLUMNS).writerow(row)


# --------------------------------------------------------------------------- training


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    max_minutes: float | None = None,
    until_step: int | None = None,
    device: str | None = None,
) -> Path:
    """Train (or resume) into ``out_dir``; returns the checkpoint path.

    ``max_minutes`` and ``until_step`` end this call early (with a checkpoint);
    calling again resumes exactly where it stopped.
    """
    world = _World.from_env()
    if world.size > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if device is None:
        device = f"cuda:{world.local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:  # torch.cuda.set_device refuses a bare "cuda"
        dev = torch.device("cuda", world.local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    lead = world.rank == 0

    torch.manual_seed(cfg.seed)  # model initialization only; prior draws use their own generators
    model = PFN(cfg.model).to(dev)
    fused = dev.type == "cuda"  # one kernel for the whole update
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98), fused=fused)
    step, resumed_average = 0, None
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=dev, weights_only=True)
        saved = TrainConfig.from_json(ckpt["config"])
        if replace(saved, steps=cfg.steps) != cfg:
            raise ValueError(f"{ckpt_path} was trained with a different config; use a new --out or the same preset")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step = int(ckpt["step"])
        resumed_average = ckpt.get("ema")
        inherited = int(ckpt.get("inherited_curves", 0))
        log.info("resumed %s at step %d", ckpt_path, step)
    elif cfg.init_from:
        base, base_model, inherited = base_weights(cfg.init_from)
        if replace(base_model, n_features=cfg.model.n_features) != cfg.model or base_model.n_features > cfg.model.n_features:
            raise ValueError(f"init_from {cfg.init_from} has model {base_model}, this run {cfg.model}")
        model.load_state_dict(widened(base.state_dict(), base_model.n_features, cfg.model.n_features))
        log.info("starting from %s (%d curves seen)", cfg.init_from, inherited)
    else:
        inherited = 0
        model.borders.copy_(prior_borders(cfg, dev))
    average = _Average(model, cfg.ema_decay, resumed_average) if cfg.ema_decay else None
    if lead:
        (out / "config.json").write_text(cfg.to_json())
    metrics = _Metrics(out / "metrics.csv", step) if lead else None
    val = validation_set(cfg, dev) if lead else None

    net = model
    if world.size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if cfg.compile and dev.type == "cuda":
        net = torch.compile(net, dynamic=True)
    use_amp = cfg.amp and dev.type == "cuda"
    per_rank = max(1, cfg.batch_size // world.size)
    start = time.monotonic()
    progress = None
    if lead:
        from tqdm import tqdm

        progress = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.preset}", unit="step", disable=None)  # off unless a TTY

    def checkpoint() -> None:
        if lead:
            _save_atomic(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "step": step,
                    "config": cfg.to_json(),
                    "inherited_curves": inherited,  # curves seen by the model this run started from
                    **({"ema": average.state_dict()} if average is not None else {}),
                },
                ckpt_path,
            )

    last = cfg.steps if until_step is None else min(cfg.steps, until_step)
    pool, pool_block = None, -1  # no block is numbered -1: the first step draws
    window_start, window_step = _clock(dev, lead), step  # steps/s over each THROUGHPUT_EVERY steps, draws included
    censored = cfg.limits == "censored"
    while step < last:
        if max_minutes is not None and _over_budget(time.monotonic() - start > 60 * max_minutes, step, world, dev):
            log.info("time budget of %.1f min reached at step %d", max_minutes, step)
            break
        timed = lead and (step + 1) % THROUGHPUT_EVERY == 0
        k = cfg.steps_per_prior_draw
        block = step - step % k
        if pool_block != block:  # a resume mid-block draws the block again from its own seed
            # Synchronized timing only for a draw whose steps include a timed one: elsewhere the device runs ahead.
            timed_draw = lead and (block + k) // THROUGHPUT_EVERY > step // THROUGHPUT_EVERY
            t_draw = _clock(dev, timed_draw)
            g = _step_generator(dev, cfg.seed, world.rank, block)
            n_points = _n_points(g, cfg)
            pool, pool_block = sample(g, per_rank * k, n_points, dev, config=cfg.prior), block
            prior_rate = per_rank * k / max(_clock(dev, timed_draw) - t_draw, 1e-9)
        if k > 1:
            # The cut gets its own stream, so that a resume mid-block repeats it; one step per draw keeps the draw's
            # stream, as every run did before steps_per_prior_draw.
            g = _step_generator(dev, cfg.seed + 1, world.rank, step)
        curves = pool.rows((step - block) * per_rank, (step - block + 1) * per_rank)
        n_ctx, query = random_cut(g, n_points, cfg.max_queries)
        task = make_task(curves, n_ctx, query, cfg.model.max_context)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = net(task.x_ctx, task.y_ctx, task.x_qry)
        z = task.z_qry
        lo, hi = task.lo.expand_as(z), task.hi.expand_as(z)
        loss = nll_loss(logits.float(), model.borders, z, lo, hi, censored=censored).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        if average is not None:
            average.update(step)

        if world.size > 1:
            import torch.distributed as dist

            loss = loss.detach().clone()
            dist.all_reduce(loss)
            loss /= world.size
        if lead:
            row = {
                "step": step,
                "curves_seen": step * per_rank * world.size,
                "loss": f"{loss.item():.5f}",
                "lr": f"{learning_rate(cfg, step - 1):.3e}",
                "seconds": f"{time.monotonic() - start:.1f}",
            }
            if timed:
                now = _clock(dev, True)
                steps_per_s = (step - window_step) / (now - window_start)
                row.update(steps_per_s=f"{steps_per_s:.3f}", prior_curves_per_s=f"{prior_rate:.0f}")
                window_start, window_step = now, step
                if dev.type == "cuda":
                    row["device_mem_gb"] = f"{torch.cuda.max_memory_allocated(dev) / 2**30:.2f}"
            if step % cfg.eval_every == 0 or step == cfg.steps:
                scored = model if average is None else average.model()
                row.update({k: f"{v:.4f}" for k, v in evaluate(scored, val, cfg.model.max_context, cfg.limits).items()})
                log.info("step %d: %s", step, {k: v for k, v in row.items() if k.startswith("val")})
            metrics.write(row)
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.3f}")
        if step % cfg.checkpoint_every == 0:
            checkpoint()
    checkpoint()
    if progress is not None:
        progress.close()
    if world.size > 1:
        import torch.distributed as dist

        # Tear down together: a rank leaving while the lead still writes its checkpoint
        # aborted gloo ("terminate called without an active exception").
        dist.barrier()
        dist.destroy_process_group()
    return ckpt_path


class _Average:
    """An exponential moving average of a model's floating-point weights (``ema_decay``), updated after each step.

    The decay warms up as ``(1 + step) / (10 + step)`` until it reaches ``ema_decay``, so a short run averages its own
    steps rather than keeping the initial weights' share ``ema_decay ** steps``.
    """

    def __init__(self, model: PFN, decay: float, state: dict | None = None):
        self.live, self.decay = model, decay
        self.state = {k: v.detach().clone() for k, v in (state or model.state_dict()).items()}
        # state_dict()'s tensors share storage with the parameters, so these lists follow every optimizer step.
        floats = {k: v for k, v in model.state_dict().items() if v.dtype.is_floating_point}
        self.averaged = [self.state[k] for k in floats]
        self.current = list(floats.values())

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after ``step`` steps of this run."""
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        torch._foreach_lerp_(self.averaged, self.current, 1.0 - decay)

    def state_dict(self) -> dict:
        return self.state

    def model(self) -> PFN:
        """A copy of the model holding the averaged weights."""
        copy = PFN(self.live.cfg).to(next(self.live.parameters()).device)
        copy.load_state_dict(self.state)
        return copy


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[PFN, TrainConfig, int]:
    """The trained model (eval mode), its config and step from a ``checkpoint.pt``."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    return (*model_of(ckpt), int(ckpt["step"]))


def curves_seen(path: str | Path) -> int:
    """Prior curves the model of a checkpoint was trained on, those of the model it started from included
    (a fine-tune's ``best.pt`` records its own count)."""
    return curves_of(torch.load(path, map_location="cpu", weights_only=True))


def base_weights(path: str | Path) -> tuple[PFN, ModelConfig, int]:
    """What a run continuing ``path`` (``init_from``: a ``checkpoint.pt``, or a shipped ``.safetensors`` with its card
    ``.json`` beside it) takes from it: the model, its architecture and the curves it has seen. Not the prior, which
    the continuation brings, so a model whose prior has settings this version no longer knows can still be continued."""
    model, model_cfg, _, curves = _read_base(path)
    return model, model_cfg, curves


def load_base(path: str | Path) -> tuple[PFN, TrainConfig, int]:
    """:func:`base_weights` and the whole config that trained them, its prior included (a fine-tune draws from it)."""
    model, _, config, curves = _read_base(path)
    return model, TrainConfig.from_json(config), curves


def _read_base(path: str | Path) -> tuple[PFN, ModelConfig, str, int]:
    """The model, its architecture, the JSON of the config that trained it (unparsed) and the curves it has seen, from
    one read of ``path``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        card = json.loads(path.with_suffix(".json").read_text())
        model_cfg = ModelConfig(**card["training"]["config"]["model"])
        model = PFN(model_cfg)
        model.load_state_dict(load_file(str(path)))
        return model, model_cfg, json.dumps(card["training"]["config"]), int(card["training"]["curves_seen"])
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model_cfg = ModelConfig(**json.loads(ckpt["config"])["model"])
    return _kept_weights(ckpt, model_cfg), model_cfg, ckpt["config"], curves_of(ckpt)


def widened(state: dict, n_old: int, n_new: int) -> dict:
    """A model's state dict with token features appended (:data:`lcpfn.features.TOKEN_FEATURES` grows at its end): the
    embeddings read the new features through zero weights, so the widened model predicts exactly what it did."""
    if n_old == n_new:
        return state
    out = dict(state)
    for key in ("embed_ctx.weight", "embed_qry.weight"):
        w = state[key]  # (D, n_old + N_VALUE_FEATURES) and (D, n_old): the value columns come after the features
        zeros = torch.zeros(w.shape[0], n_new - n_old, dtype=w.dtype)
        out[key] = torch.cat([w[:, :n_old], zeros, w[:, n_old:]], dim=1)
    return out


def model_of(ckpt: dict) -> tuple[PFN, TrainConfig]:
    """The model (eval mode) and config of a loaded ``checkpoint.pt`` (``torch.load``'s dict): its averaged weights
    where the run kept them (``ema_decay``), else the last step's."""
    cfg = TrainConfig.from_json(ckpt["config"])
    return _kept_weights(ckpt, cfg.model), cfg


def _kept_weights(ckpt: dict, model_cfg: ModelConfig) -> PFN:
    """The model (eval mode) of a loaded ``checkpoint.pt``: its averaged weights where the run kept them, else the last
    step's."""
    model = PFN(model_cfg)
    model.load_state_dict(ckpt.get("ema", ckpt["model"]))
    return model.eval()


def curves_of(ckpt: dict) -> int:
    """:func:`curves_seen` of a loaded ``checkpoint.pt``."""
    if "curves_seen" in ckpt:
        return int(ckpt["curves_seen"])
    batch_size = json.loads(ckpt["config"])["batch_size"]  # not the whole config: its prior may be an older version's
    return int(ckpt["step"]) * batch_size + int(ckpt.get("inherited_curves", 0))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--out", help="run folder; an existing checkpoint there is resumed")
    p.add_argument("--prior", type=Path, help="JSON of PriorConfig fields, overriding the preset's prior (nested fields in part)")
    p.add_argument("--config", type=Path, help="JSON of TrainConfig fields (model, steps, lr, ...), overriding the preset's")
    p.add_argument("--print-config", action="store_true", help="print the config that would train, as JSON, and exit")
    p.add_argument("--steps", type=int, help="override the preset's number of steps")
    p.add_argument("--max-minutes", type=float, help="stop (with a checkpoint) after this long")
    p.add_argument("--until-step", type=int, help="stop (with a checkpoint) at this step")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = configured(PRESETS[args.preset], prior=args.prior, config=args.config)
    except ConfigError as e:
        p.error(str(e))
    if args.steps:
        cfg = replace(cfg, steps=args.steps)
    if args.print_config:
        sys.stdout.write(config_to_json(cfg) + "\n")
        return
    if not args.out:
        p.error("--out is required to train")
    train(cfg, args.out, max_minutes=args.max_minutes, until_step=args.until_step, device=args.device)


def configured(base: TrainConfig, *, prior: Path | None = None, config: Path | None = None) -> TrainConfig:
    """``base`` with the fields of the JSON files ``config`` (TrainConfig) and ``prior`` (its PriorConfig) applied."""
    cfg = base
    if config is not None:
        cfg = config_from_json(TrainConfig, _read_json(config), base=cfg)
        if cfg.preset == base.preset:
            cfg = replace(cfg, preset=f"{base.preset}+{config.stem}")
    if prior is not None:
        cfg = replace(cfg, prior=config_from_json(PriorConfig, _read_json(prior), base=cfg.prior, where="prior."))
    return cfg


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: not a readable JSON file ({e})") from None


if __name__ == "__main__":
    main()
