"""Why the plan is what it is: reasons for every MMP left out, and the binding constraints.

Works on the portfolio and the finished plan in exact decimals, so the words
match the numbers the plan shows.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from models.plan import NotSelected, Plan
from models.portfolio import MMP, Portfolio, per_quarter
from optimizer.instance import start_window
from optimizer.report import realized_value

ZERO = Decimal(0)


class _State:
    """The plan's selection and resource use, indexed for quick look-ups."""

    def __init__(self, p: Portfolio, plan: Plan):
        self.p = p
        self.q = {label: i for i, label in enumerate(p.quarters)}
        self.start = {s.mmp: self.q[s.start] for s in plan.selected}
        self.finish = {s.mmp: self.q[s.finish] for s in plan.selected}
        self.mmps = {m.id: m for m in p.mmps}
        self.budget = {(r.value_stream, self.q[r.quarter]): r for r in plan.budget}
        self.capacity = {(r.pool, self.q[r.quarter]): r for r in plan.capacity}
        self.reserve = {self.q[r.quarter]: r.unallocated for r in plan.reserve}
        self.extra = {pool.id: per_quarter(pool.extra_capacity, len(p.quarters)) for pool in p.pools}
        self.pools = {pool.id: pool for pool in p.pools}
        self.streams = {vs.id: vs for vs in p.value_streams}
        self.selected_cost = sum((s.cost for s in plan.selected), ZERO)
        self._running: dict[tuple[str, int], list[MMP]] | None = None

    def category_spend(self, category: str) -> Decimal:
        return sum((sum(self.mmps[i].cost, ZERO) for i in self.start if self.mmps[i].category == category), ZERO)

    def running(self, pool: str, q: int) -> list[MMP]:
        """Selected MMPs using `pool` in quarter q (indexed on first use)."""
        if self._running is None:
            self._running = defaultdict(list)
            for i, s in self.start.items():
                m = self.mmps[i]
                for p in m.demand:
                    for k in range(m.duration):
                        self._running[p, s + k].append(m)
        return self._running.get((pool, q), [])


def not_selected_reasons(p: Portfolio, plan: Plan) -> list[NotSelected]:
    """A reason, specific enough to act on, for every MMP the plan leaves out."""
    st = _State(p, plan)
    return [NotSelected(mmp=m.id, reason=_reason(st, m)) for m in p.mmps if m.id not in st.start]


def _reason(st: _State, m: MMP) -> str:
    if m.excluded:
        return "excluded by the user"
    window = start_window(m, st.p.quarters)
    if not window:
        return (
            f"cannot start and finish inside its window (earliest {m.earliest_start or st.p.quarters[0]}, "
            f"deadline {m.deadline or st.p.quarters[-1]}, takes {m.duration} quarter(s))"
        )
    for r in m.requires:
        if r not in st.start:
            return f"requires {r}, which is not selected"
    for other in _exclusive_with(st, m):
        if other in st.start:
            return f"excluded by {other}, which is selected"
    starts = [s for s in window if all(st.finish[r] < s for r in m.requires)]
    if not starts:
        late = max(m.requires, key=lambda r: st.finish[r])
        finish = st.p.quarters[st.finish[late]]
        return f"requires {late}, which finishes in {finish}: too late to finish {m.id} by its deadline"
    blocked = [_blockers(st, m, s) for s in starts]
    if all(blocked):
        return blocked[0][0]
    return _unblocked_reason(st, m, starts)


def _exclusive_with(st: _State, m: MMP) -> list[str]:
    return list(m.excludes) + [o.id for o in st.p.mmps if m.id in o.excludes]


def _blockers(st: _State, m: MMP, start: int) -> list[str]:
    """Constraints that adding `m` at `start` to the plan as it stands would break."""
    out = []
    for k, cost in enumerate(m.cost):
        q = start + k
        purchase = defaultdict(Decimal)  # paying stream (None: shared) -> price of capacity to buy
        for pool, profile in m.demand.items():
            row = st.capacity[pool, q]
            free = row.available + row.purchased - row.used
            buyable = st.extra[pool][q] - row.purchased
            short = max(ZERO, profile[k] - free)
            if short > buyable:
                out.append(
                    f"pool {pool} is full in {st.p.quarters[q]} (needs {profile[k]:,}, "
                    f"{max(free + buyable, ZERO):,} free){_holders(st, pool, q)}"
                )
            elif short:
                purchase[st.pools[pool].value_stream] += short * st.pools[pool].extra_cost
        out += _money_blockers(st, m, q, cost, purchase)
    if out and st.p.change_penalty and st.p.baseline_plan and m.id not in st.p.baseline_plan:
        out[0] += f"; adding it also changes the baseline plan (change penalty {st.p.change_penalty:,})"
    return out


