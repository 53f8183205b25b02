"""One prepared GPU training run within a hard wall-clock budget: ``bash training/gpu_run.sh OUT``.

``python -m training.gpu_run --out OUT [--minutes 9] [--preset gpu] [--device cuda] [--config JSON] [--compile]``

``--config training/warm_starts/default_on_gpu.json`` trains the shipped default model on (its architecture, a
batch of 4,096); ``--config training/warm_starts/gpu_continue.json`` continues the ``gpu`` preset's weights the last
GPU runs left (``training/warm_starts/gpu.json`` says which) instead of starting from scratch.

Everything fits in ``--minutes`` of wall time, counted from the start: the prior's bar
borders (a fresh model only), a short timed warm-up that measures steps per second, the ``gpu`` preset
trained for as many steps as the rest of the budget allows (the cosine lr schedule
is set to end exactly there, so training stops cleanly at the end of its decay; the step
count is set again after 30 % of that, from the pace of those steps), the
final validation, ONNX export with the parity check, and the files copied to ``OUT``:

* ``model.onnx`` and ``model.json`` (its card: how, where and on what it was trained);
* ``checkpoint.pt.partNN``: the full checkpoint (weights, optimizer, step, config) in
  parts of at most 16 MiB; ``cat checkpoint.pt.part* > checkpoint.pt`` rebuilds it, and
  ``python -m training.train --preset gpu --out DIR`` resumes it in a second chunk;
* ``metrics.csv``: loss per step, validation figures, steps/s, prior curves/s, GPU memory.

Six files, about 4 x 4 bytes per parameter in all (the ``gpu`` preset: 55 MB of the 64 MiB
that may come back from the machine; the weights for fine-tuning are in the checkpoint).
It installs and downloads nothing; it needs torch, numpy, onnx, onnxscript, onnxruntime
and tqdm. ``--preset tiny --device cpu
--minutes 1`` is the dry run the test suite makes of it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from training.export import export
from training.train import PRESETS, TrainConfig, configured, train

log = logging.getLogger(__name__)

PART_BYTES = 16 * 2**20
# Wall time kept for the final validation, the export with its parity check and the copies (on the H200: 10 s).
RESERVE_MINUTES = 0.75
WARMUP_STEPS = 60  # timed before the step budget is set: compilation and caches settle here
REPLAN_SHARE = 0.3  # of the budget after the warm-up, trained before the step count is set again


def run(
    out: str | Path,
    *,
    minutes: float = 9.0,
    preset: str = "gpu",
    device: str | None = None,
    compile: bool | None = None,
    config: Path | None = None,
) -> dict:
    """The whole run; returns the exported model's card."""
    start = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = configured(PRESETS[preset], config=config)
    if compile is not None:
        cfg = replace(cfg, compile=compile)
    work = Path(tempfile.mkdtemp(prefix="lcpfn-gpu-run-"))
    reserve = min(RESERVE_MINUTES, 0.25 * minutes)

    def left() -> float:
        return minutes - reserve - (time.monotonic() - start) / 60

    cfg = _train_in_budget(cfg, work, left, device)
    trained_minutes = (time.monotonic() - start) / 60

    step = int(torch.load(work / "checkpoint.pt", map_location="cpu", weights_only=True)["step"])
    hardware = {
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.processor() or "cpu",
        "torch_version": torch.__version__,
        "wall_minutes_training": round(trained_minutes, 2),
        "steps": step,
        "curves": step * cfg.batch_size,
    }
    card = export(work / "checkpoint.pt", work / "model.onnx", name=f"lcpfn-{preset}", extra={"trained_on": hardware})
    for name in ("model.onnx", "model.json"):  # the weights are in the checkpoint: 64 MiB come back at most
        shutil.copy(work / name, out / name)
    _split(work / "checkpoint.pt", out)
    shutil.copy(work / "metrics.csv", out / "metrics.csv")
    shutil.rmtree(work, ignore_errors=True)
    log.info("done in %.1f min: %s", (time.monotonic() - start) / 60, json.dumps(hardware))
    return card


def _train_in_budget(cfg: TrainConfig, work: Path, left: Callable[[], float], device: str) -> TrainConfig:
    """Train ``cfg`` into ``work`` until ``left()`` minutes run out, its cosine lr schedule set to end there; returns the
    config with the step count the schedule ended up with."""
    # Warm-up: borders, compilation, then WARMUP_STEPS timed steps at the preset's settings.
    warm = min(WARMUP_STEPS, cfg.steps)
    train(cfg, work, until_step=warm, device=device)
    seconds = _seconds_per_step(work / "metrics.csv", max(1, warm // 2), warm)
    cfg = replace(cfg, steps=_steps_that_fit(warm, seconds, left()))
    log.info("%.3f s per step after warm-up: %d steps fit in the %.1f min left", seconds, cfg.steps, left())
    # The warm-up's pace leaves out the validations and most prior draws: on the H200 it promised 10,267 steps and the
    # run reached 9,000, its cosine cut off at 88 %. So the plan is made again after a first chunk, from that chunk's
    # own pace; the cosine stretches or shrinks from there (a resume may change the step count) and ends at the budget.
    train(cfg, work, max_minutes=max(REPLAN_SHARE * left(), 0.05), device=device)
    logged = _metric_seconds(work / "metrics.csv")
    reached = max(logged)
    if warm < reached < cfg.steps:
        seconds = max(logged[reached] / (reached - warm), 1e-3)  # the chunk's clock started at 0, at step ``warm``
        cfg = replace(cfg, steps=_steps_that_fit(reached, seconds, left()))
        log.info("%.3f s per step at step %d: %d steps fit in all", seconds, reached, cfg.steps)
        train(cfg, work, max_minutes=max(left(), 0.05), device=device)
    return cfg


def _steps_that_fit(step: int, seconds: float, minutes_left: float) -> int:
    """The run's total steps: those done plus what ``minutes_left`` holds at ``seconds`` per step (3 % spare)."""
    return max(step + 1, step + int(60 * minutes_left / seconds * 0.97))


def _metric_seconds(metrics_csv: Path) -> dict[int, float]:
    """Seconds since its ``train`` call started, per logged step."""
    import csv

    with metrics_csv.open() as f:
        return {int(r["step"]): float(r["seconds"]) for r in csv.DictReader(f)}


def _seconds_per_step(metrics_csv: Path, first: int, last: int) -> float:
    """Mean seconds per step from step ``first`` to ``last``, both logged by one ``train`` call (from its start to
    ``last`` when the two are one step)."""
    seconds = _metric_seconds(metrics_csv)
    if last <= first:
        return max(seconds[last] / last, 1e-3)
    return max((seconds[last] - seconds[first]) / (last - first), 1e-3)


def _split(path: Path, out: Path) -> None:
    data = path.read_bytes()
    parts = max(1, math.ceil(len(data) / PART_BYTES))
    for i in range(parts):
        (out / f"{path.name}.part{i:02d}").write_bytes(data[i * PART_BYTES : (i + 1) * PART_BYTES])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for the files that come back")
    p.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget of the whole run")
    p.add_argument("--preset", choices=sorted(PRESETS), default="gpu")
    p.add_argument("--device", help="cuda (default when available) or cpu")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (fails on torch 2.11)")
    p.add_argument("--config", type=Path, help="JSON of TrainConfig fields over the preset's, e.g. init_from to continue a model")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(args.out, minutes=args.minutes, preset=args.preset, device=args.device, compile=args.compile, config=args.config)


if __name__ == "__main__":
    main()
