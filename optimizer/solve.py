"""`solve(portfolio, settings) -> Plan`: the public entry point of the solver core.

A solve is lexicographic (docs/design.md, section 4.4): first the most outcome
value, proven or with its gap, then, with that value held, the least money
allocated. Value and money are never weighed in one objective, so money is
counted in the portfolio's own exact unit and a proven optimum is the exact one.

Every solve has a floor: before searching it prices the plans it was given or
can build at once (a warm start such as a scenario's base plan, the WSJF
ranking's plan), and it never returns a plan worth less than the best of them
that keeps every rule. Whatever chose the starts (CP-SAT, CBC, a floor), the
money of the plan is priced exactly by `optimizer.greedy.replay`: the least
allocations and purchases that pay for those starts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from ortools.sat.python import cp_model

from models.checks import PortfolioError, check_solvable
from models.plan import Explanation, Floor, Plan, SolverInfo, SolverStatus
from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer import stopping
from optimizer.backends import cpsat_solver, solve_stoppable
from optimizer.cbc import build_time_s as cbc_build_time_s
from optimizer.cbc import solve_cbc, solve_cbc_for_plans, solve_cbc_plain
from optimizer.core import core, relaxation
from optimizer.explain import binding_constraints, not_selected_reasons
from optimizer.formulation import Formulation, build, least_money_at
from optimizer.greedy import GreedyState, complete, greedy_plan, replay
from optimizer.infeasibility import explain_infeasibility, precheck
from optimizer.instance import Instance, build_instance
from optimizer.report import Solution, assemble_plan, baseline, value_split
from optimizer.scip import solve_scip
from optimizer.uncertain.solve import solve_uncertain
from optimizer.validator import validate
from optimizer.what_it_takes import SHARE as WHAT_IT_TAKES_SHARE
from optimizer.what_it_takes import Known, needs

log = logging.getLogger("vmo.solver")

FloorSource = Literal["warm_start", "ranking"]
SECOND_GOAL_SHARE = 0.05  # of the time limit, kept for goal 2 when goal 1 uses all of its time
RESERVE_SHARE = 0.5  # of the time limit, at most, kept for the work after the search
MIP_ALONE_STARTS = 1000  # with one thread, the `auto` backend runs CBC alone above this many start variables
MIP_RACE_STARTS = 1000  # with two threads or more, SCIP takes CP-SAT's place in the race above this many
# Knapsack-shaped models with more start variables than the smaller core, two threads or more, and at least
# CORE_MIN_S of search go to core problems first (`_cores_then_full`), for CORE_SHARE of the search time but
# at most CORE_MAX_S, and never leaving the full model less than CORE_FULL_MIN_S: with a long limit most of
# the time goes to the full model, where proofs come from.
CBC_CORE_STARTS = 100
CPSAT_CORE_STARTS = 50
CORE_SHARE = 0.85
CORE_MIN_S = 4.0  # besides the time to build CBC's model
CORE_MAX_S = 20.0
CORE_FULL_MIN_S = 1.5  # besides the time to build CBC's model: for the full model's search after the cores


class InvalidPlanError(RuntimeError):
    """The independent validator rejected a plan: a bug in the optimizer, never the user's input."""


@dataclass(frozen=True)
class Candidate:
    """A complete plan in solver terms: starts and the least money that pays for them, with its value."""

    state: GreedyState
    value: Decimal  # exact outcome value on the portfolio
    units: int  # the same value as the model counts it (money units)


@dataclass(frozen=True)
class Search:
    """What one solver run found: starts (MMP index -> quarter) and, in the model's sense, a bound."""

    status: str  # optimal, feasible, infeasible, no_solution_in_time
    starts: dict[int, int] | None = None
    bound: int | None = None  # upper bound on the value (goal 1) in money units
    floating: bool = False  # found by a floating-point MIP solver (CBC, SCIP), whose verdicts can be wrong


@dataclass
class Outcome:
    """What the chosen backend found, in portfolio terms."""

    status: SolverStatus
    solution: Solution | None = None
    bound: Decimal | None = None  # proven upper bound on the objective, when known
    note: str | None = None  # why no plan came back, when the backend can say
    ranked: Solution | None = None  # the WSJF ranking's plan, which the returned plan is compared with
    least_money: bool | None = None
    floor: Floor | None = None
    units: int | None = None  # the plan's value as the model counts it (money units)
    bound_units: int | None = None  # the bound in money units, when known and exact


