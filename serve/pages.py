"""The forecast page at ``/`` and the API docs at ``/docs`` and ``/redoc``, served from the package.

Nothing is loaded from a CDN, so both work on a machine without internet: the page
is hand-written HTML, CSS, JavaScript and SVG (``serve/static/``); Swagger UI 5.17.14
and ReDoc 2.1.5 are vendored under ``serve/static/vendor/`` with their licenses
(FastAPI's recipe for self-hosting the docs' assets).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).parent / "static"
SWAGGER = "/static/vendor/swagger-ui-5.17.14"
REDOC = "/static/vendor/redoc-2.1.5"

router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} API",
        redoc_js_url=f"{REDOC}/redoc.standalone.js",
        redoc_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        with_google_fonts=False,
    )
