import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lcpfn.model import PFN
from training.train import (
    PRESETS,
    TrainConfig,
    base_weights,
    curves_seen,
    evaluate,
    learning_rate,
    load_base,
    load_checkpoint,
    train,
    validation_set,
    widened,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = PRESETS["tiny"]


@pytest.mark.slow
def test_tiny_preset_learns(tiny_run):
    run, _ = tiny_run
    model, cfg, step = load_checkpoint(run / "checkpoint.pt")
    assert step == cfg.steps
    val = validation_set(cfg, torch.device("cpu"))
    untrained = PFN(cfg.model)
    untrained.borders.copy_(model.borders)
    before, after = evaluate(untrained.eval(), val, cfg.model.max_context), evaluate(model, val, cfg.model.max_context)
    gain = [after[f"val_ll_{cut}"] - before[f"val_ll_{cut}"] for cut in (10, 20, 40, 80)]
    # 200 steps of a 20k-parameter model: clearly better on average; per cutoff the gain
    # depends on the prior's random stream (0.04-1.3 nats: 0.04 at 10 % on prior v2.8), so ask only for some.
    assert sum(gain) / 4 > 0.2 and min(gain) > 0.0, (before, after)
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, cfg.steps + 1))
    assert rows[-1]["val_ll_80"] and rows[-1]["val_cover90_80"]


