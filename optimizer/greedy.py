"""The WSJF ranking a portfolio office uses today, made feasible.

Rank MMPs (mandatory first, then by value per unit of cost: WSJF cost of delay
over job size when there is no money), walk down the ranking and fund each MMP
in its earliest quarter where every constraint still holds, pulling in the MMPs
it requires first. Capacity short of a pool is bought when the pool allows it.
Minimum investment shares are restored at the end by dropping the lowest-ranked
MMPs outside the short category. The result seeds CP-SAT as a hint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from optimizer.instance import Instance, MMPData


@dataclass
class GreedyState:
    inst: Instance
    starts: dict[int, int] = field(default_factory=dict)  # MMP index -> start quarter
    used: list[list[int]] = field(default_factory=list)  # pool -> quarter -> units
    spend: list[list[int]] = field(default_factory=list)  # stream -> quarter -> money units (MMPs)

    def __post_init__(self) -> None:
        T = self.inst.horizon
        self.used = [[0] * T for _ in self.inst.pools]
        self.spend = [list(vs.run_cost) for vs in self.inst.streams]

    def copy(self) -> GreedyState:
        twin = GreedyState(self.inst)
        twin.starts = dict(self.starts)
        twin.used = [row[:] for row in self.used]
        twin.spend = [row[:] for row in self.spend]
        return twin


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


def greedy_plan(inst: Instance) -> GreedyState:
    """Fund MMPs down the ranking while everything holds; return the final state."""
    capacity = [sum(pool.capacity) / max(inst.horizon, 1) for pool in inst.pools]
    order = sorted(range(len(inst.mmps)), key=lambda i: rank_key(inst.mmps[i], capacity))
    # Shares swing wildly while the first MMPs go in, so the walk ignores them, the lowest-ranked
    # MMPs are dropped until they hold, and a second walk adds what still fits with them holding.
    state = _walk(GreedyState(inst), order, shares=False)
    state = _restore_shares(state, order)
    return _walk(state, order, shares=True)


def _walk(state: GreedyState, order: list[int], shares: bool) -> GreedyState:
    for i in order:
        if i not in state.starts:
            state = _with_requirements(state, i, set(), shares) or state
    return state


def _with_requirements(state: GreedyState, i: int, visiting: set[int], shares: bool) -> GreedyState | None:
    """State with i funded (and what it requires), or None when it does not fit."""
    if i in visiting:
        return None
    trial = state.copy()
    for j in state.inst.mmps[i].requires:
        if j not in trial.starts:
            trial = _with_requirements(trial, j, visiting | {i}, shares)
            if trial is None:
                return None
    for s in state.inst.mmps[i].starts:
        funded = _try_start(trial, i, s, shares)
        if funded is not None:
            return funded
    return None


def _try_start(state: GreedyState, i: int, s: int, shares: bool) -> GreedyState | None:
    inst = state.inst
    m = inst.mmps[i]
    for j in m.requires:
        if state.starts[j] + inst.mmps[j].duration > s:
            return None
    if any(j in state.starts for j in _exclusive(inst, i)):
        return None
    trial = state.copy()
    trial.starts[i] = s
    for k, c in enumerate(m.cost):
        trial.spend[m.stream][s + k] += c
    for p, profile in m.demand.items():
        for k, u in enumerate(profile):
            trial.used[p][s + k] += u
    if shares and not _shares_hold(trial):
        return None
    return trial if allocations(trial) is not None else None


def _exclusive(inst: Instance, i: int) -> set[int]:
    return set(inst.mmps[i].excludes) | {j for j, m in enumerate(inst.mmps) if i in m.excludes}


def complete(state: GreedyState) -> bool:
    """Every mandatory MMP funded and every minimum investment share met."""
    mandatory = all(i in state.starts for i, m in enumerate(state.inst.mmps) if m.mandatory)
    return mandatory and _shares_hold(state)


def purchases(state: GreedyState) -> list[list[int]] | None:
    """Capacity bought per pool and quarter to cover use; None when a pool is over even with extras."""
    out = []
    for p, pool in enumerate(state.inst.pools):
        row = []
        for q, used in enumerate(state.used[p]):
            short = max(0, used - pool.capacity[q])
            if short > pool.extra_capacity[q]:
                return None
            row.append(short)
        out.append(row)
    return out


def allocations(state: GreedyState) -> tuple[list[list[int]], list[list[int]]] | None:
    """Least allocations (and purchases) that fund the state, or None when a limit breaks."""
    inst = state.inst
    bought = purchases(state)
    if bought is None:
        return None
    spend = [row[:] for row in state.spend]
    shared = [0] * inst.horizon
    for p, pool in enumerate(inst.pools):
        for q, units in enumerate(bought[p]):
            if pool.stream is None:
                shared[q] += units * pool.extra_cost
            else:
                spend[pool.stream][q] += units * pool.extra_cost
    alloc = []
    for v, vs in enumerate(inst.streams):
        b = _least_allocation(vs, spend[v])
        if b is None:
            return None
        alloc.append(b)
    for q in range(inst.horizon):
        if sum(b[q] for b in alloc) + shared[q] > inst.budget[q]:
            return None
    return alloc, bought


def _least_allocation(vs, spend: list[int]) -> list[int] | None:
    """Smallest allocations >= spend and min_budget that respect max_change and max_budget."""
    b = [max(s, lo) for s, lo in zip(spend, vs.min_budget)]
    if vs.max_change is not None:
        b = _respect_max_change(b, vs.max_change, vs.baseline_budget)
        if b is None:
            return None
    if any(hi is not None and x > hi for x, hi in zip(b, vs.max_budget)):
        return None
    return b


def _respect_max_change(b: list[int], m: Fraction, base: int | None) -> list[int] | None:
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


def _category_spend(state: GreedyState) -> tuple[dict[str, int], int]:
    per: dict[str, int] = {}
    total = 0
    for i in state.starts:
        m = state.inst.mmps[i]
        total += m.total_cost
        if m.category:
            per[m.category] = per.get(m.category, 0) + m.total_cost
    return per, total


def _shares_hold(state: GreedyState) -> bool:
    per, total = _category_spend(state)
    return all(
        (lo is None or per.get(c, 0) >= lo * total) and (hi is None or per.get(c, 0) <= hi * total)
        for c, lo, hi in state.inst.guardrails
    )


def _restore_shares(state: GreedyState, order: list[int]) -> GreedyState:
    """Drop the lowest-ranked droppable MMPs that push a share the wrong way until every share holds."""
    inst = state.inst
    for i in reversed(order):
        if _shares_hold(state):
            break
        m = inst.mmps[i]
        if i not in state.starts or m.mandatory or any(i in inst.mmps[j].requires for j in state.starts):
            continue
        if _drop_helps(state, m.category):
            trial = _without(state, i)
            if allocations(trial) is not None:
                state = trial
    return state


def _drop_helps(state: GreedyState, category: str | None) -> bool:
    """Dropping spend of `category` helps when it is over its max share or another category is short."""
    per, total = _category_spend(state)
    for c, lo, hi in state.inst.guardrails:
        if c == category and hi is not None and per.get(c, 0) > hi * total:
            return True
        if c != category and lo is not None and per.get(c, 0) < lo * total:
            return True
    return False


def _without(state: GreedyState, i: int) -> GreedyState:
    inst = state.inst
    m = inst.mmps[i]
    trial = state.copy()
    s = trial.starts.pop(i)
    for k, c in enumerate(m.cost):
        trial.spend[m.stream][s + k] -= c
    for p, profile in m.demand.items():
        for k, u in enumerate(profile):
            trial.used[p][s + k] -= u
    return trial
