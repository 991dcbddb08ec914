"""Durable jobs, stored portfolios and stored plans: requests and answers (no solver imports).

A job is long work that outlives an HTTP request: a batch of portfolios, a base
portfolio and its scenarios, a budget frontier, or the re-optimization of stored
portfolios against their latest plans. Its `status` (queued, running, succeeded,
failed, canceled) is the job's own; every plan in its result keeps the solver's
status (optimal, feasible, ...) separately.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.cycle import Comparison
from models.plan import Amount, Plan
from models.portfolio import Id, Money, Portfolio
from models.scenarios import FrontierRequest, FrontierResponse, Scenario, WhatIfResponse
from models.settings import SolverSettings
from models.studies import ReplanOutcome
from models.times import Timestamp


class JobStatus(StrEnum):
    """A job's own status (each of its plans keeps the solver's status separately)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class PartStatus(StrEnum):
    """One part (one solve) of a job."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})

MAX_BATCH = 1000


class _In(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")


class BatchJob(_In):
    """Many portfolios (`portfolios`), or one base portfolio and its scenarios (`portfolio` + `scenarios`)."""

    kind: Literal["batch"]
    """batch"""
    portfolios: Annotated[list[Portfolio], Field(min_length=1, max_length=MAX_BATCH)] | None = None
    """Many portfolios, each stored and solved; or give portfolio and scenarios."""
    portfolio: Portfolio | None = None
    """A base portfolio, with `scenarios`."""
    scenarios: Annotated[list[Scenario], Field(min_length=1, max_length=MAX_BATCH)] | None = None
    """The base portfolio's scenarios."""
    settings: SolverSettings = Field(default_factory=SolverSettings)
    """How to solve every part."""

    @model_validator(mode="after")
    def _one_form(self) -> BatchJob:
        many = self.portfolios is not None
        scenarios = self.portfolio is not None or self.scenarios is not None
        if many == scenarios:
            raise ValueError("give either portfolios (a list), or portfolio and scenarios")
        if scenarios and (self.portfolio is None or self.scenarios is None):
            raise ValueError("a scenario batch needs both portfolio and scenarios")
        return self


class FrontierJob(FrontierRequest):
    """The budget frontier (see POST /v1/frontier) as a job."""

    kind: Literal["frontier"]
    """frontier"""


class ReoptimizeJob(_In):
    """Re-plan stored portfolios (their latest version) close to their latest stored plan."""

    kind: Literal["reoptimize"]
    """reoptimize"""
    portfolio_ids: Annotated[list[Annotated[Id, Field(max_length=64)]], Field(min_length=1, max_length=MAX_BATCH)]
    """Stored portfolios to re-plan."""
    change_penalty: Money | None = None
    """Value charged per MMP whose selection or start changes; None keeps each portfolio's own."""
    compare: Annotated[bool, Field(strict=True)] = True
    """Also re-plan without the penalty, to report the churn the penalty saves and the value it costs."""
    settings: SolverSettings = Field(default_factory=SolverSettings)
    """How to solve every part."""


class ReplanJob(_In):
    """Re-plan stored portfolios as of a quarter from their plans of record and actuals (the quarterly cycle)."""

    kind: Literal["replan"]
    """replan"""
    portfolio_ids: Annotated[list[Annotated[Id, Field(max_length=64)]], Field(min_length=1, max_length=MAX_BATCH)]
    """Stored portfolios to re-plan; each needs a plan of record."""
    as_of: Id
    """The first quarter to re-plan: the quarters before it are history."""
    change_penalty: Money | None = None
    """Value charged per change against the plan of record, a stop included; None keeps each portfolio's own."""
    settings: SolverSettings = Field(default_factory=SolverSettings)
    """How to solve every part."""


JobRequest = Annotated[BatchJob | FrontierJob | ReoptimizeJob | ReplanJob, Field(discriminator="kind")]


