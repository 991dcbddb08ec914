"""The CP-SAT model of DESIGN.md section 4, one business rule per function.

Each `add_*` function adds one rule to a :class:`Formulation`. In *explain* mode
every rule that a portfolio manager could relax is guarded by an assumption
literal, so an infeasible portfolio can be traced to the smallest set of rules
that cannot hold together (see `optimizer.infeasibility`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from optimizer.instance import Instance, lcm_of_denominators


@dataclass(frozen=True)
class Rule:
    """A relaxable business rule: its kind and what it is about (ids / indices)."""

    kind: str  # mandatory, capacity, stream_min, stream_max, total_budget, max_change, ...
    subject: tuple


@dataclass
class Formulation:
    inst: Instance
    explain: bool = False
    model: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    x: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (mmp, start quarter)
    b: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (stream, quarter)
    e: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)  # (pool, quarter)
    w: dict[int, cp_model.IntVar] = field(default_factory=dict)  # key result -> credited money units
    guards: dict[int, Rule] = field(default_factory=dict)  # assumption literal index -> rule
    guard_literals: list[cp_model.IntVar] = field(default_factory=list)

    def y(self, i: int) -> cp_model.LinearExprT:
        """1 when MMP i is selected (started in some quarter)."""
        return sum(self.x[i, s] for s in self.inst.mmps[i].starts)

    def started_by(self, i: int, q: int) -> cp_model.LinearExprT:
        """1 when MMP i starts in quarter q or earlier."""
        return sum(self.x[i, s] for s in self.inst.mmps[i].starts if s <= q)

    def guard(self, ct: cp_model.Constraint, kind: str, *subject) -> None:
        """In explain mode, make `ct` conditional on a fresh assumption literal."""
        if self.explain:
            lit = self.model.new_bool_var(f"{kind}{subject}")
            ct.only_enforce_if(lit)
            self.guards[lit.index] = Rule(kind, subject)
            self.guard_literals.append(lit)


def build(inst: Instance, explain: bool = False) -> Formulation:
    """Build the whole model: variables, every rule, and (unless explaining) the objective."""
    f = Formulation(inst, explain)
    add_variables(f)
    add_mandatory(f)
    add_stream_spend(f)
    add_stream_guardrails(f)
    add_total_budget(f)
    add_max_change(f)
    add_capacity(f)
    add_requires(f)
    add_excludes(f)
    add_investment_guardrails(f)
    add_key_results(f)
    if not explain:
        set_objective(f)
    return f


def add_variables(f: Formulation) -> None:
    """x[i,s] only where MMP i may start; budgets, purchases and key-result credit."""
    inst, m = f.inst, f.model
    for i, mmp in enumerate(inst.mmps):
        for s in mmp.starts:
            f.x[i, s] = m.new_bool_var(f"x[{mmp.id},{inst.quarters[s]}]")
        if len(mmp.starts) > 1:
            m.add_at_most_one(f.x[i, s] for s in mmp.starts)
    ceiling = inst.money_ceiling() * inst.allocation_scale
    for v, vs in enumerate(inst.streams):
        for q in range(inst.horizon):
            f.b[v, q] = m.new_int_var(0, ceiling, f"b[{vs.id},{inst.quarters[q]}]")
    for p, pool in enumerate(inst.pools):
        for q in range(inst.horizon):
            f.e[p, q] = m.new_int_var(0, pool.extra_capacity[q], f"e[{pool.id},{inst.quarters[q]}]")
    for k, (kid, target, per_unit) in enumerate(inst.key_results):
        f.w[k] = m.new_int_var(0, int(target * per_unit), f"w[{kid}]")


def add_mandatory(f: Formulation) -> None:
    """A mandatory MMP is selected (an MMP without a start window cannot be)."""
    for i, mmp in enumerate(f.inst.mmps):
        if mmp.mandatory:
            f.guard(f.model.add(f.y(i) == 1), "mandatory", i)


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


def add_stream_guardrails(f: Formulation) -> None:
    """min_budget <= allocation <= max_budget for every stream and quarter."""
    k = f.inst.allocation_scale
    for v, vs in enumerate(f.inst.streams):
        for q in range(f.inst.horizon):
            if vs.min_budget[q]:
                f.guard(f.model.add(f.b[v, q] >= k * vs.min_budget[q]), "stream_min", v, q)
            if vs.max_budget[q] is not None:
                f.guard(f.model.add(f.b[v, q] <= k * vs.max_budget[q]), "stream_max", v, q)


def shared_purchases(f: Formulation, q: int) -> cp_model.LinearExprT:
    """Money for capacity bought for shared pools in quarter q (paid from the total budget)."""
    return sum(pool.extra_cost * f.e[p, q] for p, pool in enumerate(f.inst.pools) if pool.stream is None)


def add_total_budget(f: Formulation) -> None:
    """Allocations plus shared-pool purchases fit the quarter's total budget."""
    inst = f.inst
    for q in range(inst.horizon):
        allocated = sum(f.b[v, q] for v in range(len(inst.streams)))
        k = inst.allocation_scale
        f.guard(f.model.add(allocated + k * shared_purchases(f, q) <= k * inst.budget[q]), "total_budget", q)


