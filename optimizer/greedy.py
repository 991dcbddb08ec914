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
thousands of MMPs takes well under a second per thousand. `HONOURED_BY` names,
for every business rule, the function through which the ranking keeps it.

The same bookkeeping prices any given set of starts (`replay`): the least
allocations and purchases that pay for exactly those starts, or None when they
break a rule. Every backend's plan is completed this way, so money figures are
exact whatever solver chose the starts. Allocations are counted on the model's
allocation grid (money units / allocation scale), as the model counts them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from models import units
from models.rules import RuleKind
from optimizer.instance import Instance, MMPData, PoolData, StreamData
from optimizer.report import achieved


@dataclass
class GreedyState:
    """A funded set and the least allocations and purchases that pay for it (all kept current)."""

    inst: Instance
    starts: dict[int, int] = field(default_factory=dict)  # MMP index -> start quarter
    used: list[list[int]] = field(default_factory=list)  # pool -> quarter -> units
    bought: list[list[int]] = field(default_factory=list)  # pool -> quarter -> purchased units
    spend: list[list[int]] = field(default_factory=list)  # stream -> quarter -> money (MMPs, run, purchases)
    alloc: list[list[int]] = field(default_factory=list)  # stream -> quarter -> least allocation (allocation units)
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
        rows = [_least_allocation(inst, vs, row) for vs, row in zip(inst.streams, state.spend)]
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
    value = max(m.value_at.values(), default=0) - m.salvage  # continuing an in-flight MMP forfeits its salvage
    if m.total_cost:
        density = value / m.total_cost
    elif m.wsjf is not None:
        density = m.wsjf
    else:
        size = sum(sum(profile) / max(capacity[p], 1e-9) for p, profile in m.demand.items())
        density = value / size if size else float("inf")
    must = m.mandatory or _committed(m)
    return (not must, len(m.starts) if must else 0, -density)


def greedy_plan(inst: Instance, deadline: float | None = None) -> GreedyState:
    """Fund MMPs down the ranking while everything holds; stop adding at `deadline` (monotonic)."""
    capacity = [sum(pool.capacity) / max(inst.horizon, 1) for pool in inst.pools]
    order = sorted(range(len(inst.mmps)), key=lambda i: rank_key(inst.mmps[i], capacity))
    state = GreedyState.empty(inst)
    if not state.feasible:
        return state
    _walk(state, order, shares=False, deadline=deadline)
    _fill_groups(state, order)
    _restore_shares(state, order)
    _walk(state, order, shares=True, deadline=deadline)
    return state


def replay(inst: Instance, starts: dict[int, int]) -> GreedyState | None:
    """The least allocations and purchases that pay for exactly `starts` (MMP index -> start quarter),
    or None when those starts break a rule (a plan given from outside may: a warm start made for an
    older version of the portfolio). Earlier starts go first, so what an MMP requires is in before it."""
    state = GreedyState.empty(inst)
    if not state.feasible:
        return None
    for i, s in sorted(starts.items(), key=lambda item: (item[1], item[0])):
        m = inst.mmps[i]
        if not _fundable(m) or s not in m.starts or not _can_start(state, i, s):
            return None
        if not _move(state, i, s, +1, shares=False):
            return None
    return state if complete(state) else None


def complete(state: GreedyState) -> bool:
    """Feasible, every mandatory MMP funded, every group at least at its min, every together-set whole
    and every investment share met."""
    return (
        state.feasible
        and _mandatory_funded(state)
        and _groups_filled(state)
        and _together_whole(state)
        and _options_finished(state)
        and _shares_hold(state)
    )


def _options_finished(state: GreedyState) -> bool:
    """Every funded MMP with `requires_any` has one of those finished before it starts."""
    return all(_an_option_finished(state, i, s) for i, s in state.starts.items())


def _groups_filled(state: GreedyState) -> bool:
    return all(sum(i in state.starts for i in g.members) >= g.least for g in state.inst.groups)


