"""The quarterly planning cycle (docs/design.md, section 8.8): /v1/portfolios/{id}/plan-of-record, .../actuals,
.../replan and .../variance. The routes stay thin: records through storage.repo, the cycle's logic in
optimizer.studies.cycle."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import Admin, Caller, Planner, Viewer
from api.deps import Server, Solving, Store, StoredId, capped
from api.errors import responses
from api.parsing import ParsedRoute
from models import PortfolioError, Problem, load_portfolio
from models.checks import not_a_quarter, unknown_ids
from models.cycle import (
    ActualsBody,
    ActualsList,
    CommitRequest,
    PlanOfRecord,
    PlanOfRecordCommit,
    PlanOfRecordHistory,
    RecordedActuals,
    Replan,
    ReplanRequest,
    Variance,
    as_of_problem,
    funds_nothing,
)
from models.plan import NO_PLAN, Plan
from models.portfolio import Portfolio, QuarterActuals
from models.studies import Variant
from optimizer.studies import apply_variant
from optimizer.studies.cycle import as_of_portfolio, compare, in_order, replan_task, variance
from storage import repo
from storage.db import Database
from storage.repo import NotFound
from storage.tables import ActualsRow, PlanOfRecordRow, PlanRow

router = APIRouter(prefix="/v1", tags=["planning cycle"], route_class=ParsedRoute, responses=responses(401, 403))


@router.post(
    "/portfolios/{portfolio_id}/plan-of-record",
    status_code=status.HTTP_201_CREATED,
    response_model=PlanOfRecordCommit,
    summary="Commit a stored plan as the plan of record",
    responses=responses(400, 404, 413, 422, 503),
)
def commit(
    portfolio_id: StoredId, body: CommitRequest, caller: Admin, db: Store, server: Server, response: Response
) -> PlanOfRecordCommit:
    """The plan must be a solved plan of this portfolio. A what-if scenario's or a frontier point's plan is a
    plan of a changed portfolio: that portfolio is stored as the next version first, and the commit names it.
    Admins only; audited."""
    tenant = caller.tenant
    with db.session() as session:
        repo.get_portfolio(session, tenant, portfolio_id)
        plan = repo.get_plan(session, tenant, body.plan_id)
        if plan.portfolio_id != portfolio_id:
            raise PortfolioError([Problem("$.plan_id", f"plan {body.plan_id!r} is a plan of another portfolio")])
        if plan.status in NO_PLAN:
            raise PortfolioError([Problem("$.plan_id", f"plan {body.plan_id!r} {funds_nothing(plan.status)}")])
        version = plan.version
        if _changed(plan.variant):
            stored = Portfolio.model_validate(repo.get_version(session, tenant, portfolio_id, plan.version).document)
            variant = Variant.model_validate({k: v for k, v in (plan.variant or {}).items() if k != "comparison"})
            changed = apply_variant(stored, variant)
            version = repo.add_version(session, tenant, portfolio_id, changed, server.quotas()).version
        row = repo.commit_plan(session, tenant, portfolio_id, plan.id, version, body.note)
        details = {"plan_id": plan.id, "version": version, "note": body.note}
        repo.audit(session, tenant, caller.actor, "plan_of_record.commit", portfolio_id, details)
        response.headers["Location"] = f"/v1/portfolios/{portfolio_id}/plan-of-record"
        return _commit(row)


def _changed(variant: dict[str, Any] | None) -> bool:
    """The plan solved a changed portfolio (a scenario's changes or a frontier point's budget)."""
    return bool(variant) and ("changes" in variant or "total_budget" in variant)  # type: ignore[operator]


@router.get(
    "/portfolios/{portfolio_id}/plan-of-record",
    response_model=PlanOfRecord,
    summary="The plan of record",
    responses=responses(404, 422, 503),
)
def get_plan_of_record(portfolio_id: StoredId, caller: Viewer, db: Store) -> PlanOfRecord:
    with db.reading() as session:
        row, plan = _record(session, caller.tenant, portfolio_id)
        return PlanOfRecord(**_commit(row).model_dump(), plan=Plan.model_validate(plan.document))


@router.get(
    "/portfolios/{portfolio_id}/plan-of-record/history",
    response_model=PlanOfRecordHistory,
    summary="Every commit of a plan of record, oldest first",
    responses=responses(404, 422, 503),
)
def plan_of_record_history(portfolio_id: StoredId, caller: Viewer, db: Store) -> PlanOfRecordHistory:
    with db.reading() as session:
        commits = repo.plan_of_record_history(session, caller.tenant, portfolio_id)
        return PlanOfRecordHistory(commits=[_commit(r) for r in commits])


@router.put(
    "/portfolios/{portfolio_id}/actuals/{quarter}",
    response_model=RecordedActuals,
    summary="Record what happened in a past quarter",
    responses=responses(400, 404, 413, 422, 503),
)
def put_actuals(portfolio_id: StoredId, quarter: str, body: ActualsBody, caller: Planner, db: Store) -> RecordedActuals:
    """Spend per value stream, per MMP its status (and spend and realized value where known), key-result
    progress so far. The ids must be the latest version's; recording a quarter again replaces it. Audited."""
    tenant = caller.tenant
    with db.session() as session:
        p = Portfolio.model_validate(repo.get_version(session, tenant, portfolio_id).document)
        problems = _actuals_problems(p, quarter, body)
        if problems:
            raise PortfolioError(problems)
        row = repo.put_actuals(session, tenant, portfolio_id, quarter, body.model_dump(mode="json"))
        repo.audit(session, tenant, caller.actor, "actuals.record", portfolio_id, {"quarter": quarter})
        return _recorded(row)


