"""POST /v1/whatif and POST /v1/frontier."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from api.auth import Planner
from api.deps import Server, Solving, capped, for_summaries
from api.errors import responses
from api.examples import frontier_examples, whatif_examples
from api.parsing import ParsedRoute
from models.scenarios import FrontierRequest, FrontierResponse, WhatIfRequest, WhatIfResponse
from optimizer.studies.frontier import FrontierStudy
from optimizer.studies.whatif import WhatIfStudy

router = APIRouter(prefix="/v1", tags=["scenarios"], route_class=ParsedRoute, responses=responses(401, 403))


@router.post(
    "/whatif",
    response_model=WhatIfResponse,
    summary="Compare what-if scenarios with the base plan",
    responses=responses(400, 413, 422, 429, 503),
)
async def whatif(
    body: Annotated[WhatIfRequest, Body(openapi_examples=whatif_examples())],
    caller: Planner,
    solvers: Solving,
    server: Server,
    request: Request,
) -> WhatIfResponse:
    """Each scenario is a list of changes addressed by id; scenarios are solved in parallel, each starting
    from the base plan. Every scenario is one solve of the server's admission limit."""
    return await solvers.study(
        WhatIfStudy(), body, capped(for_summaries(body.settings), server), request, caller.tenant
    )


@router.post(
    "/frontier",
    response_model=FrontierResponse,
    summary="Sweep the total budget",
    responses=responses(400, 413, 422, 429, 503),
)
async def frontier(
    body: Annotated[FrontierRequest, Body(openapi_examples=frontier_examples())],
    caller: Planner,
    solvers: Solving,
    server: Server,
    request: Request,
) -> FrontierResponse:
    """Value, gap and selection per total budget, the marginal value of each step and the knee.
    Every budget is one solve of the server's admission limit."""
    return await solvers.study(
        FrontierStudy(), body, capped(for_summaries(body.settings), server), request, caller.tenant
    )