def add_max_change(f: Formulation) -> None:
    """|b[q] - b[q-1]| <= max_change * b[q-1]; the first quarter against baseline_budget."""
    for v, vs in enumerate(f.inst.streams):
        if vs.max_change is None:
            continue
        num, den = vs.max_change.numerator, vs.max_change.denominator
        for q in range(1, f.inst.horizon):
            prev, cur = f.b[v, q - 1], f.b[v, q]
            f.guard(f.model.add(den * cur <= (den + num) * prev), "max_change", v, q)
            f.guard(f.model.add(den * cur >= (den - num) * prev), "max_change", v, q)
        if vs.baseline_budget is not None:
            base = vs.baseline_budget * f.inst.allocation_scale
            lo, hi = base * (1 - vs.max_change), base * (1 + vs.max_change)
            f.guard(f.model.add(f.b[v, 0] <= math.floor(hi)), "max_change", v, 0)
            f.guard(f.model.add(f.b[v, 0] >= math.ceil(lo)), "max_change", v, 0)


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
        f.guard(f.model.add(sum(terms) <= pool.capacity[q] + f.e[p, q]), "capacity", p, q)


def add_requires(f: Formulation) -> None:
    """i may start by q only if j started by q - d_j (so j is finished before i starts)."""
    inst = f.inst
    for i, mmp in enumerate(inst.mmps):
        for j in mmp.requires:
            dj = inst.mmps[j].duration
            for q in mmp.starts:
                f.guard(f.model.add(f.started_by(i, q) <= f.started_by(j, q - dj)), "requires", i, j)


def add_excludes(f: Formulation) -> None:
    """Mutually exclusive alternatives: at most one of the pair is selected."""
    seen = set()
    for i, mmp in enumerate(f.inst.mmps):
        for j in mmp.excludes:
            pair = (min(i, j), max(i, j))
            if pair not in seen:
                seen.add(pair)
                f.guard(f.model.add(f.y(i) + f.y(j) <= 1), "excludes", *pair)


def add_investment_guardrails(f: Formulation) -> None:
    """sum_i ([c_i = c] - share) * C_i * y_i >= 0 (min) and <= 0 (max), scaled to integers."""
    mmps = f.inst.mmps
    for category, lo, hi in f.inst.guardrails:
        for share, sense in ((lo, "min"), (hi, "max")):
            if share is None:
                continue
            num, den = share.numerator, share.denominator
            # Exact costs, not the rounded-up ones: a share compares costs on both sides.
            scale = lcm_of_denominators([m.exact_cost for m in mmps])
            expr = sum(
                int(((den if m.category == category else 0) - num) * m.exact_cost * scale) * f.y(i)
                for i, m in enumerate(mmps)
                if m.exact_cost
            )
            ct = f.model.add(expr >= 0) if sense == "min" else f.model.add(expr <= 0)
            f.guard(ct, f"guardrail_{sense}", category)


def add_key_results(f: Formulation) -> None:
    """Credited key-result value w_k <= value_per_unit * (sum of contributions), capped by target."""
    inst = f.inst
    for k, (_kid, _target, per_unit) in enumerate(inst.key_results):
        coefs = {i: per_unit * m.contributions[k] for i, m in enumerate(inst.mmps) if k in m.contributions}
        scale = lcm_of_denominators(list(coefs.values()))
        f.model.add(scale * f.w[k] <= sum(int(c * scale) * f.y(i) for i, c in coefs.items()))


def value_expression(f: Formulation) -> cp_model.LinearExprT:
    """Objective 1 in money units: MMP value (after cost of delay) + key results - change penalty."""
    inst = f.inst
    value = sum(mmp.value_at[s] * f.x[i, s] for i, mmp in enumerate(inst.mmps) for s in mmp.starts)
    value += sum(f.w.values())
    return value - inst.change_penalty * changes(f)


def changes(f: Formulation) -> cp_model.LinearExprT:
    """MMPs whose selection or start differs from baseline_plan."""
    inst = f.inst
    if not inst.baseline:
        return 0
    count = 0
    for i in range(len(inst.mmps)):
        if i in inst.baseline:
            q = inst.baseline[i]
            count += 1 - (f.x.get((i, q), 0))
        else:
            count += f.y(i)
    return count


def allocation_expression(f: Formulation) -> cp_model.LinearExprT:
    """Money committed, in allocation units: stream allocations plus shared purchases."""
    inst = f.inst
    return sum(f.b.values()) + inst.allocation_scale * sum(shared_purchases(f, q) for q in range(inst.horizon))


def tie_break_weight(inst: Instance) -> int:
    """Weight of one value unit: more than any feasible allocation, so least spend only breaks ties."""
    return inst.allocation_scale * sum(inst.budget) + 1


def set_objective(f: Formulation) -> None:
    f.model.maximize(tie_break_weight(f.inst) * value_expression(f) - allocation_expression(f))
