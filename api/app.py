"""The FastAPI app factory: routes translate HTTP to optimizer calls and nothing more."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from functools import cache
from importlib.resources import files

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api import errors
from api.auth import Authenticator
from api.deps import one_value_per_query_parameter
from api.examples import openapi_with_examples
from api.parsing import Parsers
from api.quotas import SolverMeter
from api.routes import access, cycle, exports, health, imports, jobs, portfolios, scenarios, solve
from api.settings import ApiSettings
from api.solvers import Solvers
from jobs.settings import JobSettings
from storage.db import Database


def create_app(settings: ApiSettings | None = None, db: Database | None = None) -> FastAPI:
    """The app; `db` defaults to the database of the VMO_DATABASE_URL / VMO_DATABASE_PATH settings."""
    settings = settings or ApiSettings()
    solvers = Solvers(settings.pool_size, settings.queue_limit, SolverMeter(settings.quota_solver_seconds))
    parsers = Parsers(settings.parser_processes)
    job_settings = JobSettings()
    db = db or Database(job_settings.url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db.migrate()
        parsers.start()  # both kinds of process import at once
        try:
            solvers.start()
            parsers.wait_ready()
            yield
        finally:
            solvers.stop()
            parsers.stop()

    app = FastAPI(
        title="vmo-optimizer",
        version="0.1.0",
        summary="Which MMPs to fund, when, and how to split the budget across value streams.",
        lifespan=lifespan,
        docs_url=None,  # served below from this package's own assets, so /docs works offline
        redoc_url=None,
        dependencies=[Depends(one_value_per_query_parameter)],
    )
    app.state.settings = settings
    app.state.solvers = solvers
    app.state.parsers = parsers
    app.state.db = db
    app.state.auth = Authenticator(settings, db)
    app.state.job_lease_s = job_settings.job_lease_s
    errors.install(app, settings.retry_after_s)
    app.include_router(health.router)
    app.include_router(solve.router)
    app.include_router(scenarios.router)
    app.include_router(imports.router)
    app.include_router(exports.router)  # before portfolios: /v1/plans/{id}.xlsx must not match /v1/plans/{id}
    app.include_router(portfolios.router)
    app.include_router(jobs.router)
    app.include_router(cycle.router)
    app.include_router(access.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(SecurityHeaders)
    if settings.cors_origins:  # closed unless VMO_CORS_ORIGINS names the origins a browser may call from
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["Location", "Retry-After"],
        )
    install_docs(app)
    app.openapi = lambda: openapi_with_examples(app)  # type: ignore[method-assign]
    return app


DOCS_ASSETS = "/docs-assets"
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"  # the one thing ReDoc's bundle fetches from outside
BLANK_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


@cache
def _offline_redoc(path: str) -> bytes:
    """ReDoc's bundle with its sidebar logo (fetched from Redocly's CDN) replaced by a blank inline image."""
    with open(path, "rb") as f:
        return f.read().replace(REDOC_LOGO.encode(), BLANK_IMAGE.encode())


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, their scripts, styles and icon served from the fastapi-offline
    package (no CDN, no web font): the docs work on a machine without internet."""
    assets = files("fastapi_offline") / "static"

    @app.get(f"{DOCS_ASSETS}/redoc.standalone.js", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(_offline_redoc(str(assets / "redoc.standalone.js")), media_type="text/javascript")

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # never ask the online validator for a badge
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


class BodyLimit:
    """413 for a body over the limit, by Content-Length or by counting a streamed body; 408 for a body that has
    not arrived in time (a client trickling bytes holds a connection and a task)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 60.0):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        seen = 0
        complete = False
        deadline = asyncio.get_running_loop().time() + self.timeout_s

        async def counted() -> dict:
            nonlocal seen, complete
            if complete:  # after the body only a disconnect comes, whenever it comes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {self.timeout_s:g} s") from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # FastAPI re-raises HTTP errors met while reading the body
                raise HTTPException(413, f"the request body is over {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = errors.error_response(413, "too_large", f"the request body is over {self.max_bytes} bytes")
        await response(scope, receive, send)


class SecurityHeaders:
    """Headers every answer carries: no MIME sniffing, no framing, no referrer; JSON answers may load nothing
    (HTML pages, the reports and the docs, keep their own inline styles and scripts)."""

    COMMON = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-resource-policy", b"same-origin"),
    )

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                policy = b"frame-ancestors 'none'" if html else b"default-src 'none'; frame-ancestors 'none'"
                message = {**message, "headers": [*headers, *self.COMMON, (b"content-security-policy", policy)]}
            await send(message)

        await self.app(scope, receive, with_headers)