def solve(
    portfolio: Portfolio, settings: SolverSettings | None = None, warm_start: dict[str, str] | None = None
) -> Plan:
    """Find the best funding plan for a checked portfolio within `settings.time_limit_s` (building the
    model counts against it).

    `warm_start` (MMP id -> start quarter: a scenario's base plan, the current plan) seeds the search
    and, when it keeps every rule of this portfolio, is a floor: the plan returned is worth at least as
    much. It never changes which plan is optimal.

    Returns a plan whose status is `optimal` (the value is proven), `feasible` (time ran out, or a
    heuristic backend; the gap says how far from proven), `infeasible` (with the rules that cannot hold
    together) or `no_solution_in_time`.
    """
    settings = settings or SolverSettings()
    started = time.monotonic()
    problems = check_solvable(portfolio, settings)
    if problems:  # amounts the solver cannot count exactly at this money resolution
        raise PortfolioError(problems)
    if portfolio.uncertain:  # scored over scenarios (docs/design.md, section 4.7)
        plan = solve_uncertain(portfolio, settings, warm_start, started)
        _check(portfolio, plan)
        return plan
    inst = build_instance(portfolio, settings.money_resolution)

    def time_left() -> float:
        return settings.time_limit_s - (time.monotonic() - started)

    def info(outcome: Outcome | None = None) -> SolverInfo:
        return SolverInfo(
            backend=settings.backend,
            time_s=round(time.monotonic() - started, 4),
            time_limit_s=settings.time_limit_s,
            seed=settings.seed,
            relative_gap=settings.relative_gap,
            workers=settings.workers,
            money_resolution=inst.money_resolution,
            exact=inst.exact,
            least_money=outcome.least_money if outcome else None,
            floor=outcome.floor if outcome else None,
            what_it_takes=settings.what_it_takes,
        )

    reasons = precheck(portfolio)
    if reasons:
        return Plan(status=SolverStatus.INFEASIBLE, solver=info(), explanation=Explanation(infeasibility=reasons))
    outcome = _run_backend(portfolio, inst, settings, time_left, warm_start)
    if outcome.status == SolverStatus.INFEASIBLE:
        reasons = explain_infeasibility(portfolio, inst, settings, time_left())
        return Plan(status=SolverStatus.INFEASIBLE, solver=info(), explanation=Explanation(infeasibility=reasons))
    if outcome.solution is None:
        notes = [outcome.note] if outcome.note else []
        return Plan(
            status=SolverStatus.NO_SOLUTION_IN_TIME, solver=info(), explanation=Explanation(infeasibility=notes)
        )
    plan = assemble_plan(portfolio, outcome.solution, outcome.status, outcome.bound, info())
    plan.not_selected = not_selected_reasons(portfolio, plan)
    plan.explanation = Explanation(binding=binding_constraints(portfolio, plan))
    if settings.backend != "wsjf-greedy":  # what the optimizer adds over the ranking
        plan.baseline = baseline(portfolio, plan, outcome.ranked.starts if outcome.ranked else None)
    if _what_it_takes(portfolio, settings, inst) and outcome.units is not None:
        # What the search left, at most their share of the limit, never past the reserve for the validation.
        share = time.monotonic() + WHAT_IT_TAKES_SHARE * settings.time_limit_s
        _add_needs(
            portfolio,
            inst,
            plan,
            outcome,
            settings,
            min(share, started + settings.time_limit_s - _reserve(inst, settings)),
        )
    plan.solver = info(outcome)
    _check(portfolio, plan)
    return plan


def _what_it_takes(p: Portfolio, settings: SolverSettings, inst: Instance) -> bool:
    """Whether the solve works out what it would take to fund each MMP left out (docs/design.md, section 5.10):
    asked for, an optimizing backend, a model that counts the portfolio exactly, and a plan from the first
    quarter (its re-solves do not yet model in-flight stops and salvage: a re-plan mid-year leaves `needs` null)."""
    mid_year = p.first_planned > 0 or any(m.started or m.done for m in p.mmps)
    return settings.what_it_takes and settings.backend != "wsjf-greedy" and inst.exact and not mid_year


