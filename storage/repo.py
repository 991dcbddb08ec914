"""Reading and writing the stored records. Every function takes an open session (one transaction)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from models.plan import Plan
from models.portfolio import Portfolio
from models.settings import SolverSettings
from storage.tables import JobPartRow, JobRow, PlanRow, PortfolioRow, PortfolioVersionRow, now

SOLVED = ("optimal", "feasible")


class NotFound(LookupError):
    """No such record; `what` names it for the error message (e.g. "portfolio 'abc'")."""

    def __init__(self, what: str):
        super().__init__(f"{what} not found")
        self.what = what


# ---------------------------------------------------------------- portfolios


def add_portfolio(session: Session, portfolio: Portfolio) -> PortfolioVersionRow:
    """Store a new portfolio as its version 1."""
    row = PortfolioRow(name=portfolio.name, latest_version=1)
    session.add(row)
    session.flush()
    return _add_version_row(session, row, portfolio)


def add_version(session: Session, portfolio_id: str, portfolio: Portfolio) -> PortfolioVersionRow:
    """Store `portfolio` as the next version of a stored portfolio; earlier versions stay as they were."""
    row = session.scalars(select(PortfolioRow).where(PortfolioRow.id == portfolio_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"portfolio {portfolio_id!r}")
    row.latest_version += 1
    row.name = portfolio.name
    row.updated_at = now()
    return _add_version_row(session, row, portfolio)


def _add_version_row(session: Session, row: PortfolioRow, portfolio: Portfolio) -> PortfolioVersionRow:
    version = PortfolioVersionRow(
        portfolio_id=row.id, version=row.latest_version, document=portfolio.model_dump(mode="json")
    )
    session.add(version)
    session.flush()
    return version


def get_portfolio(session: Session, portfolio_id: str) -> PortfolioRow:
    row = session.get(PortfolioRow, portfolio_id)
    if row is None:
        raise NotFound(f"portfolio {portfolio_id!r}")
    return row


def list_portfolios(session: Session, limit: int = 100, offset: int = 0) -> list[PortfolioRow]:
    query = select(PortfolioRow).order_by(PortfolioRow.created_at.desc(), PortfolioRow.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def get_version(session: Session, portfolio_id: str, version: int | None = None) -> PortfolioVersionRow:
    """A stored version of a portfolio (the latest when `version` is None)."""
    number = version if version is not None else get_portfolio(session, portfolio_id).latest_version
    row = session.scalars(
        select(PortfolioVersionRow).where(
            PortfolioVersionRow.portfolio_id == portfolio_id, PortfolioVersionRow.version == number
        )
    ).first()
    if row is None:
        raise NotFound(f"version {number} of portfolio {portfolio_id!r}")
    return row


def list_versions(session: Session, portfolio_id: str) -> list[PortfolioVersionRow]:
    get_portfolio(session, portfolio_id)
    query = select(PortfolioVersionRow).where(PortfolioVersionRow.portfolio_id == portfolio_id)
    return list(session.scalars(query.order_by(PortfolioVersionRow.version)))


# ---------------------------------------------------------------- plans


def add_plan(
    session: Session,
    version: PortfolioVersionRow,
    plan: Plan,
    settings: SolverSettings,
    **lineage: Any,
) -> PlanRow:
    """Store a plan of a portfolio version. `lineage`: parent_id, job_id, part_index, label, variant."""
    row = PlanRow(
        portfolio_id=version.portfolio_id,
        version_id=version.id,
        version=version.version,
        settings=settings.model_dump(mode="json"),
        status=plan.status,
        objective=None if plan.objective is None else str(plan.objective),
        document=plan.model_dump(mode="json"),
        **lineage,
    )
    session.add(row)
    session.flush()
    return row


def get_plan(session: Session, plan_id: str) -> PlanRow:
    row = session.get(PlanRow, plan_id)
    if row is None:
        raise NotFound(f"plan {plan_id!r}")
    return row


def list_plans(session: Session, portfolio_id: str, limit: int = 100, offset: int = 0) -> list[PlanRow]:
    get_portfolio(session, portfolio_id)
    query = select(PlanRow).where(PlanRow.portfolio_id == portfolio_id)
    query = query.order_by(PlanRow.created_at.desc(), PlanRow.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def latest_plan(session: Session, portfolio_id: str) -> PlanRow | None:
    """The newest stored plan of any version of the portfolio that has a solution."""
    query = select(PlanRow).where(PlanRow.portfolio_id == portfolio_id, PlanRow.status.in_(SOLVED))
    return session.scalars(query.order_by(PlanRow.created_at.desc(), PlanRow.id.desc()).limit(1)).first()


# ---------------------------------------------------------------- jobs


def add_job(
    session: Session, kind: str, request: dict[str, Any], settings: SolverSettings, parts: list[JobPartRow]
) -> JobRow:
    job = JobRow(
        kind=kind,
        request=request,
        settings=settings.model_dump(mode="json"),
        total=len(parts),
        status="queued",
        done=0,
        failed=0,
        attempts=0,
    )
    session.add(job)
    session.flush()
    for part in parts:
        part.job_id = job.id
        session.add(part)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> JobRow:
    row = session.get(JobRow, job_id)
    if row is None:
        raise NotFound(f"job {job_id!r}")
    return row


def list_jobs(session: Session, status: str | None = None, limit: int = 50) -> list[JobRow]:
    query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
    if status is not None:
        query = query.where(JobRow.status == status)
    return list(session.scalars(query))


def parts_of(session: Session, job_id: str) -> list[JobPartRow]:
    return list(session.scalars(select(JobPartRow).where(JobPartRow.job_id == job_id).order_by(JobPartRow.index)))


def request_cancel(session: Session, job_id: str) -> JobRow:
    """A queued job is canceled at once; a running one is flagged for its worker; a finished one stays."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    if job is None:
        raise NotFound(f"job {job_id!r}")
    if job.status == "queued":
        _cancel_pending_parts(session, job)
        job.status, job.finished_at = "canceled", now()
    elif job.status == "running":
        job.cancel_requested = True
    return job


