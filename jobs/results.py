"""A job's result: its plans in part order, assembled by the job's study into the report of its kind."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from jobs.submit import whatif_request
from models.jobs import BatchJob, FrontierJob, JobResult, JobView, PartView, Progress, Reoptimized, Replanned
from models.plan import Plan
from models.portfolio import Portfolio
from models.studies import ReoptimizeRequest, ReplanItem
from optimizer.studies.cycle import compare
from optimizer.studies.frontier import FrontierStudy
from optimizer.studies.reoptimize import ReoptimizeStudy
from optimizer.studies.whatif import WhatIfStudy
from storage import repo
from storage.tables import JobPartRow, JobRow


def job_view(job: JobRow) -> JobView:
    progress = Progress(
        done=job.done,
        total=job.total,
        failed=job.failed,
        best_value=None if job.best_value is None else Decimal(job.best_value),
    )
    return JobView(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=progress,
        error=job.error,
        cancel_requested=job.cancel_requested,
        attempts=job.attempts,
        worker=job.worker,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def job_result(session: Session, job: JobRow) -> JobResult:
    """Everything finished so far; parts that did not finish have no plan (None)."""
    parts = repo.parts_of(session, job.id)
    plans = [_plan(session, job.tenant_id, part) for part in parts]
    result = JobResult(
        id=job.id,
        kind=job.kind,
        status=job.status,
        plans=plans,
        parts=[
            PartView(index=p.index, status=p.status, label=p.label, plan_id=p.plan_id, error=p.error) for p in parts
        ],
    )
    if job.kind == "batch" and job.request.get("scenarios") is not None:
        result.whatif = WhatIfStudy().assemble(whatif_request(BatchJob.model_validate(job.request)), plans)
    elif job.kind == "frontier":
        result.frontier = FrontierStudy().assemble(FrontierJob.model_validate(job.request), plans)
    elif job.kind == "reoptimize":
        result.reoptimized = _reoptimized(session, job.tenant_id, parts, plans)
    elif job.kind == "replan":
        result.replanned = _replanned(session, job.tenant_id, parts, plans)
    return result


def _replanned(session: Session, tenant: str, parts: list[JobPartRow], plans: list[Plan | None]) -> list[Replanned]:
    """Per re-planned portfolio: its as-of version, the plan of record and what the re-plan changes (a portfolio
    deleted since has no report)."""
    reports = []
    for part, plan in zip(parts, plans, strict=True):
        try:
            version = repo.version_by_id(session, tenant, part.spec["version_id"])
            record = repo.get_plan(session, tenant, part.spec["baseline_plan_id"])
        except repo.NotFound:
            continue
        changes = None
        if plan is not None and plan.objective is not None:
            portfolio = Portfolio.model_validate(version.document)
            changes = compare(Plan.model_validate(record.document), plan, portfolio)
        reports.append(
            Replanned(
                portfolio_id=version.portfolio_id,
                version=version.version,
                parent_id=record.id,
                plan_id=part.plan_id,
                comparison=changes,
            )
        )
    return reports


def _plan(session: Session, tenant: str, part: JobPartRow) -> Plan | None:
    if part.plan_id is None:
        return None
    return Plan.model_validate(repo.get_plan(session, tenant, part.plan_id).document)


def _reoptimized(session: Session, tenant: str, parts: list[JobPartRow], plans: list[Plan | None]) -> list[Reoptimized]:
    """One report per re-planned portfolio (its penalized part, and its comparison part when compared). A
    portfolio deleted since (DELETE /v1/portfolios/{id}) has no report: its versions and plans are gone."""
    penalized = [part for part in parts if not part.spec.get("comparison")]
    compare = len(penalized) < len(parts)
    step = 2 if compare else 1
    items, rows, kept_plans = [], [], []
    for k, part in enumerate(penalized):
        try:
            version = repo.version_by_id(session, tenant, part.spec["version_id"])
            baseline = repo.get_plan(session, tenant, part.spec["baseline_plan_id"])
        except repo.NotFound:
            continue
        penalty = part.spec["variant"].get("change_penalty")
        items.append(
            ReplanItem(
                label=part.label or "",
                portfolio=Portfolio.model_validate(version.document),
                baseline=Plan.model_validate(baseline.document),
                change_penalty=None if penalty is None else Decimal(str(penalty)),
            )
        )
        rows.append((k, version, baseline))
        kept_plans += plans[k * step : k * step + step]
    outcomes = ReoptimizeStudy().assemble(ReoptimizeRequest(items=items, compare=compare), kept_plans)
    reports = []
    for outcome, (k, version, baseline) in zip(outcomes, rows, strict=True):
        if outcome.without_penalty is not None:
            outcome.without_penalty.plan_id = parts[k * step + 1].plan_id
        reports.append(
            Reoptimized(
                **outcome.model_dump(),
                portfolio_id=baseline.portfolio_id,
                version=version.version,
                baseline_plan_id=baseline.id,
                plan_id=parts[k * step].plan_id,
            )
        )
    return reports
