"""API keys, rate limits, deadlines, draining, the MCMC worker pool and startup faults."""

import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lcpfn.errors import BudgetExceededError
from serve.access import TokenBucket, read_keys
from serve.app import create_app
from serve.config import Settings
from serve.mcmc_pool import MCMCPool, PoolFullError, WorkerCrashedError

ROOT = Path(__file__).resolve().parents[2]
CURVE = {"x": [1, 2, 3, 4, 5, 6], "y": [3.0, 2.6, 2.4, 2.3, 2.25, 2.2], "horizon": 20}
# One family keeps the worker's first compilation short: the pool's behaviour, not the model, is under test.
MCMC_FIT = {"options": {"draws": 200, "chains": 1, "families": ["pow3"]},
            "curve": {"x": [1, 2, 3, 4, 5, 6], "y": [3.0, 2.6, 2.4, 2.3, 2.25, 2.2], "x_query": [20]}}  # fmt: skip


def _app(**settings):
    return create_app(Settings(mcmc_workers=1, mcmc_queue=0, **settings))


def test_api_keys_guard_v1_and_the_docs_and_leave_health_open(caplog):
    with TestClient(_app(api_keys="k1,k2", metrics_public=False)) as c, caplog.at_level(logging.INFO):
        assert c.post("/v1/predict", json=CURVE).status_code == 401
        r = c.post("/v1/predict", json=CURVE, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json() == {"detail": "invalid API key"}
        assert c.post("/v1/predict", json=CURVE, headers={"Authorization": "Bearer k2"}).status_code == 200
        for path in ("/docs", "/redoc", "/openapi.json", "/metrics", "/v1/models"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"Authorization": "Bearer k1"}).status_code == 200, path
        for path in ("/healthz", "/readyz", "/", "/static/app.js"):
            assert c.get(path).status_code == 200, path
    assert "k2" not in caplog.text and "k1" not in caplog.text and "nope" not in caplog.text


def test_metrics_stay_open_when_public_and_keys_come_from_a_file(tmp_path):
    (tmp_path / "keys").write_text("# ops\nsecret-one\n\nsecret-two\n")
    assert read_keys(f"@{tmp_path / 'keys'}") == (b"secret-one", b"secret-two")
    with pytest.raises(ValueError, match="LCPFN_API_KEYS"):
        read_keys(f"@{tmp_path / 'missing'}")
    with TestClient(_app(api_keys=f"@{tmp_path / 'keys'}", metrics_public=True)) as c:
        assert c.get("/metrics").status_code == 200
        assert c.post("/v1/predict", json=CURVE, headers={"Authorization": "Bearer secret-two"}).status_code == 200


def test_rate_limit_answers_429_with_retry_after_and_counts_it():
    with TestClient(_app(rate_limit=0.5, rate_burst=2)) as c:
        codes = [c.post("/v1/predict", json=CURVE).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.post("/v1/predict", json=CURVE)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "lcpfn_rate_limited_total 2.0" in c.get("/metrics").text
        assert c.get("/healthz").status_code == 200  # not limited


def test_token_bucket_refills_at_its_rate():
    bucket = TokenBucket(rate=2.0, burst=1)
    assert bucket.take("a", now=0.0) == 0.0
    assert bucket.take("a", now=0.1) == pytest.approx(0.4)
    assert bucket.take("b", now=0.1) == 0.0  # callers do not share buckets
    assert bucket.take("a", now=0.6) == 0.0


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/predict", CURVE),
        ("/v1/predict/batch", {"curves": [CURVE] * 3}),
        ("/v1/early-stop", {**CURVE, "best_so_far": 2.0}),
        ("/v1/what-if", {"x": CURVE["x"], "y": CURVE["y"], "schedules": {"c": {"name": "constant", "total": 20, "peak": 1}}}),
    ],
)
def test_past_the_deadline_the_answer_is_503_naming_it(path, body):
    with TestClient(_app(request_timeout_s=1e-6, micro_batch=0)) as c:
        r = c.post(path, json=body)
        assert r.status_code == 503 and "LCPFN_REQUEST_TIMEOUT_S" in r.text


