"""What-if scenarios and budget frontiers: requests and answers (no solver imports).

A scenario is a named list of changes to a base portfolio. Every change names
what it touches by id (never by array position), so a scenario stays valid as
the portfolio is edited.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.limits import LIMITS
from models.plan import Amount, SolverStatus
from models.portfolio import MMP, PLAIN_NUMBER, Id, Money, Portfolio, Units
from models.settings import SolverSettings


class _Change(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")


class ScaleBudget(_Change):
    """Multiply the total budget (every quarter, or one) by `factor` (0.9 = a 10 % cut)."""

    op: Literal["scale_budget"]
    """scale_budget"""
    factor: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False), PLAIN_NUMBER]
    """Multiplier of the total budget (0.9 = a 10 % cut)."""
    quarter: Id | None = None
    """Only this quarter (default: every quarter)."""


class SetBudget(_Change):
    """Set the total budget of every quarter, or of one quarter."""

    op: Literal["set_budget"]
    """set_budget"""
    amount: Money
    """The new total budget."""
    quarter: Id | None = None
    """Only this quarter (default: every quarter)."""


class SetStreamBudget(_Change):
    """Set a value stream's min and/or max budget guardrail (every quarter)."""

    op: Literal["set_stream_budget"]
    """set_stream_budget"""
    value_stream: Id
    """Value stream id."""
    min_budget: Money | None = None
    """New min_budget of every quarter."""
    max_budget: Money | None = None
    """New max_budget of every quarter."""


class ChangeCapacity(_Change):
    """Add (positive delta) or remove (negative delta) capacity units of a pool, every quarter or one."""

    op: Literal["change_capacity"]
    """change_capacity"""
    pool: Id
    """Pool id."""
    delta: Annotated[Decimal, Field(allow_inf_nan=False, ge=-(10**15), le=10**15), PLAIN_NUMBER]
    """Units added (positive) or removed (negative)."""
    quarter: Id | None = None
    """Only this quarter (default: every quarter)."""


class ForceMMP(_Change):
    """Force an MMP in (mandatory) or out (excluded), or free it (neither: the optimizer decides)."""

    op: Literal["force_mmp"]
    """force_mmp"""
    mmp: Id
    """MMP id."""
    mode: Literal["in", "out", "free"]
    """in: mandatory; out: excluded; free: neither (the optimizer decides)."""


class SetMMP(_Change):
    """Change an MMP's value, cost profile or start window."""

    op: Literal["set_mmp"]
    """set_mmp"""
    mmp: Id
    """MMP id."""
    value: Money | None = None
    """New value."""
    cost: Annotated[list[Money], Field(min_length=1, max_length=LIMITS.max_quarters)] | None = None
    """New cost profile (its length is the duration)."""
    earliest_start: Id | None = None
    """New earliest start quarter."""
    deadline: Id | None = None
    """New deadline quarter."""


class AddMMP(_Change):
    """Add a new MMP."""

    op: Literal["add_mmp"]
    """add_mmp"""
    mmp: MMP
    """The new MMP."""


class RemoveMMP(_Change):
    """Remove an MMP and every reference to it: what required it no longer waits for it. To stop funding an MMP
    and everything that needs it, force it out instead."""

    op: Literal["remove_mmp"]
    """remove_mmp"""
    mmp: Id
    """Id of the MMP to remove (references to it are removed too)."""


class SetKeyResultTarget(_Change):
    """Change a key result's target."""

    op: Literal["set_key_result_target"]
    """set_key_result_target"""
    key_result: Id
    """Key result id."""
    target: Units
    """The new target."""


Change = Annotated[
    ScaleBudget
    | SetBudget
    | SetStreamBudget
    | ChangeCapacity
    | ForceMMP
    | SetMMP
    | AddMMP
    | RemoveMMP
    | SetKeyResultTarget,
    Field(discriminator="op"),
]


