"""What-if scenarios and budget frontiers: requests and answers (no solver imports).

A scenario is a named list of changes to a base portfolio. Every change names
what it touches by id (never by array position), so a scenario stays valid as
the portfolio is edited.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.plan import Amount, Status
from models.portfolio import MMP, Id, Money, Portfolio, Units
from models.settings import SolverSettings


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScaleBudget(_Change):
    """Multiply the total budget (every quarter, or one) by `factor` (0.9 = a 10 % cut)."""

    op: Literal["scale_budget"]
    factor: Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
    quarter: Id | None = None


class SetBudget(_Change):
    """Set the total budget of every quarter, or of one quarter."""

    op: Literal["set_budget"]
    amount: Money
    quarter: Id | None = None


class SetStreamBudget(_Change):
    """Set a value stream's min and/or max budget guardrail (every quarter)."""

    op: Literal["set_stream_budget"]
    value_stream: Id
    min_budget: Money | None = None
    max_budget: Money | None = None


class ChangeCapacity(_Change):
    """Add (positive delta) or remove (negative delta) capacity units of a pool, every quarter or one."""

    op: Literal["change_capacity"]
    pool: Id
    delta: Annotated[Decimal, Field(allow_inf_nan=False, ge=-(10**15), le=10**15)]
    quarter: Id | None = None


class ForceMMP(_Change):
    """Force an MMP in (mandatory) or out (excluded)."""

    op: Literal["force_mmp"]
    mmp: Id
    mode: Literal["in", "out"]


class SetMMP(_Change):
    """Change an MMP's value, cost profile or start window."""

    op: Literal["set_mmp"]
    mmp: Id
    value: Money | None = None
    cost: list[Money] | None = None
    earliest_start: Id | None = None
    deadline: Id | None = None


class AddMMP(_Change):
    """Add a new MMP."""

    op: Literal["add_mmp"]
    mmp: MMP


class RemoveMMP(_Change):
    """Remove an MMP (and every reference to it)."""

    op: Literal["remove_mmp"]
    mmp: Id


class SetKeyResultTarget(_Change):
    """Change a key result's target."""

    op: Literal["set_key_result_target"]
    key_result: Id
    target: Units


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
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    changes: list[Change] = Field(default_factory=list)


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portfolio: Portfolio
    scenarios: Annotated[list[Scenario], Field(min_length=1, max_length=50)]
    settings: SolverSettings = Field(default_factory=SolverSettings)


class PlanSummary(BaseModel):
    status: Status
    objective: Amount | None
    gap: float | None
    selected: int
    allocated: Amount
    unallocated: Amount


class Move(BaseModel):
    mmp: str
    from_quarter: str
    to_quarter: str


class BudgetShift(BaseModel):
    value_stream: str
    quarter: str
    delta: Amount


class CapacityShift(BaseModel):
    pool: str
    quarter: str
    free_delta: Amount
    """Positive: capacity freed compared with the base plan; negative: tighter."""


class ScenarioDiff(BaseModel):
    value_delta: Amount | None
    added: list[str]
    dropped: list[str]
    moved: list[Move]
    budget_shifts: list[BudgetShift]
    capacity_shifts: list[CapacityShift]


class ScenarioResult(BaseModel):
    name: str
    summary: PlanSummary
    diff: ScenarioDiff


class WhatIfResponse(BaseModel):
    base: PlanSummary
    scenarios: list[ScenarioResult]


class BudgetRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Money = Field(alias="from")
    stop: Money = Field(alias="to")
    steps: Annotated[int, Field(ge=2, le=50)] = 5


class FrontierRequest(BaseModel):
    """Total budgets over the horizon, as a range or a list; each spread over the quarters in
    proportion to the portfolio's own budget profile."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    portfolio: Portfolio
    budgets: Annotated[list[Money], Field(min_length=2, max_length=50)] | None = None
    range: BudgetRange | None = None
    settings: SolverSettings = Field(default_factory=SolverSettings)

    @model_validator(mode="after")
    def _one_source(self) -> FrontierRequest:
        if (self.budgets is None) == (self.range is None):
            raise ValueError("give either budgets (a list of total budgets) or range (from, to, steps)")
        return self


class FrontierPoint(BaseModel):
    budget: Amount
    status: Status
    objective: Amount | None
    gap: float | None
    selected: list[str]
    marginal_value: float | None
    """Value gained per extra unit of money since the previous point (None for the first)."""


class FrontierResponse(BaseModel):
    points: list[FrontierPoint]
    knee: Amount | None
    """The budget after which extra money buys markedly less: the point furthest above the chord
    from the first to the last valued point."""
