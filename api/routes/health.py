"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import SQLAlchemyError

from api.deps import Solving
from storage import repo
from storage.db import Database, StorageFault

router = APIRouter(tags=["health"])
DATABASE_TIMEOUT_S = 5.0


class Health(BaseModel):
    """The web process answers."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    status: str
    """Always ok."""


class Readiness(BaseModel):
    """Whether the service can take work (200) or not (503), and why."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    status: str
    """ready, or not ready."""
    reason: str | None = None
    """Why it is not ready: the solver pool, the database (with what to do) or the job workers."""
    pool_size: int | None = None
    """Solver processes."""
    in_flight: int | None = None
    """Solves admitted now (running or waiting)."""
    database: str | None = None
    """ok, or what is wrong with it."""
    workers: int | None = None
    """Job workers that reported within a lease."""


@router.get("/healthz", summary="Liveness: the web process answers", response_model=Health)
async def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the solver pool, the database and the job workers",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": Readiness, "description": "Not ready: the pool is down, the database cannot be used, "
                     "or no job worker is alive when one is expected."}},
)  # fmt: skip
async def readyz(solvers: Solving, request: Request) -> JSONResponse:
    if not solvers.ready:
        return JSONResponse({"status": "not ready", "reason": "the solver pool is not running"}, status_code=503)
    body: dict = {"status": "ready", "pool_size": solvers.pool_size, "in_flight": solvers.admitted}
    state = request.app.state
    problem, workers = await _database(state.db, state.job_lease_s)
    body["database"] = problem or "ok"
    if problem is not None:
        return JSONResponse({**body, "status": "not ready", "reason": problem}, status_code=503)
    body["workers"] = workers
    if state.settings.require_worker and not workers:
        reason = "no job worker is alive: jobs stay queued (vmo serve restarts its worker; see its log)"
        return JSONResponse({**body, "status": "not ready", "reason": reason}, status_code=503)
    return JSONResponse(body)


async def _database(db: Database, lease_s: float) -> tuple[str | None, int]:
    """(what is wrong with the database or None, live workers), asked in a thread with a time bound."""

    def ask() -> int:
        db.ping()
        with db.reading() as session:
            return repo.live_workers(session, lease_s)

    try:
        return None, await asyncio.wait_for(asyncio.to_thread(ask), DATABASE_TIMEOUT_S)
    except StorageFault as exc:
        return str(exc), 0
    except (SQLAlchemyError, TimeoutError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return f"the database cannot be reached: {first}", 0
