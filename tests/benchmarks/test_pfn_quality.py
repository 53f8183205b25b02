from benchmarks.pfn_quality import model_gap, schedule_gain
from training.evaluate import CUTOFFS


def _rows(gap: float) -> dict:
    return {c: {"ll_by_curve": {f"c{i}": 1.0 + 0.1 * i + gap * (1 + 0.01 * i) for i in range(20)}} for c in CUTOFFS}


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
