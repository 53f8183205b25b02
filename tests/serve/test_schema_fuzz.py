"""Schemathesis over the OpenAPI schema: generated requests (>= 1,000 across the POST endpoints) never get a 5xx."""

import schemathesis
from hypothesis import HealthCheck, settings

import lcpfn
from serve.app import create_app
from serve.config import Settings

APP = create_app(Settings(max_points=2000, max_queries=200, max_batch=8))
# The lifespan's work, done up front: schemathesis calls the ASGI app without running the lifespan.
APP.state.model, APP.state.ready = lcpfn.load(), True
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
CALLS = {"n": 0}


@SCHEMA.parametrize()
@settings(max_examples=350, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    if case.path == "/v1/mcmc/predict":  # minutes per call by design; covered by its own tests
        return
    response = case.call()
    CALLS["n"] += 1
    assert 200 <= response.status_code < 500, (case.method, case.path, case.body, response.text[:500])


def test_enough_cases_were_generated():
    assert CALLS["n"] >= 1000, CALLS
