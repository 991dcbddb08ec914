"""Stored portfolios (versioned) and their plans: /v1/portfolios, /v1/portfolios/{id}/plans, /v1/plans/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import Admin, Planner, Viewer
from api.deps import Server, Solving, Store, StoredId, capped
from api.errors import responses
from api.examples import portfolio_examples
from api.parsing import ParsedRoute
from models.jobs import PlanInfo, PlanList, PortfolioCreated, PortfolioInfo, PortfolioList, StoredPlan, StoredPortfolio
from models.plan import Plan
from models.portfolio import Portfolio
from models.requests import StorePlanRequest
from models.settings import SolverSettings
from storage import repo
from storage.db import Database
from storage.tables import PlanRow, PortfolioRow, PortfolioVersionRow

MAX_VERSION = 2**31 - 1  # the version column is a 32-bit integer: a larger ?version= was a 500 on PostgreSQL

router = APIRouter(prefix="/v1", tags=["storage"], route_class=ParsedRoute, responses=responses(401, 403))

MAX_OFFSET = 1_000_000  # pagination stays within what every database counts (a 64-bit offset was a 500)
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many (1 to 1,000).")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many (0 to 1,000,000).")]


@router.post(
    "/portfolios",
    status_code=status.HTTP_201_CREATED,
    response_model=PortfolioCreated,
    summary="Store a portfolio",
    responses=responses(400, 413, 422, 429, 503),
)
def create_portfolio(
    body: Annotated[Portfolio, Body(openapi_examples=portfolio_examples())],
    db: Store,
    server: Server,
    response: Response,
    caller: Planner,
) -> PortfolioCreated:
    """Checked, then stored as version 1 of the caller's tenant. The Location header points to it."""
    portfolio = body  # checked where the body was parsed (api/parsing.py)
    with db.session() as session:
        version = repo.add_portfolio(session, caller.tenant, portfolio, server.quotas())
        repo.audit(session, caller.tenant, caller.actor, "portfolio.create", version.portfolio_id, {"version": 1})
    response.headers["Location"] = f"/v1/portfolios/{version.portfolio_id}"
    return PortfolioCreated(id=version.portfolio_id, name=portfolio.name, version=version.version)


@router.get(
    "/portfolios",
    response_model=PortfolioList,
    summary="List stored portfolios, newest first",
    responses=responses(422, 503),
)
def list_portfolios(caller: Viewer, db: Store, limit: Limit = 100, offset: Offset = 0) -> PortfolioList:
    """The caller's tenant's portfolios."""
    with db.reading() as session:
        rows = repo.list_portfolios(session, caller.tenant, limit, offset)
        return PortfolioList(portfolios=[_info(row) for row in rows])


