"""The portfolio: everything the VMO knows before a planning event (DESIGN.md section 3).

These schemas check each field on its own (types, signs, finite numbers, unknown
keys). Checks that look across fields (references, profile lengths, cycles)
live in :mod:`models.checks` so that every problem is reported at once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_AMOUNT = Decimal(10) ** 15  # a quadrillion: beyond any portfolio, within exact solver arithmetic

Money = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
"""A non-negative, finite amount of the portfolio's currency."""

Units = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
"""A non-negative, finite quantity (capacity units, key-result progress)."""

Share = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]

PerQuarterMoney = Money | list[Money]
"""One amount for every quarter, or a list with one amount per quarter."""

PerQuarterUnits = Units | list[Units]

Id = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    """Base of all input schemas: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class WSJF(Strict):
    """SAFe weighted-shortest-job-first scores of an MMP."""

    business_value: Units = Decimal(0)
    time_criticality: Units = Decimal(0)
    risk_reduction: Units = Decimal(0)
    job_size: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] = Decimal(1)

    @property
    def cost_of_delay(self) -> Decimal:
        return self.business_value + self.time_criticality + self.risk_reduction


class ValueStream(Strict):
    """A long-lived value stream that receives a budget every quarter."""

    id: Id
    name: str | None = None
    min_budget: PerQuarterMoney = Decimal(0)
    max_budget: PerQuarterMoney | None = None
    run_cost: PerQuarterMoney = Decimal(0)
    baseline_budget: Money | None = None
    max_change: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None = None


class Pool(Strict):
    """A team or skill whose capacity MMPs consume; shared when it has no value stream."""

    id: Id
    name: str | None = None
    value_stream: Id | None = None
    capacity: PerQuarterUnits
    extra_capacity: PerQuarterUnits = Decimal(0)
    extra_cost: Money = Decimal(0)


class MMP(Strict):
    """A Minimum Marketable Product: a portfolio epic that can be funded."""

    id: Id
    name: str | None = None
    value_stream: Id
    value: Money | None = None
    cost: Annotated[list[Money], Field(min_length=1)]
    demand: dict[Id, list[Units]] = Field(default_factory=dict)
    earliest_start: Id | None = None
    deadline: Id | None = None
    cost_of_delay: Money = Decimal(0)
    mandatory: bool = False
    excluded: bool = False
    requires: list[Id] = Field(default_factory=list)
    excludes: list[Id] = Field(default_factory=list)
    category: Id | None = None
    key_results: dict[Id, Units] = Field(default_factory=dict)
    wsjf: WSJF | None = None

    @property
    def duration(self) -> int:
        return len(self.cost)

    @property
    def outcome_value(self) -> Decimal:
        """`value`, or the WSJF cost of delay when only WSJF scores are given."""
        if self.value is not None:
            return self.value
        return self.wsjf.cost_of_delay if self.wsjf else Decimal(0)


class InvestmentGuardrail(Strict):
    """Bounds on a category's share of the spend on selected MMPs."""

    category: Id
    min_share: Share | None = None
    max_share: Share | None = None


class KeyResult(Strict):
    """An OKR key result: progress is worth `value_per_unit` up to `target`."""

    id: Id
    name: str | None = None
    target: Units
    value_per_unit: Money


class Portfolio(Strict):
    """The whole planning problem of one VMO for one horizon."""

    name: str
    currency: Annotated[str, Field(min_length=1, max_length=10)] = "USD"
    quarters: list[Id]
    budget: PerQuarterMoney
    value_streams: list[ValueStream]
    pools: list[Pool] = Field(default_factory=list)
    mmps: list[MMP]
    investment_guardrails: list[InvestmentGuardrail] = Field(default_factory=list)
    key_results: list[KeyResult] = Field(default_factory=list)
    baseline_plan: dict[Id, Id] = Field(default_factory=dict)
    change_penalty: Money = Decimal(0)


def per_quarter(amount: Decimal | list[Decimal] | None, quarters: int) -> list[Decimal | None]:
    """Expand a per-quarter field (one number or one per quarter) to a list."""
    if isinstance(amount, list):
        return list(amount)
    return [amount] * quarters