def _together_whole(state: GreedyState) -> bool:
    return all(len({i in state.starts for i in members}) == 1 for members in state.inst.together)


def _group_room(state: GreedyState, i: int) -> bool:
    """Every group of i has room for one more selected MMP."""
    return all(sum(j in state.starts for j in g.members) < g.most for g in state.inst.groups if i in g.members)


def _fill_groups(state: GreedyState, order: list[int]) -> None:
    """Fund the best-ranked members of a group still short of its min (after the first walk, like the
    mandatory MMPs before it)."""
    for g in state.inst.groups:
        for i in order:
            if sum(j in state.starts for j in g.members) >= g.least:
                break
            if i in g.members and i not in state.starts:
                _fund_with_requirements(state, i, set(), shares=False)


def _mandatory_funded(state: GreedyState) -> bool:
    """Mandatory MMPs rank first (rank_key), and so do in-flight ones that cannot stop; a plan that still lacks
    one is no plan."""
    return all(i in state.starts for i, m in enumerate(state.inst.mmps) if m.mandatory or _committed(m))


def _committed(m: MMPData) -> bool:
    """An in-flight MMP that is not stoppable continues on its start."""
    return m.in_flight and not m.stoppable


def allocations(state: GreedyState) -> tuple[list[list[int]], list[list[int]]] | None:
    """(allocation per stream and quarter, purchased units per pool and quarter), or None if infeasible."""
    return (state.alloc, state.bought) if state.feasible else None


def _walk(state: GreedyState, order: list[int], shares: bool, deadline: float | None) -> None:
    for n, i in enumerate(order):
        if deadline is not None and n % 64 == 0 and time.monotonic() > deadline:
            return
        if i not in state.starts and _worth_funding(state.inst.mmps[i]):
            _fund_with_requirements(state, i, set(), shares)


def _worth_funding(m: MMPData) -> bool:
    """A value that costs (negative at every start) is funded only when it must be."""
    return m.mandatory or max(m.value_at.values(), default=0) >= 0


def _fund_with_requirements(state: GreedyState, i: int, visiting: set[int], shares: bool) -> bool:
    """Fund i (after what it requires, and with the MMPs it is funded together with); on failure leave the
    state as it was."""
    m = state.inst.mmps[i]
    if i in visiting or not _fundable(m) or not _group_room(state, i):
        return False
    before = set(state.starts)
    inside = visiting | {i}
    funded = all(j in state.starts or _fund_with_requirements(state, j, inside, shares) for j in m.requires)
    if funded and m.requires_any and not any(j in state.starts for j in m.requires_any):
        funded = any(_fund_with_requirements(state, j, inside, shares) for j in m.requires_any)
    funded = funded and any(_can_start(state, i, s) and _move(state, i, s, +1, shares) for s in _window(m))
    for j in _partners(state.inst, i):
        funded = funded and (j in state.starts or _fund_with_requirements(state, j, inside, shares))
    if not funded:
        _undo(state, [j for j in state.starts if j not in before])
    return funded


def _undo(state: GreedyState, funded: list[int]) -> None:
    """Drop these MMPs, the last funded first."""
    for j in reversed(funded):
        _move(state, j, state.starts[j], -1, shares=False)


def _partners(inst: Instance, i: int) -> list[int]:
    """The MMPs funded together with i (all or none)."""
    return [j for members in inst.together if i in members for j in members if j != i]


def _fundable(m: MMPData) -> bool:
    """An MMP the user excluded is never funded, nor one whose alternative is done."""
    return not m.excluded and not m.blocked


def _window(m: MMPData) -> list[int]:
    """The start quarters tried, earliest first: only those in the MMP's start window."""
    return m.starts


def _can_start(state: GreedyState, i: int, s: int) -> bool:
    return (
        _requirements_finished(state, i, s)
        and _an_option_finished(state, i, s)
        and _no_alternative_funded(state, i)
        and _group_room(state, i)
    )


