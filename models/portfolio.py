"""The portfolio: everything the VMO knows before a planning event (docs/design.md, section 3).

These schemas check each field on its own (types, signs, finite numbers, unknown
keys). Checks that look across fields (references, profile lengths, cycles)
live in :mod:`models.checks` so that every problem is reported at once.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal, overload

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from models.limits import LIMITS, TEXT_LENGTH

MAX_AMOUNT = Decimal(10) ** 15  # a quadrillion: beyond any portfolio, within exact solver arithmetic
MAX_CHANGE = Decimal(100)  # 10,000 % a quarter: beyond any budget rule, within exact solver arithmetic

_DECIMAL_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})?")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain_number(value: Any) -> Any:
    """A decimal written as a string must be a plain number ("0.1", "1e6"): no blanks, no "1_000", no huge
    exponent; what the JSON number would have been."""
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        raise PydanticCustomError(
            "decimal_parsing",
            'Input should be a valid decimal, written like 1250000 or "0.1", not {text}',
            {"text": repr(value[:40])},
        )
    if isinstance(value, bool):  # true and false are not amounts
        raise PydanticCustomError("decimal_type", "Input should be a valid decimal, not true or false")
    return value


def clean_text(text: str) -> str:
    """Text is stored and shown: a NUL character (which PostgreSQL cannot store) or a lone surrogate (no valid
    Unicode, which no encoder can write) is refused where it is sent, not where it would fail."""
    if "\x00" in text:
        raise ValueError("contains a NUL character (\\u0000)")
    if _SURROGATE.search(text):
        raise ValueError("contains a lone surrogate (\\ud800-\\udfff), which is not valid Unicode")
    return text


PLAIN_NUMBER = BeforeValidator(_plain_number)  # after the Field: pydantic keeps the range checks native

Money = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False), PLAIN_NUMBER]
"""A non-negative, finite amount of the portfolio's currency."""

SignedMoney = Annotated[Decimal, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False), PLAIN_NUMBER]
"""A finite amount that may be negative: a value that costs (compliance work), a synergy that hurts."""

Units = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False), PLAIN_NUMBER]
"""A non-negative, finite quantity (capacity units, key-result progress)."""

Share = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False), PLAIN_NUMBER]

QuarterList = Annotated[list[Money], Field(max_length=LIMITS.max_quarters)]

PerQuarterMoney = Money | QuarterList
"""One amount for every quarter, or a list with one amount per quarter."""

PerQuarterUnits = Units | Annotated[list[Units], Field(max_length=LIMITS.max_quarters)]

Id = Annotated[str, Field(min_length=1, max_length=TEXT_LENGTH), AfterValidator(clean_text)]

Text = Annotated[str, Field(max_length=TEXT_LENGTH), AfterValidator(clean_text)]
"""A name or label: at most 200 characters, no NUL, no lone surrogate."""


class Strict(BaseModel):
    """Base of all input schemas: unknown fields are an error, not ignored."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")


class WSJF(Strict):
    """SAFe weighted-shortest-job-first scores of an MMP."""

    business_value: Units = Decimal(0)
    """User/business value score."""
    time_criticality: Units = Decimal(0)
    """Time criticality score."""
    risk_reduction: Units = Decimal(0)
    """Risk reduction / opportunity enablement score."""
    job_size: Annotated[Decimal, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False), PLAIN_NUMBER] = Decimal(1)
    """Job size: what the WSJF ranking divides the cost of delay by (greater than 0)."""

    @property
    def cost_of_delay(self) -> Decimal:
        return self.business_value + self.time_criticality + self.risk_reduction


class ValueStream(Strict):
    """A long-lived value stream that receives a budget every quarter."""

    id: Id
    """Unique id; pools and MMPs refer to it."""
    name: Text | None = None
    """Display name."""
    min_budget: PerQuarterMoney = Decimal(0)
    """Least allocation per quarter: one amount for every quarter, or one per quarter."""
    max_budget: PerQuarterMoney | None = None
    """Most allocation per quarter (null: only the total budget binds)."""
    run_cost: PerQuarterMoney = Decimal(0)
    """Fixed spend per quarter (support, licences), always paid."""
    baseline_budget: Money | None = None
    """Last quarter's allocation, the start for `max_change` in the first quarter."""
    max_change: Annotated[Decimal, Field(ge=0, le=MAX_CHANGE, allow_inf_nan=False), PLAIN_NUMBER] | None = None
    """Largest change of the allocation from one quarter to the next, as a fraction of the earlier one."""


