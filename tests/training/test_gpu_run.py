"""The GPU run's command, dry-run on CPU at the tiny size: it must write everything the real run writes."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lcpfn
from training.gpu_run import PART_BYTES
from training.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_run_dry_run_writes_a_loadable_model_resumable_checkpoint_and_metrics(tmp_path):
    out = tmp_path / "out"
    config = tmp_path / "draws.json"  # --config reaches the run: the GPU's shared prior draws, at the tiny size
    config.write_text('{"steps_per_prior_draw": 2}')
    cmd = ["bash", str(ROOT / "training" / "gpu_run.sh"), str(out), "--preset", "tiny", "--device", "cpu", "--minutes", "1"]
    cmd += ["--config", str(config)]
    env = {"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {"model.onnx", "model.json", "metrics.csv", "checkpoint.pt.part00"} <= {p.name for p in out.iterdir()}
    assert all(p.stat().st_size <= PART_BYTES for p in out.iterdir())
    card = json.loads((out / "model.json").read_text())
    assert card["trained_on"]["steps"] > 0 and card["trained_on"]["device"] and card["training"]["preset"] == "tiny+draws"
    assert card["training"]["config"]["steps_per_prior_draw"] == 2
    pred = lcpfn.load(out / "model.onnx").predict([1.0, 2.0, 3.0, 4.0], [3.0, 2.5, 2.3, 2.2], horizon=20)
    assert pred.median.shape == (1,)
    # The parts join into the checkpoint a second chunk resumes from.
    joined = tmp_path / "checkpoint.pt"
    joined.write_bytes(b"".join(p.read_bytes() for p in sorted(out.glob("checkpoint.pt.part*"))))
    ckpt = torch.load(joined, weights_only=True)
    assert ckpt["step"] == card["trained_on"]["steps"] and TrainConfig.from_json(ckpt["config"]).preset == "tiny+draws"
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert any(r["steps_per_s"] for r in rows) and any(r["prior_curves_per_s"] for r in rows)


def test_the_next_gpu_run_continues_the_kept_gpu_weights(monkeypatch):
    """``--config training/warm_starts/gpu_continue.json`` must start the gpu preset from the weights of the last GPU
    runs: same model config, their bar borders, their curves counted in the lineage."""
    from training.train import PRESETS, base_weights, configured

    monkeypatch.chdir(ROOT)  # init_from is relative to the repository root, where the command runs
    cfg = configured(PRESETS["gpu"], config=ROOT / "training" / "warm_starts" / "gpu_continue.json")
    base, base_model, curves = base_weights(cfg.init_from)
    assert base_model == cfg.model  # the prior may have moved on since: init_from continues on the new one
    card = json.loads((ROOT / "training" / "warm_starts" / "gpu.json").read_text())
    assert curves == sum(chunk["curves"] for chunk in card["trained_on"]) and all(
        "H200" in chunk["device"] for chunk in card["trained_on"]
    )
    assert torch.all(base.borders[1:] > base.borders[:-1])


@pytest.mark.slow
def test_the_gpu_run_of_the_default_model_starts_from_the_shipped_weights(monkeypatch, tmp_path):
    """``--config training/warm_starts/default_on_gpu.json`` must continue the shipped default model on the GPU: its
    architecture, its prior's source weights (on the repository's prior, v2.42; the shipped model learned v2.38, which
    differs only in how far cooldown gains grow with the run and where their draws are centred), its weights (a step at
    the smallest lr leaves them where they were) and its curves."""
    from dataclasses import replace

    from training.train import PRESETS, configured, load_base, train

    monkeypatch.chdir(ROOT)
    cfg = configured(PRESETS["gpu"], config=ROOT / "training" / "warm_starts" / "default_on_gpu.json")
    shipped = json.loads((ROOT / "lcpfn" / "models" / "default.json").read_text())
    base, base_cfg, curves = load_base(cfg.init_from)
    assert base_cfg.model == cfg.model and cfg.prior == PRESETS["cpu"].prior
    learned, repository = base_cfg.prior, cfg.prior
    assert repository.laws.gain_steps_clip == (500.0, 1e5) and learned.laws.gain_steps_clip == (500.0, 3e4)
    assert repository.laws.tied_gain == (0.0, 0.45) and learned.laws.tied_gain == (-0.22, 0.45)
    assert repository.laws.noise_gain == (0.9, 2.4) and learned.laws.noise_gain == (0.6, 2.4)
    laws = {name: getattr(repository.laws, name) for name in ("gain_steps_clip", "tied_gain", "noise_gain")}
    assert replace(learned, laws=replace(learned.laws, **laws)) == repository
    assert curves == shipped["training"]["curves_seen"] and cfg.ema_decay > 0
    small = replace(cfg, batch_size=8, lr=1e-7, steps=2, val_curves=8, max_points=40)  # the same run, at a CPU's size
    train(small, tmp_path, until_step=1, device="cpu")
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 1
    assert max(float((ckpt["model"][k] - w).abs().max()) for k, w in base.state_dict().items()) < 1e-4


def test_the_gpu_run_plans_again_so_that_its_cosine_ends_at_the_budget(monkeypatch, tmp_path):
    """The H200 run's warm-up measured 0.043 s per step and promised 10,267 steps; validations and prior draws made it
    0.052 s, so it reached 9,000 and its cosine stopped at 88 %. Simulated at those paces, the run must plan again after
    its first chunk and end its cosine (steps reached == steps planned) with under 5 % of the budget unused."""
    import training.gpu_run as gpu_run
    from training.train import PRESETS, _Metrics

    clock = {"now": 0.0, "step": 0}

    def fake_train(cfg, work, *, until_step=None, max_minutes=None, device=None):
        metrics = _Metrics(work / "metrics.csv", clock["step"])
        started = clock["now"]
        last = cfg.steps if until_step is None else min(cfg.steps, until_step)
        while clock["step"] < last and (max_minutes is None or clock["now"] - started <= 60 * max_minutes):
            clock["now"] += 0.043 if clock["step"] < gpu_run.WARMUP_STEPS else 0.052
            clock["step"] += 1
            metrics.write({"step": clock["step"], "seconds": f"{clock['now'] - started:.3f}"})

    monkeypatch.setattr(gpu_run, "train", fake_train)
    budget = 7.75

    def left():
        return budget - clock["now"] / 60

    cfg = gpu_run._train_in_budget(PRESETS["gpu"], tmp_path, left, "cpu")
    assert clock["step"] == cfg.steps
    assert 0 <= left() < 0.05 * budget, left()
