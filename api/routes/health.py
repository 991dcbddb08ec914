"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Runner

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the web process answers")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the solver imports and the worker pool is up")
async def readyz(run: Runner) -> JSONResponse:
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:  # pragma: no cover - only on a broken install
        return JSONResponse({"status": "not ready", "reason": "OR-Tools cannot be imported"}, status_code=503)
    if not run.ready:
        return JSONResponse({"status": "not ready", "reason": "the solver pool is not running"}, status_code=503)
    return JSONResponse({"status": "ready", "pool_size": run.pool_size, "in_flight": run.in_flight})
