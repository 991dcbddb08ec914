"""Stored portfolios (versioned) and their plans: /v1/portfolios, /v1/portfolios/{id}/plans, /v1/plans/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import Runner, Server, Store, capped, checked
from api.examples import portfolio_examples
from models.jobs import PlanInfo, PlanList, PortfolioCreated, PortfolioInfo, PortfolioList, StoredPlan, StoredPortfolio
from models.plan import Plan
from models.portfolio import Portfolio
from models.requests import StorePlanRequest
from models.settings import SolverSettings
from optimizer.parallel import solve_one
from storage import repo
from storage.db import Database
from storage.tables import PlanRow, PortfolioRow, PortfolioVersionRow

router = APIRouter(prefix="/v1", tags=["storage"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


@router.post(
    "/portfolios", status_code=status.HTTP_201_CREATED, response_model=PortfolioCreated, summary="Store a portfolio"
)
def create_portfolio(
    body: Annotated[Portfolio, Body(openapi_examples=portfolio_examples())], db: Store, response: Response
) -> PortfolioCreated:
    """Checked, then stored as version 1. The Location header points to it."""
    portfolio = checked(body, "$")
    with db.session() as session:
        version = repo.add_portfolio(session, portfolio)
    response.headers["Location"] = f"/v1/portfolios/{version.portfolio_id}"
    return PortfolioCreated(id=version.portfolio_id, name=portfolio.name, version=version.version)


@router.get("/portfolios", response_model=PortfolioList, summary="List stored portfolios, newest first")
def list_portfolios(db: Store, limit: Limit = 100, offset: Offset = 0) -> PortfolioList:
    with db.reading() as session:
        return PortfolioList(portfolios=[_info(row) for row in repo.list_portfolios(session, limit, offset)])


@router.get("/portfolios/{portfolio_id}", response_model=StoredPortfolio, summary="A stored portfolio")
def get_portfolio(portfolio_id: str, db: Store, version: Annotated[int | None, Query(ge=1)] = None) -> StoredPortfolio:
    """The latest version, or the one asked for with `?version=`."""
    with db.reading() as session:
        row = repo.get_portfolio(session, portfolio_id)
        stored = repo.get_version(session, portfolio_id, version)
        return StoredPortfolio(
            id=row.id,
            name=stored.document["name"],
            version=stored.version,
            latest_version=row.latest_version,
            created_at=stored.created_at,
            portfolio=stored.document,
        )


@router.post(
    "/portfolios/{portfolio_id}/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=PortfolioCreated,
    summary="Store a changed portfolio as its next version",
)
def add_version(portfolio_id: str, body: Portfolio, db: Store, response: Response) -> PortfolioCreated:
    """Earlier versions, and the plans made from them, are kept unchanged."""
    portfolio = checked(body, "$")
    with db.session() as session:
        version = repo.add_version(session, portfolio_id, portfolio)
    response.headers["Location"] = f"/v1/portfolios/{portfolio_id}?version={version.version}"
    return PortfolioCreated(id=portfolio_id, name=portfolio.name, version=version.version)


@router.get("/portfolios/{portfolio_id}/plans", response_model=PlanList, summary="Plans of a stored portfolio")
def list_plans(portfolio_id: str, db: Store, limit: Limit = 100, offset: Offset = 0) -> PlanList:
    """Every stored plan of every version, newest first."""
    with db.reading() as session:
        return PlanList(plans=[plan_info(row) for row in repo.list_plans(session, portfolio_id, limit, offset)])


@router.post(
    "/portfolios/{portfolio_id}/plans",
    status_code=status.HTTP_201_CREATED,
    response_model=StoredPlan,
    summary="Solve the latest version now and store the plan",
)
async def solve_and_store(
    portfolio_id: str, run: Runner, server: Server, db: Store, response: Response, body: StorePlanRequest | None = None
) -> StoredPlan:
    """Solved in the request (within the time limit); for many portfolios submit a job instead."""
    settings = capped((body or StorePlanRequest()).settings, server)
    # The database calls run in the thread pool: waiting for a lock must not stall the event loop.
    version = await run_in_threadpool(_latest_version, db, portfolio_id)
    portfolio = Portfolio.model_validate(version.document)
    plan: Plan = await run.run(solve_one, (portfolio, settings))
    row = await run_in_threadpool(_add_plan, db, version, plan, settings)
    response.headers["Location"] = f"/v1/plans/{row.id}"
    return stored_plan(row)


def _latest_version(db: Database, portfolio_id: str) -> PortfolioVersionRow:
    with db.reading() as session:
        return repo.get_version(session, portfolio_id)


def _add_plan(db: Database, version: PortfolioVersionRow, plan: Plan, settings: SolverSettings) -> PlanRow:
    with db.session() as session:
        return repo.add_plan(session, version, plan, settings)


@router.get("/plans/{plan_id}", response_model=StoredPlan, summary="A stored plan with its lineage")
def get_plan(plan_id: str, db: Store) -> StoredPlan:
    with db.reading() as session:
        return stored_plan(repo.get_plan(session, plan_id))


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
