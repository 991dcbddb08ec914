"""One error envelope for every API error:

{"error": {"code": "invalid_input", "message": "...", "details": [{"path": "$.portfolio.mmps[0]", "message": "..."}]}}
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models import PortfolioError, json_path, validation_problems
from storage.repo import NotFound

log = logging.getLogger("vmo.api")


class ErrorDetail(BaseModel):
    path: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class ServerBusy(Exception):
    """Every solver is busy and the queue is full."""


class SolverCrashed(Exception):
    """A solver process died during this request; the pool has been replaced."""


class JobNotFinished(Exception):
    """The result of a queued or running job was asked for."""

    def __init__(self, job):
        super().__init__(job.id)
        self.job = job


def error_response(status: int, code: str, message: str, details=(), headers=None) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=list(details)))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def install(app: FastAPI, retry_after_s: int) -> None:
    """Register the handlers that turn every failure into the envelope."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        body_errors = [{**e, "loc": tuple(e["loc"][1:])} for e in errors if e["loc"][:1] == ("body",)]
        problems = validation_problems(body_errors, exc.body) if body_errors else []
        details = [ErrorDetail(path=p.path, message=p.message) for p in problems]
        # Query and path parameters are not in the body: name them as $.query.limit, $.path.job_id.
        other = [e for e in errors if e["loc"][:1] != ("body",)]
        details += [ErrorDetail(path=json_path(e["loc"]), message=e["msg"]) for e in other]
        return error_response(422, "invalid_input", f"{len(details)} problem(s) in the request", details)

    @app.exception_handler(PortfolioError)
    async def invalid_portfolio(_: Request, exc: PortfolioError) -> JSONResponse:
        details = [ErrorDetail(path=p.path, message=p.message) for p in exc.problems]
        return error_response(422, "invalid_input", f"{len(details)} problem(s) in the request", details)

    @app.exception_handler(ServerBusy)
    async def busy(_: Request, exc: ServerBusy) -> JSONResponse:
        headers = {"Retry-After": str(retry_after_s)}
        return error_response(503, "busy", "every solver is busy and the queue is full; retry later", (), headers)

    @app.exception_handler(SolverCrashed)
    async def crashed(_: Request, exc: SolverCrashed) -> JSONResponse:
        headers = {"Retry-After": str(retry_after_s)}
        return error_response(503, "solver_restarted", "a solver process stopped; retry the request", (), headers)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(JobNotFinished)
    async def not_finished(_: Request, exc: JobNotFinished) -> JSONResponse:
        job = exc.job
        message = f"job {job.id} is {job.status} ({job.progress.done} of {job.progress.total} parts done)"
        return error_response(409, "job_not_finished", message, (), {"Retry-After": str(retry_after_s)})

    @app.exception_handler(OperationalError)
    async def storage_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("storage unavailable: %s", exc)
        headers = {"Retry-After": str(retry_after_s)}
        return error_response(503, "storage_unavailable", "the database cannot be reached; retry later", (), headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "malformed_json", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        code = codes.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), (), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")  # a bug: the details go to the log, never into the response
        return error_response(500, "internal_error", "the server failed to handle this request")
