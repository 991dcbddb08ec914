"""What every study is made of: tasks, the protocol, and the helpers they share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from models.plan import Plan
from models.portfolio import Portfolio
from models.studies import Variant

Request = TypeVar("Request", contravariant=True)
Response = TypeVar("Response", covariant=True)


@dataclass(frozen=True)
class StudyTask:
    """One solve of a study: `portfolio` (checked; shared by many tasks) changed by `variant`."""

    label: str
    portfolio: Portfolio
    variant: Variant = field(default_factory=Variant)
    after: int | None = None
    """The task whose plan this one starts from (a scenario starts from its base plan)."""
    comparison: bool = False
    """Solved only to compare against (a re-plan without its change penalty): never the plan teams adopt."""
    changed: Portfolio | None = field(default=None, compare=False, repr=False)
    """`portfolio` changed by `variant`, when the study built it already (while checking the request)."""


class Study(Protocol, Generic[Request, Response]):
    def tasks(self, request: Request) -> list[StudyTask]: ...

    def assemble(self, request: Request, plans: Sequence[Plan | None]) -> Response: ...


def with_baseline(portfolio: Portfolio, plan: dict[str, str], change_penalty: Decimal | None = None) -> Portfolio:
    """The plan (the MMPs and quarters the portfolio still has) as its baseline plan, with the penalty
    per change (None keeps the portfolio's own)."""
    mmps, quarters = {m.id for m in portfolio.mmps}, set(portfolio.quarters)
    baseline = {m: q for m, q in plan.items() if m in mmps and q in quarters}
    penalty = portfolio.change_penalty if change_penalty is None else change_penalty
    return portfolio.model_copy(update={"baseline_plan": baseline, "change_penalty": penalty})


def starts(plan: Plan) -> dict[str, str]:
    """MMP id -> start quarter of a plan."""
    return {s.mmp: s.start for s in plan.selected}
