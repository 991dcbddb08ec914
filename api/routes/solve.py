"""POST /v1/solve and POST /v1/check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from api.auth import Planner
from api.deps import Server, Solving, capped
from api.errors import responses
from api.examples import solve_examples
from api.parsing import ParsedRoute
from models.plan import Plan
from models.requests import CheckRequest, CheckResponse, SolveRequest

router = APIRouter(prefix="/v1", tags=["solve"], route_class=ParsedRoute, responses=responses(401, 403))


@router.post(
    "/solve",
    response_model=Plan,
    summary="Solve a portfolio and return the plan",
    responses=responses(400, 413, 422, 429, 503),
)
async def solve(
    body: Annotated[SolveRequest, Body(openapi_examples=solve_examples())],
    caller: Planner,
    solvers: Solving,
    server: Server,
    request: Request,
) -> Plan:
    """The plan of docs/design.md, section 5. The time limit is capped by the server's maximum."""
    # The portfolio was checked where the body was parsed (api/parsing.py).
    return await solvers.solve(body.portfolio, capped(body.settings, server), request, caller.tenant)


@router.post(
    "/check",
    response_model=CheckResponse,
    summary="Check a portfolio without solving it",
    responses=responses(400, 413, 422),
)
async def check(body: CheckRequest, caller: Planner) -> CheckResponse:
    p = body.portfolio  # checked where the body was parsed (api/parsing.py)
    return CheckResponse(
        ok=True, mmps=len(p.mmps), value_streams=len(p.value_streams), pools=len(p.pools), quarters=len(p.quarters)
    )