def _an_option_finished(state: GreedyState, i: int, s: int) -> bool:
    """With `requires_any`, one of those MMPs is funded and finishes before s."""
    mmps, starts = state.inst.mmps, state.starts
    options = mmps[i].requires_any
    return not options or any(j in starts and starts[j] + mmps[j].duration <= s for j in options)


def _requirements_finished(state: GreedyState, i: int, s: int) -> bool:
    """Every MMP that i requires is funded and finishes before s."""
    mmps, starts = state.inst.mmps, state.starts
    return all(j in starts and starts[j] + mmps[j].duration <= s for j in mmps[i].requires)


def _no_alternative_funded(state: GreedyState, i: int) -> bool:
    """No MMP that excludes i (or that i excludes) is funded."""
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
        purchase = _purchases(inst.pools[p], row)
        if purchase is None:
            return False
        bought[p] = purchase
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
    alloc: dict[int, list[int]] = {}
    for v, row in spend.items():
        least = _least_allocation(inst, inst.streams[v], row)
        if least is None:
            return False
        alloc[v] = least
    rows: list[list[int] | None] = [alloc.get(v, state.alloc[v]) for v in range(len(inst.streams))]
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


def _purchases(pool: PoolData, used: list[int]) -> list[int] | None:
    """The capacity to buy per quarter for `used` units, or None when that exceeds the extra capacity."""
    bought = [max(0, u - c) for u, c in zip(used, pool.capacity)]
    return None if any(b > extra for b, extra in zip(bought, pool.extra_capacity)) else bought


def _within_budget(inst: Instance, rows: list[list[int] | None], shared: list[int]) -> bool:
    """Allocations (allocation units) and shared purchases (money units) fit every quarter's budget."""
    k = inst.allocation_scale
    return all(
        sum(row[q] for row in rows if row is not None) + k * shared[q] <= k * inst.budget[q]
        for q in range(inst.horizon)
    )


def _least_allocation(inst: Instance, vs: StreamData, spend: list[int]) -> list[int] | None:
    """Smallest allocations (allocation units) >= spend and min_budget that respect max_change and max_budget."""
    k = inst.allocation_scale
    # History quarters (before as_of) have no spend and no minimum: they get nothing; max_change runs from as_of.
    least = [k * max(s, lo) for s, lo in zip(spend, vs.min_budget)]
    if vs.max_change is not None:
        base = None if vs.baseline_budget is None else vs.baseline_budget * k
        changed = _respect_max_change(least[inst.first :], vs.max_change, base)
        if changed is None:
            return None
        least = least[: inst.first] + changed
    return least if _within_max_budget(inst, vs, least) else None


def _within_max_budget(inst: Instance, vs: StreamData, allocation: list[int]) -> bool:
    k = inst.allocation_scale
    return all(high is None or x <= k * high for x, high in zip(allocation, vs.max_budget))


def _respect_max_change(b: list[int], m: Fraction, base: Fraction | None) -> list[int] | None:
    """Raise allocations to the least fixpoint of the change limits (or None if the baseline forbids it).
    The first quarter's range around the baseline is the model's (models.units.first_allocation_range)."""
    if base is not None:
        least, most = units.first_allocation_range(base, m)
        if least > most:
            return None
        b[0] = max(b[0], least)
    for _ in range(4 * len(b) + 8):
        before = list(b)
        for q in range(1, len(b)):
            b[q] = max(b[q], math.ceil((1 - m) * b[q - 1]))
        for q in range(len(b) - 1, 0, -1):
            b[q - 1] = max(b[q - 1], math.ceil(b[q] / (1 + m)))
        if b == before:
            break
    if base is not None and b[0] > units.first_allocation_range(base, m)[1]:
        return None
    ok = all((1 - m) * b[q - 1] <= b[q] <= (1 + m) * b[q - 1] for q in range(1, len(b)))
    return b if ok else None