class Pool(Strict):
    """A team or skill whose capacity MMPs consume; shared when it has no value stream."""

    id: Id
    """Unique id; MMPs name it in `demand`."""
    name: Text | None = None
    """Display name."""
    value_stream: Id | None = None
    """The value stream that pays for bought capacity; null: a shared pool paid from the total budget."""
    capacity: PerQuarterUnits
    """Units per quarter (e.g. team-sprints): one number for every quarter, or one per quarter."""
    extra_capacity: PerQuarterUnits = Decimal(0)
    """Units that can be bought per quarter."""
    extra_cost: Money = Decimal(0)
    """Money per bought unit."""


class ValueRange(Strict):
    """A three-point estimate of an MMP's value: the value is uncertain, somewhere between `low` and `high`,
    most likely `likely`. Sampled (with the solve's seed) from a Beta-PERT or a triangular distribution."""

    low: SignedMoney
    """The worst value it could plausibly have."""
    likely: SignedMoney
    """The most likely value (the mode)."""
    high: SignedMoney
    """The best value it could plausibly have."""
    shape: Literal["pert", "triangular"] = "pert"
    """pert: Beta-PERT (weight 4 on the mode, the usual project estimate); triangular: the triangle low-likely-high."""


class MMP(Strict):
    """A Minimum Marketable Product: a portfolio epic that can be funded."""

    id: Id
    """Unique id."""
    name: Text | None = None
    """Display name."""
    value_stream: Id
    """The value stream that funds it."""
    value: SignedMoney | None = None
    """Expected outcome value if delivered on time; null: the WSJF cost of delay. It may be negative
    (regulatory or compliance work, usually mandatory): cost of delay then lowers it further."""
    cost: Annotated[list[Money], Field(min_length=1, max_length=LIMITS.max_quarters)]
    """Spend per quarter of execution; its length is the duration."""
    demand: Annotated[
        dict[Id, Annotated[list[Units], Field(max_length=LIMITS.max_quarters)]], Field(max_length=LIMITS.max_pools)
    ] = Field(default_factory=dict)
    """Capacity units per quarter of execution, per pool id (each list as long as `cost`)."""
    earliest_start: Id | None = None
    """First quarter it may start (default: the first of the horizon)."""
    deadline: Id | None = None
    """Quarter by which it must be finished (default: the end of the horizon)."""
    cost_of_delay: Money = Decimal(0)
    """Value lost per quarter it starts later than its earliest start."""
    mandatory: bool = False
    """Must be funded."""
    excluded: bool = False
    """Must not be funded."""
    requires: Annotated[list[Id], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=list)
    """MMPs that must be funded and finished before this one starts."""
    excludes: Annotated[list[Id], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=list)
    """Alternatives: at most one of this MMP and each of these is funded."""
    requires_any: Annotated[list[Id], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=list)
    """At least one of these MMPs must be funded and finished before this one starts (empty: no such rule)."""
    category: Id | None = None
    """Investment category (see `investment_guardrails`)."""
    key_results: Annotated[dict[Id, Units], Field(max_length=LIMITS.max_key_results)] = Field(default_factory=dict)
    """Contribution to key results, per key result id."""
    wsjf: WSJF | None = None
    """SAFe WSJF scores."""
    value_range: ValueRange | None = None
    """A three-point estimate of `value` (low, likely, high), sampled into `scenario_count` scenarios."""
    started: Id | None = None
    """The quarter (before the portfolio's `as_of`) in which it began: it is in flight and keeps that start."""
    stoppable: bool = False
    """Once in flight, the optimizer may stop it: its remaining cost and demand are freed, its value forfeited
    (may be set before it starts; it means nothing until then)."""
    salvage_value: Money = Decimal(0)
    """Value kept when an in-flight MMP is stopped (what is built so far is worth something)."""
    done: bool = False
    """Finished before `as_of`: never funded again; its key-result contributions count as achieved."""

    @property
    def in_flight(self) -> bool:
        """Started before `as_of` and not finished."""
        return self.started is not None and not self.done

    @property
    def duration(self) -> int:
        return len(self.cost)

    @property
    def outcome_value(self) -> Decimal:
        """`value`; else the likely value of `value_range`; else the WSJF cost of delay."""
        if self.value is not None:
            return self.value
        if self.value_range is not None:
            return self.value_range.likely
        return self.wsjf.cost_of_delay if self.wsjf else Decimal(0)

    def value_at(self, lateness: int, value: Decimal | None = None) -> Decimal:
        """The value earned when started `lateness` quarters after the earliest start: less the cost of delay,
        a positive value never below zero, a negative one taken as it is and lowered further. `value`: another
        outcome value than the MMP's own (a scenario's), under the same cost of delay."""
        base = self.outcome_value if value is None else value
        late = base - self.cost_of_delay * lateness
        return max(Decimal(0), late) if base >= 0 else late


