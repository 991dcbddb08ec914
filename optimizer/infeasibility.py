"""Explain an infeasible portfolio: the smallest set of business rules that cannot hold together.

Cheap pre-checks catch the obvious cases in words before any solver runs. For
the rest, the model is rebuilt with every relaxable rule guarded by an
assumption literal; CP-SAT returns an infeasible subset of assumptions, which
is then shrunk by deletion (drop a rule, re-solve: still infeasible, keep it
out) until every remaining rule is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from ortools.sat.python import cp_model

from models.money import amount_text
from models.money import units_text as _units
from models.portfolio import MMP, InvestmentGuardrail, Portfolio, per_quarter
from models.rules import RuleKind
from models.settings import SolverSettings
from optimizer.backends import cpsat_solver, solve_stoppable
from optimizer.formulation import Rule, build
from optimizer.instance import Instance, start_window


def precheck(p: Portfolio) -> list[str]:
    """Contradictions visible without a solver: impossible or conflicting mandatory MMPs."""
    mandatory = {m.id: m for m in p.mmps if m.mandatory and not m.done}
    out = []
    for m in mandatory.values():
        if m.excluded:
            out.append(f"MMP {m.id} is both mandatory and excluded")
        elif not m.in_flight and not start_window(m, p.quarters, p.first_planned):
            since = f", as of {p.as_of}" if p.first_planned else ""
            out.append(
                f"mandatory MMP {m.id} cannot start and finish inside its window "
                f"(earliest {m.earliest_start or p.quarters[0]}, deadline {m.deadline or p.quarters[-1]}, "
                f"takes {m.duration} quarter(s){since})"
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


@dataclass(frozen=True)
class _Core:
    """What a sentence needs: the portfolio, its instance, and the core's mandatory MMPs and other rules."""

    p: Portfolio
    inst: Instance
    mandatory: list[str]  # ids of the mandatory MMPs in the core
    others: int  # rules in the core that are not mandatory
    in_flight: list[str] = field(default_factory=list)  # ids of the in-flight MMPs the core keeps running
    # (an in-flight MMP that is also mandatory is counted with the mandatory ones)

    def money(self, amount: Decimal) -> str:
        """An amount in a sentence, in the portfolio's currency (the CLI's and the reports' rounding)."""
        return amount_text(amount, self.p.currency)


Sentence = Callable[[_Core, Rule], str]


@dataclass(frozen=True)
class NeverRelaxed:
    """A rule the formulation never guards, so no core names it; `why` says how its conflicts show."""

    why: str


def _describe(p: Portfolio, inst: Instance, rules: list[Rule]) -> list[str]:
    """Put a core into a portfolio manager's words, tying mandatory MMPs to the resource they overload."""
    mandatory = [r for r in rules if r.kind is RuleKind.MANDATORY]
    mandatory_ids = {inst.mmps[int(r.subject[0])].id for r in mandatory}
    flying = [r for r in rules if r.kind is RuleKind.IN_FLIGHT]
    core = _Core(
        p,
        inst,
        [inst.mmps[int(r.subject[0])].id for r in mandatory],
        len(rules) - len(mandatory) - len(flying),
        [i for i in dict.fromkeys(inst.mmps[int(r.subject[0])].id for r in flying) if i not in mandatory_ids],
    )
    grouped = (RuleKind.MANDATORY, RuleKind.IN_FLIGHT)
    sentences = [_say(core, r) for r in rules if r.kind not in grouped]
    for kind, named in ((RuleKind.IN_FLIGHT, core.in_flight), (RuleKind.MANDATORY, core.mandatory)):
        first = next((r for r in rules if r.kind is kind), None)
        if first is not None and not any(_names(named) in s for s in sentences):
            sentences.insert(0, _say(core, first))
    return sentences


def _say(core: _Core, rule: Rule) -> str:
    sentence = SENTENCES[rule.kind]
    if isinstance(sentence, NeverRelaxed):  # a guard the formulation must not have made
        raise RuntimeError(f"rule {rule.kind} is never relaxed, yet a core names it: {sentence.why}")
    return sentence(core, rule)


def _names(mandatory: list[str]) -> str:
    return ("MMP " if len(mandatory) == 1 else "MMPs ") + ", ".join(mandatory)


def _mandatory(core: _Core, _rule: Rule) -> str:
    """The core's mandatory MMPs, named together in one sentence."""
    if len(core.mandatory) == 1:
        verb = "must be selected"
    else:
        verb = "must all be selected" if core.others else "cannot all be selected together"
    return f"mandatory {_names(core.mandatory)} {verb}"


def _in_flight(core: _Core, _rule: Rule) -> str:
    """The core's in-flight MMPs that cannot stop, named together."""
    mmps = {m.id: m for m in core.p.mmps}
    since = ", ".join(f"{i} since {mmps[i].started}" for i in core.in_flight)
    verb = (
        "is in flight and not stoppable: it continues"
        if len(core.in_flight) == 1
        else ("are in flight and not stoppable: they continue")
    )
    return f"in-flight {_names(core.in_flight)} ({since}) {verb}"


