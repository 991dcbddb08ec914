"""Explain an infeasible portfolio: the smallest set of business rules that cannot hold together.

Cheap pre-checks catch the obvious cases in words before any solver runs. For
the rest, the model is rebuilt with every relaxable rule guarded by an
assumption literal; CP-SAT returns an infeasible subset of assumptions, which
is then shrunk by deletion (drop a rule, re-solve: still infeasible, keep it
out) until every remaining rule is needed.
"""

from __future__ import annotations

import time
from decimal import Decimal

from ortools.sat.python import cp_model

from models.portfolio import Portfolio, per_quarter
from models.settings import SolverSettings
from optimizer.backends import cpsat_solver, solve_stoppable
from optimizer.formulation import Rule, build
from optimizer.instance import Instance, start_window


def precheck(p: Portfolio) -> list[str]:
    """Contradictions visible without a solver: impossible or conflicting mandatory MMPs."""
    mandatory = {m.id: m for m in p.mmps if m.mandatory}
    out = []
    for m in mandatory.values():
        if m.excluded:
            out.append(f"MMP {m.id} is both mandatory and excluded")
        elif not start_window(m, p.quarters):
            out.append(
                f"mandatory MMP {m.id} cannot start and finish inside its window "
                f"(earliest {m.earliest_start or p.quarters[0]}, deadline {m.deadline or p.quarters[-1]}, "
                f"takes {m.duration} quarter(s))"
            )
    pairs = {tuple(sorted((m.id, o))) for m in mandatory.values() for o in m.excludes if o in mandatory}
    out += [f"mandatory MMPs {a} and {b} exclude each other" for a, b in sorted(pairs)]
    return out


def explain_infeasibility(p: Portfolio, inst: Instance, settings: SolverSettings, time_left_s: float) -> list[str]:
    """Sentences naming a minimal set of rules that cannot all hold."""
    deadline = time.monotonic() + max(time_left_s, 0.05)  # the limit holds, explanation included
    f = build(inst, explain=True)
    core = _core(f, list(f.guard_literals), deadline, settings)
    if core is None:
        return ["the rules of this portfolio cannot all hold together (no smaller set was found in time)"]
    rules = [f.guards[lit.index] for lit in core]
    return _describe(p, inst, rules)


def _core(f, literals, deadline: float, settings: SolverSettings) -> list | None:
    """An infeasible set of assumption literals, shrunk by deletion while time allows."""

    def infeasible(lits) -> bool | None:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        f.model.clear_assumptions()
        f.model.add_assumptions(lits)
        status = solve_stoppable(cpsat_solver(settings, left, optimizing=False), f.model)
        if status == cp_model.INFEASIBLE:
            return True
        return False if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None

    f.model.clear_assumptions()
    f.model.add_assumptions(literals)
    solver = cpsat_solver(settings.model_copy(update={"workers": 1}), deadline - time.monotonic(), optimizing=False)
    if solve_stoppable(solver, f.model) != cp_model.INFEASIBLE:
        return None
    indices = set(solver.sufficient_assumptions_for_infeasibility())
    core = [lit for lit in literals if lit.index in indices]
    for lit in list(core):
        trial = [c for c in core if c is not lit]
        if infeasible(trial):
            core = trial
    return core


def _describe(p: Portfolio, inst: Instance, rules: list[Rule]) -> list[str]:
    """Put a core into a portfolio manager's words, tying mandatory MMPs to the resource they overload."""
    mandatory = [inst.mmps[r.subject[0]].id for r in rules if r.kind == "mandatory"]
    sentences = [_sentence(p, inst, r, mandatory) for r in rules if r.kind != "mandatory"]
    if mandatory and not any(str(mandatory) in s or _names(mandatory) in s for s in sentences):
        verb = "cannot all be selected together" if len(sentences) == 0 else "must all be selected"
        if len(mandatory) == 1:
            verb = "must be selected"
        sentences.insert(0, f"mandatory {_names(mandatory)} {verb}")
    return sentences


def _names(mandatory: list[str]) -> str:
    return ("MMP " if len(mandatory) == 1 else "MMPs ") + ", ".join(mandatory)


