"""Reading and writing the stored records. Every function takes an open session (one transaction).

Tenant scoping lives here, not in the routes: every function that reads or changes a tenant's records takes
the caller's tenant and sees only that tenant's rows, so another tenant's record is NotFound (a 404 that
says nothing about whether it exists). The worker's functions (claim, heartbeat, lock_part, finish, release)
serve every tenant; a claimed job is then run under its own tenant (`JobRow.tenant_id`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.jobs import JobStatus, PartStatus
from models.plan import Plan, SolverStatus
from models.portfolio import Portfolio
from models.settings import SolverSettings
from storage.tables import (
    ActualsRow,
    ApiKeyRow,
    AuditRow,
    JobPartRow,
    JobRow,
    PlanOfRecordRow,
    PlanRow,
    PortfolioRow,
    PortfolioVersionRow,
    ServerSecretRow,
    TenantRow,
    WorkerRow,
    now,
)

SOLVED = (SolverStatus.OPTIMAL, SolverStatus.FEASIBLE)


class NotFound(LookupError):
    """No such record; `what` names it for the error message (e.g. "portfolio 'abc'")."""

    def __init__(self, what: str):
        super().__init__(f"{what} not found")
        self.what = what


class QuotaExceeded(RuntimeError):
    """A tenant is at one of its quotas; `retry_after_s` says when trying again may succeed."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Quotas:
    """Per-tenant quotas on what is stored and queued (None: no quota). The API's come from its settings."""

    portfolios: int | None = None
    """Stored portfolios."""
    versions: int | None = None
    """Stored portfolio versions, over all the tenant's portfolios."""
    queued_jobs: int | None = None
    """Jobs queued or running at once."""
    parts_per_job: int | None = None
    """Parts (solves) of one job."""
    retry_after_s: int = 60
    """Retry-After of a refusal (a quota on stored records frees up only when something is deleted)."""


NO_QUOTAS = Quotas()


# ---------------------------------------------------------------- tenants


def ensure_tenant(session: Session, tenant: str) -> TenantRow:
    """The tenant's row, created when it is new."""
    row = session.get(TenantRow, tenant)
    if row is None:
        try:
            with session.begin_nested():
                row = TenantRow(id=tenant)
                session.add(row)
        except IntegrityError:  # created by another transaction meanwhile
            row = session.get(TenantRow, tenant)
            assert row is not None
    return row


def _lock_tenant(session: Session, tenant: str) -> None:
    """Serialize a tenant's writes that a quota counts (PostgreSQL: its row locked; SQLite: one writer anyway)."""
    ensure_tenant(session, tenant)
    session.scalars(select(TenantRow.id).where(TenantRow.id == tenant).with_for_update()).first()


def check_room(session: Session, tenant: str, quotas: Quotas, portfolios: int = 0, versions: int = 0) -> None:
    """Raise QuotaExceeded when storing `portfolios` new portfolios and `versions` new versions would take the
    tenant over its quota. Locks the tenant first, so two requests cannot both take the last place."""
    if quotas.portfolios is None and quotas.versions is None:
        ensure_tenant(session, tenant)
        return
    _lock_tenant(session, tenant)
    if quotas.portfolios is not None and portfolios:
        stored = _count(session, PortfolioRow, tenant)
        if stored + portfolios > quotas.portfolios:
            raise QuotaExceeded(
                f"tenant {tenant!r} stores {stored} portfolio(s) and may store {quotas.portfolios} "
                f"(VMO_QUOTA_PORTFOLIOS); this request adds {portfolios}: delete some first",
                quotas.retry_after_s,
            )
    if quotas.versions is not None and versions:
        stored = _count(session, PortfolioVersionRow, tenant)
        if stored + versions > quotas.versions:
            raise QuotaExceeded(
                f"tenant {tenant!r} stores {stored} portfolio version(s) and may store {quotas.versions} "
                f"(VMO_QUOTA_VERSIONS); this request adds {versions}: delete some portfolios first",
                quotas.retry_after_s,
            )