class InvestmentGuardrail(Strict):
    """Bounds on a category's share of the spend on selected MMPs."""

    category: Id
    """An MMP category."""
    min_share: Share | None = None
    """Least share of the spend on funded MMPs (0 to 1)."""
    max_share: Share | None = None
    """Largest share of the spend on funded MMPs (0 to 1)."""


class Group(Strict):
    """MMPs of which at least `min` and at most `max` are funded: the alternatives of one initiative
    (`min = max = 1`: exactly one of plan A, plan B, ...). `none_value` is earned when none is funded
    ("do nothing" has a value too)."""

    id: Id
    """Unique id; group ids and MMP ids share one namespace."""
    mmps: Annotated[list[Id], Field(min_length=1, max_length=LIMITS.max_mmps)]
    """The MMPs of the group."""
    min: Annotated[int, Field(ge=0, le=LIMITS.max_mmps, strict=True)] = 0
    """Least number funded."""
    max: Annotated[int, Field(ge=0, le=LIMITS.max_mmps, strict=True)] = 1
    """Most number funded."""
    none_value: SignedMoney = Decimal(0)
    """Value earned when none of the group is funded."""


class Synergy(Strict):
    """More (or, when negative, less) value when every listed MMP is funded."""

    id: Id
    """Unique id."""
    mmps: Annotated[list[Id], Field(min_length=2, max_length=LIMITS.max_mmps)]
    """The MMPs that must all be funded."""
    value: SignedMoney
    """Value added when all are funded (negative: value lost)."""


class StreamBounds(Strict):
    """A scenario's guardrails for one value stream (omitted: the stream's own)."""

    min_budget: PerQuarterMoney | None = None
    """Least allocation per quarter in this scenario."""
    max_budget: PerQuarterMoney | None = None
    """Most allocation per quarter in this scenario."""


class RiskScenario(Strict):
    """One way the future may turn out, with its probability: the figures it overrides (omitted: the
    portfolio's own). A plan is scored over all scenarios by the portfolio's `risk` measure."""

    id: Id
    """Unique id."""
    probability: Annotated[Decimal, Field(gt=0, le=1, allow_inf_nan=False), PLAIN_NUMBER]
    """Its probability; the probabilities of all scenarios sum to 1."""
    budget: PerQuarterMoney | None = None
    """Total funding per quarter in this scenario."""
    value: Annotated[dict[Id, SignedMoney], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=dict)
    """MMP id -> its value in this scenario."""
    cost: Annotated[
        dict[Id, Annotated[list[Money], Field(max_length=LIMITS.max_quarters)]], Field(max_length=LIMITS.max_mmps)
    ] = Field(default_factory=dict)
    """MMP id -> its spend per quarter of execution in this scenario (as long as its `cost`: the duration stays)."""
    capacity: Annotated[dict[Id, PerQuarterUnits], Field(max_length=LIMITS.max_pools)] = Field(default_factory=dict)
    """Pool id -> its capacity per quarter in this scenario."""
    value_streams: Annotated[dict[Id, StreamBounds], Field(max_length=LIMITS.max_value_streams)] = Field(
        default_factory=dict
    )
    """Value stream id -> its budget guardrails in this scenario."""


