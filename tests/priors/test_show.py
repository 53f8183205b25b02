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


def test_show_draws_a_prior_from_a_json_file_and_names_a_bad_key(tmp_path, capsys):
    import json

    pytest.importorskip("matplotlib")
    (tmp_path / "prior.json").write_text(json.dumps({"source_weights": [0, 0, 1, 0, 0, 0]}))
    show.main(["--out", str(tmp_path / "p.png"), "--rows", "1", "--cols", "2", "--prior", str(tmp_path / "prior.json")])
    assert (tmp_path / "p.png").exists()
    (tmp_path / "bad.json").write_text(json.dumps({"noise": {"p_spike": 2}}))
    with pytest.raises(SystemExit):
        show.main(["--out", str(tmp_path / "q.png"), "--prior", str(tmp_path / "bad.json")])
    assert "prior.noise.p_spike must be in [0, 1], got 2" in capsys.readouterr().err
