"""Operations endpoints: liveness, readiness, the model card and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

import lcpfn

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="The model is loaded and warmed up", responses={503: {"description": "not ready yet"}})
def readyz(request: Request):
    if not getattr(request.app.state, "ready", False):
        return JSONResponse(status_code=503, content={"status": "loading"})
    return {"status": "ready", "model": request.app.state.model.name}


@router.get("/v1/models", summary="The model card of the served model")
def models(request: Request) -> dict:
    model = request.app.state.model
    card = {k: v for k, v in model.card.items() if k != "borders"}
    return {"models": [{"name": model.name, "package_version": lcpfn.__version__, "card": card}]}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