def _reserve(inst: Instance, settings: SolverSettings) -> float:
    """Time kept for the work after the search: reasons, explanation and validation, and what a search on a
    large model overruns its own limit by (CP-SAT loading it). It grows with the MMPs: 0.6 ms each (with 0.4 ms,
    5,000 x 8 x 200 overran a 30 s limit by 0.2 to 0.6 s); up to half the limit, so a large portfolio under a
    short limit still holds it."""
    return min(RESERVE_SHARE * settings.time_limit_s, 0.05 + 0.0006 * len(inst.mmps))


def _add_needs(
    portfolio: Portfolio, inst: Instance, plan: Plan, outcome: Outcome, settings: SolverSettings, deadline: float
) -> None:
    """Fill `needs` of every unfunded MMP with re-solves that end by `deadline`."""
    assert outcome.units is not None and outcome.solution is not None
    index = {m.id: i for i, m in enumerate(inst.mmps)}
    starts = {index[m]: q for m, q in outcome.solution.starts.items()}
    # The plan's exact value in whole units, rounded up: key-result credit the model counts rounded down must
    # not let a plan found for an MMP fall below this plan by a fraction of a unit.
    value = math.ceil(plan.objective / inst.money_resolution) if plan.objective is not None else outcome.units
    bound = value if plan.status == SolverStatus.OPTIMAL else outcome.bound_units
    found = needs(
        portfolio, inst, Known(starts, value, None if bound is None else max(bound, value)), settings, deadline
    )
    for row in plan.not_selected:
        row.needs = found.get(row.mmp)


# ---------------------------------------------------------------- choosing the plan


def _run_backend(
    portfolio: Portfolio,
    inst: Instance,
    settings: SolverSettings,
    time_left: Callable[[], float],
    warm_start: dict[str, str] | None,
) -> Outcome:
    """The floors first (the warm start and the ranking's plan, priced exactly), then goal 1 on the chosen
    backend, then goal 2 with the value held; the best plan of all comes back."""
    # The ranking may use a quarter of the time limit; solvers get the rest.
    ranked = _candidate(portfolio, inst, greedy_plan(inst, time.monotonic() + settings.time_limit_s / 4))
    if settings.backend == "wsjf-greedy":
        return _ranking_outcome(inst, ranked)
    # An empty warm start is a plan too (fund nothing): only None means none was given.
    warm = _candidate(portfolio, inst, replay(inst, _indexed(inst, warm_start))) if warm_start is not None else None
    sources: tuple[tuple[Candidate | None, FloorSource], ...] = ((warm, "warm_start"), (ranked, "ranking"))
    floors = [(c, s) for c, s in sources if c is not None]
    floor, source = max(floors, key=lambda f: f[0].value) if floors else (None, None)  # the warm start wins ties
    # Keep time for goal 2, and for reasons, explanation and validation, so the whole solve honours the limit.
    reserve = _reserve(inst, settings)
    second = SECOND_GOAL_SHARE * settings.time_limit_s if _has_money(inst) else 0.0
    f = build(inst)
    search = _first_goal(f, settings, time_left() - reserve - second, _hint(f, warm, warm_start))
    if search.status == "infeasible":
        if floor is None:
            return Outcome(SolverStatus.INFEASIBLE)
        # A floor keeps every rule (the validator checks it): the verdict is on rounded amounts, or wrong.
        search = _search_again(search, f, settings, time_left() - reserve - second, _full_hint(f, floor.state))
    found = _candidate(portfolio, inst, replay(inst, search.starts)) if search.starts is not None else None
    best = max((c for c in (found, floor) if c is not None), key=lambda c: c.value, default=None)
    if best is None:
        note = "stopped" if stopping.requested() else "no plan that meets every constraint was found in time"
        return Outcome(SolverStatus.NO_SOLUTION_IN_TIME, note=note, ranked=_solution(inst, ranked))
    bound_units = search.bound
    if bound_units is None and search.status == "optimal" and found is not None:
        bound_units = found.units  # a MIP solver that proved its plan optimal logs no separate bound
    if search.floating and bound_units is not None and best.units > bound_units:
        # A plan in hand is worth more than a floating-point solver's bound: the bound is wrong and proves
        # nothing (CBC 2.10 with two threads once called a plan optimal 0.02 % below a validated one).
        log.warning("the solver's bound %s is below a known plan (%s): not a proof", bound_units, best.units)
        bound_units = None
    # A bound holds for the model the solver saw; with rounded amounts that is not the portfolio: no bound.
    bound = None if bound_units is None or not inst.exact else _money(inst, bound_units)
    proven = search.status == "optimal" and inst.exact and bound is not None and best.value >= bound
    cheaper, least = _second_goal(f, settings, best, time_left() - reserve, portfolio)
    floor_info = Floor(source=source, value=floor.value) if floor is not None and source is not None else None
    return Outcome(
        SolverStatus.OPTIMAL if proven else SolverStatus.FEASIBLE,
        _solution(inst, cheaper),
        bound,
        ranked=_solution(inst, ranked),
        least_money=least,
        floor=floor_info,
        units=cheaper.units,
        bound_units=None if bound is None else bound_units,
    )


