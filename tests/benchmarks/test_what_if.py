import sys

import pytest

from benchmarks import what_if


def test_a_missing_file_is_an_error_naming_it(monkeypatch, tmp_path, capsys):
    missing = tmp_path / "mpl_llm_25m.jsonl.gz"
    monkeypatch.setattr(sys, "argv", ["what_if.py", "--files", str(missing)])
    with pytest.raises(SystemExit) as exc:
        what_if.main()
    assert exc.value.code == 2
    assert f"--files: {missing} not found" in capsys.readouterr().err
