"""Schemathesis over the OpenAPI schema: generated requests (>= 1,000 across the POST endpoints) never get a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings

import lcpfn
from serve.app import create_app
from serve.config import Settings

EXAMPLES_PER_ENDPOINT = 350


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error():
    app = create_app(Settings(max_points=2000, max_queries=200, max_batch=8))
    # The lifespan's work, done up front: schemathesis calls the ASGI app without running the lifespan.
    app.state.model, app.state.ready = lcpfn.load(), True
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "POST" or operation.path == "/v1/mcmc/predict":  # MCMC: minutes per call, own tests
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_ENDPOINT, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case):
            nonlocal calls
            # early-stop by the MCMC baseline answers 503 when its budget ends, by design (tests/serve/test_app.py).
            assume(not (isinstance(case.body, dict) and case.body.get("method") == "mcmc"))
            response = case.call()
            calls += 1
            assert 200 <= response.status_code < 500, (case.method, case.path, case.body, response.text[:500])

        no_server_error()
    assert calls >= 1000, calls
