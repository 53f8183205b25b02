import json
import math

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.config import Settings

CURVE = {"x": [1, 2, 3, 4, 5, 6], "y": [3.0, 2.6, 2.4, 2.3, 2.25, 2.2]}


@pytest.fixture(scope="module")
def client():
    # A cold machine compiles the MCMC model's likelihood once per structure (the requests below ask for two families,
    # seconds; all of them take minutes, then pytensor's disk cache has it).
    settings = Settings(max_body_bytes=200_000, max_batch=4, max_points=1000, max_queries=50, mcmc_max_draws=50,
                        mcmc_max_seconds=300)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_readyz_is_503_until_the_model_is_loaded():
    app = create_app(Settings())
    with TestClient(app) as c:  # lifespan runs: ready
        assert c.get("/readyz").status_code == 200
    assert TestClient(app).get("/readyz").status_code == 503  # lifespan not entered: not ready


def test_predict_returns_quantiles_per_query(client):
    r = client.post("/v1/predict", json={**CURVE, "x_query": [10, 20], "quantiles": [0.1, 0.5, 0.9]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["x_query"] == [10, 20] and set(body["quantiles"]) == {"0.1", "0.5", "0.9"}
    assert body["quantiles"]["0.1"][0] <= body["median"][0] <= body["quantiles"]["0.9"][0]
    assert body["model"] and body["version"]


def test_predict_without_micro_batching_gives_the_same_answer(client):
    batched = client.post("/v1/predict", json={**CURVE, "x_query": [10, 20]})
    with TestClient(create_app(Settings(micro_batch=0))) as alone:
        r = alone.post("/v1/predict", json={**CURVE, "x_query": [10, 20]})
        bad = alone.post("/v1/predict", json={"x": [1, 3, 2], "y": [1, 2, 3], "horizon": 10})
    assert r.status_code == 200, r.text
    assert r.json()["median"] == pytest.approx(batched.json()["median"], rel=1e-5)
    assert bad.status_code == 422 and "x[2]" in bad.text


def test_predict_with_horizon_and_schedules(client):
    named = {"name": "wsd", "total": 100, "peak": 0.001, "cooldown": 0.2}
    arrays = {"steps": [0, 80, 100], "lr": [0.001, 0.001, 0.0]}
    for schedule in (named, arrays):
        r = client.post("/v1/predict", json={**CURVE, "horizon": 100, "schedule": schedule})
        assert r.status_code == 200, r.text
        assert r.json()["x_query"] == [100]


def test_batch_predicts_every_curve(client):
    curves = [
        {**CURVE, "horizon": 50},
        {"x": [1, 2, 3], "y": [0.2, 0.4, 0.5], "direction": "max", "bounds": [0, 1], "x_query": [30]},
    ]
    r = client.post("/v1/predict/batch", json={"curves": curves})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 2 and all(0 <= v <= 1 for q in preds[1]["quantiles"].values() for v in q)


def test_early_stop_decision(client):
    r = client.post(
        "/v1/early-stop",
        json={
            "x": list(range(1, 16)),
            "y": [0.3 + 0.002 * i for i in range(15)],
            "direction": "max",
            "bounds": [0, 1],
            "horizon": 100,
            "best_so_far": 0.95,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["stop"] is True and r.json()["prob_improve"] < 0.05


@pytest.mark.slow
def test_early_stop_by_the_mcmc_baseline_follows_the_same_rule(client):
    body = {"x": list(range(1, 16)), "y": [0.3 + 0.002 * i for i in range(15)], "direction": "max", "bounds": [0, 1],
            "horizon": 100, "best_so_far": 0.95}  # fmt: skip
    r = client.post("/v1/early-stop", json={**body, "method": "mcmc", "draws": 50, "chains": 2, "time_budget_s": 300,
                                                 "families": ["pow3"]})  # fmt: skip
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["stop"] is True and d["prob_improve"] < 0.05 and d["model"].startswith("mcmc")
    assert d["diagnostics"]["sampler"] == "smc" and d["diagnostics"]["draws"] == 100
    late = client.post("/v1/early-stop", json={**body, "method": "mcmc", "time_budget_s": 0.001})
    assert late.status_code == 503 and "budget" in late.text


def test_models_and_metrics(client):
    card = client.get("/v1/models").json()["models"][0]["card"]
    assert "borders" not in card and card["sha256"]
    client.post("/v1/predict", json={**CURVE, "horizon": 10})
    text = client.get("/metrics").text
    assert 'lcpfn_requests_total{endpoint="/v1/predict",status="200"}' in text and "lcpfn_inference_seconds" in text


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({**CURVE, "x_query": [10], "extra": 1}, "extra"),
        ({**CURVE, "x": [1, 2, 3], "x_query": [10]}, "same length"),
        ({**CURVE, "x": [1, 3, 2, 4, 5, 6], "x_query": [10]}, "strictly increasing"),
        ({**CURVE}, "give x_query"),
        ({**CURVE, "x_query": [20], "horizon": 10}, "after the horizon=10"),
        ({**CURVE, "x_query": [3]}, "before the last observed step"),
        ({**CURVE, "x_query": [10], "quantiles": [1.5]}, "less than 1"),
        ({**CURVE, "x_query": [10], "direction": "up"}, "min"),
        ({**CURVE, "x_query": list(range(10, 70))}, "LCPFN_MAX_QUERIES"),
        ({**CURVE, "x_query": [10], "schedule": {"name": "wsd", "total": 100, "peak": 1e-3, "cooldown": 3}}, "cooldown"),
        ({**CURVE, "x_query": [10], "schedule": {"steps": [0, 5], "lr": [1, 1]}}, "before the last observed step"),
        ({**CURVE, "horizon": 10, "schedule": {"steps": [0, 8], "lr": [1, 1]}}, "ends at step 8, before the horizon 10"),
        ({**CURVE, "x_query": [10], "bounds": [0, 1]}, "outside the given bounds"),
    ],
)
def test_bad_input_is_422_naming_the_problem(client, body, fragment):
    r = client.post("/v1/predict", json=body)
    assert r.status_code == 422, r.text
    assert fragment in json.dumps(r.json())


def test_a_schedule_with_an_unknown_name_gets_one_error_about_its_name(client):
    body = {**CURVE, "x_query": [10], "schedule": {"name": "onecycle", "total": 100, "peak": 1e-3}}
    r = client.post("/v1/predict", json=body)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"][-1] == "name" and "'wsd'" in error["msg"], error


def test_non_finite_numbers_are_422(client):
    raw = '{"x": [1, 2, 3], "y": [1, NaN, 2], "x_query": [5]}'
    r = client.post("/v1/predict", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = client.post("/v1/predict", content=raw.replace("NaN", "Infinity"), headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_oversized_body_is_413(client):
    big = {"x": list(range(1, 30_001)), "y": [1.0] * 30_000, "x_query": [40_000]}
    r = client.post("/v1/predict", json=big)
    assert r.status_code == 413 and "LCPFN_MAX_BODY_BYTES" in r.text


def test_batch_limit_is_422(client):
    r = client.post("/v1/predict/batch", json={"curves": [{**CURVE, "horizon": 10}] * 5})
    assert r.status_code == 422 and "LCPFN_MAX_BATCH" in r.text


def test_mcmc_endpoint_predicts_with_capped_draws(client):
    r = client.post("/v1/mcmc/predict", json={**CURVE, "horizon": 10, "draws": 5000, "chains": 2, "time_budget_s": 300,
                                                     "families": ["pow3"]})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"].startswith("mcmc") and len(body["median"]) == 1
    assert body["diagnostics"]["draws"] == 2 * 50 and body["diagnostics"]["sampler"] == "smc"  # capped by mcmc_max_draws


@pytest.mark.parametrize("option, value", [("families", ["pow3", "nope"]), ("families", []), ("sources", ["spline"])])
def test_unknown_mcmc_families_or_sources_are_422_naming_the_field(client, option, value):
    r = client.post("/v1/mcmc/predict", json={**CURVE, "horizon": 10, option: value})
    assert r.status_code == 422 and option in r.text


def test_mcmc_without_time_to_sample_is_503(client):
    r = client.post("/v1/mcmc/predict", json={**CURVE, "horizon": 10, "draws": 10, "chains": 1, "time_budget_s": 0.001})
    assert r.status_code == 503 and "time_budget" in r.json()["detail"]


def test_settings_come_from_the_environment():
    s = Settings.from_env({"LCPFN_PORT": "9000", "LCPFN_MCMC_MAX_SECONDS": "2.5", "LCPFN_MODEL": "/m.onnx"})
    assert (s.port, s.mcmc_max_seconds, s.model) == (9000, 2.5, "/m.onnx")
    with pytest.raises(ValueError, match="LCPFN_PORT"):
        Settings.from_env({"LCPFN_PORT": "eighty"})


def test_non_finite_mcmc_diagnostics_become_null():
    from serve.api import _json_safe

    got = _json_safe({"rhat_max": math.nan, "posterior_mean": {"a": math.inf, "b": 1.5}, "sampler": "pymc", "draws": 10})
    assert got == {"rhat_max": None, "posterior_mean": {"a": None, "b": 1.5}, "sampler": "pymc", "draws": 10}
    json.dumps(got, allow_nan=False)


def test_what_if_compares_schedules_and_plans_cooldowns(client):
    x = list(range(200, 4200, 200))
    y = [3.0 + 2.0 * (s / 100) ** -0.4 for s in x]
    base = {"total": 10000, "peak": 3e-4}
    schedules = {"none": {"name": "constant", **base}, "wsd": {"name": "wsd", "cooldown": 0.2, **base}}
    r = client.post("/v1/what-if", json={"x": x, "y": y, "bounds": [0, None], "schedules": schedules})
    assert r.status_code == 200, r.text
    compare = r.json()["compare"]
    assert set(compare["candidates"]) == {"none", "wsd"} and abs(sum(compare["prob_best"].values()) - 1) < 1e-9
    plan = {"total": 10000, "peak": 3e-4, "starts": [5000, 8000], "lengths": [2000, 6000]}
    r = client.post("/v1/what-if", json={"x": x, "y": y, "cooldown": plan})
    assert r.status_code == 200, r.text
    table = r.json()["cooldown"]
    assert table["median"][1][1] is None and table["best"]["start"] in (5000, 8000)


@pytest.mark.parametrize(
    "body, fragment",
    [
        (
            {"schedules": {"a": {"name": "constant", "total": 100, "peak": 1}, "b": {"name": "cosine", "total": 100, "peak": 1}}},
            "'a' and 'b' differ at step",
        ),
        ({"cooldown": {"total": 100, "peak": 1, "starts": [2], "lengths": [10]}}, "before the last observed step"),
        ({}, "exactly one of schedules"),
        ({"cooldown": {"total": 100, "peak": 1, "starts": [20], "lengths": [10], "shape": "square"}}, "shape"),
    ],
)
def test_what_if_bad_input_is_422_naming_the_problem(client, body, fragment):
    r = client.post("/v1/what-if", json={"x": [1, 2, 3, 4, 5, 6], "y": [3.0, 2.6, 2.4, 2.3, 2.25, 2.2], **body})
    assert r.status_code == 422, r.text
    assert fragment in r.text
