"""The stored records. Portfolio documents are never overwritten: every change is a new version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from models.jobs import JobStatus, PartStatus

Document = JSON().with_variant(JSONB(), "postgresql")


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    """UTC, without tzinfo: stored alike by SQLite and PostgreSQL, compared in Python and SQL."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


def tenant_column() -> Mapped[str]:
    """The tenant a record belongs to (no default: a record stored without one is refused); every query is
    scoped by it (storage/repo.py)."""
    return mapped_column(String(64), ForeignKey("tenants.id"), index=True)


class TenantRow(Base):
    """An organization: its portfolios, plans, jobs, keys and audit events are visible to it alone."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class ApiKeyRow(Base):
    """An API key: only its keyed hash (HMAC-SHA-256 with the server secret) is stored, never the key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = tenant_column()
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditRow(Base):
    """Who did what, when: append-only (the migration makes the database refuse updates and deletes)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_column()
    at: Mapped[datetime] = mapped_column(DateTime, default=now)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any] | None] = mapped_column(Document)


class ServerSecretRow(Base):
    """Secrets the server made for itself (the API-key hashing secret when VMO_KEY_SECRET is not set)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class PortfolioRow(Base):
    __tablename__ = "portfolios"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = tenant_column()
    name: Mapped[str] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class PortfolioVersionRow(Base):
    __tablename__ = "portfolio_versions"
    __table_args__ = (UniqueConstraint("portfolio_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = tenant_column()
    portfolio_id: Mapped[str] = mapped_column(ForeignKey("portfolios.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = tenant_column()
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True, default=JobStatus.QUEUED)
    request: Mapped[dict[str, Any]] = mapped_column(Document, deferred=True)
    """The request as submitted (for the record; large: read only when asked for)."""
    settings: Mapped[dict[str, Any]] = mapped_column(Document)
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    best_value: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class PlanRow(Base):
    __tablename__ = "plans"
    # One plan per job part: a part solved twice (a worker lost after solving) is stored once.
    __table_args__ = (
        UniqueConstraint("job_id", "part_index"),
        ForeignKeyConstraint(["parent_id"], ["plans.id"]),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = tenant_column()
    portfolio_id: Mapped[str] = mapped_column(ForeignKey("portfolios.id"), index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("portfolio_versions.id"))
    version: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"))
    part_index: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(Text)  # a name (200 characters at most) and a suffix
    variant: Mapped[dict[str, Any] | None] = mapped_column(Document)
    """How the solved portfolio differs from the stored version (scenario changes, total budget, baseline)."""
    settings: Mapped[dict[str, Any]] = mapped_column(Document)
    status: Mapped[str] = mapped_column(String(32))
    objective: Mapped[str | None] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now, index=True)


class JobPartRow(Base):
    __tablename__ = "job_parts"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(Document)
    """What to solve: a stored portfolio version and how to vary it (see jobs/submit.py)."""
    after: Mapped[int | None] = mapped_column(Integer)
    """A part whose plan this one starts from (a scenario starts from its base)."""
    status: Mapped[str] = mapped_column(String(20), default=PartStatus.PENDING)
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"))
    error: Mapped[str | None] = mapped_column(Text)


class PlanOfRecordRow(Base):
    """A commit of a stored plan as the one the organization works to. Commits are never changed: the newest
    is the plan of record, the others are its history."""

    __tablename__ = "plan_of_record"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    portfolio_id: Mapped[str] = mapped_column(ForeignKey("portfolios.id"), index=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    version: Mapped[int] = mapped_column(Integer)
    """The portfolio version the plan is a plan of (a scenario's portfolio is stored as a version first)."""
    note: Mapped[str | None] = mapped_column(Text)
    committed_at: Mapped[datetime] = mapped_column(DateTime, default=now, index=True)


class ActualsRow(Base):
    """What happened in one past quarter of a portfolio (the last PUT for the quarter wins)."""

    __tablename__ = "actuals"

    portfolio_id: Mapped[str] = mapped_column(ForeignKey("portfolios.id"), primary_key=True)
    quarter: Mapped[str] = mapped_column(String(200), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(Document)
    """The quarter's actuals (models.portfolio.QuarterActuals, without the quarter)."""
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class WorkerRow(Base):
    """A worker process that says it is alive (for /readyz): an opaque id, never a hostname."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=now)
