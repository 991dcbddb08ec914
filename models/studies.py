"""How one solve of a study differs from the portfolio it starts from (no solver imports).

A study (what-if, frontier, re-optimization, batch) is a list of solves of
portfolios derived from stored or submitted ones; a `Variant` says how, as plain
data, so a job can store it with each part and any process can rebuild the solve.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.plan import Amount, Plan, SolverStatus
from models.portfolio import Id, Money, Portfolio
from models.scenarios import Change, ScenarioDiff


class Variant(BaseModel):
    """Applied in this order: the changes, the total budget, the baseline plan and its penalty."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    changes: list[Change] = Field(default_factory=list)
    """A what-if scenario's changes."""
    total_budget: Money | None = None
    """The total budget over the horizon, spread over the quarters like the portfolio's own (a frontier point)."""
    baseline_plan: dict[Id, Id] | None = None
    """Stay close to this plan (MMP id -> start quarter): it becomes the portfolio's baseline plan and the
    warm start; MMPs or quarters the portfolio no longer has are dropped from it."""
    change_penalty: Money | None = None
    """With a baseline plan: the value charged per change (None keeps the portfolio's own)."""

    @property
    def is_empty(self) -> bool:
        return not self.changes and self.total_budget is None and self.baseline_plan is None


class ReplanItem(BaseModel):
    """One portfolio to re-plan close to the plan teams work on."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    label: str
    """Name of the re-plan."""
    portfolio: Portfolio
    """The portfolio to re-plan."""
    baseline: Plan
    """The plan teams work on: the re-plan is charged for every MMP whose selection or start differs."""
    change_penalty: Money | None = None
    """Value charged per change; None keeps the portfolio's own."""


class ReoptimizeRequest(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    items: list[ReplanItem]
    """The portfolios to re-plan."""
    compare: bool = True
    """Also re-plan without the penalty, to report the churn the penalty saves and the value it costs."""


class WithoutPenalty(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    plan_id: str | None = None
    """The stored comparison plan."""
    changed: int
    """MMPs that would change without the penalty."""
    value: Amount | None
    """Outcome value of that plan."""


class ReplanOutcome(BaseModel):
    """One portfolio re-planned against its baseline plan: what changed and what that bought."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    status: SolverStatus | None
    """The solver's status of the new plan."""
    change_penalty: Amount
    """The penalty charged per change."""
    changed: int
    """MMPs whose selection or start differs from the baseline plan."""
    changes: ScenarioDiff | None
    """What differs from the baseline plan."""
    value: Amount | None
    """Outcome value of the new plan (MMPs and key results, without the change penalty)."""
    baseline_value: Amount | None
    """Outcome value of the baseline plan when it was made."""
    without_penalty: WithoutPenalty | None = None
    """The same re-plan without the penalty (with `compare`)."""
    summary: str
    """The outcome in one sentence."""