def _money_blockers(st: _State, m: MMP, q: int, cost: Decimal, purchase: dict) -> list[str]:
    """Budget limits that funding `cost` (plus capacity purchases) in quarter q would break."""
    label = st.p.quarters[q]
    row = st.budget[m.value_stream, q]
    need = cost + purchase.get(m.value_stream, ZERO)
    cap, why = _stream_cap(st, m.value_stream, q)
    if cap is not None and need > cap - row.spent:
        left = max(cap - row.spent, ZERO)
        return [f"value stream {m.value_stream} {why} in {label} (needs {need:,}, {left:,} left)"]
    more = max(ZERO, row.spent + need - row.allocated) + sum(
        (amount for stream, amount in purchase.items() if stream != m.value_stream), ZERO
    )
    if more > st.reserve[q]:
        return [f"the total budget of {label} is used up (needs {more:,} more, {st.reserve[q]:,} unallocated)"]
    return []


def _stream_cap(st: _State, stream: str, q: int) -> tuple[Decimal | None, str]:
    """The most the stream may get in quarter q with its neighbours' allocations as planned."""
    row = st.budget[stream, q]
    cap, why = row.max, "is at its max budget"
    vs = st.streams[stream]
    if vs.max_change is None:
        return cap, why
    limits = []
    prev = st.budget[stream, q - 1].allocated if q else vs.baseline_budget
    if prev is not None:
        limits.append((1 + vs.max_change) * prev)
    if q + 1 < len(st.p.quarters) and vs.max_change < 1:
        limits.append(st.budget[stream, q + 1].allocated / (1 - vs.max_change))
    if limits and (cap is None or min(limits) < cap):
        cap = min(limits)
        why = f"may change its budget by at most {vs.max_change:.0%} a quarter (max_change)"
    return cap, why


def _holders(st: _State, pool: str, q: int) -> str:
    """Name the selected MMPs holding a pool, largest users first, mandatory ones marked."""
    users = sorted(st.running(pool, q), key=lambda u: -u.demand[pool][q - st.start[u.id]])
    if not users:
        return ""
    names = [f"{u.id} (mandatory)" if u.mandatory else u.id for u in users[:3]]
    more = f" and {len(users) - 3} more" if len(users) > 3 else ""
    return f"; held by {', '.join(names)}{more}"


def _unblocked_reason(st: _State, m: MMP, starts: list[int]) -> str:
    """`m` fits beside the plan on capacity and money; name what else keeps it out."""
    best = max(realized_value(m, s, st.p.quarters) for s in starts)
    if best <= 0 and not m.key_results:
        return "adds no value: its cost of delay has used up its value in every quarter it could start"
    broken = _guardrail_broken(st, m)
    if broken:
        return broken
    if st.p.change_penalty and m.id not in st.p.baseline_plan and best <= st.p.change_penalty:
        return f"its value ({best}) does not outweigh the change penalty ({st.p.change_penalty})"
    stream = next(vs for vs in st.p.value_streams if vs.id == m.value_stream)
    if stream.max_change is not None:
        return f"funding it would change value stream {stream.id}'s budget by more than its max_change allows"
    return "lower value per unit of the scarce resource than the selected MMPs"


def _guardrail_broken(st: _State, m: MMP) -> str | None:
    cost = sum(m.cost, ZERO)
    total = st.selected_cost + cost
    if not total:
        return None
    for g in st.p.investment_guardrails:
        in_cat = st.category_spend(g.category) + (cost if m.category == g.category else ZERO)
        if g.min_share is not None and in_cat < g.min_share * total:
            return f"adding it would push {g.category} below its minimum share of spend ({g.min_share:.0%})"
        if g.max_share is not None and in_cat > g.max_share * total:
            return f"adding it would push {g.category} above its maximum share of spend ({g.max_share:.0%})"
    return None


def binding_constraints(p: Portfolio, plan: Plan) -> list[str]:
    """The constraints the plan runs up against, in words."""
    st = _State(p, plan)
    out = []
    for (pool, q), row in st.capacity.items():
        if row.used and row.used >= row.available + row.purchased and row.purchased >= st.extra[pool][q]:
            out.append(f"pool {pool} is full in {p.quarters[q]} ({row.used} of {row.available + row.purchased} units)")
    for (vs, q), row in st.budget.items():
        if row.max is not None and row.allocated >= row.max:
            out.append(f"value stream {vs} is at its max budget in {p.quarters[q]} ({row.max})")
        elif row.min and row.allocated <= row.min and row.spent < row.min:
            out.append(f"value stream {vs} gets its min budget in {p.quarters[q]} ({row.min}) but spends {row.spent}")
    for q, reserve in st.reserve.items():
        if reserve <= 0:
            out.append(f"the total budget of {p.quarters[q]} is fully allocated")
    out += _binding_guardrails(st)
    out += [
        f"key result {k.id} reaches its target ({k.target}); more progress earns nothing"
        for k in plan.key_results
        if k.achieved >= k.target
    ]
    return out


def _binding_guardrails(st: _State) -> list[str]:
    total = st.selected_cost
    out = []
    for g in st.p.investment_guardrails:
        in_cat = st.category_spend(g.category)
        if total and g.min_share is not None and in_cat == g.min_share * total:
            out.append(f"investment guardrail: {g.category} is at its minimum share of spend ({g.min_share:.0%})")
        if total and g.max_share is not None and in_cat == g.max_share * total:
            out.append(f"investment guardrail: {g.category} is at its maximum share of spend ({g.max_share:.0%})")
    return out