def _excluded(core: _Core, rule: Rule) -> str:
    return f"MMP {core.inst.mmps[int(rule.subject[0])].id} is excluded by the user"


def _capacity(core: _Core, rule: Rule) -> str:
    p, T = core.p, core.inst.horizon
    pool, q = p.pools[int(rule.subject[0])], int(rule.subject[1])
    has = per_quarter(pool.capacity, T)[q] + per_quarter(pool.extra_capacity, T)[q]
    need = _fixed_amount(p, core.mandatory, q, lambda m: m.demand.get(pool.id))
    flying = _fixed_amount(p, core.in_flight, q, lambda m: m.demand.get(pool.id))
    verb = "needs" if len(core.mandatory) == 1 else "need"
    if flying:
        text = f"in-flight {_names(core.in_flight)} already need {_units(flying)} of {_units(has)} units of {pool.id}"
        text += f" in {p.quarters[q]}"
        return text + (f"; mandatory {_names(core.mandatory)} {verb} {_units(need)} more" if need else "")
    where = f"{pool.id} in {p.quarters[q]}"
    if need and need > has:
        return f"mandatory {_names(core.mandatory)} {verb} {_units(need)} units of {where}; it has {_units(has)}"
    # What the mandatory work needs fits alone: with the rest of the conflict it does not.
    alone = f" (mandatory {_names(core.mandatory)} {verb} {_units(need)} of them)" if need else ""
    return f"the MMPs that must run need more units of {where}{alone}; it has {_units(has)}"


def _stream_min(core: _Core, rule: Rule) -> str:
    p = core.p
    vs, q = p.value_streams[int(rule.subject[0])], int(rule.subject[1])
    low = per_quarter(vs.min_budget, core.inst.horizon)[q]
    return f"value stream {vs.id} must get at least {core.money(low)} in {p.quarters[q]}"


def _stream_max(core: _Core, rule: Rule) -> str:
    p, T = core.p, core.inst.horizon
    vs, q = p.value_streams[int(rule.subject[0])], int(rule.subject[1])
    run = per_quarter(vs.run_cost, T)[q]
    cost = _fixed_amount(p, core.mandatory, q, _cost_in(vs.id))
    flying = _fixed_amount(p, core.in_flight, q, _cost_in(vs.id))
    who = f"mandatory {_names(core.mandatory)} cost {core.money(cost)} in {p.quarters[q]} and " if cost else ""
    who = (
        f"in-flight {_names(core.in_flight)} still cost {core.money(flying)} in {p.quarters[q]} and {who}"
        if flying
        else who
    )
    high = per_quarter(vs.max_budget, T)[q]
    most = "no limit" if high is None else core.money(high)
    return f"{who}value stream {vs.id} may get at most {most} in {p.quarters[q]} (its run cost is {core.money(run)})"


def _max_change(core: _Core, rule: Rule) -> str:
    vs = core.p.value_streams[int(rule.subject[0])]
    base = "" if vs.baseline_budget is None else f" (baseline budget {core.money(vs.baseline_budget)})"
    return f"value stream {vs.id}'s budget may change by at most {vs.max_change:.0%} a quarter{base}"


def _requires(core: _Core, rule: Rule) -> str:
    p = core.p
    dependent, required = p.mmps[int(rule.subject[0])], p.mmps[int(rule.subject[1])]
    window = start_window(dependent, p.quarters)
    last = p.quarters[window[-1]] if window else "never"
    return (
        f"{dependent.id} requires {required.id} ({required.duration} quarter(s)) to finish before it starts, "
        f"and {dependent.id} must start by {last}"
    )


def _excludes(core: _Core, rule: Rule) -> str:
    mmps = core.inst.mmps
    return f"{mmps[int(rule.subject[0])].id} and {mmps[int(rule.subject[1])].id} exclude each other"


def _group_min(core: _Core, rule: Rule) -> str:
    g = core.p.groups[int(rule.subject[0])]
    return f"group {g.id} must fund at least {g.min} of {', '.join(dict.fromkeys(g.mmps))}"


def _group_max(core: _Core, rule: Rule) -> str:
    g = core.p.groups[int(rule.subject[0])]
    return f"group {g.id} may fund at most {g.max} of {', '.join(dict.fromkeys(g.mmps))}"


def _together(core: _Core, rule: Rule) -> str:
    members = core.p.together[int(rule.subject[0])]
    return f"{', '.join(members)} are funded all or none"


def _requires_any(core: _Core, rule: Rule) -> str:
    m = core.p.mmps[int(rule.subject[0])]
    return f"{m.id} requires one of {', '.join(m.requires_any)} to finish before it starts"


def _guardrail_min(core: _Core, rule: Rule) -> str:
    g = _guardrail(core.p, str(rule.subject[0]))
    return f"{g.category} must be at least {g.min_share:.0%} of the spend on selected MMPs"


