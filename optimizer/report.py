"""Turn a solution (who starts when, allocations, purchases) into the plan of docs/design.md, section 5.

Every figure is recomputed from the portfolio in exact decimals; solver units
never reach the plan. Backends and the baseline heuristic share this code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from models.plan import (
    Baseline,
    BudgetRow,
    CapacityRow,
    HorizonTotals,
    InFlightRow,
    InvestmentMixRow,
    KeyResultRow,
    Plan,
    ReserveRow,
    SelectedMMP,
    SolverInfo,
    SolverStatus,
    StreamTotals,
    Totals,
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


def realized_value(m: MMP, start: int, quarters: list[str], value: Decimal | None = None) -> Decimal:
    """Outcome value of `m` started in quarter `start`, less its cost of delay (`value`: a scenario's own)."""
    first = quarters.index(m.earliest_start) if m.earliest_start else 0
    return m.value_at(start - first, value)


def running_amounts(m: MMP, start: int, profile: list[Decimal], first: int = 0) -> dict[int, Decimal]:
    """Quarter index -> amount of a per-execution-quarter profile of `m` started at `start`, from quarter `first`
    (as_of) on: what an in-flight MMP spent or used before it is sunk, not part of the plan."""
    return {start + k: amount for k, amount in enumerate(profile) if start + k >= first}


def value_split(p: Portfolio, starts: dict[str, int], values: Mapping[str, Decimal] | None = None) -> ValueSplit:
    """The terms of objective 1 for a selection; `values`: MMP values of a scenario in place of their own."""
    mmps = {m.id: m for m in p.mmps}
    values = values or {}
    mmp_value = sum((realized_value(mmps[i], s, p.quarters, values.get(i)) for i, s in starts.items()), ZERO)
    kr_value = sum((k.value_per_unit * a for k, a in zip(p.key_results, achieved(p, starts))), ZERO)
    synergies = sum((s.value for s in p.synergies if all(m in starts for m in s.mmps)), ZERO)
    groups = sum((g.none_value for g in p.groups if not any(m in starts for m in g.mmps)), ZERO)
    salvage = sum((m.salvage_value for m in stopped(p, starts)), ZERO)
    return ValueSplit(
        mmps=mmp_value,
        key_results=kr_value,
        change_penalty=p.change_penalty * changes(p, starts),
        synergies=synergies,
        groups=groups,
        salvage=salvage,
    )


def stopped(p: Portfolio, starts: dict[str, int]) -> list[MMP]:
    """In-flight MMPs the selection stops."""
    return [m for m in p.mmps if m.in_flight and m.id not in starts]


def achieved(p: Portfolio, starts: dict[str, int]) -> list[Decimal]:
    """Progress per key result earning value in this plan: contributions of selected MMPs, capped at what is left
    of the target after the progress achieved before as_of."""
    totals = dict.fromkeys((k.id for k in p.key_results), ZERO)
    for m in p.mmps:
        if m.id in starts:
            for k, c in m.key_results.items():
                totals[k] += c
    return [min(k.target - p.progress_before(k), totals[k.id]) for k in p.key_results]


def changes(p: Portfolio, starts: dict[str, int]) -> int:
    """MMPs of the baseline not started in their baseline quarter, plus selected ones it does not list, plus
    in-flight MMPs stopped that it does not list (a stop is a change with or without a baseline; continuing
    one is none)."""
    stops = sum(1 for m in stopped(p, starts) if m.id not in p.baseline_plan)
    if not p.baseline_plan:
        return stops
    moved = sum(1 for m, q in p.baseline_plan.items() if starts.get(m) != p.quarters.index(q))
    in_flight = {m.id for m in p.mmps if m.in_flight}
    return stops + moved + sum(1 for m in starts if m not in p.baseline_plan and m not in in_flight)


def assemble_plan(p: Portfolio, sol: Solution, status: SolverStatus, bound: Decimal | None, solver: SolverInfo) -> Plan:
    """Build the full plan for a feasible solution; `bound` is the proven upper bound on value."""
    split = value_split(p, sol.starts)
    objective = split.total
    if status == SolverStatus.OPTIMAL:
        bound = objective
    elif bound is not None:
        bound = max(bound, objective)  # key-result credit is floored to the money resolution
    gap = None if bound is None else relative_gap(objective, bound)
    plan = Plan(
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
            KeyResultRow(id=k.id, achieved=before + a, target=k.target, before_as_of=before)
            for k, a in zip(p.key_results, achieved(p, sol.starts))
            for before in [p.progress_before(k)]
        ],
        solver=solver,
        as_of=p.as_of,
        in_flight=in_flight_rows(p, sol.starts),
        done=[m.id for m in p.mmps if m.done],
    )
    plan.investment_mix = investment_mix(p, sol.starts)
    plan.totals = totals(p, plan)
    return plan


def in_flight_rows(p: Portfolio, starts: dict[str, int]) -> list[InFlightRow]:
    """Every in-flight MMP: continued or stopped, its cost from as_of on (spent or freed) and its value."""
    first = p.first_planned
    return [
        InFlightRow(
            mmp=m.id,
            started=m.started,
            decision="continue" if m.id in starts else "stop",
            remaining_cost=sum(running_amounts(m, p.quarters.index(m.started), m.cost, first).values(), ZERO),
            value=realized_value(m, p.quarters.index(m.started), p.quarters),
            salvage_value=m.salvage_value,
        )
        for m in p.mmps
        if m.in_flight and m.started is not None
    ]


