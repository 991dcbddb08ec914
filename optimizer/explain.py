"""Why the plan is what it is: reasons for every MMP left out, and the binding constraints.

Works on the portfolio and the finished plan in exact decimals, so the words
match the numbers the plan shows. `EXPLANATIONS` says, for every business rule,
how it is put into words: the reason it gives an MMP it keeps out, and the
lines that say where the plan runs up against it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from models.money import amount_text
from models.money import units_text as _units
from models.plan import NotSelected, Plan
from models.portfolio import MMP, InvestmentGuardrail, Portfolio, per_quarter
from models.rules import RuleKind
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
        self.first = p.first_planned  # quarters before as_of are history
        self.finish |= {m.id: -1 for m in p.mmps if m.done}  # done: finished before anything planned starts
        self.mmps = {m.id: m for m in p.mmps}
        self.budget = {(r.value_stream, self.q[r.quarter]): r for r in plan.budget}
        self.capacity = {(r.pool, self.q[r.quarter]): r for r in plan.capacity}
        self.reserve = {self.q[r.quarter]: r.unallocated for r in plan.reserve}
        self.extra = {pool.id: per_quarter(pool.extra_capacity, len(p.quarters)) for pool in p.pools}
        self.pools = {pool.id: pool for pool in p.pools}
        self.streams = {vs.id: vs for vs in p.value_streams}
        self.selected_cost = sum((s.cost for s in plan.selected), ZERO)
        self.key_results = plan.key_results
        self._running: dict[tuple[str, int], list[MMP]] | None = None
        # Indexes built once, so that explaining every MMP left out stays linear in the portfolio (issue 13:
        # per-MMP scans made the reasons of a 5,000-MMP plan take longer than its time limit).
        self._spend: dict[str | None, Decimal] | None = None
        self.excluded_by: defaultdict[str, list[str]] = defaultdict(list)  # MMP id -> MMPs that exclude it
        for o in p.mmps:
            for x in dict.fromkeys(o.excludes):
                self.excluded_by[x].append(o.id)
        self.groups_of: defaultdict[str, list[int]] = defaultdict(list)  # MMP id -> its groups, in order
        for k, g in enumerate(p.groups):
            for i in dict.fromkeys(g.mmps):
                self.groups_of[i].append(k)
        self._funded: dict[int, list[str]] = {}
        self.together_of: dict[str, list[str]] = {}  # MMP id -> the first all-or-none set naming it
        for members in p.together:
            for i in members:
                self.together_of.setdefault(i, members)

    def money(self, amount: Decimal) -> str:
        """An amount in a sentence, in the portfolio's currency (the CLI's and the reports' rounding)."""
        return amount_text(amount, self.p.currency)

    def category_spend(self, category: str) -> Decimal:
        if self._spend is None:
            self._spend = defaultdict(Decimal)
            for i in self.start:
                self._spend[self.mmps[i].category] += sum(self.mmps[i].cost, ZERO)
        return self._spend.get(category, ZERO)

    def funded(self, k: int) -> list[str]:
        """The selected members of group k, in the group's order."""
        if k not in self._funded:
            self._funded[k] = [i for i in dict.fromkeys(self.p.groups[k].mmps) if i in self.start]
        return self._funded[k]

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
    return [NotSelected(mmp=m.id, reason=_reason(st, m)) for m in p.mmps if m.id not in st.start and not m.done]


def _reason(st: _State, m: MMP) -> str:
    """The first rule, in this order, that keeps `m` out: the user, its window, its requirements, its
    alternatives, then what adding it at each possible start would break, then what else does."""
    for rule in (
        _excluded_by_user,
        _stopped,
        _done_alternative,
        _too_late_as_of,
        _outside_window,
        _requirement_missing,
        _no_option_finished,
        _alternative_selected,
        _group_full,
        _partner_missing,
    ):
        reason = rule(st, m)
        if reason:
            return reason
    starts = _starts_after_requirements(st, m)
    if not starts:
        return _requirement_late(st, m)
    blocked = [_blockers(st, m, s) for s in starts]
    if all(blocked):
        return blocked[0][0]
    return _unblocked_reason(st, m, starts)