def _count(session: Session, table: Any, tenant: str) -> int:
    return session.scalar(select(func.count()).select_from(table).where(table.tenant_id == tenant)) or 0


# ---------------------------------------------------------------- portfolios


def add_portfolio(
    session: Session, tenant: str, portfolio: Portfolio, quotas: Quotas = NO_QUOTAS
) -> PortfolioVersionRow:
    """Store a new portfolio of `tenant` as its version 1."""
    check_room(session, tenant, quotas, portfolios=1, versions=1)
    row = PortfolioRow(tenant_id=tenant, name=portfolio.name, latest_version=1)
    session.add(row)
    session.flush()
    return _add_version_row(session, row, portfolio)


def add_version(
    session: Session, tenant: str, portfolio_id: str, portfolio: Portfolio, quotas: Quotas = NO_QUOTAS
) -> PortfolioVersionRow:
    """Store `portfolio` as the next version of a stored portfolio; earlier versions stay as they were."""
    get_portfolio(session, tenant, portfolio_id)  # another tenant's id: not found, before any quota is counted
    check_room(session, tenant, quotas, versions=1)
    row = session.scalars(_portfolio_query(tenant, portfolio_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"portfolio {portfolio_id!r}")
    row.latest_version += 1
    row.name = portfolio.name
    row.updated_at = now()
    return _add_version_row(session, row, portfolio)


def _portfolio_query(tenant: str, portfolio_id: str):
    return select(PortfolioRow).where(PortfolioRow.id == portfolio_id, PortfolioRow.tenant_id == tenant)


def _add_version_row(session: Session, row: PortfolioRow, portfolio: Portfolio) -> PortfolioVersionRow:
    version = PortfolioVersionRow(
        tenant_id=row.tenant_id,
        portfolio_id=row.id,
        version=row.latest_version,
        document=portfolio.model_dump(mode="json"),
    )
    session.add(version)
    session.flush()
    return version


def get_portfolio(session: Session, tenant: str, portfolio_id: str) -> PortfolioRow:
    row = session.scalars(_portfolio_query(tenant, portfolio_id)).first()
    if row is None:
        raise NotFound(f"portfolio {portfolio_id!r}")
    return row


def list_portfolios(session: Session, tenant: str, limit: int = 100, offset: int = 0) -> list[PortfolioRow]:
    query = select(PortfolioRow).where(PortfolioRow.tenant_id == tenant)
    query = query.order_by(PortfolioRow.created_at.desc(), PortfolioRow.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def get_version(session: Session, tenant: str, portfolio_id: str, version: int | None = None) -> PortfolioVersionRow:
    """A stored version of a portfolio (the latest when `version` is None)."""
    number = version if version is not None else get_portfolio(session, tenant, portfolio_id).latest_version
    row = session.scalars(
        select(PortfolioVersionRow).where(
            PortfolioVersionRow.portfolio_id == portfolio_id,
            PortfolioVersionRow.version == number,
            PortfolioVersionRow.tenant_id == tenant,
        )
    ).first()
    if row is None:
        raise NotFound(f"version {number} of portfolio {portfolio_id!r}")
    return row


def version_by_id(session: Session, tenant: str, version_id: str) -> PortfolioVersionRow:
    """A stored version by its own id (a job part's), within the tenant."""
    row = session.get(PortfolioVersionRow, version_id)
    if row is None or row.tenant_id != tenant:
        raise NotFound(f"portfolio version {version_id!r}")
    return row


def list_versions(session: Session, tenant: str, portfolio_id: str) -> list[PortfolioVersionRow]:
    get_portfolio(session, tenant, portfolio_id)
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
    """Store a plan of a portfolio version (in the version's tenant). `lineage`: parent_id, job_id, part_index,
    label, variant."""
    row = PlanRow(
        tenant_id=version.tenant_id,
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


def get_plan(session: Session, tenant: str, plan_id: str) -> PlanRow:
    row = session.get(PlanRow, plan_id)
    if row is None or row.tenant_id != tenant:
        raise NotFound(f"plan {plan_id!r}")
    return row


def list_plans(session: Session, tenant: str, portfolio_id: str, limit: int = 100, offset: int = 0) -> list[PlanRow]:
    get_portfolio(session, tenant, portfolio_id)
    query = select(PlanRow).where(PlanRow.portfolio_id == portfolio_id)
    query = query.order_by(PlanRow.created_at.desc(), PlanRow.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def current_plan(session: Session, tenant: str, portfolio_id: str, page: int = 50) -> PlanRow | None:
    """The plan teams work on: the plan of record when one was committed; else the portfolio's newest solved
    plan of a stored version as it is (a solve, a batch, or a penalized re-optimization). Not a what-if
    scenario's or a frontier point's plan (a changed portfolio), nor the unpenalized plan a re-optimization
    stores only to compare against."""
    owned = session.scalars(_portfolio_query(tenant, portfolio_id)).first() is not None
    record = session.scalars(_commits(portfolio_id).limit(1)).first() if owned else None
    if record is not None:
        return get_plan(session, tenant, record.plan_id)
    scoped = (PlanRow.portfolio_id == portfolio_id, PlanRow.tenant_id == tenant)
    query = select(PlanRow).where(*scoped, PlanRow.status.in_(SOLVED))
    query = query.order_by(PlanRow.created_at.desc(), PlanRow.id.desc()).limit(page)
    offset = 0
    while True:
        rows = list(session.scalars(query.offset(offset)))
        current = next((row for row in rows if adoptable(row.variant)), None)
        if current is not None or len(rows) < page:
            return current
        offset += page


_NOT_ADOPTABLE = ("changes", "total_budget", "comparison")


def adoptable(variant: dict[str, Any] | None) -> bool:
    """A plan of the stored version itself: no variant, or a re-optimization with its change penalty."""
    return not variant or not any(key in variant for key in _NOT_ADOPTABLE)


# ---------------------------------------------------------------- the planning cycle: plan of record, actuals


# Plan-of-record and actuals rows belong to their portfolio's tenant: every function here first looks the
# portfolio up in the caller's tenant (another tenant's portfolio is NotFound), so the rows need no tenant column.


def commit_plan(
    session: Session, tenant: str, portfolio_id: str, plan_id: str, version: int, note: str | None
) -> PlanOfRecordRow:
    """Commit a stored plan of the portfolio as its plan of record (a new row: earlier commits stay as history)."""
    get_portfolio(session, tenant, portfolio_id)
    row = PlanOfRecordRow(portfolio_id=portfolio_id, plan_id=plan_id, version=version, note=note)
    session.add(row)
    session.flush()
    return row


def _commits(portfolio_id: str) -> Any:
    """The commits of one portfolio, newest first (the one query every plan-of-record read starts from)."""
    query = select(PlanOfRecordRow).where(PlanOfRecordRow.portfolio_id == portfolio_id)
    return query.order_by(PlanOfRecordRow.committed_at.desc(), PlanOfRecordRow.id.desc())


def plan_of_record(session: Session, tenant: str, portfolio_id: str) -> PlanOfRecordRow | None:
    """The portfolio's newest commit, or None when no plan was committed."""
    get_portfolio(session, tenant, portfolio_id)
    return session.scalars(_commits(portfolio_id).limit(1)).first()


def plan_of_record_history(session: Session, tenant: str, portfolio_id: str) -> list[PlanOfRecordRow]:
    """Every commit of the portfolio, oldest first."""
    get_portfolio(session, tenant, portfolio_id)
    return list(reversed(list(session.scalars(_commits(portfolio_id)))))


def put_actuals(session: Session, tenant: str, portfolio_id: str, quarter: str, document: dict[str, Any]) -> ActualsRow:
    """Record (or replace) what happened in one quarter."""
    get_portfolio(session, tenant, portfolio_id)
    row = session.get(ActualsRow, (portfolio_id, quarter))
    if row is None:
        row = ActualsRow(portfolio_id=portfolio_id, quarter=quarter, document=document)
        session.add(row)
    else:
        row.document, row.recorded_at = document, now()
    session.flush()
    return row


def list_actuals(session: Session, tenant: str, portfolio_id: str) -> list[ActualsRow]:
    """Every recorded quarter of the portfolio (in no particular order: quarters are ordered by the horizon)."""
    get_portfolio(session, tenant, portfolio_id)
    return list(session.scalars(select(ActualsRow).where(ActualsRow.portfolio_id == portfolio_id)))


# ---------------------------------------------------------------- jobs


def check_job_room(session: Session, tenant: str, quotas: Quotas, parts: int) -> None:
    """Raise QuotaExceeded for a job of more parts than a job may have, or when the tenant already has its
    quota of queued and running jobs (locks the tenant first)."""
    if quotas.parts_per_job is not None and parts > quotas.parts_per_job:
        raise QuotaExceeded(
            f"this job has {parts} parts; a job of tenant {tenant!r} may have {quotas.parts_per_job} "
            "(VMO_QUOTA_PARTS_PER_JOB): split it into smaller jobs",
            quotas.retry_after_s,
        )
    if quotas.queued_jobs is None:
        return
    _lock_tenant(session, tenant)
    active = select(func.count()).select_from(JobRow).where(JobRow.tenant_id == tenant, JobRow.status.in_(ACTIVE))
    waiting = session.scalar(active) or 0
    if waiting >= quotas.queued_jobs:
        raise QuotaExceeded(
            f"tenant {tenant!r} has {waiting} job(s) queued or running and may have {quotas.queued_jobs} "
            "(VMO_QUOTA_QUEUED_JOBS): wait for one to finish",
            quotas.retry_after_s,
        )


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def add_job(
    session: Session,
    tenant: str,
    kind: str,
    request: dict[str, Any],
    settings: SolverSettings,
    parts: list[JobPartRow],
) -> JobRow:
    """Store a queued job of `tenant` and its parts (quotas are checked first: check_job_room)."""
    job = JobRow(
        tenant_id=tenant,
        kind=kind,
        request=request,
        settings=settings.model_dump(mode="json"),
        total=len(parts),
        status=JobStatus.QUEUED,
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


def get_job(session: Session, tenant: str, job_id: str) -> JobRow:
    row = session.get(JobRow, job_id)
    if row is None or row.tenant_id != tenant:
        raise NotFound(f"job {job_id!r}")
    return row


def list_jobs(
    session: Session, tenant: str, status: JobStatus | None = None, limit: int = 50, offset: int = 0
) -> list[JobRow]:
    query = select(JobRow).where(JobRow.tenant_id == tenant)
    query = query.order_by(JobRow.created_at.desc(), JobRow.id).limit(limit).offset(offset)
    if status is not None:
        query = query.where(JobRow.status == status)
    return list(session.scalars(query))


def tenant_of_job(session: Session, job_id: str) -> str:
    """The tenant a (claimed) job runs under."""
    tenant = session.scalar(select(JobRow.tenant_id).where(JobRow.id == job_id))
    if tenant is None:
        raise NotFound(f"job {job_id!r}")
    return tenant


def parts_of(session: Session, job_id: str) -> list[JobPartRow]:
    return list(session.scalars(select(JobPartRow).where(JobPartRow.job_id == job_id).order_by(JobPartRow.index)))


def request_cancel(session: Session, tenant: str, job_id: str) -> JobRow:
    """A queued job is canceled at once; a running one is flagged for its worker; a finished one stays."""
    query = select(JobRow).where(JobRow.id == job_id, JobRow.tenant_id == tenant)
    job = session.scalars(query.with_for_update()).first()
    if job is None:
        raise NotFound(f"job {job_id!r}")
    if job.status == JobStatus.QUEUED:
        _cancel_pending_parts(session, job)
        job.status, job.finished_at = JobStatus.CANCELED, now()
    elif job.status == JobStatus.RUNNING:
        job.cancel_requested = True
    return job


def _cancel_pending_parts(session: Session, job: JobRow, reason: str = "the job was canceled") -> None:
    canceled = session.execute(
        update(JobPartRow)
        .where(JobPartRow.job_id == job.id, JobPartRow.status == PartStatus.PENDING)
        .values(status=PartStatus.CANCELED, error=reason)
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
    running = JobRow.status == JobStatus.RUNNING
    claimable = or_(JobRow.status == JobStatus.QUEUED, running & (JobRow.heartbeat_at < stale))
    query = select(JobRow).where(claimable).order_by(JobRow.created_at, JobRow.id)
    while True:
        job = session.scalars(query.limit(1).with_for_update(skip_locked=True)).first()
        if job is None:
            return None
        if job.cancel_requested:  # its worker was lost after a cancel: end it as asked, do not resume it
            _cancel_pending_parts(session, job)
            job.status, job.finished_at = JobStatus.CANCELED, now()
            continue
        if job.status == JobStatus.RUNNING and job.attempts >= max_attempts:
            lost = (
                f"its worker {job.worker} stopped responding {job.attempts} times (last heartbeat {job.heartbeat_at})"
            )
            _cancel_pending_parts(session, job, f"not run: {lost}")
            job.status, job.error, job.finished_at = JobStatus.FAILED, f"gave up: {lost}", now()
            continue
        if job.status == JobStatus.RUNNING:
            job.error = f"resumed after worker {job.worker} stopped responding"
        job.status, job.worker, job.heartbeat_at = JobStatus.RUNNING, worker, now()
        job.attempts += 1
        job.started_at = job.started_at or now()
        return job


def heartbeat(session: Session, job_id: str, worker: str) -> tuple[bool, bool]:
    """Renew the worker's lease. Returns (still this worker's job, cancel requested)."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    if job is None or job.worker != worker or job.status != JobStatus.RUNNING:
        return False, False
    job.heartbeat_at = now()
    return True, job.cancel_requested


def lock_part(session: Session, job_id: str, worker: str, index: int) -> tuple[JobRow, JobPartRow] | None:
    """The job (row-locked) and its part, if the job is still this worker's and the part still pending:
    a part is recorded once, and a worker that lost its job records nothing."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    part = session.get(JobPartRow, (job_id, index))
    if job is None or part is None or job.worker != worker or job.status != JobStatus.RUNNING:
        return None
    if part.status != PartStatus.PENDING:
        return None
    return job, part


def count_part(
    job: JobRow, part: JobPartRow, status: PartStatus, plan: PlanRow | None = None, error: str | None = None
) -> None:
    """Mark a locked part finished and count it in its job's progress."""
    part.status, part.plan_id, part.error = status, plan.id if plan else None, error
    job.done += 1
    job.failed += status == PartStatus.FAILED
    job.heartbeat_at = now()
    better = plan is not None and plan.objective is not None
    if better and (job.best_value is None or Decimal(plan.objective) > Decimal(job.best_value)):
        job.best_value = plan.objective


def finish(session: Session, job_id: str, worker: str, status: JobStatus, error: str | None = None) -> bool:
    """End a job this worker holds: remaining pending parts are canceled."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    if job is None or job.worker != worker or job.status != JobStatus.RUNNING:
        return False
    reason = "the job was canceled" if status == JobStatus.CANCELED else f"not run: the job ended {status}"
    _cancel_pending_parts(session, job, reason)
    job.status, job.finished_at = status, now()
    job.error = error
    return True


def release(session: Session, job_id: str, worker: str) -> None:
    """Hand a job back to the queue (a worker shutting down); finished parts stay finished.
    A job whose cancel was asked for is canceled instead."""
    job = session.scalars(select(JobRow).where(JobRow.id == job_id).with_for_update()).first()
    if job is None or job.worker != worker or job.status != JobStatus.RUNNING:
        return
    if job.cancel_requested:
        _cancel_pending_parts(session, job)
        job.status, job.finished_at = JobStatus.CANCELED, now()
        return
    job.status, job.worker, job.heartbeat_at = JobStatus.QUEUED, None, None
    job.attempts -= 1


def list_plans_of_job(session: Session, job_id: str) -> list[PlanRow]:
    query = select(PlanRow).where(PlanRow.job_id == job_id).order_by(PlanRow.part_index)
    return list(session.scalars(query))


def count_plans(session: Session, job_id: str) -> int:
    return session.scalar(select(func.count()).select_from(PlanRow).where(PlanRow.job_id == job_id)) or 0


# ---------------------------------------------------------------- deleting and retention


class InUse(RuntimeError):
    """A record that a queued or running job still needs."""


def delete_portfolio(session: Session, tenant: str, portfolio_id: str) -> None:
    """Delete a portfolio, every version and every plan of it. Refused (InUse) while a queued or running job
    solves one of its versions; finished jobs keep their parts, which then have no plan."""
    get_portfolio(session, tenant, portfolio_id)
    versions = set(
        session.scalars(select(PortfolioVersionRow.id).where(PortfolioVersionRow.portfolio_id == portfolio_id))
    )
    active = select(JobPartRow.job_id, JobPartRow.spec).join(JobRow, JobRow.id == JobPartRow.job_id)
    active = active.where(JobRow.status.in_(ACTIVE), JobRow.tenant_id == tenant)
    for job_id, spec in session.execute(active):
        if (spec or {}).get("version_id") in versions:
            raise InUse(f"portfolio {portfolio_id!r} is being solved by job {job_id!r}; cancel it or wait for it")
    plans = select(PlanRow.id).where(PlanRow.portfolio_id == portfolio_id)
    session.execute(delete(PlanOfRecordRow).where(PlanOfRecordRow.portfolio_id == portfolio_id))
    session.execute(delete(ActualsRow).where(ActualsRow.portfolio_id == portfolio_id))
    session.execute(update(PlanRow).where(PlanRow.parent_id.in_(plans)).values(parent_id=None))
    session.execute(update(JobPartRow).where(JobPartRow.plan_id.in_(plans)).values(plan_id=None))
    session.execute(delete(PlanRow).where(PlanRow.portfolio_id == portfolio_id))
    session.execute(delete(PortfolioVersionRow).where(PortfolioVersionRow.portfolio_id == portfolio_id))
    session.execute(delete(PortfolioRow).where(PortfolioRow.id == portfolio_id))


def delete_job(session: Session, tenant: str, job_id: str) -> None:
    """Delete a job of `tenant` and its parts; the plans it made stay with their portfolios."""
    delete_jobs(session, [get_job(session, tenant, job_id).id])


def delete_jobs(session: Session, job_ids: list[str]) -> None:
    """Delete jobs (of any tenant: retention) and their parts; the plans they made stay with their portfolios."""
    if not job_ids:
        return
    session.execute(update(PlanRow).where(PlanRow.job_id.in_(job_ids)).values(job_id=None, part_index=None))
    session.execute(delete(JobPartRow).where(JobPartRow.job_id.in_(job_ids)))
    session.execute(delete(JobRow).where(JobRow.id.in_(job_ids)))


def purge_finished_jobs(session: Session, older_than_s: float, batch: int = 500) -> int:
    """Delete up to `batch` jobs that finished more than `older_than_s` ago (the retention setting)."""
    cutoff = now() - timedelta(seconds=older_than_s)
    finished = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)
    query = select(JobRow.id).where(JobRow.status.in_(finished), JobRow.finished_at < cutoff).limit(batch)
    ids = list(session.scalars(query))
    delete_jobs(session, ids)
    return len(ids)


# ---------------------------------------------------------------- workers


def worker_seen(session: Session, worker: str) -> None:
    row = session.get(WorkerRow, worker)
    if row is None:
        session.add(WorkerRow(id=worker))
    else:
        row.seen_at = now()


def worker_gone(session: Session, worker: str) -> None:
    session.execute(delete(WorkerRow).where(WorkerRow.id == worker))


def live_workers(session: Session, within_s: float) -> int:
    """Workers seen within `within_s` (older rows of workers that died are dropped)."""
    cutoff = now() - timedelta(seconds=within_s)
    return session.scalar(select(func.count()).select_from(WorkerRow).where(WorkerRow.seen_at >= cutoff)) or 0


# ---------------------------------------------------------------- API keys


def add_key(session: Session, tenant: str, role: str, digest: str, name: str | None = None) -> ApiKeyRow:
    """Store a key's keyed hash (the key itself is never stored) for `tenant`, created when it is new."""
    ensure_tenant(session, tenant)
    row = ApiKeyRow(tenant_id=tenant, role=role, digest=digest, name=name)
    session.add(row)
    session.flush()
    return row


def key_by_digest(session: Session, digest: str) -> ApiKeyRow | None:
    """The live (not revoked) key with this hash: how a caller's tenant and role are found."""
    query = select(ApiKeyRow).where(ApiKeyRow.digest == digest, ApiKeyRow.revoked_at.is_(None))
    return session.scalars(query).first()


def list_keys(session: Session, tenant: str | None, limit: int = 100, offset: int = 0) -> list[ApiKeyRow]:
    """The keys of `tenant` (None: of every tenant, for the operator's `vmo keys list`), newest first."""
    query = select(ApiKeyRow)
    if tenant is not None:
        query = query.where(ApiKeyRow.tenant_id == tenant)
    query = query.order_by(ApiKeyRow.created_at.desc(), ApiKeyRow.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def revoke_key(session: Session, tenant: str | None, key_id: str) -> ApiKeyRow:
    """Revoke a key of `tenant` (None: of any tenant, for `vmo keys revoke`); revoking twice changes nothing."""
    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.id == key_id).with_for_update()).first()
    if row is None or (tenant is not None and row.tenant_id != tenant):
        raise NotFound(f"key {key_id!r}")
    if row.revoked_at is None:
        row.revoked_at = now()
    return row


# ---------------------------------------------------------------- audit


def audit(
    session: Session, tenant: str, actor: str, action: str, target: str, details: dict[str, Any] | None = None
) -> AuditRow:
    """Append an audit event in the caller's transaction: the event is stored if and only if the action is."""
    ensure_tenant(session, tenant)
    row = AuditRow(tenant_id=tenant, actor=actor[:200], action=action, target=target[:200], details=details)
    session.add(row)
    session.flush()
    return row


def list_audit(
    session: Session, tenant: str, action: str | None = None, limit: int = 100, offset: int = 0
) -> list[AuditRow]:
    """The tenant's audit events, newest first (optionally of one action)."""
    query = select(AuditRow).where(AuditRow.tenant_id == tenant)
    if action is not None:
        query = query.where(AuditRow.action == action)
    return list(session.scalars(query.order_by(AuditRow.id.desc()).limit(limit).offset(offset)))


# ---------------------------------------------------------------- server secrets


def server_secret(session: Session, name: str, make: Callable[[], str]) -> str:
    """The stored secret `name`, made with `make` and stored on first use (the first of two racing makers wins)."""
    row = session.get(ServerSecretRow, name)
    if row is not None:
        return row.value
    try:
        with session.begin_nested():
            session.add(ServerSecretRow(name=name, value=make()))
    except IntegrityError:
        pass
    row = session.get(ServerSecretRow, name)
    assert row is not None
    return row.value
