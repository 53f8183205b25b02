import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What each top-level package may import from the others (priors <- lcpfn <- training, serve).
ALLOWED = {"priors": set(), "lcpfn": {"priors"}, "training": {"priors", "lcpfn"}, "serve": {"lcpfn"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_import_direction(package):
    for path in (ROOT / package).rglob("*.py"):
        forbidden = (_imports(path) & set(ALLOWED)) - ALLOWED[package] - {package}
        assert not forbidden, f"{path.relative_to(ROOT)} imports {forbidden}"


def test_core_imports_need_no_torch_and_have_no_side_effects():
    code = (
        "import sys, lcpfn, lcpfn.mcmc, priors, priors.config, priors.schedules, priors.laws, training, serve\n"
        "assert 'torch' not in sys.modules, 'core import pulled in torch'\n"
        "print(lcpfn.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_no_print_in_library_code():
    for package in ("priors", "lcpfn"):
        for path in (ROOT / package).rglob("*.py"):
            calls = [
                n
                for n in ast.walk(ast.parse(path.read_text()))
                if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print"
            ]
            assert not calls, f"{path.relative_to(ROOT)} calls print()"


def test_lcpfn_serve_command_starts_and_answers(tmp_path):
    """`python -m serve` (what `make serve` and `lcpfn serve` run) serves /readyz on the port asked."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "serve", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("server never became ready")
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
    assert '"event": "ready"' in out  # structured (JSON) logs