def _guardrail_max(core: _Core, rule: Rule) -> str:
    g = _guardrail(core.p, str(rule.subject[0]))
    return f"{g.category} may be at most {g.max_share:.0%} of the spend on selected MMPs"


def _guardrail(p: Portfolio, category: str) -> InvestmentGuardrail:
    return next(g for g in p.investment_guardrails if g.category == category)


def _total_budget(core: _Core, rule: Rule) -> str:
    """The quarter's budget against the least the value streams must get in it."""
    p, mandatory, q = core.p, core.mandatory, int(rule.subject[0])
    T = len(p.quarters)
    runs = sum((per_quarter(vs.run_cost, T)[q] for vs in p.value_streams), Decimal(0))
    fixed = _fixed_amount(p, mandatory, q, lambda m: m.cost)
    flying = _fixed_amount(p, core.in_flight, q, lambda m: m.cost)
    committed = mandatory + core.in_flight
    least = sum(
        (
            max(
                per_quarter(vs.min_budget, T)[q],
                per_quarter(vs.run_cost, T)[q] + _fixed_amount(p, committed, q, _cost_in(vs.id)),
            )
            for vs in p.value_streams
        ),
        Decimal(0),
    )
    by_stream = sorted(((per_quarter(vs.run_cost, T)[q], vs.id) for vs in p.value_streams), reverse=True)
    named = ", ".join(f"{sid} {core.money(run)}" for run, sid in by_stream[:3] if run)
    parts = [f"run costs {core.money(runs)}" + (f": {named}" if named else "")]
    if fixed:
        parts.append(f"mandatory {_names(mandatory)} {core.money(fixed)}")
    if flying:
        parts.append(f"in-flight {_names(core.in_flight)} {core.money(flying)}")
    if least > runs + fixed + flying:
        parts.append("minimum budgets")
    label, budget = p.quarters[q], per_quarter(p.budget, T)[q]
    if least <= budget:
        return f"the total budget of {label} is {core.money(budget)}"
    return (
        f"the total budget of {label} is {core.money(budget)} but the value streams need at least "
        f"{core.money(least)} in it ({', '.join(parts)})"
    )


def _cost_in(stream: str) -> Callable[[MMP], list[Decimal] | None]:
    """The cost profile of an MMP of `stream` (None for the other streams' MMPs)."""
    return lambda m: m.cost if m.value_stream == stream else None


def _fixed_amount(
    p: Portfolio, mandatory: list[str], q: int, profile_of: Callable[[MMP], list[Decimal] | None]
) -> Decimal:
    """Sum over mandatory MMPs with a single possible start of `profile_of(mmp)` in quarter q."""
    total = Decimal(0)
    as_of = p.first_planned
    for m in p.mmps:
        window = [p.quarters.index(m.started)] if m.in_flight and m.started else start_window(m, p.quarters, as_of)
        profile = profile_of(m)
        if (
            m.id in mandatory
            and len(window) == 1
            and profile is not None
            and 0 <= q - window[0] < m.duration
            and q >= as_of
        ):
            total += profile[q - window[0]]
    return total


SENTENCES: dict[RuleKind, Sentence | NeverRelaxed] = {
    RuleKind.START_WINDOW: NeverRelaxed(
        "the window is the range of the start variables, not a guarded constraint: a mandatory MMP that "
        "cannot start in it is named by precheck, and the requires sentence names the last quarter it allows"
    ),
    RuleKind.MANDATORY: _mandatory,
    RuleKind.EXCLUDED: _excluded,
    RuleKind.STREAM_SPEND: NeverRelaxed(
        "an allocation covers its stream's spend by definition; a core names the limit the allocation "
        "cannot rise past instead (max budget, max_change or total budget)"
    ),
    RuleKind.STREAM_MIN: _stream_min,
    RuleKind.STREAM_MAX: _stream_max,
    RuleKind.TOTAL_BUDGET: _total_budget,
    RuleKind.MAX_CHANGE: _max_change,
    RuleKind.CAPACITY: _capacity,
    RuleKind.REQUIRES: _requires,
    RuleKind.EXCLUDES: _excludes,
    RuleKind.GUARDRAIL_MIN: _guardrail_min,
    RuleKind.GUARDRAIL_MAX: _guardrail_max,
    RuleKind.KEY_RESULT: NeverRelaxed("credit is capped, never required: it can always be zero"),
    RuleKind.GROUP_MIN: _group_min,
    RuleKind.GROUP_MAX: _group_max,
    RuleKind.TOGETHER: _together,
    RuleKind.REQUIRES_ANY: _requires_any,
    RuleKind.AS_OF: NeverRelaxed(
        "history is not a choice: no start variable exists before as_of, and history quarters only fix "
        "allocations at zero, which no other rule can need to change"
    ),
    RuleKind.IN_FLIGHT: _in_flight,
    RuleKind.DONE: NeverRelaxed(
        "a done MMP's alternatives are kept out like excluded ones; a mandatory alternative of a done MMP shows "
        "as that mandatory MMP in a core"
    ),
}
"""Every rule's sentence for an infeasibility core, or why no core ever names it."""
