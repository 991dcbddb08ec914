"""The WSJF ranking a portfolio office uses today, made feasible.

Rank MMPs (mandatory first, then by value per unit of cost; without money the
WSJF score, cost of delay over job size), walk down the ranking and fund each
MMP in its earliest quarter where every constraint still holds, pulling in the
MMPs it requires first. Capacity a pool is short of is bought when the pool
allows it. Investment shares swing wildly while the first MMPs go in, so the
first walk ignores them, the lowest-ranked MMPs are then dropped until every
share holds, and a second walk adds what still fits with the shares holding.

Every step is incremental: funding an MMP re-checks only the pools it uses,
the streams that pay for it and the quarters it runs in, so a walk over
thousands of MMPs takes well under a second per thousand.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

from optimizer.instance import Instance, MMPData, StreamData


@dataclass
class GreedyState:
    """A funded set and the least allocations and purchases that pay for it (all kept current)."""

    inst: Instance
    starts: dict[int, int] = field(default_factory=dict)  # MMP index -> start quarter
    used: list[list[int]] = field(default_factory=list)  # pool -> quarter -> units
    bought: list[list[int]] = field(default_factory=list)  # pool -> quarter -> purchased units
    spend: list[list[int]] = field(default_factory=list)  # stream -> quarter -> money (MMPs, run, purchases)
    alloc: list[list[int]] = field(default_factory=list)  # stream -> quarter -> least allocation
    shared: list[int] = field(default_factory=list)  # quarter -> money for shared-pool purchases
    category: dict[str, Fraction] = field(default_factory=dict)  # category -> exact cost of funded MMPs
    funded_cost: Fraction = Fraction(0)
    feasible: bool = True  # the allocations respect every stream and total-budget limit
    exclusive: dict[int, set[int]] = field(default_factory=dict)  # MMP index -> its alternatives

    @classmethod
    def empty(cls, inst: Instance) -> GreedyState:
        T = inst.horizon
        state = cls(inst, used=[[0] * T for _ in inst.pools], bought=[[0] * T for _ in inst.pools])
        state.spend = [list(vs.run_cost) for vs in inst.streams]
        state.shared = [0] * T
        rows = [_least_allocation(vs, row) for vs, row in zip(inst.streams, state.spend)]
        state.feasible = all(r is not None for r in rows) and _within_budget(inst, rows, state.shared)
        state.alloc = [r or [0] * T for r in rows]
        for i, m in enumerate(inst.mmps):
            for j in m.excludes:
                state.exclusive.setdefault(i, set()).add(j)
                state.exclusive.setdefault(j, set()).add(i)
        return state


def rank_key(m: MMPData, capacity: list[float]) -> tuple:
    """Mandatory first (those with the fewest start quarters first), then WSJF: value per unit of
    cost; without money the WSJF score, or else value per unit of job size (its demand, each pool's
    units weighted by that pool's scarcity, 1 / mean capacity)."""
    value = max(m.value_at.values(), default=0)
    if m.total_cost:
        density = value / m.total_cost
    elif m.wsjf is not None:
        density = m.wsjf
    else:
        size = sum(sum(profile) / max(capacity[p], 1e-9) for p, profile in m.demand.items())
        density = value / size if size else float("inf")
    return (not m.mandatory, len(m.starts) if m.mandatory else 0, -density)


def greedy_plan(inst: Instance, deadline: float | None = None) -> GreedyState:
    """Fund MMPs down the ranking while everything holds; stop adding at `deadline` (monotonic)."""
    capacity = [sum(pool.capacity) / max(inst.horizon, 1) for pool in inst.pools]
    order = sorted(range(len(inst.mmps)), key=lambda i: rank_key(inst.mmps[i], capacity))
    state = GreedyState.empty(inst)
    if not state.feasible:
        return state
    _walk(state, order, shares=False, deadline=deadline)
    _restore_shares(state, order)
    _walk(state, order, shares=True, deadline=deadline)
    return state


def complete(state: GreedyState) -> bool:
    """Feasible, every mandatory MMP funded and every investment share met."""
    mandatory = all(i in state.starts for i, m in enumerate(state.inst.mmps) if m.mandatory)
    return state.feasible and mandatory and _shares_hold(state)


def allocations(state: GreedyState) -> tuple[list[list[int]], list[list[int]]] | None:
    """(allocation per stream and quarter, purchased units per pool and quarter), or None if infeasible."""
    return (state.alloc, state.bought) if state.feasible else None


def _walk(state: GreedyState, order: list[int], shares: bool, deadline: float | None) -> None:
    for n, i in enumerate(order):
        if deadline is not None and n % 64 == 0 and time.monotonic() > deadline:
            return
        if i not in state.starts:
            _fund_with_requirements(state, i, set(), shares)


def _fund_with_requirements(state: GreedyState, i: int, visiting: set[int], shares: bool) -> bool:
    """Fund i (after what it requires); on failure leave the state as it was."""
    if i in visiting:
        return False
    funded_here: list[int] = []
    for j in state.inst.mmps[i].requires:
        if j not in state.starts:
            if not _fund_with_requirements(state, j, visiting | {i}, shares):
                _undo(state, funded_here)
                return False
            funded_here.append(j)
    for s in state.inst.mmps[i].starts:
        if _can_start(state, i, s) and _move(state, i, s, +1, shares):
            return True
    _undo(state, funded_here)
    return False


def _undo(state: GreedyState, funded: list[int]) -> None:
    for j in reversed(funded):
        _move(state, j, state.starts[j], -1, shares=False)


def _can_start(state: GreedyState, i: int, s: int) -> bool:
    inst = state.inst
    if any(j not in state.starts or state.starts[j] + inst.mmps[j].duration > s for j in inst.mmps[i].requires):
        return False
    return not any(j in state.starts for j in state.exclusive.get(i, ()))


def _move(state: GreedyState, i: int, s: int, sign: int, shares: bool) -> bool:
    """Fund (sign +1) or drop (sign -1) MMP i started at s, if every limit still holds afterwards.
    Only the pools, streams and quarters it touches are re-checked; nothing changes on failure."""
    inst, m = state.inst, state.inst.mmps[i]
    quarters = range(s, s + m.duration)
    used = {
        p: [
            state.used[p][q] + sign * profile[q - s] if q in quarters else state.used[p][q] for q in range(inst.horizon)
        ]
        for p, profile in m.demand.items()
    }
    bought = {}
    for p, row in used.items():
        pool = inst.pools[p]
        bought[p] = [max(0, u - c) for u, c in zip(row, pool.capacity)]
        if any(b > extra for b, extra in zip(bought[p], pool.extra_capacity)):
            return False
    spend = {
        m.stream: [x + sign * (m.cost[q - s] if q in quarters else 0) for q, x in enumerate(state.spend[m.stream])]
    }
    shared = list(state.shared)
    for p, row in bought.items():
        pool = inst.pools[p]
        delta = [(new - old) * pool.extra_cost for new, old in zip(row, state.bought[p])]
        if pool.stream is None:
            shared = [x + d for x, d in zip(shared, delta)]
        else:
            base = spend.get(pool.stream, state.spend[pool.stream])
            spend[pool.stream] = [x + d for x, d in zip(base, delta)]
    alloc = {v: _least_allocation(inst.streams[v], row) for v, row in spend.items()}
    if any(row is None for row in alloc.values()):
        return False
    rows = [alloc.get(v, state.alloc[v]) for v in range(len(inst.streams))]
    if not _within_budget(inst, rows, shared):
        return False
    category = dict(state.category)
    if m.category:
        category[m.category] = category.get(m.category, 0) + sign * m.exact_cost
    funded_cost = state.funded_cost + sign * m.exact_cost
    if shares and not _shares_hold_for(inst, category, funded_cost):
        return False
    for p in used:
        state.used[p], state.bought[p] = used[p], bought[p]
    for v in spend:
        state.spend[v], state.alloc[v] = spend[v], alloc[v]
    state.shared, state.category, state.funded_cost = shared, category, funded_cost
    if sign > 0:
        state.starts[i] = s
    else:
        del state.starts[i]
    return True


def _within_budget(inst: Instance, rows: list[list[int] | None], shared: list[int]) -> bool:
    return all(
        sum(row[q] for row in rows if row is not None) + shared[q] <= inst.budget[q] for q in range(inst.horizon)
    )


def _least_allocation(vs: StreamData, spend: list[int]) -> list[int] | None:
    """Smallest allocations >= spend and min_budget that respect max_change and max_budget."""
    b = [max(s, lo) for s, lo in zip(spend, vs.min_budget)]
    if vs.max_change is not None:
        b = _respect_max_change(b, vs.max_change, vs.baseline_budget)
        if b is None:
            return None
    if any(hi is not None and x > hi for x, hi in zip(b, vs.max_budget)):
        return None
    return b


def _respect_max_change(b: list[int], m: Fraction, base: Fraction | None) -> list[int] | None:
    """Raise allocations to the least fixpoint of the change limits (or None if the baseline forbids it)."""
    if base is not None:
        b[0] = max(b[0], math.ceil((1 - m) * base))
    for _ in range(4 * len(b) + 8):
        before = list(b)
        for q in range(1, len(b)):
            b[q] = max(b[q], math.ceil((1 - m) * b[q - 1]))
        for q in range(len(b) - 1, 0, -1):
            b[q - 1] = max(b[q - 1], math.ceil(b[q] / (1 + m)))
        if b == before:
            break
    if base is not None and b[0] > (1 + m) * base:
        return None
    ok = all((1 - m) * b[q - 1] <= b[q] <= (1 + m) * b[q - 1] for q in range(1, len(b)))
    return b if ok else None


def _shares_hold(state: GreedyState) -> bool:
    return _shares_hold_for(state.inst, state.category, state.funded_cost)


def _shares_hold_for(inst: Instance, category: dict[str, Fraction], total: Fraction) -> bool:
    return all(
        (lo is None or category.get(c, 0) >= lo * total) and (hi is None or category.get(c, 0) <= hi * total)
        for c, lo, hi in inst.guardrails
    )


def _restore_shares(state: GreedyState, order: list[int]) -> None:
    """Drop the lowest-ranked droppable MMPs that push a share the wrong way until every share holds."""
    inst = state.inst
    required = {j for i in state.starts for j in inst.mmps[i].requires}
    for i in reversed(order):
        if _shares_hold(state):
            return
        m = inst.mmps[i]
        if i in state.starts and not m.mandatory and i not in required and _drop_helps(state, m.category):
            _move(state, i, state.starts[i], -1, shares=False)


def _drop_helps(state: GreedyState, category: str | None) -> bool:
    """Dropping spend of `category` helps when it is over its max share or another category is short."""
    total = state.funded_cost
    for c, lo, hi in state.inst.guardrails:
        spent = state.category.get(c, 0)
        if c == category and hi is not None and spent > hi * total:
            return True
        if c != category and lo is not None and spent < lo * total:
            return True
    return False
