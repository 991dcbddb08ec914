"""POST /v1/whatif and POST /v1/frontier."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api.deps import Runner, Server, capped, checked
from api.examples import frontier_examples, whatif_examples
from models.scenarios import FrontierRequest, FrontierResponse, WhatIfRequest, WhatIfResponse
from optimizer.frontier import run_frontier
from optimizer.whatif import run_whatif

router = APIRouter(prefix="/v1", tags=["scenarios"])


@router.post("/whatif", response_model=WhatIfResponse, summary="Compare what-if scenarios with the base plan")
async def whatif(
    body: Annotated[WhatIfRequest, Body(openapi_examples=whatif_examples())],
    run: Runner,
    server: Server,
) -> WhatIfResponse:
    """Each scenario is a list of changes addressed by id; scenarios are solved in parallel."""
    return await _fan_out(run_whatif, body, run, server)


@router.post("/frontier", response_model=FrontierResponse, summary="Sweep the total budget")
async def frontier(
    body: Annotated[FrontierRequest, Body(openapi_examples=frontier_examples())],
    run: Runner,
    server: Server,
) -> FrontierResponse:
    """Value, gap and selection per total budget, the marginal value of each step and the knee."""
    return await _fan_out(run_frontier, body, run, server)


async def _fan_out(work, body: WhatIfRequest | FrontierRequest, run: Runner, server: Server):
    """Check the portfolio, cap the settings, and run `work(request, pool)` over the solver pool."""
    checked(body.portfolio)
    request = body.model_copy(update={"settings": capped(body.settings, server)})
    return await run.run_with_pool(work, request)