class Risk(Strict):
    """How a plan is scored over the scenarios (docs/design.md, section 4.7)."""

    measure: Literal["expectation", "cvar", "wasserstein"] = "expectation"
    """expectation: the expected value; cvar: (1 - weight) * expected value + weight * CVaR at alpha; wasserstein:
    the worst expected value over the distributions within `radius` of the scenarios' probabilities."""
    weight: Share = Decimal(0)
    """lambda, the weight of CVaR against the expected value (cvar only)."""
    alpha: Annotated[Decimal, Field(gt=0, lt=1, allow_inf_nan=False), PLAIN_NUMBER] = Decimal("0.95")
    """CVaR at alpha is the expected value over the worst 1 - alpha of the probability mass."""
    radius: Money = Decimal(0)
    """epsilon, the Wasserstein-1 radius (in the unit of the distances; wasserstein only)."""
    distances: (
        Annotated[
            list[Annotated[list[Money], Field(max_length=LIMITS.max_scenarios)]], Field(max_length=LIMITS.max_scenarios)
        ]
        | None
    ) = None
    """distances[i][j] between scenarios i and j (in `scenarios` order); null: the Euclidean distance between their
    figures."""


class KeyResult(Strict):
    """An OKR key result: progress is worth `value_per_unit` up to `target`."""

    id: Id
    """Unique id; MMPs contribute to it in `key_results`."""
    name: Text | None = None
    """Display name."""
    target: Units
    """Progress beyond the target earns nothing (greater than 0)."""
    value_per_unit: Money
    """Value of one unit of progress up to the target."""


class MMPActual(Strict):
    """What happened to one MMP in a past quarter."""

    status: Literal["done", "running", "stopped", "not_started"]
    """Its state at the end of the quarter."""
    spent: Money | None = None
    """Money spent on it in the quarter, where known."""
    realized_value: SignedMoney | None = None
    """Outcome value measured once it finished, where known (against its estimated `value`)."""


class QuarterActuals(Strict):
    """What actually happened in one past quarter (before `as_of`)."""

    quarter: Id
    """The quarter, before `as_of`."""
    spent: Annotated[dict[Id, Money], Field(max_length=LIMITS.max_value_streams)] = Field(default_factory=dict)
    """Money spent per value stream."""
    mmps: Annotated[dict[Id, MMPActual], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=dict)
    """Per MMP: its status, and its spend and realized value where known."""
    key_results: Annotated[dict[Id, Units], Field(max_length=LIMITS.max_key_results)] = Field(default_factory=dict)
    """Progress achieved so far per key result (cumulative, at the end of the quarter)."""


