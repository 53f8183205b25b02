"""The FastAPI application: ``create_app(settings)``; ``uvicorn serve.app:create_app --factory``.

The model is loaded once in the lifespan and warmed up before ``/readyz`` says
ready. The CPU-bound inference never runs on the event loop, and all of it shares
one ONNX Runtime session: ``/v1/predict`` is ``async`` and hands its curve to the
micro-batcher's inference thread (:mod:`serve.batching`; concurrent requests go
through as one batch), the other endpoints are plain ``def`` functions that FastAPI
runs in its thread pool. Bad input is a 422 naming the field, an oversized body a
413, a missing optional dependency or an exhausted MCMC budget a 503.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import signal
import threading
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

import lcpfn
from lcpfn.errors import BudgetExceededError, InvalidCurveError, InvalidScheduleError, MissingDependencyError
from serve.access import Access, read_keys
from serve.api import router as api_router
from serve.batching import MicroBatcher
from serve.config import Settings
from serve.mcmc_pool import MCMCPool, PoolFullError, WorkerCrashedError
from serve.metrics import Metrics
from serve.ops import router as ops_router
from serve.pages import STATIC
from serve.pages import router as pages_router

log = logging.getLogger("lcpfn.serve")


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes`` (declared or streamed), before they are parsed."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_large(send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send):
        body = json.dumps(
            {"detail": f"request body larger than the limit of {self.max_bytes} bytes (LCPFN_MAX_BODY_BYTES)"}
        ).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class Observe:
    """ASGI middleware: request count, latency and one structured log line per request.

    Plain ASGI rather than ``@app.middleware("http")``, whose per-request task and
    streams cost more than the inference of a small curve.
    """

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - start
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(seconds)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    json.dumps(
                        {
                            "event": "request",
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "ms": round(1e3 * seconds, 2),
                        }
                    )
                )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    keys = read_keys(settings.api_keys)  # a bad key file fails here, naming the variable

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.model = lcpfn.load(settings.model, threads=settings.threads, spin=False)  # includes a warm-up call
        app.state.batcher = MicroBatcher(app.state.model, max_batch=settings.micro_batch) if settings.micro_batch > 0 else None
        app.state.mcmc_pool = None
        if importlib.util.find_spec("pymc") is not None:
            app.state.mcmc_pool = MCMCPool(workers=settings.mcmc_workers, queue=settings.mcmc_queue)
        _drain_on_sigterm(app)
        app.state.ready = True
        log.info(json.dumps({"event": "ready", "model": app.state.model.name, "path": str(app.state.model.path)}))
        yield
        app.state.ready = False
        if app.state.mcmc_pool is not None:
            app.state.mcmc_pool.close()
        if app.state.batcher is not None:
            app.state.batcher.close()

    app = FastAPI(
        title="lcpfn",
        version=lcpfn.__version__,
        description="Bayesian learning-curve extrapolation: predictive intervals, batch predictions, early-stop decisions.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by serve.pages: the CDN's assets fail offline
        redoc_url=None,
    )
    app.state.settings, app.state.ready, app.state.metrics = settings, False, Metrics.create()
    app.state.draining, app.state.mcmc_pool = False, None
    app.include_router(ops_router)
    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(InvalidCurveError)
    @app.exception_handler(InvalidScheduleError)
    async def invalid_curve(request: Request, e: InvalidCurveError):
        return JSONResponse(status_code=422, content={"detail": [{"loc": ["body"], "msg": str(e), "type": "invalid_curve"}]})

    @app.exception_handler(MissingDependencyError)
    @app.exception_handler(BudgetExceededError)
    @app.exception_handler(WorkerCrashedError)
    async def unavailable(request: Request, e: Exception):
        return JSONResponse(status_code=503, content={"detail": str(e)})

    @app.exception_handler(PoolFullError)
    async def busy(request: Request, e: PoolFullError):
        return JSONResponse(status_code=429, content={"detail": str(e)}, headers={"retry-after": str(e.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, e: RequestValidationError):
        # FastAPI's default, minus the echoed input (it can be megabytes, and may hold NaN that JSON cannot carry).
        errors = [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in e.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        Access, keys=keys, metrics_public=settings.metrics_public, rate=settings.rate_limit, burst=settings.rate_burst,
        metrics=app.state.metrics,
    )  # fmt: skip
    app.add_middleware(Draining, state=app.state)
    app.add_middleware(Observe, metrics=app.state.metrics)  # outermost: sees 401s, 413s, 429s and 503s too
    return app


class Draining:
    """ASGI middleware: once SIGTERM arrived, new requests get 503 while those in flight finish."""

    def __init__(self, app, state):
        self.app, self.state = app, state

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.state.draining and scope["path"] != "/healthz":
            body = b'{"detail": "the service is shutting down"}'
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _drain_on_sigterm(app: FastAPI) -> None:
    """Mark the app draining on SIGTERM, then hand the signal on (uvicorn finishes the requests in flight, then exits)."""
    if threading.current_thread() is not threading.main_thread():
        return  # a test client's lifespan: no signals there
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        app.state.draining = True
        log.info(json.dumps({"event": "draining"}))
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