def _cancel_pending_parts(session: Session, job: JobRow, reason: str = "the job was canceled") -> None:
    canceled = session.execute(
        update(JobPartRow)
        .where(JobPartRow.job_id == job.id, JobPartRow.status == "pending")
        .values(status="canceled", error=reason)
    ).rowcount
    job.done += canceled


def claim(session: Session, worker: str, lease_s: float, max_attempts: int) -> JobRow | None:
    """Take the oldest claimable job: queued, or running under a worker that stopped heartbeating.

    PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so many workers claim different jobs at once.
    SQLite: the transaction holds the database's single write lock (BEGIN IMMEDIATE): one claimer.
    A job whose worker was lost `max_attempts` times is marked failed with the reason instead, and a
    lost job whose cancel was asked for is canceled.
    """
    stale = now() - timedelta(seconds=lease_s)
    claimable = or_(JobRow.status == "queued", (JobRow.status == "running") & (JobRow.heartbeat_at < stale))
    query = select(JobRow).where(claimable).order_by(JobRow.created_at, JobRow.id)
    while True:
        job = session.scalars(query.limit(1).with_for_update(skip_locked=True)).first()
        if job is None:
            return None
        if job.cancel_requested:  # its worker was lost after a cancel: end it as asked, do not resume it
            _cancel_pending_parts(session, job)
            job.status, job.finished_at = "canceled", now()
            continue
        if job.status == "running" and job.attempts >= max_attempts:
            lost = (
                f"its worker {job.worker} stopped responding {job.attempts} times (last heartbeat {job.heartbeat_at})"
            )
            _cancel_pending_parts(session, job, f"not run: {lost}")
            job.status, job.error, job.finished_at = "failed", f"gave up: {lost}", now()
            continue
        if job.status == "running":
            job.error = f"resumed after worker {job.worker} stopped responding"
        job.status, job.worker, job.heartbeat_at = "running", worker, now()
        job.attempts += 1
        job.started_at = job.started_at or now()
        return job


def heartbeat(session: Session, job_id: str, worker: str) -> tuple[bool, bool]:
    """Renew the worker's lease. Returns (still this worker's job, cancel requested)."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    if job is None or job.worker != worker or job.status != "running":
        return False, False
    job.heartbeat_at = now()
    return True, job.cancel_requested


def lock_part(session: Session, job_id: str, worker: str, index: int) -> tuple[JobRow, JobPartRow] | None:
    """The job (row-locked) and its part, if the job is still this worker's and the part still pending:
    a part is recorded once, and a worker that lost its job records nothing."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    part = session.get(JobPartRow, (job_id, index))
    if job is None or part is None or job.worker != worker or job.status != "running" or part.status != "pending":
        return None
    return job, part


def count_part(
    job: JobRow, part: JobPartRow, status: str, plan: PlanRow | None = None, error: str | None = None
) -> None:
    """Mark a locked part finished and count it in its job's progress."""
    part.status, part.plan_id, part.error = status, plan.id if plan else None, error
    job.done += 1
    job.failed += status == "failed"
    job.heartbeat_at = now()
    better = plan is not None and plan.objective is not None
    if better and (job.best_value is None or Decimal(plan.objective) > Decimal(job.best_value)):
        job.best_value = plan.objective


def finish(session: Session, job_id: str, worker: str, status: str, error: str | None = None) -> bool:
    """End a job this worker holds: remaining pending parts are canceled."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    if job is None or job.worker != worker or job.status != "running":
        return False
    reason = "the job was canceled" if status == "canceled" else f"not run: the job ended {status}"
    _cancel_pending_parts(session, job, reason)
    job.status, job.finished_at = status, now()
    job.error = error
    return True


def release(session: Session, job_id: str, worker: str) -> None:
    """Hand a job back to the queue (a worker shutting down); finished parts stay finished.
    A job whose cancel was asked for is canceled instead."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    if job is None or job.worker != worker or job.status != "running":
        return
    if job.cancel_requested:
        _cancel_pending_parts(session, job)
        job.status, job.finished_at = "canceled", now()
        return
    job.status, job.worker, job.heartbeat_at = "queued", None, None
    job.attempts -= 1


def list_plans_of_job(session: Session, job_id: str) -> list[PlanRow]:
    query = select(PlanRow).where(PlanRow.job_id == job_id).order_by(PlanRow.part_index)
    return list(session.scalars(query))


def count_plans(session: Session, job_id: str) -> int:
    return session.scalar(select(func.count()).select_from(PlanRow).where(PlanRow.job_id == job_id)) or 0