def _excluded_by_user(_st: _State, m: MMP) -> str | None:
    return "excluded by the user" if m.excluded else None


def _stopped(st: _State, m: MMP) -> str | None:
    """An in-flight MMP the plan stops: what continuing would cost from as_of on, against what it earns."""
    if not m.in_flight:
        return None
    first = st.p.quarters[st.first]
    started = st.q[m.started or first]
    remaining = sum((c for k, c in enumerate(m.cost) if started + k >= st.first), ZERO)
    value = m.value_at(started - st.q[m.earliest_start or st.p.quarters[0]])
    freed = range(st.first, started + m.duration)  # the quarters it would still run
    users = [
        i
        for i, s in st.start.items()
        if not st.mmps[i].in_flight
        and any(s <= q <= st.finish[i] for q in freed)
        and (st.mmps[i].value_stream == m.value_stream or set(st.mmps[i].demand) & set(m.demand))
    ]
    gain = (
        f"in those quarters its value stream and teams fund {', '.join(sorted(users)[:3])}"
        f"{' and more' if len(users) > 3 else ''} instead"
        if users
        else "the salvage value is worth more than finishing it"
    )
    return (
        f"stopped (in flight since {m.started}): continuing would cost {st.money(remaining)} from {first} on and keep "
        f"its demand, for a value of {st.money(value)} against a salvage value of {st.money(m.salvage_value)}; {gain}"
    )


def _done_alternative(st: _State, m: MMP) -> str | None:
    # Through the indexes (excludes either way), not a scan of the portfolio per MMP: the reasons stay linear.
    alternatives = dict.fromkeys([*m.excludes, *st.excluded_by.get(m.id, [])])
    done = [o for o in alternatives if o in st.mmps and st.mmps[o].done]
    return f"its alternative {done[0]} is done" if done else None


def _too_late_as_of(st: _State, m: MMP) -> str | None:
    """It could start in its window, but not in what is left of it as of the as_of quarter."""
    if not st.first or start_window(m, st.p.quarters, st.first) or not start_window(m, st.p.quarters):
        return None
    return (
        f"as of {st.p.quarters[st.first]} it can no longer start and finish by its deadline "
        f"{m.deadline or st.p.quarters[-1]} (takes {m.duration} quarter(s))"
    )


def _outside_window(st: _State, m: MMP) -> str | None:
    if start_window(m, st.p.quarters, st.first):
        return None
    return (
        f"cannot start and finish inside its window (earliest {m.earliest_start or st.p.quarters[0]}, "
        f"deadline {m.deadline or st.p.quarters[-1]}, takes {m.duration} quarter(s))"
    )


def _requirement_missing(st: _State, m: MMP) -> str | None:
    missing = next((r for r in m.requires if r not in st.start and not st.mmps[r].done), None)
    return None if missing is None else f"requires {missing}, which is not selected"


def _starts_after_requirements(st: _State, m: MMP) -> list[int]:
    return [s for s in start_window(m, st.p.quarters, st.first) if all(st.finish[r] < s for r in m.requires)]


def _requirement_late(st: _State, m: MMP) -> str:
    """Every requirement is selected, but the last one finishes too late for `m`'s window."""
    late = max(m.requires, key=lambda r: st.finish[r])
    finish = st.p.quarters[st.finish[late]]
    return f"requires {late}, which finishes in {finish}: too late to finish {m.id} by its deadline"


def _no_option_finished(st: _State, m: MMP) -> str | None:
    if m.requires_any and not any(r in st.start or st.mmps[r].done for r in m.requires_any):
        return f"requires one of {', '.join(m.requires_any)}, and none is selected"
    return None


def _group_full(st: _State, m: MMP) -> str | None:
    for k in st.groups_of.get(m.id, ()):
        g, funded = st.p.groups[k], st.funded(k)
        if len(funded) >= g.max:
            return f"group {g.id} already funds its most ({g.max}): {', '.join(funded) or 'none may be funded'}"
    return None