class Progress(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    done: int
    """Parts finished (succeeded, failed or canceled)."""
    total: int
    """Parts of the job."""
    failed: int = 0
    """Parts that failed."""
    best_value: Amount | None = None
    """The best plan objective among the finished parts."""


class JobView(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Job id."""
    kind: str
    """batch, frontier, reoptimize or replan."""
    status: JobStatus
    """queued, running, succeeded, failed or canceled."""
    progress: Progress
    """Parts done, failed and the best value so far."""
    error: str | None = None
    """Why the job failed."""
    cancel_requested: bool = False
    """A cancel was asked for."""
    attempts: int = 0
    """How many times a worker claimed the job (more than one: a worker was lost and it resumed)."""
    worker: str | None = None
    """The worker running it."""
    created_at: Timestamp
    """When it was submitted."""
    started_at: Timestamp | None = None
    """When a worker first took it."""
    finished_at: Timestamp | None = None
    """When it ended."""


class JobList(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    jobs: list[JobView]
    """Jobs, newest first."""


class PartView(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    index: int
    """Part number, from 0."""
    status: PartStatus
    """pending, succeeded, failed or canceled."""
    label: str | None = None
    """What the part solves."""
    plan_id: str | None = None
    """Its stored plan."""
    error: str | None = None
    """Why it failed."""


class Reoptimized(ReplanOutcome):
    """One stored portfolio re-planned against its current plan: what changed, what that bought, and
    where the plans are stored."""

    portfolio_id: str
    """Stored portfolio id."""
    version: int
    """The version re-planned."""
    baseline_plan_id: str
    """The plan teams work on, charged against."""
    plan_id: str | None
    """The new stored plan."""


class Replanned(BaseModel):
    """One stored portfolio re-planned as of a quarter: where the plan is stored and what it changes."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    portfolio_id: str
    """Stored portfolio id."""
    version: int
    """The as-of portfolio's version (stored when the job was submitted)."""
    parent_id: str
    """The plan of record it re-plans."""
    plan_id: str | None
    """The new stored plan (null when its part did not finish)."""
    comparison: Comparison | None
    """Against the plan of record (null without a plan)."""


class JobResult(BaseModel):
    """Plans in part order (None for a part that did not finish), with kind-specific reports."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Job id."""
    kind: str
    """batch, frontier, reoptimize or replan."""
    status: JobStatus
    """The job's status."""
    plans: list[Plan | None]
    """Plans in part order (null for a part that did not finish)."""
    parts: list[PartView]
    """Each part's status."""
    whatif: WhatIfResponse | None = None
    """With scenarios: the what-if report."""
    frontier: FrontierResponse | None = None
    """A frontier job's report."""
    reoptimized: list[Reoptimized] | None = None
    """A re-optimization job's report, per portfolio."""
    replanned: list[Replanned] | None = None
    """A re-plan job's report, per portfolio."""


class PortfolioCreated(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Stored portfolio id."""
    name: str
    """The portfolio's name."""
    version: int
    """The version stored."""


class PortfolioInfo(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Stored portfolio id."""
    name: str
    """The latest version's name."""
    version: int
    """The latest version."""
    created_at: Timestamp
    """When version 1 was stored."""
    updated_at: Timestamp
    """When the latest version was stored."""


class PortfolioList(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    portfolios: list[PortfolioInfo]
    """Stored portfolios, newest first."""


class StoredPortfolio(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Stored portfolio id."""
    name: str
    """The portfolio's name."""
    version: int
    """The version shown."""
    latest_version: int
    """The latest version."""
    created_at: Timestamp
    """When this version was stored."""
    portfolio: dict[str, Any]
    """The portfolio document of this version."""


class PlanInfo(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    id: str
    """Plan id."""
    portfolio_id: str
    """Stored portfolio id."""
    version: int
    """The portfolio version solved."""
    parent_id: str | None
    """The plan it starts from (a scenario's base plan, a re-optimization's baseline plan)."""
    job_id: str | None
    """The job that made it."""
    label: str | None
    """What was solved."""
    status: str
    """The solver's status."""
    objective: Amount | None
    """Outcome value of the plan."""
    created_at: Timestamp
    """When it was stored."""


class PlanList(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    plans: list[PlanInfo]
    """Plans, newest first."""


class StoredPlan(PlanInfo):
    settings: SolverSettings
    """The settings it was solved with."""
    plan: Plan
    """The plan."""