def _shares_hold(state: GreedyState) -> bool:
    return _shares_hold_for(state.inst, state.category, state.funded_cost)


def _shares_hold_for(inst: Instance, category: dict[str, Fraction], total: Fraction) -> bool:
    return _min_shares_hold(inst, category, total) and _max_shares_hold(inst, category, total)


def _min_shares_hold(inst: Instance, category: dict[str, Fraction], total: Fraction) -> bool:
    return all(low is None or category.get(c, 0) >= low * total for c, low, _ in inst.guardrails)


def _max_shares_hold(inst: Instance, category: dict[str, Fraction], total: Fraction) -> bool:
    return all(high is None or category.get(c, 0) <= high * total for c, _, high in inst.guardrails)


def _restore_shares(state: GreedyState, order: list[int]) -> None:
    """Drop the lowest-ranked droppable MMPs that push a share the wrong way until every share holds."""
    inst = state.inst
    for i in reversed(order):
        if _shares_hold(state):
            return
        m = inst.mmps[i]
        if i in state.starts and _droppable(state, i) and _drop_helps(state, m.category):
            _move(state, i, state.starts[i], -1, shares=False)


def _droppable(state: GreedyState, i: int) -> bool:
    """i can be dropped alone without breaking a rule: not mandatory, not required by a funded MMP (nor its
    only finished option), not keeping a group at its min, not part of an all-or-none set."""
    inst, starts = state.inst, state.starts
    if inst.mmps[i].mandatory or _committed(inst.mmps[i]) or _partners(inst, i):
        return False
    for j, s in starts.items():
        m = inst.mmps[j]
        if i in m.requires:
            return False
        finished = [o for o in m.requires_any if o in starts and starts[o] + inst.mmps[o].duration <= s]
        if finished == [i]:
            return False
    return all(sum(k in starts for k in g.members) > g.least for g in inst.groups if i in g.members)


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


# How the ranking keeps each business rule: the function that enforces it on every step, or for
# rules kept by construction the function that constructs them. A test checks every rule is here.
HONOURED_BY: dict[RuleKind, Callable[..., object]] = {
    RuleKind.START_WINDOW: _window,
    RuleKind.MANDATORY: _mandatory_funded,
    RuleKind.EXCLUDED: _fundable,
    RuleKind.STREAM_SPEND: _least_allocation,  # allocations start from the spend ...
    RuleKind.STREAM_MIN: _least_allocation,  # ... and the min budget
    RuleKind.STREAM_MAX: _within_max_budget,
    RuleKind.TOTAL_BUDGET: _within_budget,
    RuleKind.MAX_CHANGE: _respect_max_change,
    RuleKind.CAPACITY: _purchases,
    RuleKind.REQUIRES: _requirements_finished,  # and _fund_with_requirements funds them first
    RuleKind.EXCLUDES: _no_alternative_funded,
    RuleKind.GUARDRAIL_MIN: _min_shares_hold,  # ignored in the first walk, restored, then kept
    RuleKind.GUARDRAIL_MAX: _max_shares_hold,
    RuleKind.KEY_RESULT: achieved,  # not a choice of the ranking: the plan credits min(target, contributions)
    RuleKind.GROUP_MIN: _fill_groups,  # and complete() refuses a plan short of a group's min
    RuleKind.GROUP_MAX: _group_room,
    RuleKind.TOGETHER: _partners,  # funded with its partners or not at all; complete() checks sets are whole
    RuleKind.REQUIRES_ANY: _an_option_finished,  # and _fund_with_requirements funds an option first
    RuleKind.AS_OF: _least_allocation,  # history quarters get nothing; no start before as_of (the instance's window)
    RuleKind.IN_FLIGHT: _committed,  # ranked first like a mandatory MMP; complete() refuses a plan without it
    RuleKind.DONE: _fundable,
}