def _actuals_problems(p: Portfolio, quarter: str, body: ActualsBody) -> list[Problem]:
    problems = []
    # Any quarter of the horizon: a re-plan as of a quarter uses only the actuals of the quarters before it.
    if quarter not in p.quarters:
        problems.append(Problem("$.path.quarter", not_a_quarter(quarter)))
    actual = QuarterActuals.model_construct(
        quarter=quarter, spent=body.spent, mmps=body.mmps, key_results=body.key_results
    )
    return problems + unknown_ids(p, actual, "$")


@router.get(
    "/portfolios/{portfolio_id}/actuals",
    response_model=ActualsList,
    summary="Every recorded quarter",
    responses=responses(404, 422, 503),
)
def get_actuals(portfolio_id: StoredId, caller: Viewer, db: Store) -> ActualsList:
    with db.reading() as session:
        p = Portfolio.model_validate(repo.get_version(session, caller.tenant, portfolio_id).document)
        recorded = {row.quarter: row for row in repo.list_actuals(session, caller.tenant, portfolio_id)}
        ordered = [q for q in p.quarters if q in recorded] + sorted(q for q in recorded if q not in p.quarters)
        return ActualsList(actuals=[_recorded(recorded[q]) for q in ordered])


@router.post(
    "/portfolios/{portfolio_id}/replan",
    status_code=status.HTTP_201_CREATED,
    response_model=Replan,
    summary="Re-plan as of a quarter from the plan of record and the actuals",
    responses=responses(400, 404, 413, 422, 503),
)
async def replan(
    portfolio_id: StoredId,
    body: ReplanRequest,
    caller: Planner,
    solvers: Solving,
    server: Server,
    db: Store,
    request: Request,
) -> Replan:
    """Builds the as-of portfolio from the latest version, the plan of record and the actuals (MMPs started,
    done or stopped; spend; progress achieved), stores it as the next version, solves it close to the plan of
    record (each change, a stop included, costs the change penalty) and stores the plan with the plan of
    record as its parent. The answer compares it with the plan of record."""
    settings = capped(body.settings, server)
    portfolio, record_id, record = await run_in_threadpool(_as_of, db, caller.tenant, portfolio_id, body)
    (plan,) = await solvers.run([replan_task(portfolio)], settings, request, caller.tenant)
    stored = (db, caller, server, portfolio_id, portfolio, plan, settings, record_id)
    row = await run_in_threadpool(_store_replan, *stored)
    return Replan(
        plan_id=row.id,
        parent_id=record_id,
        status=plan.status,
        as_of=body.as_of,
        plan=plan,
        comparison=compare(record, plan, portfolio),
    )


def _as_of(db: Database, tenant: str, portfolio_id: str, body: ReplanRequest) -> tuple[Portfolio, str, Plan]:
    with db.reading() as session:
        p = Portfolio.model_validate(repo.get_version(session, tenant, portfolio_id).document)
        row, plan_row = _record(session, tenant, portfolio_id)
        reason = as_of_problem(p, body.as_of, "the latest version's")
        if reason is not None:  # checked here: the as-of portfolio's own problems would name paths never sent
            raise PortfolioError([Problem("$.as_of", reason)])
        record = Plan.model_validate(plan_row.document)
        actuals = [_actual(a) for a in repo.list_actuals(session, tenant, portfolio_id)]
    return load_portfolio(as_of_portfolio(p, record, actuals, body.as_of, body.change_penalty)), row.plan_id, record


def _store_replan(
    db: Database,
    caller: Caller,
    server: Any,
    portfolio_id: str,
    portfolio: Portfolio,
    plan: Plan,
    settings: Any,
    record_id: str,
) -> PlanRow:
    with db.session() as session:
        version = repo.add_version(session, caller.tenant, portfolio_id, portfolio, server.quotas())
        repo.audit(session, caller.tenant, caller.actor, "portfolio.version", portfolio_id, {"replan": portfolio.as_of})
        return repo.add_plan(session, version, plan, settings, parent_id=record_id, label=f"as of {portfolio.as_of}")


@router.get(
    "/portfolios/{portfolio_id}/variance",
    response_model=Variance,
    summary="Actuals against the plan of record",
    responses=responses(404, 422, 503),
)
def get_variance(portfolio_id: StoredId, caller: Viewer, db: Store) -> Variance:
    """Per value stream and recorded quarter the planned allocation, the actual spend and the difference; MMPs
    late against the plan; key results planned against achieved; realized against estimated value."""
    tenant = caller.tenant
    with db.reading() as session:
        row, _ = _record(session, tenant, portfolio_id)
        p = Portfolio.model_validate(repo.get_version(session, tenant, portfolio_id, row.version).document)
        commits = repo.plan_of_record_history(session, tenant, portfolio_id)
        records = [
            (c.plan_id, Plan.model_validate(repo.get_plan(session, tenant, c.plan_id).document)) for c in commits
        ]
        actuals = [_actual(a) for a in repo.list_actuals(session, tenant, portfolio_id)]
        return variance(p, records, in_order(p, actuals))


def _record(session: Any, tenant: str, portfolio_id: str) -> tuple[PlanOfRecordRow, PlanRow]:
    row = repo.plan_of_record(session, tenant, portfolio_id)
    if row is None:
        raise NotFound(f"plan of record of portfolio {portfolio_id!r} (commit a plan first)")
    return row, repo.get_plan(session, tenant, row.plan_id)


def _commit(row: PlanOfRecordRow) -> PlanOfRecordCommit:
    return PlanOfRecordCommit(plan_id=row.plan_id, version=row.version, note=row.note, committed_at=row.committed_at)


def _recorded(row: ActualsRow) -> RecordedActuals:
    return RecordedActuals(quarter=row.quarter, **row.document)


def _actual(row: ActualsRow) -> QuarterActuals:
    return QuarterActuals(quarter=row.quarter, **row.document)
