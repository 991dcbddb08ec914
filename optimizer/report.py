"""Turn a solution (who starts when, allocations, purchases) into the plan of DESIGN.md section 5.

Every figure is recomputed from the portfolio in exact decimals; solver units
never reach the plan. Backends and the baseline heuristic share this code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from models.plan import (
    BudgetRow,
    CapacityRow,
    KeyResultRow,
    Plan,
    ReserveRow,
    SelectedMMP,
    SolverInfo,
    ValueSplit,
)
from models.portfolio import MMP, Portfolio, per_quarter

ZERO = Decimal(0)


@dataclass
class Solution:
    """A backend's answer in portfolio terms."""

    starts: dict[str, int]  # selected MMP id -> start quarter index
    allocated: dict[tuple[str, int], Decimal]  # (stream id, quarter) -> allocation
    purchased: dict[tuple[str, int], Decimal] = field(default_factory=dict)  # (pool id, quarter)


def realized_value(m: MMP, start: int, quarters: list[str]) -> Decimal:
    """Outcome value of `m` started in quarter `start`, less its cost of delay."""
    first = quarters.index(m.earliest_start) if m.earliest_start else 0
    return max(ZERO, m.outcome_value - m.cost_of_delay * (start - first))


def running_amounts(m: MMP, start: int, profile: list[Decimal]) -> dict[int, Decimal]:
    """Quarter index -> amount of a per-execution-quarter profile of `m` started at `start`."""
    return {start + k: amount for k, amount in enumerate(profile)}


def value_split(p: Portfolio, starts: dict[str, int]) -> ValueSplit:
    """The three terms of objective 1 for a selection."""
    mmps = {m.id: m for m in p.mmps}
    mmp_value = sum((realized_value(mmps[i], s, p.quarters) for i, s in starts.items()), ZERO)
    kr_value = sum((k.value_per_unit * a for k, a in zip(p.key_results, achieved(p, starts))), ZERO)
    return ValueSplit(mmps=mmp_value, key_results=kr_value, change_penalty=p.change_penalty * changes(p, starts))


def achieved(p: Portfolio, starts: dict[str, int]) -> list[Decimal]:
    """Credited progress per key result: contributions of selected MMPs, capped at target."""
    totals = dict.fromkeys((k.id for k in p.key_results), ZERO)
    for m in p.mmps:
        if m.id in starts:
            for k, c in m.key_results.items():
                totals[k] += c
    return [min(k.target, totals[k.id]) for k in p.key_results]


def changes(p: Portfolio, starts: dict[str, int]) -> int:
    """MMPs of the baseline not started in their baseline quarter, plus selected ones it does not list."""
    if not p.baseline_plan:
        return 0
    moved = sum(1 for m, q in p.baseline_plan.items() if starts.get(m) != p.quarters.index(q))
    return moved + sum(1 for m in starts if m not in p.baseline_plan)


def assemble_plan(p: Portfolio, sol: Solution, status: str, bound: Decimal | None, solver: SolverInfo) -> Plan:
    """Build the full plan for a feasible solution; `bound` is the proven upper bound on value."""
    split = value_split(p, sol.starts)
    objective = split.mmps + split.key_results - split.change_penalty
    if status == "optimal":
        bound = objective
    elif bound is not None:
        bound = max(bound, objective)  # key-result credit is floored to the money resolution
    gap = None if bound is None else relative_gap(objective, bound)
    return Plan(
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        value=split,
        selected=_selected(p, sol.starts),
        budget=_budget_rows(p, sol),
        reserve=_reserve_rows(p, sol),
        capacity=_capacity_rows(p, sol),
        key_results=[
            KeyResultRow(id=k.id, achieved=a, target=k.target) for k, a in zip(p.key_results, achieved(p, sol.starts))
        ],
        solver=solver,
    )


def relative_gap(objective: Decimal, bound: Decimal) -> float:
    """(bound - objective) / |bound|, 0 when proven optimal; denominators below 1 count as 1."""
    return float((bound - objective) / max(abs(bound), Decimal(1)))


def _selected(p: Portfolio, starts: dict[str, int]) -> list[SelectedMMP]:
    rows = [
        SelectedMMP(
            mmp=m.id,
            start=p.quarters[starts[m.id]],
            finish=p.quarters[starts[m.id] + m.duration - 1],
            value=realized_value(m, starts[m.id], p.quarters),
            cost=sum(m.cost, ZERO),
        )
        for m in p.mmps
        if m.id in starts
    ]
    return sorted(rows, key=lambda r: (p.quarters.index(r.start), r.mmp))


def stream_spend(p: Portfolio, sol: Solution) -> dict[tuple[str, int], Decimal]:
    """(stream, quarter) -> MMP cost + run cost + purchases of the stream's pools."""
    T = len(p.quarters)
    spend = {}
    for vs in p.value_streams:
        for q, run in enumerate(per_quarter(vs.run_cost, T)):
            spend[vs.id, q] = run
    for m in p.mmps:
        if m.id in sol.starts:
            for q, c in running_amounts(m, sol.starts[m.id], m.cost).items():
                spend[m.value_stream, q] += c
    for pool in p.pools:
        if pool.value_stream is not None:
            for q in range(T):
                spend[pool.value_stream, q] += pool.extra_cost * sol.purchased.get((pool.id, q), ZERO)
    return spend


def _budget_rows(p: Portfolio, sol: Solution) -> list[BudgetRow]:
    T = len(p.quarters)
    spend = stream_spend(p, sol)
    return [
        BudgetRow(
            value_stream=vs.id,
            quarter=p.quarters[q],
            allocated=sol.allocated[vs.id, q],
            spent=spend[vs.id, q],
            min=per_quarter(vs.min_budget, T)[q],
            max=per_quarter(vs.max_budget, T)[q],
        )
        for vs in p.value_streams
        for q in range(T)
    ]


def shared_purchase_cost(p: Portfolio, sol: Solution, q: int) -> Decimal:
    return sum(
        (pool.extra_cost * sol.purchased.get((pool.id, q), ZERO) for pool in p.pools if pool.value_stream is None),
        ZERO,
    )


def _reserve_rows(p: Portfolio, sol: Solution) -> list[ReserveRow]:
    budget = per_quarter(p.budget, len(p.quarters))
    return [
        ReserveRow(
            quarter=label,
            unallocated=budget[q]
            - sum((sol.allocated[vs.id, q] for vs in p.value_streams), ZERO)
            - shared_purchase_cost(p, sol, q),
        )
        for q, label in enumerate(p.quarters)
    ]


def capacity_use(p: Portfolio, starts: dict[str, int]) -> dict[tuple[str, int], Decimal]:
    """(pool, quarter) -> demand of the running selected MMPs."""
    used = {(pool.id, q): ZERO for pool in p.pools for q in range(len(p.quarters))}
    for m in p.mmps:
        if m.id in starts:
            for pool, profile in m.demand.items():
                for q, u in running_amounts(m, starts[m.id], profile).items():
                    used[pool, q] += u
    return used


def _capacity_rows(p: Portfolio, sol: Solution) -> list[CapacityRow]:
    T = len(p.quarters)
    used = capacity_use(p, sol.starts)
    return [
        CapacityRow(
            pool=pool.id,
            quarter=p.quarters[q],
            used=used[pool.id, q],
            available=per_quarter(pool.capacity, T)[q],
            purchased=sol.purchased.get((pool.id, q), ZERO),
        )
        for pool in p.pools
        for q in range(T)
    ]
