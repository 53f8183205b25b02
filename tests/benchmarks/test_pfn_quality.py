import gzip
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import lcpfn
from benchmarks import pfn_quality
from benchmarks.pfn_quality import coverage_line, coverage_se, model_gap, schedule_gain
from training.evaluate import CUTOFFS


def _rows(gap: float, contexts: dict[str, str] | None = None) -> dict:
    ll = {f"c{i}": 1.0 + 0.1 * i + gap * (1 + 0.01 * i) for i in range(20)}
    return {c: {"ll_by_curve": ll, "context_by_curve": contexts or {k: k for k in ll}} for c in CUTOFFS}


def test_the_schedule_s_gain_line_names_the_curves_paired_and_a_consistent_loss_as_worse():
    ids = {f"c{i}" for i in range(20)}
    line = schedule_gain(_rows(-0.02), _rows(0.0), ids)
    assert "paired over 20 curves" in line
    assert line.count("(worse)") == len(CUTOFFS)
    assert "10 % -0.022 ± 0.000" in line  # -0.02 x (1 + 0.01 x 9.5), the mean curve
    assert schedule_gain(_rows(0.0), _rows(0.0), ids).count("(tie)") == len(CUTOFFS)


def test_curves_without_a_schedule_are_left_out_of_the_schedule_s_gain():
    line = schedule_gain(_rows(-0.02), _rows(0.0), {f"c{i}" for i in range(5)})
    assert "paired over 5 curves" in line


def test_a_model_against_another_is_paired_over_the_curves_both_scored():
    theirs = {c: {"ll_by_curve": {k: v for k, v in _rows(0.0)[c]["ll_by_curve"].items() if k != "c0"}} for c in CUTOFFS}
    line = model_gap(_rows(0.05), theirs, "control.onnx")
    assert "minus control.onnx's (paired over 19 curves" in line and line.count("(better)") == len(CUTOFFS)


def test_branches_of_one_run_count_once_in_the_schedule_s_gain():
    ids = {f"c{i}" for i in range(20)}
    one_run = {k: "run" if int(k[1:]) < 10 else k for k in ids}  # ten cooldowns resumed from one run, ten other runs
    line = schedule_gain(_rows(-0.02, one_run), _rows(0.0), ids)
    assert "paired over 20 curves" in line and line.count("[11]") == len(CUTOFFS)


def test_coverage_is_judged_against_the_issue_s_range_by_its_standard_error():
    def rows(cover: float, se: float, runs: int) -> dict:
        contexts = {f"c{i}": f"run{i // 2}" for i in range(2 * runs)}  # two branches per run
        return {c: {"cover90": cover, "cover90_se": se, "context_by_curve": contexts} for c in CUTOFFS}

    assert coverage_line(rows(0.99, 0.005, 400)).count("0.990 ± 0.011 [400] (above)") == len(CUTOFFS)  # binomial floor
    assert coverage_line(rows(0.80, 0.01, 400)).count("(below)") == len(CUTOFFS)
    assert coverage_line(rows(0.90, 0.01, 400)).count("(inside)") == len(CUTOFFS)
    assert coverage_line(rows(0.97, 0.02, 400)).count("(inside by its noise)") == len(CUTOFFS)


def test_a_few_runs_all_covered_cannot_be_told_from_0_95():
    assert coverage_se(1.0, 0.0, 6) == pytest.approx(math.sqrt(0.95 * 0.05 / 6))
    assert coverage_line({c: {"cover90": 1.0, "cover90_se": 0.0, "context_by_curve": {f"c{i}": f"c{i}" for i in range(6)}}
                          for c in CUTOFFS}).count("(inside by its noise)") == len(CUTOFFS)  # fmt: skip
    assert coverage_se(0.80, 0.05, 6) == pytest.approx(math.sqrt(0.85 * 0.15 / 6))  # below the middle: the low end
    assert coverage_se(0.80, 0.2, 6) == 0.2  # the contexts' spread where it is the larger
    assert coverage_se(1.0, float("nan"), 1) == pytest.approx(math.sqrt(0.95 * 0.05))  # one run: no spread to measure


def _file(path: Path, with_lr: bool) -> Path:
    x = np.arange(1.0, 31.0)
    rows = [
        {"id": f"{path.stem}{i}", "metric": "loss", "direction": "min", "x": x.tolist(),
         "y": (1.0 + (1 + i) * x**-0.5).tolist(), "lr": (np.where(x < 24, 1e-3, 1e-4).tolist() if with_lr else None)}
        for i in range(3)
    ]  # fmt: skip
    with gzip.open(path, "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows))
    return path


def test_against_another_model_a_file_without_schedules_after_one_with_them_is_compared_once(tmp_path, monkeypatch, capsys):
    """A file's curves with a schedule were remembered from the file before, so a file without any asked for its
    missing schedule-blind scores and stopped the run."""
    files = [_file(tmp_path / "with.jsonl.gz", True), _file(tmp_path / "without.jsonl.gz", False)]
    shipped = str(Path(lcpfn.__file__).parent / "models" / "default.onnx")
    argv = ["pfn_quality.py", "--only-real", "--data", *map(str, files), "--against", shipped]
    monkeypatch.setattr(sys, "argv", argv)
    pfn_quality.main()
    out = capsys.readouterr().out
    assert "## without.jsonl.gz: 3 curves" in out
    assert out.count("both without the schedule") == 1 and out.count("schedule's gain in ll") == 1
    assert out.count("paired over 3 curves") == 4  # the schedule's gain, and the model against itself three times
    assert "10 % +0.000 ± 0.000 [3] (tie)" in out.split("## without.jsonl.gz")[1]
    assert out.count("90 % coverage (") == 2
