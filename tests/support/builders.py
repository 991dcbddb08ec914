"""Tiny hand-built portfolios for rule and explanation tests.

One value stream `s`, at most one pool `p`, 1-3 quarters; money amounts are
multiples of 10 so every expected allocation is exact.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from models import Plan
from tests.support.solving import solve_valid

Q1, Q2, Q3 = "2027Q1", "2027Q2", "2027Q3"


# ---------------------------------------------------------------- helpers


def mmp(mmp_id: str, value: Any = None, cost: Any = 0, units: Any = None, pool: str = "p", **fields) -> dict:
    """An MMP of stream `s`; scalar `cost` / `units` mean a one-quarter MMP; `value=None` leaves it out."""
    cost = cost if isinstance(cost, list) else [cost]
    data: dict[str, Any] = {"id": mmp_id, "value_stream": "s", "cost": cost, **fields}
    if value is not None:
        data["value"] = value
    if units is not None:
        data["demand"] = {pool: units if isinstance(units, list) else [units] * len(cost)}
    return data


def portfolio(*mmps: dict, quarters: int = 1, budget: Any = 1000, capacity: Any = None, **fields) -> dict:
    """A portfolio with stream `s` and, when `capacity` is given, pool `p` of stream `s`."""
    data: dict[str, Any] = {
        "name": "rules",
        "quarters": [Q1, Q2, Q3][:quarters],
        "budget": budget,
        "value_streams": [{"id": "s"}],
        "pools": [] if capacity is None else [{"id": "p", "value_stream": "s", "capacity": capacity}],
        "mmps": list(mmps),
    }
    data.update(fields)
    return data


def starts(plan: Plan) -> dict[str, str]:
    return {s.mmp: s.start for s in plan.selected}


def money(plan: Plan, quarter: str = Q1, stream: str = "s") -> tuple[Decimal, Decimal]:
    """(allocated, spent) of a stream in a quarter."""
    row = next(r for r in plan.budget if r.value_stream == stream and r.quarter == quarter)
    return row.allocated, row.spent


def reserve(plan: Plan) -> list[Decimal]:
    return [r.unallocated for r in plan.reserve]


def pool_use(plan: Plan, quarter: str = Q1, pool: str = "p") -> tuple[Decimal, Decimal, Decimal]:
    """(used, available, purchased) of a pool in a quarter."""
    row = next(r for r in plan.capacity if r.pool == pool and r.quarter == quarter)
    return row.used, row.available, row.purchased


def optimal(portfolio_data: dict, **settings) -> Plan:
    plan = solve_valid(portfolio_data, **settings)
    assert plan.status == "optimal"
    return plan


# ---------------------------------------------------------------- portfolios shared by rule and explanation tests


def baseline_budget_portfolio(baseline: int) -> dict:
    # One quarter, budget 100; a: cost 80, value 100; c: cost 60, value 40; max_change 50 %.
    p = portfolio(mmp("a", 100, cost=80), mmp("c", 40, cost=60), budget=100)
    p["value_streams"] = [{"id": "s", "max_change": 0.5, "baseline_budget": baseline}]
    return p


def extra_capacity_portfolio(capacity: int, budget: int = 100, stream: str | None = "s") -> dict:
    # a (value 100) and b (value 50) each cost 10 and need 1 unit; 1 extra unit costs 30.
    p = portfolio(mmp("a", 100, cost=10, units=1), mmp("b", 50, cost=10, units=1), budget=budget)
    pool = {"id": "p", "capacity": capacity, "extra_capacity": 1, "extra_cost": 30}
    p["pools"] = [pool if stream is None else {**pool, "value_stream": stream}]
    return p


def change_portfolio(penalty: int) -> dict:
    # One unit of capacity; a (100) and b (80); the current plan runs b in Q1.
    return portfolio(
        mmp("a", 100, units=1),
        mmp("b", 80, units=1),
        capacity=1,
        baseline_plan={"b": Q1},
        change_penalty=penalty,
    )