def _partner_missing(st: _State, m: MMP) -> str | None:
    members = st.together_of.get(m.id)
    if members is None:
        return None
    others = [i for i in members if i != m.id]
    return f"is funded only together with {', '.join(others)} (all or none), and that set is not funded"


def _groups_at_limits(st: _State) -> list[str]:
    out = []
    for g in st.p.groups:
        funded = sum(1 for i in dict.fromkeys(g.mmps) if i in st.start)
        if funded == g.max and g.max < len(set(g.mmps)):
            out.append(f"group {g.id} funds its most ({g.max} of {len(set(g.mmps))})")
        elif funded == g.min and g.min:
            out.append(f"group {g.id} funds its least ({g.min} of {len(set(g.mmps))})")
    return out


def _alternative_selected(st: _State, m: MMP) -> str | None:
    alternatives = list(m.excludes) + st.excluded_by.get(m.id, [])
    chosen = next((other for other in alternatives if other in st.start), None)
    return None if chosen is None else f"excluded by {chosen}, which is selected"


def _blockers(st: _State, m: MMP, start: int) -> list[str]:
    """Constraints that adding `m` at `start` to the plan as it stands would break."""
    out = []
    for k, cost in enumerate(m.cost):
        q = start + k
        # paying stream (None: shared) -> price of the capacity to buy
        purchase: defaultdict[str | None, Decimal] = defaultdict(Decimal)
        for pool, profile in m.demand.items():
            full = _pool_full(st, pool, q, profile[k])
            if full:
                out.append(full)
            else:
                purchase[st.pools[pool].value_stream] += _purchase_price(st, pool, q, profile[k])
        out += _money_blockers(st, m, q, cost, purchase)
    if out and st.p.change_penalty and st.p.baseline_plan and m.id not in st.p.baseline_plan:
        out[0] += f"; adding it also changes the baseline plan (change penalty {st.money(st.p.change_penalty)})"
    return out


def _pool_free(st: _State, pool: str, q: int) -> tuple[Decimal, Decimal]:
    """(units free now, units that can still be bought) of a pool in quarter q."""
    row = st.capacity[pool, q]
    return row.available + row.purchased - row.used, st.extra[pool][q] - row.purchased


def _pool_full(st: _State, pool: str, q: int, need: Decimal) -> str | None:
    """The pool cannot hold `need` more units in quarter q, even buying what it may."""
    free, buyable = _pool_free(st, pool, q)
    if need - free <= buyable:
        return None
    return (
        f"pool {pool} is full in {st.p.quarters[q]} (needs {_units(need)}, "
        f"{_units(max(free + buyable, ZERO))} free){_holders(st, pool, q)}"
    )


def _purchase_price(st: _State, pool: str, q: int, need: Decimal) -> Decimal:
    """What the capacity to buy for `need` more units costs (0 when the pool has room)."""
    free, _ = _pool_free(st, pool, q)
    return max(ZERO, need - free) * st.pools[pool].extra_cost


def _money_blockers(st: _State, m: MMP, q: int, cost: Decimal, purchase: dict[str | None, Decimal]) -> list[str]:
    """Budget limits that funding `cost` (plus capacity purchases) in quarter q would break."""
    blocked = _spend_over_cap(st, m, q, cost, purchase) or _total_budget_short(st, m, q, cost, purchase)
    return [blocked] if blocked else []


def _spend_over_cap(st: _State, m: MMP, q: int, cost: Decimal, purchase: dict[str | None, Decimal]) -> str | None:
    """The stream's spend, grown by `cost` and its own purchases, no longer fits an allocation its caps allow."""
    row = st.budget[m.value_stream, q]
    need = cost + purchase.get(m.value_stream, ZERO)
    cap, why = _stream_cap(st, m.value_stream, q)
    if cap is None or need <= cap - row.spent:
        return None
    left = max(cap - row.spent, ZERO)
    return f"value stream {m.value_stream} {why} in {st.p.quarters[q]} (needs {st.money(need)}, {st.money(left)} left)"


