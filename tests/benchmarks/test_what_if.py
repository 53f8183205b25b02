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