def _first_goal(f: Formulation, settings: SolverSettings, time_s: float, hint: dict[int, int]) -> Search:
    """Goal 1, the most value, on the chosen backend."""
    if stopping.requested():  # the job was cancelled: a floor is the answer
        return Search("no_solution_in_time")
    if time_s <= 0:  # building the model used the time: a floor is the answer, and the limit holds
        return Search("no_solution_in_time")
    return _search(f, settings, time_s, hint)


def _second_goal(
    f: Formulation, settings: SolverSettings, best: Candidate, time_s: float, portfolio: Portfolio
) -> tuple[Candidate, bool]:
    """Goal 2: with the value of `best` held, the least money. Returns the plan and whether its money is
    proven the least; when the search finds nothing cheaper in time, `best` (priced exactly) stands."""
    if not _has_money(f.inst):
        return best, True  # nothing costs money: every plan allocates none
    if time_s <= 0.01 or stopping.requested():
        return best, False
    least_money_at(f, best.units)
    hint = _full_hint(f, best.state)
    deadline = time.monotonic() + time_s
    search = _search(f, settings, time_s, hint)
    if search.status == "infeasible":  # `best` keeps every rule and meets the value held
        search = _search_again(search, f, settings, deadline - time.monotonic(), hint)
    found = _candidate(portfolio, f.inst, replay(f.inst, search.starts)) if search.starts is not None else None
    if found is None or found.value < best.value or _allocated(found) > _allocated(best):
        return best, False
    return found, search.status == "optimal"


def _search_again(
    verdict: Search, f: Formulation, settings: SolverSettings, time_s: float, hint: dict[int, int]
) -> Search:
    """The backend called a model infeasible that a known plan satisfies. CP-SAT counts exactly: its verdict
    (on rounded amounts) leaves the known plan standing, unproven. A floating-point solver can misjudge:
    CBC's cut generators have (CBC 2.10), so CBC searches again by branch and bound alone; a second such
    verdict, or SCIP's, leaves the known plan standing too."""
    log.warning("the solver reported infeasible, but a valid plan is known")
    if not verdict.floating or settings.backend == "scip" or time_s <= 0.01 or stopping.requested():
        return Search("feasible")
    search = _run_mip(solve_cbc_plain, f, settings, time_s, hint)
    return Search("feasible") if search.status == "infeasible" else search


def _candidate(portfolio: Portfolio, inst: Instance, state: GreedyState | None) -> Candidate | None:
    """A complete plan that keeps every rule, with its value; None for no plan."""
    if state is None or not complete(state):  # the ranking may stop short of a complete plan
        return None
    starts = {inst.mmps[i].id: s for i, s in state.starts.items()}
    split = value_split(portfolio, starts)
    return Candidate(state, split.total, _model_value(inst, state))


