"""Durable jobs, stored portfolios and stored plans: requests and answers (no solver imports).

A job is long work that outlives an HTTP request: a batch of portfolios, a base
portfolio and its scenarios, a budget frontier, or the re-optimization of stored
portfolios against their latest plans. Its `status` (queued, running, succeeded,
failed, canceled) is the job's own; every plan in its result keeps the solver's
status (optimal, feasible, ...) separately.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.plan import Amount, Plan
from models.portfolio import Money, Portfolio
from models.scenarios import FrontierRequest, FrontierResponse, Scenario, ScenarioDiff, WhatIfResponse
from models.settings import SolverSettings

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
PartStatus = Literal["pending", "succeeded", "failed", "canceled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})

MAX_BATCH = 1000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchJob(_In):
    """Many portfolios (`portfolios`), or one base portfolio and its scenarios (`portfolio` + `scenarios`)."""

    kind: Literal["batch"]
    portfolios: Annotated[list[Portfolio], Field(min_length=1, max_length=MAX_BATCH)] | None = None
    portfolio: Portfolio | None = None
    scenarios: Annotated[list[Scenario], Field(min_length=1, max_length=MAX_BATCH)] | None = None
    settings: SolverSettings = Field(default_factory=SolverSettings)

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


class ReoptimizeJob(_In):
    """Re-plan stored portfolios (their latest version) close to their latest stored plan."""

    kind: Literal["reoptimize"]
    portfolio_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=MAX_BATCH)
    ]
    change_penalty: Money | None = None
    """Value charged per MMP whose selection or start changes; None keeps each portfolio's own."""
    compare: bool = True
    """Also re-plan without the penalty, to report the churn the penalty saves and the value it costs."""
    settings: SolverSettings = Field(default_factory=SolverSettings)


JobRequest = Annotated[BatchJob | FrontierJob | ReoptimizeJob, Field(discriminator="kind")]


class Progress(BaseModel):
    done: int
    """Parts finished (succeeded, failed or canceled)."""
    total: int
    failed: int = 0
    best_value: Amount | None = None
    """The best plan objective among the finished parts."""


class JobView(BaseModel):
    id: str
    kind: str
    status: JobStatus
    progress: Progress
    error: str | None = None
    cancel_requested: bool = False
    attempts: int = 0
    """How many times a worker claimed the job (more than one: a worker was lost and it resumed)."""
    worker: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobList(BaseModel):
    jobs: list[JobView]


class PartView(BaseModel):
    index: int
    status: PartStatus
    label: str | None = None
    plan_id: str | None = None
    error: str | None = None


class WithoutPenalty(BaseModel):
    plan_id: str | None
    changed: int
    value: Amount | None


class Reoptimized(BaseModel):
    """One portfolio re-planned against its latest plan: what changed and what that bought."""

    portfolio_id: str
    version: int
    baseline_plan_id: str
    plan_id: str | None
    status: str | None
    change_penalty: Amount
    changed: int
    """MMPs whose selection or start differs from the baseline plan."""
    changes: ScenarioDiff | None
    value: Amount | None
    """Outcome value of the new plan (MMPs and key results, without the change penalty)."""
    baseline_value: Amount | None
    """Outcome value of the baseline plan when it was made."""
    without_penalty: WithoutPenalty | None = None
    summary: str


class JobResult(BaseModel):
    """Plans in part order (None for a part that did not finish), with kind-specific reports."""

    id: str
    kind: str
    status: JobStatus
    plans: list[Plan | None]
    parts: list[PartView]
    whatif: WhatIfResponse | None = None
    frontier: FrontierResponse | None = None
    reoptimized: list[Reoptimized] | None = None


class PortfolioCreated(BaseModel):
    id: str
    name: str
    version: int


class PortfolioInfo(BaseModel):
    id: str
    name: str
    version: int
    """The latest version."""
    created_at: datetime
    updated_at: datetime


class PortfolioList(BaseModel):
    portfolios: list[PortfolioInfo]


class StoredPortfolio(BaseModel):
    id: str
    name: str
    version: int
    """The version shown."""
    latest_version: int
    created_at: datetime
    """When this version was stored."""
    portfolio: dict[str, Any]


class PlanInfo(BaseModel):
    id: str
    portfolio_id: str
    version: int
    parent_id: str | None
    job_id: str | None
    label: str | None
    status: str
    objective: Amount | None
    created_at: datetime


class PlanList(BaseModel):
    plans: list[PlanInfo]


class StoredPlan(PlanInfo):
    settings: SolverSettings
    plan: Plan
