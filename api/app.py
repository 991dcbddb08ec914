"""The FastAPI app factory: routes translate HTTP to optimizer calls and nothing more."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api import errors
from api.routes import health, jobs, portfolios, scenarios, solve
from api.runner import SolverRunner
from api.settings import ApiSettings
from jobs.settings import JobSettings
from storage.db import Database


def create_app(settings: ApiSettings | None = None, db: Database | None = None) -> FastAPI:
    """The app; `db` defaults to the database of the VMO_DATABASE_URL / VMO_DATABASE_PATH settings."""
    settings = settings or ApiSettings()
    runner = SolverRunner(settings.pool_size, settings.queue_limit)
    db = db or Database(JobSettings().url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db.migrate()
        runner.start()
        try:
            yield
        finally:
            runner.stop()

    app = FastAPI(
        title="vmo-optimizer",
        version="0.1.0",
        summary="Which MMPs to fund, when, and how to split the budget across value streams.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runner = runner
    app.state.db = db
    errors.install(app, settings.retry_after_s)
    app.include_router(health.router)
    app.include_router(solve.router)
    app.include_router(scenarios.router)
    app.include_router(portfolios.router)
    app.include_router(jobs.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


class BodyLimit:
    """413 for a body over the limit, by Content-Length or by counting a streamed body."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # FastAPI re-raises HTTP errors met while reading the body
                raise HTTPException(413, f"the request body is over {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = errors.error_response(413, "too_large", f"the request body is over {self.max_bytes} bytes")
        await response(scope, receive, send)