@pytest.mark.slow
@pytest.mark.parametrize("steps_per_prior_draw", [1, 2])
def test_resume_is_exact(tmp_path, steps_per_prior_draw):
    # With 2 steps per draw the resume at step 3 falls inside a draw's block: the block is drawn again from its seed.
    cfg = replace(TINY, steps=6, checkpoint_every=100, eval_every=100, ema_decay=0.9, steps_per_prior_draw=steps_per_prior_draw)
    train(cfg, tmp_path / "straight")
    train(cfg, tmp_path / "chunks", until_step=3)
    assert load_checkpoint(tmp_path / "chunks" / "checkpoint.pt")[2] == 3
    train(cfg, tmp_path / "chunks")
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "chunks" / "checkpoint.pt", weights_only=True)
    for part in ("model", "ema"):  # the averaged weights resume exactly too
        for k in a[part]:
            torch.testing.assert_close(a[part][k], b[part][k], rtol=0, atol=0)
    rows = list(csv.DictReader((tmp_path / "chunks" / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 7))


def test_a_run_with_ema_ships_the_averaged_weights(tmp_path):
    """With ``ema_decay`` the checkpoint keeps the last step's weights (to resume) and their average, which export,
    validation and load_checkpoint use. The decay warms up as (1 + step) / (10 + step), so after one step the initial
    weights keep a share of 2/11 of the average, not 0.999."""
    cfg = replace(TINY, steps=1, checkpoint_every=100, eval_every=100, ema_decay=0.999, lr=1e-2, warmup_steps=0)
    path = train(cfg, tmp_path / "run")
    live = torch.load(path, weights_only=True)["model"]
    shipped = load_checkpoint(path)[0].state_dict()
    torch.manual_seed(cfg.seed)  # train's own initialization
    init = PFN(cfg.model).state_dict()
    moved = [k for k in init if k != "borders" and (init[k] - live[k]).abs().max() > 1e-4]
    assert len(moved) > 10
    for k in moved:
        torch.testing.assert_close(shipped[k], live[k] + 2 / 11 * (init[k] - live[k]), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(shipped["borders"], live["borders"], rtol=0, atol=0)


def test_init_from_continues_a_model_on_a_changed_prior(tmp_path):
    base_cfg = replace(TINY, steps=3, checkpoint_every=100, eval_every=100)
    base = train(base_cfg, tmp_path / "base")
    changed = replace(base_cfg.prior, noise=replace(base_cfg.prior.noise, p_overfit=0.9))
    cfg = replace(base_cfg, steps=2, lr=1e-12, warmup_steps=0, prior=changed, init_from=str(base), seed=1)
    cont = train(cfg, tmp_path / "cont")
    a, b = load_checkpoint(base)[0].state_dict(), load_checkpoint(cont)[0].state_dict()
    for k in a:  # a learning rate of 1e-12 leaves the weights where they started
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    assert curves_seen(cont) == (3 + 2) * TINY.batch_size
    with pytest.raises(ValueError, match="init_from"):
        train(replace(cfg, model=replace(TINY.model, d_model=16)), tmp_path / "other")


def test_init_from_continues_a_model_whose_prior_has_a_setting_this_version_no_longer_knows(tmp_path):
    """A continuation brings its own prior, so a model trained on an older prior (a setting since renamed) is continued
    from its weights and curves; a fine-tune, which draws from the base's prior, is refused with the setting named."""
    base_cfg = replace(TINY, steps=2, checkpoint_every=100, eval_every=100)
    base = train(base_cfg, tmp_path / "base")
    ckpt = torch.load(base, weights_only=True)
    old = json.loads(ckpt["config"])
    old["prior"]["laws"]["retired_setting"] = [0.005, 0.2]
    torch.save({**ckpt, "config": json.dumps(old)}, tmp_path / "old.pt")
    model, model_cfg, curves = base_weights(tmp_path / "old.pt")
    assert model_cfg == TINY.model and curves == 2 * TINY.batch_size
    with pytest.raises(TypeError, match="retired_setting"):
        load_base(tmp_path / "old.pt")
    cont = train(replace(base_cfg, steps=1, lr=1e-12, warmup_steps=0, init_from=str(tmp_path / "old.pt")), tmp_path / "cont")
    assert curves_seen(cont) == 3 * TINY.batch_size


def test_a_model_widened_to_new_token_features_predicts_what_it_did():
    """Continuing a model trained before a feature was appended: zero weights read it, so nothing changes until training."""
    old = PFN(replace(TINY.model, n_features=TINY.model.n_features - 1)).eval()
    new = PFN(TINY.model).eval()
    new.load_state_dict(widened(old.state_dict(), old.cfg.n_features, new.cfg.n_features))
    g = torch.Generator().manual_seed(0)
    f = new.cfg.n_features
    x_ctx, y_ctx, x_qry = torch.randn(2, 5, f, generator=g), torch.randn(2, 5, generator=g), torch.randn(2, 3, f, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(new(x_ctx, y_ctx, x_qry), old(x_ctx[..., :-1], y_ctx, x_qry[..., :-1]))


def test_init_from_a_model_with_fewer_token_features_widens_it(tmp_path):
    narrow = replace(TINY, model=replace(TINY.model, n_features=TINY.model.n_features - 1))
    state = PFN(narrow.model).state_dict()
    torch.save({"config": narrow.to_json(), "model": state, "step": 7}, tmp_path / "narrow.pt")
    cfg = replace(TINY, steps=1, lr=1e-12, warmup_steps=0, init_from=str(tmp_path / "narrow.pt"), checkpoint_every=100)
    cont = train(cfg, tmp_path / "cont")
    w = load_checkpoint(cont)[0].state_dict()["embed_ctx.weight"]
    torch.testing.assert_close(w[:, : narrow.model.n_features], state["embed_ctx.weight"][:, :-2], rtol=0, atol=1e-6)
    assert torch.all(w[:, narrow.model.n_features].abs() < 1e-6)  # the new feature's column starts at zero
    assert curves_seen(cont) == (7 + 1) * TINY.batch_size
    wider = replace(TINY, model=replace(TINY.model, n_features=TINY.model.n_features + 1))
    torch.save({"config": wider.to_json(), "model": PFN(wider.model).state_dict(), "step": 1}, tmp_path / "wide.pt")
    with pytest.raises(ValueError, match="init_from"):  # a wider model cannot be narrowed
        train(replace(cfg, init_from=str(tmp_path / "wide.pt")), tmp_path / "narrowed")


@pytest.mark.slow
def test_resume_refuses_another_config(tmp_path):
    train(replace(TINY, steps=2), tmp_path)
    with pytest.raises(ValueError, match="different config"):
        train(replace(TINY, steps=2, lr=1.0), tmp_path)


def test_config_json_round_trip():
    for cfg in PRESETS.values():
        assert TrainConfig.from_json(cfg.to_json()) == cfg


def test_learning_rate_warms_up_then_decays():
    cfg = PRESETS["cpu"]
    lrs = [learning_rate(cfg, s) for s in (0, cfg.warmup_steps - 1, cfg.warmup_steps + 10, cfg.steps - 1)]
    assert lrs[0] < lrs[1] and lrs[1] == pytest.approx(cfg.lr, rel=0.01) and lrs[2] < lrs[1]
    assert lrs[3] == pytest.approx(cfg.lr * cfg.min_lr_ratio, rel=0.01)


# What std::terminate prints when a C++ thread is destroyed unjoined: gloo has printed it, rarely, while a rank tore
# down after the run had finished and its files were written (CI, 2026-12-06; not reproduced in 188 local runs of
# the same command, 120 of them three at a time).
_TEARDOWN_ABORT = "terminate called without an active exception"


# Each rank writes its verdicts to a file of its own: the ranks share one stdout, where their lines interleave.
_BUDGET_VERDICTS = """
import sys
from pathlib import Path
import torch, torch.distributed as dist
from training.train import BUDGET_CHECK_EVERY, _over_budget, _World
dist.init_process_group("gloo")
world = _World.from_env()
lead_over = world.rank == 0  # only the lead is over its budget
shared = _over_budget(lead_over, 2 * BUDGET_CHECK_EVERY, world, torch.device("cpu"))
between = _over_budget(lead_over, 2 * BUDGET_CHECK_EVERY + 1, world, torch.device("cpu"))
Path(sys.argv[1], f"rank{world.rank}.txt").write_text(f"at a check {shared}, between checks {between}")
dist.barrier()
dist.destroy_process_group()
"""


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    """Two CPU ranks over gloo; an abort prints every thread's Python traceback (faulthandler)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.slow
def test_one_rank_over_its_time_budget_stops_every_rank_at_the_same_step(tmp_path):
    script = tmp_path / "verdicts.py"
    script.write_text(_BUDGET_VERDICTS)
    out = _torchrun(str(script), str(tmp_path))
    assert out.returncode == 0 or _TEARDOWN_ABORT in out.stderr, out.stderr[-3000:]
    for rank in (0, 1):
        assert (tmp_path / f"rank{rank}.txt").read_text() == "at a check True, between checks False", rank


@pytest.mark.slow
def test_torchrun_ranks_train_together_and_stop_at_the_same_step_on_a_time_budget(tmp_path):
    """The multi-GPU path (DistributedDataParallel), exercised with two CPU processes over gloo.

    A time budget ends the run: the lead, which also evaluates and writes, runs behind the other rank, so ranks that
    judged the budget each on its own would stop at different steps and leave one waiting in a collective for ever.
    """
    train_args = ("-m", "training.train", "--preset", "tiny", "--steps", "100000", "--max-minutes", "0.1", "--device", "cpu")
    run_dir = tmp_path / "run"
    out = _torchrun(*train_args, "--out", str(run_dir))
    if out.returncode != 0 and _TEARDOWN_ABORT in out.stderr:
        run_dir = tmp_path / "again"  # this test pins the run, not gloo's teardown: one more try, in a new folder
        out = _torchrun(*train_args, "--out", str(run_dir))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "time budget of 0.1 min reached" in out.stderr
    _, cfg, step = load_checkpoint(run_dir / "checkpoint.pt")
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert 0 < step < 100000 and int(rows[-1]["step"]) == step
    assert int(rows[-1]["curves_seen"]) == step * cfg.batch_size


def test_prior_and_config_files_override_the_preset_and_print_as_json(tmp_path, capsys):
    from training.train import main

    (tmp_path / "prior.json").write_text(json.dumps({"source_weights": [0, 0, 1, 1, 1, 0], "schedule": {"p_step": 0.0}}))
    (tmp_path / "train.json").write_text(json.dumps({"steps": 123, "model": {"n_layers": 1}}))
    files = ["--prior", str(tmp_path / "prior.json"), "--config", str(tmp_path / "train.json")]
    main(["--preset", "tiny", *files, "--print-config"])
    cfg = TrainConfig.from_json(capsys.readouterr().out)
    assert cfg.steps == 123 and cfg.model.n_layers == 1 and cfg.model.d_model == TINY.model.d_model
    assert cfg.prior.source_weights == (0, 0, 1, 1, 1, 0) and cfg.prior.schedule.p_step == 0.0
    assert cfg.preset == "tiny+train"


def test_bad_config_files_exit_naming_the_key(tmp_path, capsys):
    from training.train import main

    (tmp_path / "train.json").write_text(json.dumps({"lr": -1}))
    with pytest.raises(SystemExit):
        main(["--preset", "tiny", "--config", str(tmp_path / "train.json"), "--print-config"])
    assert "lr must be in [1e-07, 1], got -1" in capsys.readouterr().err


def test_limits_are_truncated_or_censored():
    with pytest.raises(ValueError, match="limits must be one of"):
        replace(TINY, limits="clipped")


def test_a_censored_run_validates_and_writes_its_limits_in_the_card(tmp_path):
    import lcpfn
    from training.export import export

    cfg = replace(TINY, steps=2, checkpoint_every=100, eval_every=2, limits="censored")
    path = train(cfg, tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert all(float(rows[-1][f"val_cover90_{c}"]) >= 0 for c in (10, 20, 40, 80))
    card = export(path, tmp_path / "m.onnx")
    assert card["limits"] == "censored" and lcpfn.load(tmp_path / "m.onnx").bars.limits == "censored"