def _total_budget_short(st: _State, m: MMP, q: int, cost: Decimal, purchase: dict[str | None, Decimal]) -> str | None:
    """The quarter's unallocated budget cannot pay the extra allocation and the other streams' purchases."""
    row = st.budget[m.value_stream, q]
    more = max(ZERO, row.spent + cost + purchase.get(m.value_stream, ZERO) - row.allocated)
    more += sum((amount for stream, amount in purchase.items() if stream != m.value_stream), ZERO)
    if more <= st.reserve[q]:
        return None
    left = st.money(st.reserve[q])
    return f"the total budget of {st.p.quarters[q]} is used up (needs {st.money(more)} more, {left} unallocated)"


def _stream_cap(st: _State, stream: str, q: int) -> tuple[Decimal | None, str]:
    """The most the stream may get in quarter q, and why: the lower of its max budget and what
    max_change allows beside its neighbours' allocations as planned (None: no cap)."""
    lowest: tuple[Decimal | None, str] = (None, "")
    for cap, why in (_max_budget_cap(st, stream, q), _max_change_cap(st, stream, q)):
        if cap is not None and (lowest[0] is None or cap < lowest[0]):
            lowest = (cap, why)
    return lowest


def _max_budget_cap(st: _State, stream: str, q: int) -> tuple[Decimal | None, str]:
    return st.budget[stream, q].max, "is at its max budget"


def _max_change_cap(st: _State, stream: str, q: int) -> tuple[Decimal | None, str]:
    vs = st.streams[stream]
    if vs.max_change is None:
        return None, ""
    limits = []
    prev = st.budget[stream, q - 1].allocated if q else vs.baseline_budget
    if prev is not None:
        limits.append((1 + vs.max_change) * prev)
    if q + 1 < len(st.p.quarters) and vs.max_change < 1:
        limits.append(st.budget[stream, q + 1].allocated / (1 - vs.max_change))
    return min(limits, default=None), f"may change its budget by at most {vs.max_change:.0%} a quarter (max_change)"


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
        return f"its value ({st.money(best)}) does not outweigh the change penalty ({st.money(st.p.change_penalty)})"
    stream = st.streams[m.value_stream]
    if stream.max_change is not None:
        return f"funding it would change value stream {stream.id}'s budget by more than its max_change allows"
    return "lower value per unit of the scarce resource than the selected MMPs"


def _guardrail_broken(st: _State, m: MMP) -> str | None:
    return _below_min_share(st, m) or _above_max_share(st, m)


def _shares_with(st: _State, m: MMP) -> list[tuple[InvestmentGuardrail, Decimal, Decimal]]:
    """Per guardrail: (guardrail, its category's spend, all spend) with `m` added to the plan."""
    cost = sum(m.cost, ZERO)
    total = st.selected_cost + cost
    if not total:
        return []
    return [
        (g, st.category_spend(g.category) + (cost if m.category == g.category else ZERO), total)
        for g in st.p.investment_guardrails
    ]


def _below_min_share(st: _State, m: MMP) -> str | None:
    for g, in_cat, total in _shares_with(st, m):
        if g.min_share is not None and in_cat < g.min_share * total:
            return f"adding it would push {g.category} below its minimum share of spend ({g.min_share:.0%})"
    return None


def _above_max_share(st: _State, m: MMP) -> str | None:
    for g, in_cat, total in _shares_with(st, m):
        if g.max_share is not None and in_cat > g.max_share * total:
            return f"adding it would push {g.category} above its maximum share of spend ({g.max_share:.0%})"
    return None


def binding_constraints(p: Portfolio, plan: Plan) -> list[str]:
    """The constraints the plan runs up against, in words."""
    st = _State(p, plan)
    return [line for words in EXPLANATIONS.values() if words.binding for line in words.binding(st)]


def _full_pools(st: _State) -> list[str]:
    out = []
    for (pool, q), row in st.capacity.items():
        if row.used and row.used >= row.available + row.purchased and row.purchased >= st.extra[pool][q]:
            total = row.available + row.purchased
            out.append(f"pool {pool} is full in {st.p.quarters[q]} ({_units(row.used)} of {_units(total)} units)")
    return out


