"""Budget frontier: the best outcome value at each of a series of total budgets.

Every point re-solves the portfolio with its total budget spread over the
quarters in proportion to the portfolio's own budget profile: one task per point
(`FrontierStudy`), assembled into the curve with its marginal values and knee.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import pairwise

from models.checks import checked
from models.plan import Plan
from models.portfolio import Portfolio, per_quarter
from models.scenarios import FrontierPoint, FrontierRequest, FrontierResponse
from models.studies import Variant
from optimizer.studies.core import StudyTask
from optimizer.studies.whatif import rescale_scenario_budgets

CENT = Decimal("0.01")

Valued = tuple[Decimal, Decimal | None]
"""A (total budget, objective) pair; objective None when the solve found no plan."""


def budget_points(request: FrontierRequest) -> list[Decimal]:
    """The request's total budgets in cents, ascending and without duplicates.

    A range gives `steps` evenly spaced totals from `from` to `to`, both included.
    """
    if request.budgets is not None:
        totals = request.budgets
    else:
        assert request.range is not None  # the request holds one or the other
        start, stop, steps = request.range.start, request.range.stop, request.range.steps
        totals = [start + (stop - start) * i / (steps - 1) for i in range(steps)]
    return sorted({Decimal(t).quantize(CENT, rounding=ROUND_HALF_UP) for t in totals})


def with_total_budget(portfolio: Portfolio, total: Decimal) -> Portfolio:
    """A copy of `portfolio` whose quarterly budgets sum to exactly `total`.

    The total is spread in proportion to the portfolio's budget profile (equally
    when every quarter's budget is zero). Every quarter but the last is rounded
    down to the cent, so the last quarter takes the (non-negative) remainder.
    """
    n = len(portfolio.quarters)
    profile = [Decimal(b) for b in per_quarter(portfolio.budget, n)]
    if not any(profile):
        profile = [Decimal(1)] * n
    weight = sum(profile, Decimal(0))
    head = [(total * b / weight).quantize(CENT, rounding=ROUND_DOWN) for b in profile[:-1]]
    budget = [*head, total - sum(head, Decimal(0))]
    if not portfolio.scenarios:
        return portfolio.model_copy(update={"budget": budget})
    data = portfolio.model_dump()
    data["budget"] = budget
    rescale_scenario_budgets(data, portfolio.budget)  # a scenario's own budget moves with the total
    return Portfolio.model_validate(data)


def _pair(point: FrontierPoint | Valued) -> Valued:
    """(budget, objective) of a frontier point or of a plain pair."""
    if isinstance(point, FrontierPoint):
        return point.budget, point.objective
    return point


def marginal_values(points: Sequence[FrontierPoint | Valued]) -> list[float | None]:
    """Value gained per extra unit of money since the previous point, one per point.

    None for the first point, when either objective is None, or when the budgets are equal.
    """
    pairs = [_pair(p) for p in points]
    steps = [
        None if v0 is None or v1 is None or b1 == b0 else float((v1 - v0) / (b1 - b0))
        for (b0, v0), (b1, v1) in pairwise(pairs)
    ]
    return [None, *steps] if pairs else []


def knee(points: Sequence[FrontierPoint | Valued]) -> Decimal | None:
    """The budget after which extra money buys markedly less.

    Among the points with an objective, the one lying furthest above the straight
    chord from the first to the last of them (exact arithmetic; the lowest budget
    wins a tie). None with fewer than three such points or when none lies above.
    """
    valued = [(Fraction(b), Fraction(v), b) for b, v in map(_pair, points) if v is not None]
    if len(valued) < 3:
        return None
    (x0, y0, _), (x1, y1, _) = valued[0], valued[-1]
    if x1 == x0:
        return None
    slope = (y1 - y0) / (x1 - x0)
    best, best_height = None, Fraction(0)
    for x, y, budget in valued[1:-1]:
        height = y - (y0 + slope * (x - x0))
        if height > best_height:
            best, best_height = budget, height
    return best


def _point(budget: Decimal, plan: Plan, marginal: float | None) -> FrontierPoint:
    return FrontierPoint(
        budget=budget,
        status=plan.status,
        objective=plan.objective,
        gap=plan.gap,
        selected=sorted(s.mmp for s in plan.selected),
        marginal_value=marginal,
    )


class FrontierStudy:
    """The portfolio at every requested total budget, and the knee of the curve."""

    def tasks(self, request: FrontierRequest) -> list[StudyTask]:
        """One task per budget, ascending, each starting from the plan of the budget below it: more money
        relaxes the limits, so that plan is a floor under the next point (when it keeps every rule there)."""
        portfolio = checked(request.portfolio, "$.portfolio")
        return [
            StudyTask(
                f"budget {b}",
                portfolio,
                Variant(total_budget=b),
                after=i - 1 if i else None,
                changed=with_total_budget(portfolio, b),
            )
            for i, b in enumerate(budget_points(request))
        ]

    def assemble(self, request: FrontierRequest, plans: Sequence[Plan | None]) -> FrontierResponse:
        """The points that have a plan (a job part that did not finish has none)."""
        finished = [(b, plan) for b, plan in zip(budget_points(request), plans, strict=True) if plan is not None]
        return frontier_response([b for b, _ in finished], [plan for _, plan in finished])


def frontier_response(budgets: list[Decimal], plans: list[Plan]) -> FrontierResponse:
    """The frontier of plans solved at `budgets` (ascending), with marginal values and the knee."""
    pairs = [(b, plan.objective) for b, plan in zip(budgets, plans, strict=True)]
    marginals = marginal_values(pairs)
    points = [_point(b, plan, m) for b, plan, m in zip(budgets, plans, marginals, strict=True)]
    return FrontierResponse(points=points, knee=knee(pairs))
