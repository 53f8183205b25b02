import sys

import numpy as np
import pytest

from benchmarks import what_if


def test_a_missing_file_is_an_error_naming_it(monkeypatch, tmp_path, capsys):
    missing = tmp_path / "mpl_llm_25m.jsonl.gz"
    monkeypatch.setattr(sys, "argv", ["what_if.py", "--files", str(missing)])
    with pytest.raises(SystemExit) as exc:
        what_if.main()
    assert exc.value.code == 2
    assert f"--files: {missing} not found" in capsys.readouterr().err


def _pair(y_final: float, y_parent_final: float) -> what_if.Pair:
    x = np.arange(1.0, 11.0)
    return what_if.Pair("p", x, 3.0 - 0.01 * x, (x, np.ones(10)), (x, np.ones(10)), 20.0, y_final, y_parent_final)


def test_an_interval_many_gains_wide_covers_and_its_width_says_so():
    pairs = [_pair(2.9, 3.0), _pair(2.8, 3.0)]  # true gains 0.1 and 0.2

    def wide(p):  # median right, gain right, an interval 1.0 wide
        return p.y_final, p.y_final - 0.5, p.y_final + 0.5, p.y_parent_final

    r = what_if.evaluate(pairs, wide)
    assert r["cover90"] == 1.0 and r["gain_err"] == pytest.approx(0.0, abs=1e-12)
    assert r["width90_gains"] == pytest.approx(7.5)  # widths of 10 and 5 gains


def test_the_gain_error_s_standard_error_resamples_parent_runs_not_their_branches():
    rng = np.random.default_rng(0)
    # Six runs of five branches each: the branches' errors sit close to their run's, the runs' scatter.
    errors = [float(e) for run in rng.normal(0.3, 0.1, 6) for e in run + rng.normal(0.0, 0.01, 5)]
    by_run = what_if.median_se(errors, [bytes([i // 5]) for i in range(30)])
    as_if_independent = what_if.median_se(errors, [bytes([i]) for i in range(30)])
    assert by_run > 1.5 * as_if_independent > 0.0
    assert what_if.median_se(errors, [b"a"] * 30) == pytest.approx(0.0, abs=1e-12)  # one run: the bootstrap cannot see its luck
    pairs = [_pair(2.9, 3.0), _pair(2.8, 3.0)]  # one prefix
    r = what_if.evaluate(pairs, lambda p: (p.y_final, p.y_final - 0.1, p.y_final + 0.1, p.y_parent_final + 0.05))
    assert r["gain_err"] == pytest.approx(0.375) and r["gain_err_se"] == pytest.approx(0.0, abs=1e-12)
