"""One error envelope for every API error:

{"error": {"code": "invalid_input", "message": "...", "details": [{"path": "$.portfolio.mmps[0]", "message": "..."}]}}
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import Forbidden, IdentityProviderUnavailable, Unauthorized
from api.bodies import MalformedBody
from api.parsing import ParserUnavailable
from models import PortfolioError, json_path, validation_problems
from models.checks import capped
from storage.db import StorageFault
from storage.repo import InUse, NotFound, QuotaExceeded

log = logging.getLogger("vmo.api")


class ErrorDetail(BaseModel):
    """One problem with the request."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    path: str
    """Where: a JSON path into the body (`$.portfolio.mmps[3].requires[0]`), a query or path parameter
    (`$.query.limit`), or a spreadsheet cell (`mmps!D7`)."""
    message: str
    """Why, in plain words."""


class ErrorBody(BaseModel):
    """What went wrong."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    code: str
    """Machine-readable: malformed_json, invalid_input, unauthorized, forbidden, not_found, job_not_finished,
    too_large, unsupported_media_type, quota_exceeded, busy, solver_restarted, storage_unavailable,
    identity_provider_unavailable, method_not_allowed, in_use, timeout, malformed_request, client_closed_request
    or internal_error."""
    message: str
    """A sentence for people."""
    details: list[ErrorDetail] = []
    """Every problem found (for invalid_input), each with its place."""


class ErrorEnvelope(BaseModel):
    """Every error answer of the API."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    error: ErrorBody
    """The error."""


ERRORS = {
    400: ("The body is not valid JSON.", "malformed_json", "the request body is not valid JSON", []),
    401: ("No credential, or one that is not valid (an unknown or revoked key, an expired token).",
          "unauthorized", "the API key is not valid (unknown or revoked)", []),
    403: ("The caller's role may not do this (viewer: read; planner: solve and store; admin: keys, delete, audit).",
          "forbidden", "this needs the planner role; the caller's role is viewer", []),
    404: ("No such portfolio, plan or job in the caller's tenant.", "not_found", "plan '8f14e45fceea167a' not found",
          []),
    409: ("The job has not finished yet (see Retry-After), or the portfolio is in use by a running job.",
          "job_not_finished", "job 1f0e is running", []),
    413: ("The body is over the limit (VMO_MAX_BODY_BYTES).", "too_large", "the request body is too large", []),
    415: ("The body is neither a CSV file, an .xlsx workbook nor a multipart upload of one.", "unsupported_media_type",
          "send text/csv, the xlsx media type or multipart/form-data", []),
    422: (
        "The input was rejected: every problem with its JSON path (or spreadsheet cell) and the reason.",
        "invalid_input",
        "2 problem(s) in the request",
        [
            {"path": "$.portfolio.mmps[3].requires[0]", "message": "unknown MMP 'claims-apii'"},
            {"path": "$.portfolio.budget", "message": "Input should be greater than or equal to 0"},
        ],
    ),
    429: ("A quota of the caller's tenant is reached (stored portfolios or versions, queued jobs, parts per job, "
          "solver seconds per minute); retry after Retry-After seconds.", "quota_exceeded",
          "tenant 'acme' has 10 job(s) queued or running and may have 10 (VMO_QUOTA_QUEUED_JOBS)", []),
    503: ("Every solver is busy and the queue is full, a solver process stopped, or the database cannot be reached; "
          "retry after Retry-After seconds.", "busy", "every solver is busy and the queue is full; retry later", []),
}  # fmt: skip


def responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses` for the error statuses a route can answer: the envelope, a description, an example."""
    out: dict[int | str, dict] = {}
    for code in codes:
        description, name, message, details = ERRORS[code]
        example = {"error": {"code": name, "message": message, "details": details}}
        out[code] = {
            "model": ErrorEnvelope,
            "description": description,
            "content": {"application/json": {"example": example}},
        }
        if code in (409, 429, 503):
            out[code]["headers"] = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
        if code == 401:
            out[code]["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    return out


class ServerBusy(Exception):
    """Every solver is busy and the queue is full."""


class TooManySolves(Exception):
    """One request needs more solves than the server admits at once."""

    def __init__(self, solves: int, capacity: int):
        super().__init__(f"this request needs {solves} solves; this server admits at most {capacity} at once")
        self.solves, self.capacity = solves, capacity


class ClientGone(Exception):
    """The client disconnected before its answer was ready; its solves were stopped."""


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
        details = [ErrorDetail(path=p.path, message=p.message) for p in capped(problems)]
        # Query and path parameters are not in the body: name them as $.query.limit, $.path.job_id.
        other = [e for e in errors if e["loc"][:1] != ("body",)]
        details += [ErrorDetail(path=json_path(e["loc"]), message=e["msg"]) for e in other]
        return error_response(422, "invalid_input", f"{len(details)} problem(s) in the request", details)

    @app.exception_handler(PortfolioError)
    async def invalid_portfolio(_: Request, exc: PortfolioError) -> JSONResponse:
        details = [ErrorDetail(path=p.path, message=p.message) for p in capped(exc.problems)]
        return error_response(422, "invalid_input", f"{len(details)} problem(s) in the request", details)

    @app.exception_handler(MalformedBody)
    async def malformed(_: Request, exc: MalformedBody) -> JSONResponse:
        return error_response(400, "malformed_json", str(exc))

    @app.exception_handler(ParserUnavailable)
    async def parser_died(_: Request, exc: ParserUnavailable) -> JSONResponse:
        headers = {"Retry-After": str(retry_after_s)}
        message = "the process reading this request stopped (the body needed too much memory); retry later"
        return error_response(503, "busy", message, (), headers)

    @app.exception_handler(ServerBusy)
    async def busy(_: Request, exc: ServerBusy) -> JSONResponse:
        headers = {"Retry-After": str(retry_after_s)}
        return error_response(503, "busy", "every solver is busy and the queue is full; retry later", (), headers)

    @app.exception_handler(TooManySolves)
    async def too_many(_: Request, exc: TooManySolves) -> JSONResponse:
        detail = ErrorDetail(path="$", message=f"{exc}; submit it as a job (POST /v1/jobs) instead")
        return error_response(422, "invalid_input", "1 problem(s) in the request", [detail])

    @app.exception_handler(ClientGone)
    async def client_gone(_: Request, exc: ClientGone) -> JSONResponse:  # nobody reads it; said for the log
        return error_response(499, "client_closed_request", "the client closed the connection; its solves stopped")

    @app.exception_handler(SolverCrashed)
    async def crashed(_: Request, exc: SolverCrashed) -> JSONResponse:
        headers = {"Retry-After": str(retry_after_s)}
        reason = str(exc) or "a solver process stopped"
        return error_response(503, "solver_restarted", f"{reason}; retry the request", (), headers)

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return error_response(401, "unauthorized", str(exc), (), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, "forbidden", str(exc))

    @app.exception_handler(QuotaExceeded)
    async def quota(_: Request, exc: QuotaExceeded) -> JSONResponse:
        return error_response(429, "quota_exceeded", str(exc), (), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(IdentityProviderUnavailable)
    async def idp_down(_: Request, exc: IdentityProviderUnavailable) -> JSONResponse:
        log.error("identity provider unavailable: %s", exc)
        headers = {"Retry-After": str(retry_after_s)}
        return error_response(503, "identity_provider_unavailable", str(exc), (), headers)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(InUse)
    async def in_use(_: Request, exc: InUse) -> JSONResponse:
        return error_response(409, "in_use", str(exc))

    @app.exception_handler(StorageFault)
    async def storage_fault(_: Request, exc: StorageFault) -> JSONResponse:
        log.error("storage fault: %s", exc)
        headers = {"Retry-After": str(retry_after_s)}
        return error_response(503, "storage_unavailable", str(exc), (), headers)

    @app.exception_handler(JobNotFinished)
    async def not_finished(_: Request, exc: JobNotFinished) -> JSONResponse:
        job = exc.job
        message = f"job {job.id} is {job.status} ({job.progress.done} of {job.progress.total} parts done)"
        return error_response(409, "job_not_finished", message, (), {"Retry-After": str(retry_after_s)})

    @app.exception_handler(OperationalError)
    async def storage_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("storage unavailable: %s", exc)
        fault = request.app.state.db.fault()  # a broken SQLite file says what to do
        if fault is not None:
            return error_response(503, "storage_unavailable", fault, (), {"Retry-After": str(retry_after_s)})
        headers = {"Retry-After": str(retry_after_s)}
        return error_response(503, "storage_unavailable", "the database cannot be reached; retry later", (), headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "malformed_json", 404: "not_found", 405: "method_not_allowed", 408: "timeout", 413: "too_large"}
        codes[415] = "unsupported_media_type"
        code = codes.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(_allowed(request.app, request.url.path)) or headers.get("Allow", "")
        return error_response(exc.status_code, code, str(exc.detail), (), headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")  # a bug: the details go to the log, never into the response
        return error_response(500, "internal_error", "the server failed to handle this request")


def _allowed(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document lists for the path (templates such as /v1/jobs/{job_id} match)."""
    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), path):
            methods.update(m.upper() for m in operations)
    return sorted(methods)
