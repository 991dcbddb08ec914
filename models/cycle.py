"""The planning cycle's service bodies (docs/design.md, section 8.8): plan of record, actuals, re-plan, variance."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from models.checks import Problem, not_a_quarter
from models.limits import LIMITS
from models.plan import NO_PLAN, Amount, Plan, SolverStatus
from models.portfolio import Id, MMPActual, Money, Portfolio, Text, Units
from models.settings import SolverSettings
from models.times import Timestamp


class _In(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


class CommitRequest(_In):
    plan_id: Annotated[str, Field(min_length=1, max_length=32)]
    """A stored plan of this portfolio (a what-if scenario's plan stores the scenario's portfolio as the next
    version first)."""
    note: Text | None = None
    """Why it was committed (the planning event, the decision)."""


class PlanOfRecordCommit(_Out):
    plan_id: str
    """The committed plan."""
    version: int
    """The portfolio version the plan is a plan of."""
    note: str | None
    """The note given with the commit."""
    committed_at: Timestamp
    """When it was committed (UTC)."""


class PlanOfRecord(PlanOfRecordCommit):
    plan: Plan
    """The committed plan itself."""


class PlanOfRecordHistory(_Out):
    commits: list[PlanOfRecordCommit]
    """Every commit, oldest first; the last is the plan of record."""


class ActualsBody(_In):
    """What happened in one past quarter: `PUT /v1/portfolios/{id}/actuals/{quarter}`."""

    spent: Annotated[dict[Id, Money], Field(max_length=LIMITS.max_value_streams)] = Field(default_factory=dict)
    """Money spent per value stream."""
    mmps: Annotated[dict[Id, MMPActual], Field(max_length=LIMITS.max_mmps)] = Field(default_factory=dict)
    """Per MMP: its status at the end of the quarter, and its spend and realized value where known."""
    key_results: Annotated[dict[Id, Units], Field(max_length=LIMITS.max_key_results)] = Field(default_factory=dict)
    """Progress achieved so far per key result (cumulative)."""


class RecordedActuals(ActualsBody):
    quarter: str
    """The quarter."""


class ActualsList(_Out):
    actuals: list[RecordedActuals]
    """Every recorded quarter, in the order of the horizon."""


class ReplanRequest(_In):
    as_of: Id
    """The first quarter to re-plan: the quarters before it are history."""
    change_penalty: Money | None = None
    """Value charged per MMP whose selection or start differs from the plan of record (a stop counts);
    default: the portfolio's own."""
    settings: SolverSettings = Field(default_factory=SolverSettings)
    """How to solve it."""


class Comparison(_Out):
    """A re-plan against the plan of record."""

    kept: list[str]
    """MMPs the plan of record funds that keep their start (in-flight ones that continue among them)."""
    stopped: list[str]
    """In-flight MMPs the re-plan stops."""
    added: list[str]
    """MMPs the re-plan funds that the plan of record does not."""
    moved: dict[str, str]
    """MMPs both fund, at another start: MMP id -> the new start."""
    dropped: list[str]
    """MMPs the plan of record funds, not yet started, that the re-plan leaves out."""
    done: list[str]
    """MMPs finished before as_of."""
    money_freed: Amount
    """The remaining cost of the stopped MMPs (from as_of on)."""
    value: Amount | None
    """The re-plan's outcome value (its objective before the change penalty); null without a plan."""
    record_remaining_value: Amount
    """The plan of record's value still to come: the value of the MMPs it funds that are not done."""


class Replan(_Out):
    plan_id: str | None
    """The stored re-plan (null when the portfolio has no plan: nothing is stored)."""
    parent_id: str
    """The plan of record it re-plans."""
    status: SolverStatus
    """The re-plan's status."""
    as_of: str
    """The first re-planned quarter."""
    plan: Plan
    """The re-plan."""
    comparison: Comparison
    """What it changes against the plan of record."""


class StreamVariance(_Out):
    value_stream: str
    """Value stream id."""
    quarter: str
    """A quarter with actuals."""
    planned: Amount
    """The plan of record's allocation."""
    actual: Amount | None
    """Recorded spend (null: not recorded)."""
    difference: Amount | None
    """actual - planned."""