def _model_value(inst: Instance, state: GreedyState) -> int:
    """The value of a plan as the model counts it (money units): goal 1's objective at this plan."""
    value = sum(inst.mmps[i].value_at[s] for i, s in state.starts.items())
    for k, (_kid, target, per_unit) in enumerate(inst.key_results):
        reach = sum((inst.mmps[i].contributions.get(k, 0) for i in state.starts), start=0)
        value += math.floor(per_unit * min(target, reach))
    changes = sum(1 for i, q in inst.baseline.items() if state.starts.get(i) != q)
    changes += (
        sum(1 for i in state.starts if i not in inst.baseline and not inst.mmps[i].in_flight) if inst.baseline else 0
    )
    stopped = [m for i, m in enumerate(inst.mmps) if m.in_flight and i not in state.starts]
    changes += sum(
        1 for i, m in enumerate(inst.mmps) if m.in_flight and i not in inst.baseline and i not in state.starts
    )
    value += sum(m.salvage for m in stopped)
    value += sum(g.none_value for g in inst.groups if not any(i in state.starts for i in g.members))
    value += sum(s.value for s in inst.synergies if all(i in state.starts for i in s.members))
    return value - inst.change_penalty * changes


def _allocated(c: Candidate) -> int:
    """Money committed in allocation units: allocations plus shared purchases (goal 2's objective)."""
    inst = c.state.inst
    return sum(map(sum, c.state.alloc)) + inst.allocation_scale * sum(c.state.shared)


def _has_money(inst: Instance) -> bool:
    """Whether any plan allocates money at all (a pure capacity problem allocates none)."""
    costs = any(m.total_cost for m in inst.mmps) or any(p.extra_cost and any(p.extra_capacity) for p in inst.pools)
    return costs or any(any(vs.run_cost) or any(vs.min_budget) for vs in inst.streams)


def _ranking_outcome(inst: Instance, ranked: Candidate | None) -> Outcome:
    """The WSJF ranking baseline as the answer: a feasible plan, never a proven one."""
    if ranked is None:
        note = "the WSJF ranking found no plan that meets every constraint"
        return Outcome(SolverStatus.NO_SOLUTION_IN_TIME, note=note)
    return Outcome(SolverStatus.FEASIBLE, _solution(inst, ranked), least_money=False)


def _solution(inst: Instance, c: Candidate | None) -> Solution | None:
    return None if c is None else solution_of(inst, c.state)


def solution_of(inst: Instance, state: GreedyState) -> Solution:
    """A plan's starts, allocations and purchases in currency."""
    return Solution(
        starts={inst.mmps[i].id: s for i, s in state.starts.items()},
        allocated={
            (vs.id, q): state.alloc[v][q] * inst.money_resolution / inst.allocation_scale
            for v, vs in enumerate(inst.streams)
            for q in range(inst.horizon)
        },
        purchased={
            (pool.id, q): state.bought[p][q] * inst.capacity_resolution
            for p, pool in enumerate(inst.pools)
            for q in range(inst.horizon)
            if state.bought[p][q]
        },
    )


def _money(inst: Instance, units: int) -> Decimal:
    return Decimal(units) * inst.money_resolution


# ---------------------------------------------------------------- warm starts and hints


def _indexed(inst: Instance, starts: dict[str, str]) -> dict[int, int]:
    """A plan given by ids, by instance indices; MMPs and quarters the portfolio does not have are dropped."""
    index = {m.id: i for i, m in enumerate(inst.mmps)}
    quarter = {label: q for q, label in enumerate(inst.quarters)}
    return {index[m]: quarter[q] for m, q in starts.items() if m in index and q in quarter}


def _hint(f: Formulation, warm: Candidate | None, warm_start: dict[str, str] | None) -> dict[int, int]:
    """Goal 1's hint: the whole warm start when it keeps every rule, else the starts it names. Not the
    ranking's plan: measured on 2,000-MMP portfolios, it pulls CP-SAT's search toward the ranking and
    ends with wider gaps (the ranking's plan is a floor instead)."""
    if warm is not None:
        return _full_hint(f, warm.state)
    if not warm_start:
        return {}
    chosen = set(_indexed(f.inst, warm_start).items())
    return {var.index: int(key in chosen) for key, var in f.x.items()}