def _sentence(p: Portfolio, inst: Instance, rule: Rule, mandatory: list[str]) -> str:
    T = inst.horizon
    kind, subject = rule.kind, rule.subject
    if kind == "capacity":
        pool, q = p.pools[subject[0]], subject[1]
        has = per_quarter(pool.capacity, T)[q] + per_quarter(pool.extra_capacity, T)[q]
        need = _fixed_amount(p, mandatory, q, lambda m: m.demand.get(pool.id))
        who = f"mandatory {_names(mandatory)} need {need:,}" if need else "the MMPs that must run need more"
        return f"{who} units of {pool.id} in {p.quarters[q]}; it has {has:,}"
    if kind == "stream_min":
        vs, q = p.value_streams[subject[0]], subject[1]
        return f"value stream {vs.id} must get at least {per_quarter(vs.min_budget, T)[q]:,} in {p.quarters[q]}"
    if kind == "stream_max":
        vs, q = p.value_streams[subject[0]], subject[1]
        run = per_quarter(vs.run_cost, T)[q]
        cost = _fixed_amount(p, mandatory, q, lambda m: m.cost if m.value_stream == vs.id else None)
        who = f"mandatory {_names(mandatory)} cost {cost:,} in {p.quarters[q]} and " if cost else ""
        return (
            f"{who}value stream {vs.id} may get at most {per_quarter(vs.max_budget, T)[q]:,} in {p.quarters[q]} "
            f"(its run cost is {run:,})"
        )
    if kind == "total_budget":
        return _total_budget_sentence(p, subject[0], mandatory)
    if kind == "max_change":
        vs = p.value_streams[subject[0]]
        base = "" if vs.baseline_budget is None else f" (baseline budget {vs.baseline_budget:,})"
        return f"value stream {vs.id}'s budget may change by at most {vs.max_change:.0%} a quarter{base}"
    if kind == "requires":
        dependent, required = p.mmps[subject[0]], p.mmps[subject[1]]
        window = start_window(dependent, p.quarters)
        last = p.quarters[window[-1]] if window else "never"
        return (
            f"{dependent.id} requires {required.id} ({required.duration} quarter(s)) to finish before it starts, "
            f"and {dependent.id} must start by {last}"
        )
    if kind == "excludes":
        return f"{inst.mmps[subject[0]].id} and {inst.mmps[subject[1]].id} exclude each other"
    category = subject[0]
    g = next(g for g in p.investment_guardrails if g.category == category)
    if kind == "guardrail_min":
        return f"{category} must be at least {g.min_share:.0%} of the spend on selected MMPs"
    return f"{category} may be at most {g.max_share:.0%} of the spend on selected MMPs"


def _total_budget_sentence(p: Portfolio, q: int, mandatory: list[str]) -> str:
    """The quarter's budget against the least the value streams must get in it."""
    T = len(p.quarters)
    runs = sum((per_quarter(vs.run_cost, T)[q] for vs in p.value_streams), Decimal(0))
    fixed = _fixed_amount(p, mandatory, q, lambda m: m.cost)
    least = sum(
        (
            max(
                per_quarter(vs.min_budget, T)[q],
                per_quarter(vs.run_cost, T)[q]
                + _fixed_amount(p, mandatory, q, lambda m, v=vs.id: m.cost if m.value_stream == v else None),
            )
            for vs in p.value_streams
        ),
        Decimal(0),
    )
    by_stream = sorted(((per_quarter(vs.run_cost, T)[q], vs.id) for vs in p.value_streams), reverse=True)
    named = ", ".join(f"{sid} {run:,}" for run, sid in by_stream[:3] if run)
    parts = [f"run costs {runs:,}" + (f": {named}" if named else "")]
    if fixed:
        parts.append(f"mandatory {_names(mandatory)} {fixed:,}")
    if least > runs + fixed:
        parts.append("minimum budgets")
    label = p.quarters[q]
    if least <= per_quarter(p.budget, T)[q]:
        return f"the total budget of {label} is {per_quarter(p.budget, T)[q]:,}"
    return (
        f"the total budget of {label} is {per_quarter(p.budget, T)[q]:,} but the value streams need at least "
        f"{least:,} in it ({', '.join(parts)})"
    )


def _fixed_amount(p: Portfolio, mandatory: list[str], q: int, profile_of) -> Decimal:
    """Sum over mandatory MMPs with a single possible start of `profile_of(mmp)` in quarter q."""
    total = Decimal(0)
    for m in p.mmps:
        window = start_window(m, p.quarters)
        profile = profile_of(m)
        if m.id in mandatory and len(window) == 1 and profile is not None and 0 <= q - window[0] < m.duration:
            total += profile[q - window[0]]
    return total
