"""``/v1``: predictions, batch predictions, early-stop decisions and the MCMC baseline."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

import lcpfn
from lcpfn.errors import BudgetExceededError, InvalidCurveError, MissingDependencyError
from lcpfn.inputs import schedule_from_spec
from serve.schemas import (
    BatchRequest,
    BatchResponse,
    EarlyStopRequest,
    EarlyStopResponse,
    MCMCRequest,
    MCMCResponse,
    PredictRequest,
    PredictResponse,
    WhatIfRequest,
    WhatIfResponse,
)

router = APIRouter(prefix="/v1", tags=["predictions"])


def _limits(request: Request, body, where: str = "") -> None:
    s = request.app.state.settings
    if len(body.x) > s.max_points:
        raise InvalidCurveError(f"{where}x has {len(body.x)} points, more than the limit of {s.max_points} (LCPFN_MAX_POINTS)")
    n_query = len(body.x_query) if getattr(body, "x_query", None) is not None else 1
    if n_query > s.max_queries:
        raise InvalidCurveError(f"{where}x_query has {n_query} steps, more than the limit of {s.max_queries} (LCPFN_MAX_QUERIES)")


def _arguments(body: PredictRequest) -> dict:
    return {
        "x": body.x,
        "y": body.y,
        "x_query": body.x_query,
        "horizon": body.horizon,
        "direction": body.direction,
        "bounds": body.bounds,
        "schedule": schedule_from_spec(body.schedule.model_dump() if body.schedule is not None else None),
    }


def _response(pred, levels) -> PredictResponse:
    q = pred.quantile(levels)
    return PredictResponse(
        model=pred.model,
        version=lcpfn.__version__,
        x_query=pred.x_query.tolist(),
        mean=_finite(pred.mean),
        median=_finite(pred.median),
        quantiles={f"{lv:g}": _finite(row) for lv, row in zip(levels, q)},
    )


def _finite(a) -> list[float]:
    """Predictions as JSON numbers. Validated inputs keep them finite (``lcpfn.inputs.MAX_ABS_VALUE`` and
    the clip in normalized units); a non-finite value would be a bug, reported as one (500), never replaced."""
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise RuntimeError("the model produced a non-finite prediction for a valid curve")
    return a.tolist()


@router.post("/predict", response_model=PredictResponse, summary="Predictive distribution of one curve at query steps")
async def predict(body: PredictRequest, request: Request) -> PredictResponse:
    # async, but the CPU work runs on the micro-batcher's thread (or the thread pool):
    # a request then costs one thread hand-off instead of two.
    _limits(request, body)
    batcher = request.app.state.batcher
    start = time.perf_counter()
    args = _arguments(body)

    def respond(pred):
        return _response(pred, body.quantiles)

    if batcher is not None:
        out = await _within_deadline(request, asyncio.wrap_future(batcher.submit(args, then=respond)))
    else:
        out = await _within_deadline(request, run_in_threadpool(lambda: respond(request.app.state.model.predict(**args))))
    request.app.state.metrics.inference.labels("/v1/predict").observe(time.perf_counter() - start)
    return out


async def _within_deadline(request: Request, work):
    """``await work``, or a 503 once ``LCPFN_REQUEST_TIMEOUT_S`` has passed: never a hung connection."""
    timeout = request.app.state.settings.request_timeout_s
    if not timeout > 0:
        return await work
    try:
        return await asyncio.wait_for(work, timeout)
    except asyncio.TimeoutError:
        raise BudgetExceededError(f"the request took longer than LCPFN_REQUEST_TIMEOUT_S={timeout:g} s") from None


@router.post("/predict/batch", response_model=BatchResponse, summary="Many curves in one batched inference")
async def predict_batch(body: BatchRequest, request: Request) -> BatchResponse:
    return await _within_deadline(request, run_in_threadpool(_predict_batch, body, request))


def _predict_batch(body: BatchRequest, request: Request) -> BatchResponse:
    s = request.app.state.settings
    if len(body.curves) > s.max_batch:
        raise InvalidCurveError(f"curves has {len(body.curves)} entries, more than the limit of {s.max_batch} (LCPFN_MAX_BATCH)")
    for i, c in enumerate(body.curves):
        _limits(request, c, f"curves[{i}].")
    model = request.app.state.model
    start = time.perf_counter()
    preds = model.predict_many([_arguments(c) for c in body.curves])
    out = BatchResponse(predictions=[_response(p, c.quantiles) for p, c in zip(preds, body.curves)])
    request.app.state.metrics.inference.labels("/v1/predict/batch").observe(time.perf_counter() - start)
    return out


@router.post(
    "/early-stop",
    response_model=EarlyStopResponse,
    summary="Should this run stop? (LC-PFN's criterion)",
    responses={429: {"description": "method mcmc: every MCMC worker is busy and the queue is full"},
               503: {"description": "past the deadline; method mcmc: the budget ran out or the worker crashed"}},
)  # fmt: skip
async def early_stop(body: EarlyStopRequest, request: Request) -> EarlyStopResponse:
    _limits(request, body)
    stopper = lcpfn.EarlyStopper(
        body.horizon,
        body.direction,
        body.threshold,
        min_points=body.min_points,
        bounds=body.bounds,
        schedule=schedule_from_spec(body.schedule.model_dump() if body.schedule is not None else None),
        model=request.app.state.model,
    )
    if body.method == "mcmc":
        curve = {"x": body.x, "y": body.y, "horizon": body.horizon, "direction": body.direction, "bounds": body.bounds,
                 "schedule": stopper.schedule}  # fmt: skip
        pred = await _mcmc(request, body, curve)
        return _decision(stopper.decide(pred, len(body.x), body.best_so_far), pred.model, _json_safe(pred.diagnostics))
    return await _within_deadline(request, run_in_threadpool(_early_stop, stopper, body, request))


def _early_stop(stopper: lcpfn.EarlyStopper, body: EarlyStopRequest, request: Request) -> EarlyStopResponse:
    start = time.perf_counter()
    d = stopper.should_stop(body.x, body.y, body.best_so_far)
    request.app.state.metrics.inference.labels("/v1/early-stop").observe(time.perf_counter() - start)
    return _decision(d, request.app.state.model.name)


def _decision(d, model: str, diagnostics: dict | None = None) -> EarlyStopResponse:
    return EarlyStopResponse(
        stop=d.stop,
        prob_improve=d.prob_improve,
        predicted_final=_finite([d.predicted_final])[0],
        reason=d.reason,
        model=model,
        diagnostics=diagnostics,
    )


@router.post("/what-if", response_model=WhatIfResponse, summary="Where the run ends under other schedules, before they run")
async def what_if(body: WhatIfRequest, request: Request) -> WhatIfResponse:
    return await _within_deadline(request, run_in_threadpool(_what_if, body, request))


def _what_if(body: WhatIfRequest, request: Request) -> WhatIfResponse:
    s = request.app.state.settings
    if len(body.x) > s.max_points:
        raise InvalidCurveError(f"x has {len(body.x)} points, more than the limit of {s.max_points} (LCPFN_MAX_POINTS)")
    model = request.app.state.model
    start = time.perf_counter()
    common = {"direction": body.direction, "bounds": body.bounds}
    if body.schedules is not None:
        schedules = {name: schedule_from_spec(spec.model_dump()) for name, spec in body.schedules.items()}
        result = model.compare_schedules(body.x, body.y, schedules, x_query=body.x_query, horizon=body.horizon, **common)
        out = WhatIfResponse(model=model.name, version=lcpfn.__version__, compare=_checked(result.to_dict()))
    else:
        plan = model.plan_cooldown(body.x, body.y, **body.cooldown.model_dump(), **common)
        out = WhatIfResponse(model=model.name, version=lcpfn.__version__, cooldown=_checked(plan.to_dict()))
    request.app.state.metrics.inference.labels("/v1/what-if").observe(time.perf_counter() - start)
    return out


def _checked(d):
    """A result's numbers, each checked finite (:func:`_finite`); None stays None (a plan cell that does not fit)."""
    if isinstance(d, dict):
        return {k: _checked(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_checked(v) for v in d]
    if isinstance(d, float):
        return _finite([d])[0]
    return d


@router.post(
    "/mcmc/predict",
    response_model=MCMCResponse,
    summary="The MCMC baseline under the same prior (slow)",
    responses={
        429: {"description": "every MCMC worker is busy and the queue is full (Retry-After says when to retry)"},
        503: {"description": "the budget ran out, the worker crashed, or the mcmc extra (pymc) is not installed"},
    },
)
async def mcmc_predict(body: MCMCRequest, request: Request) -> MCMCResponse:
    _limits(request, body)
    pred = await _mcmc(request, body, _arguments(body))
    return MCMCResponse(**_response(pred, body.quantiles).model_dump(), diagnostics=_json_safe(pred.diagnostics))


async def _mcmc(request: Request, body, curve: dict):
    """An MCMC prediction for ``curve`` (predict's arguments) in the worker pool (serve.mcmc_pool), its budget counted
    from now: queueing, compilation and sampling; the server's own threads stay free for /v1/predict."""
    from lcpfn.errors import require

    pool = request.app.state.mcmc_pool
    if pool is None:
        require("pymc", "mcmc")  # raises MissingDependencyError (503) naming the extra
        raise MissingDependencyError("the MCMC worker pool is not running")
    s = request.app.state.settings
    budget = min(body.time_budget_s, s.mcmc_max_seconds)
    options = {"draws": min(body.draws, s.mcmc_max_draws), "chains": body.chains}  # the pool sets the fit's budget
    options.update({k: tuple(v) for k in ("families", "sources") if (v := getattr(body, k)) is not None})
    return await asyncio.wrap_future(pool.submit({"options": options, "curve": curve}, budget))


def _json_safe(value):
    """Diagnostics as JSON: a non-finite number (r-hat of a stuck chain) becomes null."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