class LateMMP(_Out):
    mmp: str
    """MMP id."""
    planned_start: str
    """Its start in the plan of record."""
    planned_finish: str
    """Its last quarter in the plan of record."""
    status: str
    """Its status in the last quarter that records it (an MMP no quarter records is taken as going to plan)."""
    late_by: int
    """Quarters behind: not started though its planned start is recorded, or not done though its planned
    finish is."""


class KeyResultVariance(_Out):
    id: str
    """Key result id."""
    planned: Amount
    """Progress the plan of record credits over its horizon."""
    achieved: Amount | None
    """Progress recorded in the last quarter that records it (null: none)."""


class RealizationRow(_Out):
    value_stream: str
    """Value stream id."""
    finished: int
    """Finished MMPs of the stream with a recorded realized value."""
    estimated: Amount
    """Their estimated value (the portfolio's `value`)."""
    realized: Amount
    """Their recorded realized value."""
    ratio: Amount | None
    """realized / estimated (null when the estimate is not positive): below 1, the estimates were optimistic."""


class Variance(_Out):
    plan_id: str
    """The plan of record measured against."""
    quarters: list[str]
    """The quarters with actuals, in order."""
    streams: list[StreamVariance]
    """Per value stream and recorded quarter: planned allocation, actual spend, difference."""
    late: list[LateMMP]
    """MMPs behind the plan of record."""
    key_results: list[KeyResultVariance]
    """Per key result: planned against achieved progress."""
    realization: list[RealizationRow]
    """Per value stream: realized against estimated value of finished MMPs with recorded outcomes."""


def realized_ratio(estimated: Decimal, realized: Decimal) -> Decimal | None:
    """realized / estimated to four decimals, or None when the estimate is not positive."""
    return (realized / estimated).quantize(Decimal("0.0001")) if estimated > 0 else None


def as_of_problem(p: Portfolio, as_of: str, whose: str) -> str | None:
    """Why `p` cannot be re-planned as of `as_of` (None: it can). `whose` names p's own as_of in the message
    ("the latest version's"). An earlier as_of would re-open history: MMPs done before p's as_of stay done."""
    if as_of not in p.quarters:
        return not_a_quarter(as_of)
    if p.quarters.index(as_of) < p.first_planned:
        return f"{as_of} is before {whose} as_of {p.as_of}: the quarters before it are history already"
    return None


def record_problems(p: Portfolio, record: Plan, base: str = "$") -> list[Problem]:
    """Whether `record` can be the plan of record of `p` (files have no ids to match, so its content tells): it
    names only p's MMPs, value streams and quarters, and plans as of no later than p (a plan as of 2027Q3
    counts what finished before it as done; p as of 2027Q1 does not). Otherwise its starts and allocations
    would be dropped without a word, and the re-plan found infeasible for reasons that are not the user's."""
    known = {"MMP": {m.id for m in p.mmps}, "value stream": {v.id for v in p.value_streams}, "quarter": set(p.quarters)}
    named = [
        *((f"selected[{i}].mmp", "MMP", s.mmp) for i, s in enumerate(record.selected)),
        *((f"selected[{i}].start", "quarter", s.start) for i, s in enumerate(record.selected)),
        *((f"in_flight[{i}].mmp", "MMP", r.mmp) for i, r in enumerate(record.in_flight)),
        *((f"done[{i}]", "MMP", mmp) for i, mmp in enumerate(record.done)),
        *((f"budget[{i}].value_stream", "value stream", r.value_stream) for i, r in enumerate(record.budget)),
        *((f"budget[{i}].quarter", "quarter", r.quarter) for i, r in enumerate(record.budget)),
        *(("as_of", "quarter", q) for q in [record.as_of] if q is not None),
    ]
    problems = [
        Problem(f"{base}.{path}", f"{what} {name!r} is not in the portfolio: a plan of another portfolio")
        for path, what, name in named
        if name not in known[what]
    ]
    if not problems and record.as_of is not None and p.quarters.index(record.as_of) > p.first_planned:
        since = p.as_of or p.quarters[0]
        why = f"the plan is as of {record.as_of}, the portfolio as of {since}: a plan of a later version of it"
        problems.append(Problem(f"{base}.as_of", why))
    if record.status in NO_PLAN:
        problems.append(Problem(f"{base}.status", f"the plan {funds_nothing(record.status)}"))
    return problems


def funds_nothing(status: SolverStatus) -> str:
    """Why a plan without a solution cannot be the plan of record (the API's commit and the CLI's files)."""
    return f"is {status}: it funds nothing"
