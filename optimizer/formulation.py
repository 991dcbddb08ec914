"""The CP-SAT model of docs/design.md, section 4, one function per business rule.

`RULES` maps every :class:`RuleKind` to the function that adds that rule to a
:class:`Formulation`, and `build` adds them all. In *explain* mode every rule
that a portfolio manager could relax is guarded by an assumption literal that
carries its kind, so an infeasible portfolio can be traced to the smallest set
of rules that cannot hold together (see `optimizer.infeasibility`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from fractions import Fraction

from ortools.sat.python import cp_model

from models import units
from models.rules import RuleKind
from optimizer.instance import Instance, lcm_of_denominators

Expr = cp_model.LinearExpr | int
"""A linear expression over model variables (a plain int when it has none)."""


@dataclass(frozen=True)
class Rule:
    """A relaxable business rule: its kind and what it is about (indices into the instance, or a category)."""

    kind: RuleKind
    subject: tuple[int | str, ...]


@dataclass
class Formulation:
    inst: Instance
    explain: bool = False
    model: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    x: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (mmp, start quarter)
    b: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (stream, quarter)
    e: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (pool, quarter)
    w: dict[int, cp_model.IntVar] = field(default_factory=dict)  # key result -> credited money units
    reach: dict[int, cp_model.IntVar] = field(default_factory=dict)  # key result -> credited reach, in steps
    reach_steps: dict[int, int] = field(default_factory=dict)  # key result -> steps per unit of reach
    none: dict[int, cp_model.IntVar] = field(default_factory=dict)  # group -> 1 when none of it is selected
    synergy: dict[int, cp_model.IntVar] = field(default_factory=dict)  # synergy -> 1 when all are selected
    guards: dict[int, Rule] = field(default_factory=dict)  # assumption literal index -> rule
    guard_literals: list[cp_model.IntVar] = field(default_factory=list)
    continuous: set[int] = field(default_factory=set)  # further variables a MIP may count as continuous

    def continuous_indices(self) -> set[int]:
        """Variables a MIP may count as continuous: money (allocations, key-result credit) and any other
        variable that is not a decision (a risk measure's auxiliaries): plans are re-priced exactly afterwards."""
        return {var.index for var in (*self.b.values(), *self.w.values())} | self.continuous

    def y(self, i: int) -> Expr:
        """1 when MMP i is selected (started in some quarter)."""
        return sum(self.x[i, s] for s in self.inst.mmps[i].starts)

    def started_by(self, i: int, q: int) -> Expr:
        """1 when MMP i starts in quarter q or earlier."""
        return sum(self.x[i, s] for s in self.inst.mmps[i].starts if s <= q)

    def guard(self, ct: cp_model.Constraint, kind: RuleKind, *subject: int | str) -> None:
        """In explain mode, make `ct` conditional on a fresh assumption literal."""
        if self.explain:
            lit = self.model.new_bool_var(f"{kind}{subject}")
            ct.only_enforce_if(lit)
            self.guards[lit.index] = Rule(kind, subject)
            self.guard_literals.append(lit)


def build(
    inst: Instance,
    explain: bool = False,
    rules: Collection[RuleKind] = frozenset(RuleKind),
    model: cp_model.CpModel | None = None,
    objective: bool = True,
) -> Formulation:
    """Build the model: variables, the rules (all but for a test that verifies one at a time) and,
    unless explaining, the objective. The start window is always there: its start variables are
    what every other rule is about. `model`: add to this model (one scenario of several); `objective`:
    False leaves the objective to the caller (a risk measure over scenarios)."""
    f = Formulation(inst, explain, model if model is not None else cp_model.CpModel())
    add_start_window(f)  # first, so the start variables keep the lowest indices
    add_variables(f)
    for kind, add_rule in RULES.items():
        if kind in rules and kind is not RuleKind.START_WINDOW:
            add_rule(f)
    add_choice_indicators(f)
    if not explain and objective:
        set_objective(f)
    return f


WORLD_RULES = (
    RuleKind.STREAM_SPEND,
    RuleKind.STREAM_MIN,
    RuleKind.STREAM_MAX,
    RuleKind.TOTAL_BUDGET,
    RuleKind.MAX_CHANGE,
    RuleKind.CAPACITY,
    RuleKind.GUARDRAIL_MIN,
    RuleKind.GUARDRAIL_MAX,
)
"""The rules that read a scenario's figures (budget, costs, capacity, stream guardrails); the others read only
which MMPs start when."""


def add_world(f: Formulation, inst: Instance) -> Formulation:
    """The same starts in another scenario (docs/design.md, section 4.7): its own allocations and purchases
    under the rules that read its figures. The rules about the starts alone already hold."""
    g = Formulation(inst, model=f.model, x=f.x, w=f.w, none=f.none, synergy=f.synergy)
    add_variables(g)
    for kind in WORLD_RULES:
        RULES[kind](g)
    return g


def add_variables(f: Formulation) -> None:
    """Allocations b[v,q] and capacity purchases e[p,q], the latter up to the pool's extra capacity
    (the capacity rule's limit on buying, kept as the variable's range)."""
    inst, m = f.inst, f.model
    ceiling = inst.money_ceiling * inst.allocation_scale
    for v, vs in enumerate(inst.streams):
        for q in range(inst.horizon):
            f.b[v, q] = m.new_int_var(0, ceiling, f"b[{vs.id},{inst.quarters[q]}]")
    for p, pool in enumerate(inst.pools):
        for q in range(inst.horizon):
            f.e[p, q] = m.new_int_var(0, pool.extra_capacity[q], f"e[{pool.id},{inst.quarters[q]}]")


def add_start_window(f: Formulation) -> None:
    """x[i,s] exists only where MMP i may start: not before its earliest start, finishing by its
    deadline and inside the horizon. An MMP starts at most once."""
    inst, m = f.inst, f.model
    for i, mmp in enumerate(inst.mmps):
        for s in mmp.starts:
            f.x[i, s] = m.new_bool_var(f"x[{mmp.id},{inst.quarters[s]}]")
        if len(mmp.starts) > 1:
            m.add_at_most_one(f.x[i, s] for s in mmp.starts)


def add_mandatory(f: Formulation) -> None:
    """A mandatory MMP is selected (an MMP without a start window cannot be)."""
    for i, mmp in enumerate(f.inst.mmps):
        if mmp.mandatory:
            f.guard(f.model.add(f.y(i) == 1), RuleKind.MANDATORY, i)


def add_excluded(f: Formulation) -> None:
    """An MMP the user excluded is not selected."""
    for i, mmp in enumerate(f.inst.mmps):
        if mmp.excluded and mmp.starts:
            f.guard(f.model.add(f.y(i) == 0), RuleKind.EXCLUDED, i)


def running_spend(f: Formulation) -> dict[tuple[int, int], list]:
    """(stream, quarter) -> terms of MMP cost while running, built in one pass over starts."""
    terms: dict[tuple[int, int], list] = defaultdict(list)
    for i, mmp in enumerate(f.inst.mmps):
        for s in mmp.starts:
            for k, c in enumerate(mmp.cost):
                if c:
                    terms[mmp.stream, s + k].append(c * f.x[i, s])
    return terms


def add_stream_spend(f: Formulation) -> None:
    """A stream's MMP spend, run cost and purchased capacity fit inside its allocation."""
    inst = f.inst
    spend = running_spend(f)
    purchases = defaultdict(list)
    for p, pool in enumerate(inst.pools):
        if pool.stream is not None and pool.extra_cost:
            for q in range(inst.horizon):
                purchases[pool.stream, q].append(pool.extra_cost * f.e[p, q])
    for v, vs in enumerate(inst.streams):
        for q in range(inst.horizon):
            k = inst.allocation_scale
            f.model.add(k * (sum(spend[v, q]) + sum(purchases[v, q]) + vs.run_cost[q]) <= f.b[v, q])


def add_stream_min(f: Formulation) -> None:
    """allocation >= min_budget for every stream and quarter."""
    k = f.inst.allocation_scale
    for v, vs in enumerate(f.inst.streams):
        for q in range(f.inst.horizon):
            if vs.min_budget[q]:
                f.guard(f.model.add(f.b[v, q] >= k * vs.min_budget[q]), RuleKind.STREAM_MIN, v, q)


def add_stream_max(f: Formulation) -> None:
    """allocation <= max_budget for every stream and quarter that has one."""
    k = f.inst.allocation_scale
    for v, vs in enumerate(f.inst.streams):
        for q in range(f.inst.horizon):
            high = vs.max_budget[q]
            if high is not None:
                f.guard(f.model.add(f.b[v, q] <= k * high), RuleKind.STREAM_MAX, v, q)


def shared_purchases(f: Formulation, q: int) -> Expr:
    """Money for capacity bought for shared pools in quarter q (paid from the total budget)."""
    return sum(pool.extra_cost * f.e[p, q] for p, pool in enumerate(f.inst.pools) if pool.stream is None)


def add_total_budget(f: Formulation) -> None:
    """Allocations plus shared-pool purchases fit the quarter's total budget."""
    inst = f.inst
    for q in range(inst.horizon):
        allocated = sum(f.b[v, q] for v in range(len(inst.streams)))
        k = inst.allocation_scale
        f.guard(f.model.add(allocated + k * shared_purchases(f, q) <= k * inst.budget[q]), RuleKind.TOTAL_BUDGET, q)


def add_max_change(f: Formulation) -> None:
    """|b[q] - b[q-1]| <= max_change * b[q-1] over the planned quarters; the first planned quarter against
    baseline_budget, or, as of a later quarter, against the last actual spend (the instance's base)."""
    first = f.inst.first
    for v, vs in enumerate(f.inst.streams):
        if vs.max_change is None:
            continue
        num, den = vs.max_change.numerator, vs.max_change.denominator
        for q in range(first + 1, f.inst.horizon):
            prev, cur = f.b[v, q - 1], f.b[v, q]
            f.guard(f.model.add(den * cur <= (den + num) * prev), RuleKind.MAX_CHANGE, v, q)
            f.guard(f.model.add(den * cur >= (den - num) * prev), RuleKind.MAX_CHANGE, v, q)
        if vs.baseline_budget is not None:
            least, most = units.first_allocation_range(vs.baseline_budget * f.inst.allocation_scale, vs.max_change)
            f.guard(f.model.add(f.b[v, first] <= most), RuleKind.MAX_CHANGE, v, first)
            f.guard(f.model.add(f.b[v, first] >= least), RuleKind.MAX_CHANGE, v, first)


def add_capacity(f: Formulation) -> None:
    """Demand of running MMPs on a pool fits its capacity plus purchased capacity."""
    inst = f.inst
    use: dict[tuple[int, int], list] = defaultdict(list)
    for i, mmp in enumerate(inst.mmps):
        for p, profile in mmp.demand.items():
            for s in mmp.starts:
                for k, u in enumerate(profile):
                    if u:
                        use[p, s + k].append(u * f.x[i, s])
    for (p, q), terms in use.items():
        pool = inst.pools[p]
        f.guard(f.model.add(sum(terms) <= pool.capacity[q] + f.e[p, q]), RuleKind.CAPACITY, p, q)


def add_requires(f: Formulation) -> None:
    """i may start by q only if j started by q - d_j (so j is finished before i starts)."""
    inst = f.inst
    for i, mmp in enumerate(inst.mmps):
        for j in mmp.requires:
            dj = inst.mmps[j].duration
            for q in mmp.starts:
                f.guard(f.model.add(f.started_by(i, q) <= f.started_by(j, q - dj)), RuleKind.REQUIRES, i, j)


def add_excludes(f: Formulation) -> None:
    """Mutually exclusive alternatives: at most one of the pair is selected."""
    seen = set()
    for i, mmp in enumerate(f.inst.mmps):
        for j in mmp.excludes:
            pair = (min(i, j), max(i, j))
            if pair not in seen:
                seen.add(pair)
                f.guard(f.model.add(f.y(i) + f.y(j) <= 1), RuleKind.EXCLUDES, *pair)


def add_guardrail_min(f: Formulation) -> None:
    """sum_i ([c_i = c] - min_share) * C_i * y_i >= 0: the category's share of selected spend."""
    for category, low, _ in f.inst.guardrails:
        if low is not None:
            f.guard(f.model.add(_share_excess(f, category, low) >= 0), RuleKind.GUARDRAIL_MIN, category)


def add_guardrail_max(f: Formulation) -> None:
    """sum_i ([c_i = c] - max_share) * C_i * y_i <= 0: the category's share of selected spend."""
    for category, _, high in f.inst.guardrails:
        if high is not None:
            f.guard(f.model.add(_share_excess(f, category, high) <= 0), RuleKind.GUARDRAIL_MAX, category)


def _share_excess(f: Formulation, category: str, share: Fraction) -> Expr:
    """Spend of `category` less `share` of all selected spend, scaled to integers (linear, no ratio)."""
    mmps = f.inst.mmps
    num, den = share.numerator, share.denominator
    # Exact costs, not the rounded-up ones: a share compares costs on both sides.
    scale = lcm_of_denominators([m.exact_cost for m in mmps])
    return sum(
        int(((den if m.category == category else 0) - num) * m.exact_cost * scale) * f.y(i)
        for i, m in enumerate(mmps)
        if m.exact_cost
    )


def add_key_results(f: Formulation) -> None:
    """Credited key-result value w_k = floor(value_per_unit * min(target, reach)), reach being the sum of the
    contributions of the selected MMPs (the instance's target is what is left of it after the progress
    achieved before as_of).

    The credited reach r_k is counted in steps of 1 / d_k of a unit (d_k: the least common denominator of the
    target and the contributions), at most the target and the reach; w_k is pinned to floor(value_per_unit *
    r_k / d_k) by two rows. Why not w_k <= value_per_unit * reach alone: a one-thread CP-SAT search then
    improved its plans one money unit of w_k at a time (a 12-MMP portfolio in thousandths, credit 400,000.75:
    39 % short after 20 s); a step of r_k is worth a whole step of credit."""
    inst = f.inst
    for k, (kid, target, per_unit) in enumerate(inst.key_results):
        contributions = {i: m.contributions[k] for i, m in enumerate(inst.mmps) if k in m.contributions}
        steps = lcm_of_denominators([target, *contributions.values()])
        f.reach_steps[k] = steps
        f.reach[k] = f.model.new_int_var(0, int(target * steps), f"reach[{kid}]")
        f.continuous.add(f.reach[k].index)  # a MIP may relax it: plans are re-priced exactly, as w is
        f.model.add(f.reach[k] <= sum(int(c * steps) * f.y(i) for i, c in contributions.items()))
        f.w[k] = f.model.new_int_var(0, math.floor(target * per_unit), f"w[{kid}]")
        # w = floor(P * r / steps) with P = num / den: den * steps * w <= num * r < den * steps * (w + 1)
        num, den = per_unit.numerator, per_unit.denominator
        f.model.add(den * steps * f.w[k] <= num * f.reach[k])
        f.model.add(num * f.reach[k] - den * steps * f.w[k] <= den * steps - 1)


def add_group_min(f: Formulation) -> None:
    """At least a group's `min` of its MMPs are selected."""
    for g, group in enumerate(f.inst.groups):
        if group.least:
            selected = sum(f.y(i) for i in group.members)
            f.guard(f.model.add(selected >= group.least), RuleKind.GROUP_MIN, g)


def add_group_max(f: Formulation) -> None:
    """At most a group's `max` of its MMPs are selected."""
    for g, group in enumerate(f.inst.groups):
        if group.most < len(group.members):
            selected = sum(f.y(i) for i in group.members)
            f.guard(f.model.add(selected <= group.most), RuleKind.GROUP_MAX, g)


def add_together(f: Formulation) -> None:
    """The MMPs of a together-set are selected all or none: each as its first."""
    for k, members in enumerate(f.inst.together):
        first, *rest = members
        for i in rest:
            f.guard(f.model.add(f.y(i) == f.y(first)), RuleKind.TOGETHER, k)


def add_requires_any(f: Formulation) -> None:
    """i may start by q only if one of its `requires_any` MMPs started by q - d_j (so it has finished)."""
    inst = f.inst
    for i, mmp in enumerate(inst.mmps):
        if not mmp.requires_any:
            continue
        for q in mmp.starts:
            finished = sum(f.started_by(j, q - inst.mmps[j].duration) for j in mmp.requires_any)
            f.guard(f.model.add(f.started_by(i, q) <= finished), RuleKind.REQUIRES_ANY, i)


def add_as_of(f: Formulation) -> None:
    """Quarters before as_of are history: nothing is allocated or bought there. (No MMP has a start variable
    before as_of but an in-flight one on its start, whose sunk quarters cost and use nothing: the instance.)"""
    inst = f.inst
    for q in range(inst.first):
        for v in range(len(inst.streams)):
            f.model.add(f.b[v, q] == 0)
        for p in range(len(inst.pools)):
            f.model.add(f.e[p, q] == 0)


def add_in_flight(f: Formulation) -> None:
    """An in-flight MMP that is not stoppable continues on its start (a stoppable one may stop: y_i = 0)."""
    for i, mmp in enumerate(f.inst.mmps):
        if mmp.in_flight and not mmp.stoppable:
            f.guard(f.model.add(f.y(i) == 1), RuleKind.IN_FLIGHT, i)


def add_done(f: Formulation) -> None:
    """A done MMP counts as funded: an alternative that excludes it is not funded. (A done MMP has no start
    variables, and what requires it counts it finished: the instance.)"""
    for i, mmp in enumerate(f.inst.mmps):
        if mmp.blocked and mmp.starts:
            f.model.add(f.y(i) == 0)


def add_choice_indicators(f: Formulation) -> None:
    """none[g] = 1 exactly when no MMP of group g is selected; synergy[s] = 1 exactly when all of its MMPs
    are (both ways, so a negative `none_value` or synergy is counted as surely as a positive one)."""
    m = f.model
    for g, group in enumerate(f.inst.groups):
        if group.none_value:
            f.none[g] = m.new_bool_var(f"none[{group.id}]")
            for i in group.members:
                m.add(f.none[g] <= 1 - f.y(i))
            m.add(f.none[g] >= 1 - sum(f.y(i) for i in group.members))
    for s, synergy in enumerate(f.inst.synergies):
        if synergy.value:
            f.synergy[s] = m.new_bool_var(f"synergy[{synergy.id}]")
            for i in synergy.members:
                m.add(f.synergy[s] <= f.y(i))
            m.add(f.synergy[s] >= sum(f.y(i) for i in synergy.members) - (len(synergy.members) - 1))


def value_expression(f: Formulation) -> Expr:
    """Objective 1 in money units: MMP value (after cost of delay) + key results + synergies + the value of
    groups left alone - change penalty."""
    inst = f.inst
    value: Expr = sum(mmp.value_at[s] * f.x[i, s] for i, mmp in enumerate(inst.mmps) for s in mmp.starts)
    value += sum(f.w.values())
    value += sum(inst.groups[g].none_value * var for g, var in f.none.items())
    value += sum(inst.synergies[s].value * var for s, var in f.synergy.items())
    value += sum(m.salvage * (1 - f.y(i)) for i, m in enumerate(inst.mmps) if m.in_flight and m.salvage)
    return value - inst.change_penalty * changes(f)


def changes(f: Formulation) -> Expr:
    """MMPs whose selection or start differs from baseline_plan, and in-flight MMPs stopped."""
    inst = f.inst
    count: Expr = 0
    for i, mmp in enumerate(inst.mmps):
        if mmp.in_flight and i not in inst.baseline:
            count += 1 - f.y(i)  # a stop is a change, with or without a baseline plan
        elif not inst.baseline:
            continue
        elif i in inst.baseline:
            q = inst.baseline[i]
            start = None if q is None else f.x.get((i, q))  # None: the baseline start is not possible
            count += 1 if start is None else 1 - start
        else:
            count += f.y(i)
    return count


def allocation_expression(f: Formulation) -> Expr:
    """Money committed, in allocation units: stream allocations plus shared purchases."""
    inst = f.inst
    return sum(f.b.values()) + inst.allocation_scale * sum(shared_purchases(f, q) for q in range(inst.horizon))


def set_objective(f: Formulation) -> None:
    """Goal 1 (docs/design.md, section 4): the most outcome value."""
    f.model.maximize(value_expression(f))


def least_money_at(f: Formulation, value: int) -> None:
    """Goal 2: among plans worth at least `value` (money units), the least money committed. Value and money
    are never weighed against each other: this is a second solve with the value held."""
    f.model.add(value_expression(f) >= value)
    f.model.minimize(allocation_expression(f))


RULES: dict[RuleKind, Callable[[Formulation], None]] = {
    RuleKind.START_WINDOW: add_start_window,
    RuleKind.MANDATORY: add_mandatory,
    RuleKind.EXCLUDED: add_excluded,
    RuleKind.STREAM_SPEND: add_stream_spend,
    RuleKind.STREAM_MIN: add_stream_min,
    RuleKind.STREAM_MAX: add_stream_max,
    RuleKind.TOTAL_BUDGET: add_total_budget,
    RuleKind.MAX_CHANGE: add_max_change,
    RuleKind.CAPACITY: add_capacity,
    RuleKind.REQUIRES: add_requires,
    RuleKind.EXCLUDES: add_excludes,
    RuleKind.GUARDRAIL_MIN: add_guardrail_min,
    RuleKind.GUARDRAIL_MAX: add_guardrail_max,
    RuleKind.KEY_RESULT: add_key_results,
    RuleKind.GROUP_MIN: add_group_min,
    RuleKind.GROUP_MAX: add_group_max,
    RuleKind.TOGETHER: add_together,
    RuleKind.REQUIRES_ANY: add_requires_any,
    RuleKind.AS_OF: add_as_of,
    RuleKind.IN_FLIGHT: add_in_flight,
    RuleKind.DONE: add_done,
}
"""Every business rule and the one function that adds it to the model, in the order `build` adds them."""
