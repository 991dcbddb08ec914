"""POST /v1/solve and POST /v1/check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api.deps import Runner, Server, capped, checked
from api.examples import solve_examples
from models.plan import Plan
from models.requests import CheckRequest, CheckResponse, SolveRequest
from optimizer.parallel import solve_one

router = APIRouter(prefix="/v1", tags=["solve"])


@router.post("/solve", response_model=Plan, summary="Solve a portfolio and return the plan")
async def solve(
    body: Annotated[SolveRequest, Body(openapi_examples=solve_examples())],
    run: Runner,
    server: Server,
) -> Plan:
    """The plan of DESIGN.md section 5. The time limit is capped by the server's maximum."""
    portfolio = checked(body.portfolio)
    return await run.run(solve_one, (portfolio, capped(body.settings, server)))


@router.post("/check", response_model=CheckResponse, summary="Check a portfolio without solving it")
async def check(body: CheckRequest) -> CheckResponse:
    p = checked(body.portfolio)
    return CheckResponse(
        ok=True, mmps=len(p.mmps), value_streams=len(p.value_streams), pools=len(p.pools), quarters=len(p.quarters)
    )
