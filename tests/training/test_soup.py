import json
import math
from dataclasses import replace

import pytest
import torch

from lcpfn.model import PFN
from training.export import export
from training.soup import soup
from training.train import PRESETS, curves_seen, evaluate, load_checkpoint, validation_set

TINY = replace(PRESETS["tiny"], init_from="runs/base/checkpoint.pt")


def _run(path, cfg, *, seed, step=5, inherited=1_000, ema=True):
    """A checkpoint as training writes it, with random weights drawn from ``seed``."""
    torch.manual_seed(seed)
    cfg = replace(cfg, seed=seed)
    state = {"model": PFN(cfg.model).state_dict(), "step": step, "config": cfg.to_json(), "inherited_curves": inherited}
    if ema:
        state["ema"] = PFN(cfg.model).state_dict()
    torch.save(state, path)
    return path


def test_a_soup_is_the_mean_of_the_runs_averaged_weights_and_counts_every_run_s_curves(tmp_path):
    a = _run(tmp_path / "a.pt", TINY, seed=1, step=5)
    b = _run(tmp_path / "b.pt", TINY, seed=2, step=7)
    out = tmp_path / "soup" / "checkpoint.pt"
    soup([a, b], out)
    mixed = load_checkpoint(out)[0].state_dict()  # the averaged (ema) weights, as export reads them
    ema_a, ema_b = torch.load(a)["ema"], torch.load(b)["ema"]
    for name, value in mixed.items():
        torch.testing.assert_close(value, (ema_a[name] + ema_b[name]) / 2)
    assert curves_seen(out) == 1_000 + (5 + 7) * TINY.batch_size
    assert torch.load(out)["soup"]["seeds"] == [1, 2]


def test_a_soup_is_scored_on_training_s_validation_set_itself(tmp_path):
    a = _run(tmp_path / "a.pt", TINY, seed=1)
    b = _run(tmp_path / "b.pt", TINY, seed=2)
    out = tmp_path / "soup.pt"
    result = soup([a, b], out)
    model, cfg = load_checkpoint(out)[:2]
    expected = evaluate(model, validation_set(cfg, torch.device("cpu")), cfg.model.max_context, cfg.limits)
    assert torch.load(out)["validation"] == result["validation"] == expected
    assert {"val_ll_10", "val_cover90_80"} <= set(expected) and all(math.isfinite(v) for v in expected.values())


def test_a_run_without_averaged_weights_joins_a_soup_with_its_last_step_s(tmp_path):
    a = _run(tmp_path / "a.pt", TINY, seed=1)
    b = _run(tmp_path / "b.pt", TINY, seed=2, ema=False)
    soup([a, b], tmp_path / "soup.pt")
    mixed = load_checkpoint(tmp_path / "soup.pt")[0].state_dict()
    ema_a, last_b = torch.load(a)["ema"], torch.load(b)["model"]
    for name, value in mixed.items():
        torch.testing.assert_close(value, (ema_a[name] + last_b[name]) / 2)


def test_runs_that_did_not_start_from_one_model_make_no_soup(tmp_path):
    a = _run(tmp_path / "a.pt", TINY, seed=1)
    out = tmp_path / "soup.pt"
    with pytest.raises(ValueError, match="at least 2"):
        soup([a], out)
    other_start = _run(tmp_path / "b.pt", replace(TINY, init_from="runs/other.pt"), seed=2)
    with pytest.raises(ValueError, match="started from"):
        soup([a, other_start], out)
    from_scratch = _run(tmp_path / "c.pt", replace(TINY, init_from=""), seed=3)
    with pytest.raises(ValueError, match="started from"):
        soup([from_scratch, from_scratch], out)
    other_count = _run(tmp_path / "d.pt", TINY, seed=4, inherited=2_000)
    with pytest.raises(ValueError, match="seen other curves"):
        soup([a, other_count], out)
    wider = _run(tmp_path / "e.pt", replace(TINY, model=replace(TINY.model, d_model=2 * TINY.model.d_model)), seed=5)
    with pytest.raises(ValueError, match="has model"):
        soup([a, wider], out)
    other_prior = _run(tmp_path / "f.pt", replace(TINY, prior=replace(TINY.prior, p_affine=0.9)), seed=6)
    with pytest.raises(ValueError, match="another prior"):
        soup([a, other_prior], out)
    assert not out.exists()


@pytest.mark.slow
def test_an_exported_soup_s_card_names_its_runs(tmp_path):
    runs = [_run(tmp_path / f"{s}.pt", TINY, seed=s) for s in (3, 4)]
    soup(runs, tmp_path / "soup.pt")
    card = export(tmp_path / "soup.pt", tmp_path / "soup.onnx")
    assert card["training"]["soup"] == {"runs": [str(p) for p in runs], "seeds": [3, 4]}
    # its own validation figures, not those of whatever metrics.csv lies in its folder
    (tmp_path / "metrics.csv").write_text("step,val_ll_10\n5,9.0\n")
    card = export(tmp_path / "soup.pt", tmp_path / "soup.onnx")
    assert card["training"]["validation"] == torch.load(tmp_path / "soup.pt")["validation"]
    assert json.loads((tmp_path / "soup.json").read_text())["training"]["curves_seen"] == 1_000 + 2 * 5 * TINY.batch_size