def _at_max_budget(st: _State) -> list[str]:
    return [
        f"value stream {vs} is at its max budget in {st.p.quarters[q]} ({st.money(row.max)})"
        for (vs, q), row in st.budget.items()
        if row.max is not None and row.allocated >= row.max
    ]


def _at_min_budget(st: _State) -> list[str]:
    """Streams given their min budget although they spend less (a stream also at its max says that)."""
    return [
        f"value stream {vs} gets its min budget in {st.p.quarters[q]} ({st.money(row.min)}) "
        f"but spends {st.money(row.spent)}"
        for (vs, q), row in st.budget.items()
        if row.min
        and row.allocated <= row.min
        and row.spent < row.min
        and not (row.max is not None and row.allocated >= row.max)
    ]


def _budget_used_up(st: _State) -> list[str]:
    return [f"the total budget of {st.p.quarters[q]} is fully allocated" for q, left in st.reserve.items() if left <= 0]


def _at_min_share(st: _State) -> list[str]:
    total = st.selected_cost
    return [
        f"investment guardrail: {g.category} is at its minimum share of spend ({g.min_share:.0%})"
        for g in st.p.investment_guardrails
        if total and g.min_share is not None and st.category_spend(g.category) == g.min_share * total
    ]


def _at_max_share(st: _State) -> list[str]:
    total = st.selected_cost
    return [
        f"investment guardrail: {g.category} is at its maximum share of spend ({g.max_share:.0%})"
        for g in st.p.investment_guardrails
        if total and g.max_share is not None and st.category_spend(g.category) == g.max_share * total
    ]


def _targets_reached(st: _State) -> list[str]:
    return [
        f"key result {k.id} reaches its target ({_units(k.target)}); more progress earns nothing"
        for k in st.key_results
        if k.achieved >= k.target
    ]


@dataclass(frozen=True)
class Words:
    """How a rule is put into words: the reason it gives for an MMP it keeps out of the plan, and the
    lines saying where the plan runs up against it (`binding_constraints`)."""

    reason: Callable[..., object] | None = None
    binding: Callable[[_State], list[str]] | None = None


# Binding lines come out in this order.
EXPLANATIONS: dict[RuleKind, Words] = {
    RuleKind.CAPACITY: Words(reason=_pool_full, binding=_full_pools),
    RuleKind.STREAM_MAX: Words(reason=_max_budget_cap, binding=_at_max_budget),
    RuleKind.STREAM_MIN: Words(binding=_at_min_budget),
    RuleKind.TOTAL_BUDGET: Words(reason=_total_budget_short, binding=_budget_used_up),
    RuleKind.GUARDRAIL_MIN: Words(reason=_below_min_share, binding=_at_min_share),
    RuleKind.GUARDRAIL_MAX: Words(reason=_above_max_share, binding=_at_max_share),
    RuleKind.KEY_RESULT: Words(binding=_targets_reached),
    RuleKind.START_WINDOW: Words(reason=_outside_window),
    RuleKind.MANDATORY: Words(reason=_holders),  # a full pool names the mandatory MMPs holding it
    RuleKind.EXCLUDED: Words(reason=_excluded_by_user),
    RuleKind.STREAM_SPEND: Words(reason=_spend_over_cap),  # funding an MMP grows its stream's spend
    RuleKind.MAX_CHANGE: Words(reason=_max_change_cap),
    RuleKind.REQUIRES: Words(reason=_requirement_missing),  # or _requirement_late
    RuleKind.EXCLUDES: Words(reason=_alternative_selected),
    RuleKind.GROUP_MIN: Words(binding=_groups_at_limits),  # both group rules share the binding lines
    RuleKind.GROUP_MAX: Words(reason=_group_full),
    RuleKind.TOGETHER: Words(reason=_partner_missing),
    RuleKind.REQUIRES_ANY: Words(reason=_no_option_finished),
    RuleKind.AS_OF: Words(reason=_too_late_as_of),
    RuleKind.IN_FLIGHT: Words(reason=_stopped),
    RuleKind.DONE: Words(reason=_done_alternative),
}
"""Every rule and how the explanation puts it into words (a test checks each has a reason or a binding line)."""