class Scenario(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    name: Id
    """The scenario's name, shown in the answer."""
    changes: Annotated[list[Change], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=list)
    """Changes to the base portfolio, applied in order."""


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    portfolio: Portfolio
    """The base portfolio."""
    scenarios: Annotated[list[Scenario], Field(min_length=1, max_length=50)]
    """The scenarios to compare with it (1 to 50)."""
    settings: SolverSettings = Field(default_factory=SolverSettings)
    """How to solve each one."""


class PlanSummary(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    status: SolverStatus
    """The solver's status."""
    objective: Amount | None
    """Outcome value of the plan."""
    gap: float | None
    """Relative gap to the proven bound."""
    selected: int
    """Number of funded MMPs."""
    allocated: Amount
    """Budget allocated to value streams, all quarters."""
    unallocated: Amount
    """Budget left unallocated, all quarters."""
    reasons: list[str] = Field(default_factory=list)
    """Why there is no plan (status infeasible: the rules that cannot hold together; no_solution_in_time: what
    ran out); empty when there is one."""


class Move(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    mmp: str
    """MMP id."""
    from_quarter: str
    """Start in the base plan."""
    to_quarter: str
    """Start in the scenario's plan."""


class BudgetShift(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    value_stream: str
    """Value stream id."""
    quarter: str
    """Quarter label."""
    delta: Amount
    """Allocation in the scenario less the base plan's."""


class CapacityShift(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    pool: str
    """Pool id."""
    quarter: str
    """Quarter label."""
    free_delta: Amount
    """Positive: capacity freed compared with the base plan; negative: tighter."""


class ScenarioDiff(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    value_delta: Amount | None
    """Scenario objective less the base objective (null when either has no plan)."""
    added: list[str]
    """MMPs funded in the scenario only."""
    dropped: list[str]
    """MMPs funded in the base plan only."""
    moved: list[Move]
    """MMPs funded in both with another start."""
    budget_shifts: list[BudgetShift]
    """Allocations that differ."""
    capacity_shifts: list[CapacityShift]
    """Free capacity that differs."""


class ScenarioResult(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    name: str
    """The scenario's name."""
    summary: PlanSummary
    """Its plan in brief."""
    diff: ScenarioDiff
    """What differs from the base plan."""


class WhatIfResponse(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    base: PlanSummary
    """The base plan in brief."""
    scenarios: list[ScenarioResult]
    """Each scenario, in request order."""


class BudgetRange(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    start: Money = Field(alias="from")
    """Smallest total budget over the horizon."""
    stop: Money = Field(alias="to")
    """Largest total budget over the horizon."""
    steps: Annotated[int, Field(ge=2, le=50, strict=True)] = 5
    """Number of budgets, both ends included (2 to 50)."""


class FrontierRequest(BaseModel):
    """Total budgets over the horizon, as a range or a list; each spread over the quarters in
    proportion to the portfolio's own budget profile."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid", populate_by_name=True)

    portfolio: Portfolio
    """The portfolio."""
    budgets: Annotated[list[Money], Field(min_length=2, max_length=50)] | None = None
    """Total budgets over the horizon (2 to 50); or give `range`."""
    range: BudgetRange | None = None
    """An evenly spaced range of total budgets; or give `budgets`."""
    settings: SolverSettings = Field(default_factory=SolverSettings)
    """How to solve each point."""

    @model_validator(mode="after")
    def _one_source(self) -> FrontierRequest:
        if (self.budgets is None) == (self.range is None):
            raise ValueError("give either budgets (a list of total budgets) or range (from, to, steps)")
        return self


class FrontierPoint(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    budget: Amount
    """Total budget over the horizon."""
    status: SolverStatus
    """The solver's status."""
    objective: Amount | None
    """Outcome value of the plan."""
    gap: float | None
    """Relative gap to the proven bound."""
    selected: list[str]
    """Funded MMPs."""
    marginal_value: float | None
    """Value gained per extra unit of money since the previous point (None for the first)."""


class FrontierResponse(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    points: list[FrontierPoint]
    """One point per budget, by budget."""
    knee: Amount | None
    """The budget after which extra money buys markedly less: the point furthest above the chord
    from the first to the last valued point."""
