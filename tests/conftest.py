import pytest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The `tiny` preset trained once (a few seconds) and exported: (run folder, onnx path)."""
    from training.export import export
    from training.train import PRESETS, train

    run = tmp_path_factory.mktemp("tiny")
    train(PRESETS["tiny"], run)
    onnx = run / "tiny.onnx"
    export(run / "checkpoint.pt", onnx)
    return run, onnx