def _full_hint(f: Formulation, state: GreedyState) -> dict[int, int]:
    """Every model variable as in a complete plan: starts, allocations, purchases, key-result credit."""
    inst = f.inst
    hint = {var.index: int(state.starts.get(i) == s) for (i, s), var in f.x.items()}
    hint |= {var.index: state.alloc[v][q] for (v, q), var in f.b.items()}
    hint |= {var.index: state.bought[p][q] for (p, q), var in f.e.items()}
    for k, var in f.w.items():
        _kid, target, per_unit = inst.key_results[k]
        reach = sum((inst.mmps[i].contributions.get(k, 0) for i in state.starts), start=0)
        hint[var.index] = math.floor(per_unit * min(target, reach))
        hint[f.reach[k].index] = int(f.reach_steps[k] * min(target, reach))
    for g, var in f.none.items():
        hint[var.index] = int(not any(i in state.starts for i in inst.groups[g].members))
    for s, var in f.synergy.items():
        hint[var.index] = int(all(i in state.starts for i in inst.synergies[s].members))
    return hint


# ---------------------------------------------------------------- backends


def _run_cpsat(
    f: Formulation,
    settings: SolverSettings,
    time_s: float,
    hint: dict[int, int] | None,
    signal: stopping.Signal | None = None,
    free: int | None = None,
) -> Search:
    """One CP-SAT run on the formulation's current objective; the starts of its best plan and its bound.
    `hint` None keeps the hints the model has; `free`: how many start variables are left to choose (all)."""
    if hint is not None:
        _set_hints(f, hint)
    solver = cpsat_solver(settings, time_s, starts=len(f.x) if free is None else free)
    status = solve_stoppable(solver, f.model, signal)
    if status == cp_model.INFEASIBLE:
        return Search("infeasible")
    if status == cp_model.MODEL_INVALID:  # a bug in the formulation, never the user's input
        raise RuntimeError(f"invalid CP-SAT model: {f.model.validate()}")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Search("no_solution_in_time")
    starts = {i: s for (i, s), var in f.x.items() if solver.value(var)}
    # The objective is integral and CP-SAT reports its bound exactly (as a float holding an integer).
    bound = round(solver.best_objective_bound) if f.model.proto.objective.scaling_factor < 0 else None
    return Search("optimal" if status == cp_model.OPTIMAL else "feasible", starts, bound)


def _set_hints(f: Formulation, hint: dict[int, int]) -> None:
    """Hint CP-SAT with `hint` (model variable index -> value), and nothing else."""
    f.model.clear_hints()
    variables = (*f.x.values(), *f.b.values(), *f.e.values(), *f.w.values(), *f.reach.values(), *f.none.values(),
                 *f.synergy.values())  # fmt: skip
    by_index = {var.index: var for var in variables}
    for index, value in hint.items():
        f.model.add_hint(by_index[index], value)


def _search(f: Formulation, settings: SolverSettings, time_s: float, hint: dict[int, int]) -> Search:
    """One run of the chosen backend on the formulation's current objective."""
    if settings.backend == "cbc":
        return _run_mip(solve_cbc, f, settings, time_s, hint)
    if settings.backend == "scip":
        return _run_mip(solve_scip, f, settings, time_s, hint)
    if settings.backend == "auto":
        return _auto(f, settings, time_s, hint)
    return _run_cpsat(f, settings, time_s, hint)


def _auto(f: Formulation, settings: SolverSettings, time_s: float, hint: dict[int, int]) -> Search:
    """The default backend, by model class (measured with bench/): a pure selection knapsack (one quarter,
    no money) goes to CBC on every thread, whose cover cuts close it soonest, or with two threads and the
    time for it, to core problems first; otherwise CP-SAT races CBC when there are two threads or more, and
    with one thread CP-SAT alone, or CBC alone on large models. CP-SAT runs alone, on every thread, when
    building CBC's model would take longer than the time left."""
    inst = f.inst
    cbc_fits = time_s >= cbc_build_time_s(f)
    if inst.horizon == 1 and not _has_money(inst) and cbc_fits:
        if settings.workers >= 2 and len(f.x) > CPSAT_CORE_STARTS and time_s >= CORE_MIN_S + cbc_build_time_s(f):
            return _cores_then_full(f, settings, time_s, hint)
        return _run_mip(solve_cbc, f, settings, time_s, hint)
    if settings.workers >= 2 and cbc_fits:
        return _race(f, settings, time_s, hint)
    if len(f.x) > MIP_ALONE_STARTS and cbc_fits:
        return _run_mip(solve_cbc, f, settings, time_s, hint)
    return _run_cpsat(f, settings, time_s, hint)