def relative_gap(objective: Decimal, bound: Decimal) -> float:
    """(bound - objective) / max(|bound|, |objective|, 1), at most 1: 0 when proven optimal. Measured against
    the larger magnitude, so that negative values (compliance work) keep it between 0 and 1."""
    return float(min(Decimal(1), (bound - objective) / max(abs(bound), abs(objective), Decimal(1))))


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
    T, first = len(p.quarters), p.first_planned
    spend = {}
    for vs in p.value_streams:
        for q, run in enumerate(per_quarter(vs.run_cost, T)):
            spend[vs.id, q] = run if q >= first else ZERO  # history: nothing of it is in the plan
    for m in p.mmps:
        if m.id in sol.starts:
            for q, c in running_amounts(m, sol.starts[m.id], m.cost, first).items():
                spend[m.value_stream, q] += c
    for pool in p.pools:
        if pool.value_stream is not None:
            for q in range(T):
                spend[pool.value_stream, q] += pool.extra_cost * sol.purchased.get((pool.id, q), ZERO)
    return spend


def _budget_rows(p: Portfolio, sol: Solution) -> list[BudgetRow]:
    T, first = len(p.quarters), p.first_planned
    spend = stream_spend(p, sol)
    return [
        BudgetRow(
            value_stream=vs.id,
            quarter=p.quarters[q],
            allocated=sol.allocated[vs.id, q],
            spent=spend[vs.id, q],
            min=per_quarter(vs.min_budget, T)[q] if q >= first else ZERO,  # history: no limits
            max=per_quarter(vs.max_budget, T)[q] if q >= first else None,
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
                for q, u in running_amounts(m, starts[m.id], profile, p.first_planned).items():
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


def investment_mix(p: Portfolio, starts: dict[str, int]) -> list[InvestmentMixRow]:
    """Spend on selected MMPs per category (in order of first appearance, uncategorised last) and its share,
    against the category's guardrail; exact: the guardrail test multiplies, never divides."""
    spend: dict[str | None, Decimal] = {}
    for m in sorted(p.mmps, key=lambda m: m.category is None):
        spend.setdefault(m.category, ZERO)
        if m.id in starts:
            spend[m.category] += sum(m.cost, ZERO)
    total = sum(spend.values(), ZERO)
    guardrails = {g.category: g for g in p.investment_guardrails}
    rows = []
    for category, amount in spend.items():
        g = guardrails.get(category) if category is not None else None
        low, high = (g.min_share, g.max_share) if g else (None, None)
        rows.append(
            InvestmentMixRow(
                category=category,
                spend=amount,
                share=amount / total if total else ZERO,
                min_share=low,
                max_share=high,
                within=(low is None or amount >= low * total) and (high is None or amount <= high * total),
            )
        )
    return rows


def totals(p: Portfolio, plan: Plan) -> Totals:
    """Per value stream and for the whole horizon, from the plan's rows and the portfolio."""
    streams = []
    for vs in p.value_streams:
        rows = [r for r in plan.budget if r.value_stream == vs.id]
        mine = [(s, m) for s, m in _selected_with_mmp(p, plan) if m.value_stream == vs.id]
        allocated, spent = sum((r.allocated for r in rows), ZERO), sum((r.spent for r in rows), ZERO)
        streams.append(
            StreamTotals(
                value_stream=vs.id,
                allocated=allocated,
                spent=spent,
                unspent=allocated - spent,
                mmp_cost=sum((s.cost for s, _ in mine), ZERO),
                funded=len(mine),
                value=sum((s.value for s, _ in mine), ZERO),
            )
        )
    budget = sum(per_quarter(p.budget, len(p.quarters)), ZERO)
    allocated = sum((s.allocated for s in streams), ZERO)
    unallocated = sum((r.unallocated for r in plan.reserve), ZERO)
    shared = budget - allocated - unallocated  # each quarter's reserve is its budget less both
    horizon = HorizonTotals(
        budget=budget,
        allocated=allocated,
        shared_purchases=shared,
        unallocated=unallocated,
        spent=sum((s.spent for s in streams), ZERO) + shared,
        mmp_cost=sum((s.cost for s in plan.selected), ZERO),
        funded=len(plan.selected),
        value=sum((s.value for s in plan.selected), ZERO),
    )
    return Totals(value_streams=streams, horizon=horizon)


def _selected_with_mmp(p: Portfolio, plan: Plan) -> list[tuple[SelectedMMP, MMP]]:
    mmps = {m.id: m for m in p.mmps}
    return [(s, mmps[s.mmp]) for s in plan.selected]


def baseline(p: Portfolio, plan: Plan, ranked: dict[str, int] | None, value: Decimal | None = None) -> Baseline | None:
    """How `plan` compares with the WSJF ranking's plan (`ranked`: MMP id -> start quarter index), worth
    `value` (default: its value on `p`; over scenarios, the same risk measure as the plan's); None when the
    ranking found no plan or `plan` has no objective."""
    if ranked is None or plan.objective is None:
        return None
    if value is None:
        value = value_split(p, ranked).total
    uplift = plan.objective - value
    chosen = {s.mmp for s in plan.selected}
    return Baseline(
        value=value,
        uplift=uplift,
        uplift_percent=_percent(uplift, value),
        starts={m.id: p.quarters[ranked[m.id]] for m in p.mmps if m.id in ranked},
        optimizer_only=[m.id for m in p.mmps if m.id in chosen and m.id not in ranked],
        ranking_only=[m.id for m in p.mmps if m.id in ranked and m.id not in chosen],
    )


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole in per cent to two decimals; None when `whole` is not positive."""
    if whole <= 0:
        return None
    percent = part * 100 / whole
    return percent.quantize(Decimal("0.01")) if percent.adjusted() < 20 else percent