@router.get(
    "/portfolios/{portfolio_id}",
    response_model=StoredPortfolio,
    summary="A stored portfolio",
    responses=responses(404, 422, 503),
)
def get_portfolio(
    portfolio_id: StoredId,
    caller: Viewer,
    db: Store,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> StoredPortfolio:
    """The latest version, or the one asked for with `?version=`."""
    with db.reading() as session:
        row = repo.get_portfolio(session, caller.tenant, portfolio_id)
        stored = repo.get_version(session, caller.tenant, portfolio_id, version)
        return StoredPortfolio(
            id=row.id,
            name=stored.document["name"],
            version=stored.version,
            latest_version=row.latest_version,
            created_at=stored.created_at,
            portfolio=stored.document,
        )


@router.delete(
    "/portfolios/{portfolio_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a stored portfolio with every version and plan",
    responses=responses(404, 409, 422, 503),
)
def delete_portfolio(portfolio_id: StoredId, caller: Admin, db: Store) -> Response:
    """Refused (409) while a queued or running job solves one of its versions. Admins only; audited."""
    with db.session() as session:
        repo.delete_portfolio(session, caller.tenant, portfolio_id)
        repo.audit(session, caller.tenant, caller.actor, "portfolio.delete", portfolio_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/portfolios/{portfolio_id}/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=PortfolioCreated,
    summary="Store a changed portfolio as its next version",
    responses=responses(400, 404, 413, 422, 429, 503),
)
def add_version(
    portfolio_id: StoredId, body: Portfolio, caller: Planner, db: Store, server: Server, response: Response
) -> PortfolioCreated:
    """Earlier versions, and the plans made from them, are kept unchanged."""
    portfolio = body  # checked where the body was parsed (api/parsing.py)
    with db.session() as session:
        version = repo.add_version(session, caller.tenant, portfolio_id, portfolio, server.quotas())
        details = {"version": version.version}
        repo.audit(session, caller.tenant, caller.actor, "portfolio.version", portfolio_id, details)
    response.headers["Location"] = f"/v1/portfolios/{portfolio_id}?version={version.version}"
    return PortfolioCreated(id=portfolio_id, name=portfolio.name, version=version.version)


@router.get(
    "/portfolios/{portfolio_id}/plans",
    response_model=PlanList,
    summary="Plans of a stored portfolio",
    responses=responses(404, 422, 503),
)
def list_plans(portfolio_id: StoredId, caller: Viewer, db: Store, limit: Limit = 100, offset: Offset = 0) -> PlanList:
    """Every stored plan of every version, newest first."""
    with db.reading() as session:
        rows = repo.list_plans(session, caller.tenant, portfolio_id, limit, offset)
        return PlanList(plans=[plan_info(row) for row in rows])


@router.post(
    "/portfolios/{portfolio_id}/plans",
    status_code=status.HTTP_201_CREATED,
    response_model=StoredPlan,
    summary="Solve the latest version now and store the plan",
    responses=responses(400, 404, 413, 422, 429, 503),
)
async def solve_and_store(
    portfolio_id: StoredId,
    caller: Planner,
    solvers: Solving,
    server: Server,
    db: Store,
    response: Response,
    request: Request,
    body: StorePlanRequest | None = None,
) -> StoredPlan:
    """Solved in the request (within the time limit); for many portfolios submit a job instead."""
    settings = capped((body or StorePlanRequest()).settings, server)
    # The database calls run in the thread pool: waiting for a lock must not stall the event loop.
    version = await run_in_threadpool(_latest_version, db, caller.tenant, portfolio_id)
    portfolio = Portfolio.model_validate(version.document)
    plan = await solvers.solve(portfolio, settings, request, caller.tenant)
    row = await run_in_threadpool(_add_plan, db, version, plan, settings)
    response.headers["Location"] = f"/v1/plans/{row.id}"
    return stored_plan(row)


def _latest_version(db: Database, tenant: str, portfolio_id: str) -> PortfolioVersionRow:
    with db.reading() as session:
        return repo.get_version(session, tenant, portfolio_id)


def _add_plan(db: Database, version: PortfolioVersionRow, plan: Plan, settings: SolverSettings) -> PlanRow:
    with db.session() as session:
        return repo.add_plan(session, version, plan, settings)


@router.get(
    "/plans/{plan_id}",
    response_model=StoredPlan,
    summary="A stored plan with its lineage",
    responses=responses(404, 422, 503),
)
def get_plan(plan_id: StoredId, caller: Viewer, db: Store) -> StoredPlan:
    with db.reading() as session:
        return stored_plan(repo.get_plan(session, caller.tenant, plan_id))


def _info(row: PortfolioRow) -> PortfolioInfo:
    return PortfolioInfo(
        id=row.id, name=row.name, version=row.latest_version, created_at=row.created_at, updated_at=row.updated_at
    )


def plan_info(row: PlanRow) -> PlanInfo:
    return PlanInfo(
        id=row.id,
        portfolio_id=row.portfolio_id,
        version=row.version,
        parent_id=row.parent_id,
        job_id=row.job_id,
        label=row.label,
        status=row.status,
        objective=row.objective,
        created_at=row.created_at,
    )


def stored_plan(row: PlanRow) -> StoredPlan:
    return StoredPlan(
        **plan_info(row).model_dump(),
        settings=SolverSettings.model_validate(row.settings),
        plan=Plan.model_validate(row.document),
    )