def _cores_then_full(f: Formulation, settings: SolverSettings, time_s: float, hint: dict[int, int]) -> Search:
    """A knapsack too large to close within the limit: two core problems (`optimizer.core`) side by side,
    CBC on the larger and CP-SAT on the smaller, one thread each, CBC looking for plans before a proof
    (`solve_cbc_for_plans`), then CBC over the full model on every thread, warm-started from the better core
    plan, for a bound (and a proof, given the time). When the larger core is the whole model, CBC's side is
    that full search and has all the time. Measured with `python -m bench mkp`:
    within 10 s the cores find better plans than CBC or CP-SAT on the whole model with every thread."""
    deadline = time.monotonic() + time_s
    lp = relaxation(f)
    if lp is None:
        return _run_mip(solve_cbc, f, settings, deadline - time.monotonic(), hint)
    one = settings.model_copy(update={"workers": 1})
    larger, smaller = core(f, lp, CBC_CORE_STARTS), core(f, lp, CPSAT_CORE_STARTS)
    whole = larger.free == len(f.x)
    left = deadline - time.monotonic()
    kept = CORE_FULL_MIN_S + cbc_build_time_s(f)  # for the full model's search after the cores
    share = left if whole else max(0.0, min(CORE_SHARE * left, CORE_MAX_S, left - kept))

    def cbc(signal: stopping.Signal) -> Search:
        if whole:
            return _run_mip(solve_cbc_for_plans, f, one, share, hint, signal)
        return _plan_only(_run_mip(solve_cbc_for_plans, larger.formulation, one, share, {}, signal), lp.bound)

    def cpsat(signal: stopping.Signal) -> Search:
        return _plan_only(_run_cpsat(smaller.formulation, one, share, None, signal, smaller.free), lp.bound)

    found = stopping.race(
        {"cbc": cbc, "cp-sat core": cpsat},
        won=lambda search: search.status == "optimal",  # only a search of the whole model proves anything
        failed=Search("no_solution_in_time"),
    )
    best = _best_of(f.inst, found["cp-sat core"], found["cbc"])
    if whole:
        return _verdict_kept(best, found["cbc"])
    if stopping.requested():
        return best
    state = replay(f.inst, best.starts) if best.starts is not None else None
    full_hint = _full_hint(f, state) if state is not None and complete(state) else hint
    full = _run_mip(solve_cbc, f, settings, deadline - time.monotonic(), full_hint)
    return _verdict_kept(_best_of(f.inst, best, full), full)


def _plan_only(search: Search, bound: int | None) -> Search:
    """A core search's plan, with the full model's LP bound: neither its bound nor its verdict hold beyond the core."""
    if search.starts is None:
        return Search("no_solution_in_time")
    return Search("feasible", search.starts, bound)


def _verdict_kept(combined: Search, full: Search) -> Search:
    """With no plan from anywhere, the full model's verdict of infeasibility stands (floating: the caller
    checks it against the floors, as for CBC alone)."""
    return full if combined.starts is None and full.status == "infeasible" else combined


def _race(f: Formulation, settings: SolverSettings, time_s: float, hint: dict[int, int]) -> Search:
    """CP-SAT on every thread but one beside CBC on the last: CP-SAT proves small and medium portfolios
    soonest, CBC's cuts close large ones and knapsack-like ones. Above MIP_RACE_STARTS start variables SCIP
    takes CP-SAT's place on one thread and CBC has the rest (`_mip_race`). Whichever proves its plan optimal
    stops the other; the better plan and the tighter bound win."""
    if len(f.x) > MIP_RACE_STARTS:
        return _mip_race(f, settings, time_s, hint)
    _set_hints(f, hint)  # before the threads start: from then on the model is only read
    cpsat = settings.model_copy(update={"workers": settings.workers - 1})
    cbc = settings.model_copy(update={"workers": 1})
    found = _until_a_proof(
        {
            "cp-sat": lambda signal: _run_cpsat(f, cpsat, time_s, None, signal),
            "cbc": lambda signal: _run_mip(solve_cbc, f, cbc, time_s, hint, signal),
        }
    )
    return _best_of(f.inst, found["cp-sat"], found["cbc"])