def test_while_draining_new_requests_get_503():
    app = _app()
    with TestClient(app) as c:
        assert c.post("/v1/predict", json=CURVE).status_code == 200
        app.state.draining = True
        r = c.post("/v1/predict", json=CURVE)
        assert r.status_code == 503 and "shutting down" in r.text
        assert c.get("/healthz").status_code == 200


def test_a_full_mcmc_pool_answers_429_with_retry_after():
    pytest.importorskip("pymc")
    with TestClient(_app()) as c:
        pool = c.app.state.mcmc_pool
        busy = pool.submit({**MCMC_FIT, "options": {**MCMC_FIT["options"], "draws": 5000}}, budget_s=30)
        r = c.post("/v1/mcmc/predict", json={**CURVE, "draws": 50, "chains": 1, "time_budget_s": 10})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        busy.cancel()


@pytest.mark.slow
def test_pool_answers_within_budget_replaces_overrunning_and_crashed_workers_and_leaks_nothing():
    pytest.importorskip("pymc")
    pool = MCMCPool(workers=1, queue=1)
    try:
        # A fit that fits its budget.
        pred = pool.submit(MCMC_FIT, budget_s=60).result(timeout=90)
        assert pred.median.shape == (1,)
        # Full: one running, one waiting, the next refused at once.
        first = pool.submit({**MCMC_FIT, "options": {**MCMC_FIT["options"], "draws": 20000}}, budget_s=6)
        second = pool.submit(MCMC_FIT, budget_s=6)
        with pytest.raises(PoolFullError):
            pool.submit(MCMC_FIT, budget_s=6)
        start = time.monotonic()
        for f in (first, second):
            try:
                f.result(timeout=30)
            except BudgetExceededError:
                pass
        assert time.monotonic() - start < 6 + 10  # every request answered within its budget + 10 s
        # A worker that dies mid-fit: its request gets 503, the pool a new worker.
        before = pool.pids()
        crashing = pool.submit({**MCMC_FIT, "options": {**MCMC_FIT["options"], "draws": 20000}}, budget_s=60)
        time.sleep(3)
        os.kill(before[0], signal.SIGKILL)
        with pytest.raises(WorkerCrashedError):
            crashing.result(timeout=30)
        assert pool.pids() != before and pool.submit(MCMC_FIT, budget_s=60).result(timeout=90).median.shape == (1,)
        assert pool.crashes == 1
        assert len([p for p in multiprocessing.active_children() if p.name == "lcpfn-mcmc-worker"]) == 1
    finally:
        pool.close()
    assert not [p for p in multiprocessing.active_children() if p.name == "lcpfn-mcmc-worker"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_missing_model_stops_the_server_with_one_log_line_naming_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "serve", "--model", str(tmp_path / "nope.onnx"), "--port", str(_free_port())],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode != 0
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["startup_failed"] and "nope.onnx" in lines[0]["error"]


@pytest.mark.slow
def test_sigterm_lets_the_request_in_flight_finish_then_exits():
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "serve", "--port", str(port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        result = {}

        def slow():  # an MCMC fit: seconds in flight
            body = json.dumps({**CURVE, "draws": 200, "chains": 1, "time_budget_s": 20, "families": ["pow3"]}).encode()
            req = urllib.request.Request(f"{url}/v1/mcmc/predict", data=body, headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    result["status"] = r.status
            except urllib.error.HTTPError as e:
                result["status"] = e.code

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(1.5)
        server.send_signal(signal.SIGTERM)
        t.join(90)
        assert result.get("status") in (200, 503), result  # answered, not cut off
        # uvicorn re-raises the SIGTERM it caught once it has shut down gracefully (the drain is checked below).
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        assert '"draining"' in server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