class Portfolio(Strict):
    """The whole planning problem of one VMO for one horizon."""

    name: Annotated[Text, Field(min_length=1)]
    """The portfolio's name."""
    currency: Annotated[Text, Field(min_length=1, max_length=10)] = "USD"
    """Currency code of every amount."""
    quarters: Annotated[list[Id], Field(max_length=LIMITS.max_quarters)]
    """The planning horizon: quarter labels in order."""
    budget: PerQuarterMoney
    """Total funding per quarter: one amount for every quarter, or one per quarter."""
    value_streams: Annotated[list[ValueStream], Field(max_length=LIMITS.max_value_streams)]
    """The value streams that receive a budget."""
    pools: Annotated[list[Pool], Field(max_length=LIMITS.max_pools)] = Field(default_factory=list)
    """Teams or skills whose capacity MMPs use."""
    mmps: Annotated[list[MMP], Field(max_length=LIMITS.max_mmps)]
    """The fundable MMPs."""
    investment_guardrails: Annotated[list[InvestmentGuardrail], Field(max_length=LIMITS.max_mmps)] = Field(
        default_factory=list
    )
    """Bounds on each category's share of the spend on funded MMPs."""
    key_results: Annotated[list[KeyResult], Field(max_length=LIMITS.max_key_results)] = Field(default_factory=list)
    """OKR key results with diminishing returns."""
    baseline_plan: Annotated[dict[Id, Id], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=dict)
    """The plan teams work on now: MMP id -> start quarter (for re-optimization)."""
    change_penalty: Money = Decimal(0)
    """Value charged per MMP whose selection or start differs from `baseline_plan`."""
    groups: Annotated[list[Group], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=list)
    """Groups of alternatives: at least `min`, at most `max` of each funded."""
    synergies: Annotated[list[Synergy], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=list)
    """Value added (or lost) when all of a set of MMPs are funded."""
    together: Annotated[
        list[Annotated[list[Id], Field(min_length=2, max_length=LIMITS.max_mmps)]], Field(max_length=LIMITS.max_mmps)
    ] = Field(default_factory=list)
    """Sets of MMPs funded all or none."""
    scenarios: Annotated[list[RiskScenario], Field(max_length=LIMITS.max_scenarios)] = Field(default_factory=list)
    """Ways the future may turn out, with probabilities summing to 1 (empty: the figures above are certain)."""
    scenario_count: Annotated[int, Field(ge=1, le=LIMITS.max_scenarios, strict=True)] = 100
    """How many scenarios the MMPs' value ranges are sampled into (with the solve's seed)."""
    risk: Risk = Field(default_factory=Risk)
    """How a plan is scored over the scenarios."""
    decision: Literal["plan", "priority", "per_scenario"] = "plan"
    """plan: one plan that keeps every rule in every scenario; priority: a ranked list whose every scenario funds a
    prefix; per_scenario: each scenario's own optimum (wait and see)."""

    @property
    def uncertain(self) -> bool:
        """Whether the portfolio has scenarios or value ranges: its plans are scored over scenarios."""
        return bool(self.scenarios) or any(m.value_range for m in self.mmps)

    as_of: Id | None = None
    """The first quarter still to plan: earlier quarters are history (null: the first quarter)."""
    actuals: Annotated[list[QuarterActuals], Field(max_length=LIMITS.max_quarters)] = Field(default_factory=list)
    """What happened in past quarters: spend per value stream and MMP, MMP statuses, key-result progress."""

    @property
    def first_planned(self) -> int:
        """Position of `as_of` in the horizon (0 without one): quarters before it are history."""
        return self.quarters.index(self.as_of) if self.as_of in self.quarters else 0

    def change_base(self, vs: ValueStream) -> Decimal | None:
        """The allocation that `max_change` measures the first planned quarter against: `baseline_budget` when
        planning from the first quarter, else the stream's spend in the last quarter with actuals for it."""
        first = self.first_planned
        if first == 0:
            return vs.baseline_budget
        recorded = [a for a in self.actuals if vs.id in a.spent and a.quarter in self.quarters[:first]]
        if not recorded:
            return None
        return max(recorded, key=lambda a: self.quarters.index(a.quarter)).spent[vs.id]

    def progress_before(self, k: KeyResult) -> Decimal:
        """Key-result progress achieved before `as_of`, capped at the target: the last recorded actual progress,
        else the contributions of the MMPs done."""
        first = self.first_planned
        recorded = [a for a in self.actuals if k.id in a.key_results and a.quarter in self.quarters[:first]]
        if recorded:
            progress = max(recorded, key=lambda a: self.quarters.index(a.quarter)).key_results[k.id]
        else:
            progress = sum((m.key_results.get(k.id, Decimal(0)) for m in self.mmps if m.done), Decimal(0))
        return min(k.target, progress)


@overload
def per_quarter(amount: Decimal | list[Decimal], quarters: int) -> list[Decimal]: ...
@overload
def per_quarter(amount: Decimal | list[Decimal] | None, quarters: int) -> list[Decimal | None]: ...
def per_quarter(amount: Decimal | list[Decimal] | None, quarters: int) -> list[Decimal] | list[Decimal | None]:
    """Expand a per-quarter field (one number or one per quarter) to a list."""
    if isinstance(amount, list):
        return list(amount)
    return [amount] * quarters