def _mip_race(f: Formulation, settings: SolverSettings, time_s: float, hint: dict[int, int]) -> Search:
    """SCIP on one thread beside CBC on the others, for models where one thread of CP-SAT finds the weakest
    plans of the three (on the 2,000 x 4 x 100 portfolio of `python -m bench scale`, 27 s on one thread each:
    1.1 % below the best plan known, against CBC's 0.9 % and SCIP's 0.6 %; at other sizes CBC's plan was the
    better of the two, so they race). Both count in floating point: with no plan from either, CBC's verdict
    of infeasibility stands, as for CBC alone."""
    scip = settings.model_copy(update={"workers": 1})
    cbc = settings.model_copy(update={"workers": settings.workers - 1})
    found = _until_a_proof(
        {
            "scip": lambda signal: _run_mip(solve_scip, f, scip, time_s, hint, signal),
            "cbc": lambda signal: _run_mip(solve_cbc, f, cbc, time_s, hint, signal),
        }
    )
    return _verdict_kept(_best_of(f.inst, found["scip"], found["cbc"]), found["cbc"])


def _until_a_proof(runs: dict[str, Callable[[stopping.Signal], Search]]) -> dict[str, Search]:
    """Run the searches side by side; the first to prove its plan optimal stops the others."""
    return stopping.race(runs, won=lambda search: search.status == "optimal", failed=Search("no_solution_in_time"))


def _best_of(inst: Instance, exact: Search, other: Search) -> Search:
    """One search from a race: the better plan (as the model values it), the tighter bound, and `exact`'s
    verdict of infeasibility (CP-SAT counts exactly; a floating-point solver can misjudge: its verdict does not
    stand against the other's plan, and its bound below the better plan is wrong and is dropped)."""
    if exact.status == "infeasible" and not exact.floating:
        return exact
    valued = []
    for search in (exact, other):
        state = replay(inst, search.starts) if search.starts is not None else None
        if state is not None and complete(state):
            valued.append((_model_value(inst, state), search))
    if not valued:
        return Search("no_solution_in_time")
    value, best = max(valued, key=lambda v: v[0])
    bounds = [(s.bound, s.floating) for s in (exact, other) if s.bound is not None]
    bounds += [(v, s.floating) for v, s in valued if s.status == "optimal" and s.bound is None]
    bounds = [(b, floating) for b, floating in bounds if not (floating and b < value)]  # refuted by a plan in hand
    bound, floating = min(bounds, default=(None, False))
    proven = bound is not None and value >= bound
    return Search("optimal" if proven else "feasible", best.starts, bound, floating)


def _run_mip(
    solve_mip,
    f: Formulation,
    settings: SolverSettings,
    time_s: float,
    hint: dict[int, int],
    signal: stopping.Signal | None = None,
) -> Search:
    """One run of a MIP backend (CBC, SCIP). It counts in floating point: only its starts are used (the
    money is priced exactly afterwards), and its bound is rounded down to whole units."""
    result = solve_mip(f, settings, time_s, hint, signal)
    starts = {i: s for (i, s), var in f.x.items() if result.values.get(var.index)} if result.values else None
    maximizing = f.model.proto.objective.scaling_factor < 0
    bound = None
    if result.bound is not None and maximizing:
        bound = math.floor(result.bound + 1e-9 * max(1.0, abs(result.bound)))
    status = result.status
    if status == "optimal" and settings.relative_gap:  # stopped at the gap, not at a proof
        status = "feasible"
    return Search(status, starts, bound, floating=True)


def _check(portfolio: Portfolio, plan: Plan) -> None:
    """Never hand out a plan the independent validator rejects."""
    violations = validate(portfolio, plan)
    if violations:
        raise InvalidPlanError("; ".join(violations))
