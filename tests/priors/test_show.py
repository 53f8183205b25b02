import pytest

from priors import show


def test_show_writes_a_png_grid(tmp_path):
    pytest.importorskip("matplotlib")
    out = show.draw(tmp_path / "sub" / "prior.png", rows=2, cols=2, n_points=30)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


def test_show_cli(tmp_path):
    pytest.importorskip("matplotlib")
    show.main(["--out", str(tmp_path / "p.png"), "--rows", "1", "--cols", "2"])
    assert (tmp_path / "p.png").exists()
