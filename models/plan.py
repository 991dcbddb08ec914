"""The plan: what the optimizer returns (DESIGN.md section 5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


def _number(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


Amount = Annotated[Decimal, PlainSerializer(_number, when_used="json")]
"""An exact decimal amount, written to JSON as a plain number."""

Status = Literal["optimal", "feasible", "infeasible", "no_solution_in_time"]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValueSplit(Out):
    mmps: Amount = Decimal(0)
    key_results: Amount = Decimal(0)
    change_penalty: Amount = Decimal(0)


class SelectedMMP(Out):
    mmp: str
    start: str
    finish: str
    value: Amount
    """Outcome value earned at this start (value less cost of delay)."""
    cost: Amount
    """Total spend over the MMP's duration."""


class NotSelected(Out):
    mmp: str
    reason: str


class BudgetRow(Out):
    value_stream: str
    quarter: str
    allocated: Amount
    spent: Amount
    min: Amount
    max: Amount | None
    """None: no guardrail, only the total budget binds."""


class ReserveRow(Out):
    quarter: str
    unallocated: Amount


class CapacityRow(Out):
    pool: str
    quarter: str
    used: Amount
    available: Amount
    purchased: Amount


class KeyResultRow(Out):
    id: str
    achieved: Amount
    target: Amount


class SolverInfo(Out):
    backend: str
    time_s: float
    time_limit_s: float
    seed: int
    relative_gap: float
    workers: int
    money_resolution: Amount


class Explanation(Out):
    infeasibility: list[str] = Field(default_factory=list)
    binding: list[str] = Field(default_factory=list)


class Plan(Out):
    """A funding plan with its value, proof of quality and explanation."""

    status: Status
    objective: Amount | None = None
    bound: Amount | None = None
    gap: float | None = None
    value: ValueSplit = Field(default_factory=ValueSplit)
    selected: list[SelectedMMP] = Field(default_factory=list)
    not_selected: list[NotSelected] = Field(default_factory=list)
    budget: list[BudgetRow] = Field(default_factory=list)
    reserve: list[ReserveRow] = Field(default_factory=list)
    capacity: list[CapacityRow] = Field(default_factory=list)
    key_results: list[KeyResultRow] = Field(default_factory=list)
    solver: SolverInfo
    explanation: Explanation = Field(default_factory=Explanation)
