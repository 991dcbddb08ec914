"""A stored plan for people: GET /v1/plans/{id}.xlsx (the plan workbook) and GET /v1/plans/{id}/report (one
self-contained HTML page with its charts). Both render the portfolio the plan solved: its stored version,
changed as the plan's study changed it (a scenario's changes, a frontier point's budget)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import Viewer
from api.deps import Store, StoredId
from api.errors import responses
from models.plan import Plan
from models.portfolio import Portfolio
from models.studies import Variant
from optimizer.studies import apply_variant
from reports import plan_report
from storage import repo
from storage.db import Database
from workbooks import XLSX_MEDIA_TYPE, plan_workbook

router = APIRouter(prefix="/v1", tags=["storage"], responses=responses(401, 403))


@router.get(
    "/plans/{plan_id}.xlsx",
    summary="A stored plan as a workbook",
    response_class=Response,
    responses={
        200: {
            "description": "The plan workbook",
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        **responses(404, 422, 503),
    },
)
async def plan_xlsx(plan_id: StoredId, caller: Viewer, db: Store) -> Response:
    """Sheets summary, budget (value stream x quarter: allocated, spent, reserve), roadmap, capacity,
    not_funded (reason, what it would take) and investment_mix."""
    portfolio, plan = await run_in_threadpool(_stored, db, caller.tenant, plan_id)
    data = await run_in_threadpool(plan_workbook, portfolio, plan)
    headers = {"Content-Disposition": f'attachment; filename="plan-{plan_id}.xlsx"'}
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers=headers)


@router.get(
    "/plans/{plan_id}/report",
    summary="A stored plan as an HTML report with charts",
    response_class=HTMLResponse,
    responses={
        200: {"description": "One self-contained page", "content": {"text/html": {}}},
        **responses(404, 422, 503),
    },
)
async def plan_html(plan_id: StoredId, caller: Viewer, db: Store) -> HTMLResponse:
    """Budget per value stream and quarter, the roadmap as a Gantt by value stream, capacity per pool and quarter,
    the investment mix against its guardrails, key results and the value against the WSJF ranking: charts as
    inline SVG, nothing fetched from anywhere."""
    portfolio, plan = await run_in_threadpool(_stored, db, caller.tenant, plan_id)
    return HTMLResponse(await run_in_threadpool(plan_report, portfolio, plan))


def _stored(db: Database, tenant: str, plan_id: str) -> tuple[Portfolio, Plan]:
    with db.reading() as session:
        row = repo.get_plan(session, tenant, plan_id)
        version = repo.get_version(session, tenant, row.portfolio_id, row.version)
        portfolio = Portfolio.model_validate(version.document)
        variant = Variant.model_validate(row.variant) if row.variant else Variant()
        return apply_variant(portfolio, variant), Plan.model_validate(row.document)
