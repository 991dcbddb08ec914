"""`solve(portfolio, settings) -> Plan`: the public entry point of the solver core."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from decimal import Decimal

from ortools.sat.python import cp_model

from models.plan import Explanation, Plan, SolverInfo
from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer import stopping
from optimizer.backends import cpsat_solver, solve_stoppable
from optimizer.cbc import solve_cbc
from optimizer.explain import binding_constraints, not_selected_reasons
from optimizer.formulation import Formulation, build, tie_break_weight
from optimizer.greedy import GreedyState, allocations, complete, greedy_plan
from optimizer.infeasibility import explain_infeasibility, precheck
from optimizer.instance import Instance, build_instance
from optimizer.report import Solution, assemble_plan, value_split
from optimizer.validator import validate

log = logging.getLogger("vmo.solver")


class InvalidPlanError(RuntimeError):
    """The independent validator rejected a plan: a bug in the optimizer, never the user's input."""


@dataclass
class Outcome:
    """What a backend found, in portfolio terms."""

    status: str
    solution: Solution | None = None
    bound: Decimal | None = None  # proven upper bound on the objective, when the backend gives one
    note: str | None = None  # why no plan came back, when the backend can say
    ranking: GreedyState | None = None  # the ranking heuristic's state, in solver units (warm start)


def solve(
    portfolio: Portfolio, settings: SolverSettings | None = None, warm_start: dict[str, str] | None = None
) -> Plan:
    """Find the best funding plan for a checked portfolio within `settings.time_limit_s`.

    `warm_start` (MMP id -> start quarter, e.g. the current plan) seeds the solver where the
    backend allows; it never changes which plan is optimal.

    Returns a plan whose status is `optimal`, `feasible` (time ran out, or a
    heuristic backend; the gap says how far from proven), `infeasible` (with the
    rules that cannot hold together) or `no_solution_in_time`.
    """
    settings = settings or SolverSettings()
    started = time.monotonic()
    inst = build_instance(portfolio, settings.money_resolution)

    def time_left() -> float:
        return settings.time_limit_s - (time.monotonic() - started)

    def info() -> SolverInfo:
        return SolverInfo(
            backend=settings.backend,
            time_s=round(time.monotonic() - started, 4),
            time_limit_s=settings.time_limit_s,
            seed=settings.seed,
            relative_gap=settings.relative_gap,
            workers=settings.workers,
            money_resolution=inst.money_resolution,
        )

    reasons = precheck(portfolio)
    if reasons:
        return Plan(status="infeasible", solver=info(), explanation=Explanation(infeasibility=reasons))
    outcome = _run_backend(portfolio, inst, settings, time_left, warm_start or {})
    if outcome.status == "infeasible":
        reasons = explain_infeasibility(portfolio, inst, settings, time_left())
        return Plan(status="infeasible", solver=info(), explanation=Explanation(infeasibility=reasons))
    if outcome.solution is None:
        notes = [outcome.note] if outcome.note else []
        return Plan(status="no_solution_in_time", solver=info(), explanation=Explanation(infeasibility=notes))
    plan = assemble_plan(portfolio, outcome.solution, outcome.status, outcome.bound, info())
    plan.not_selected = not_selected_reasons(portfolio, plan)
    plan.explanation = Explanation(binding=binding_constraints(portfolio, plan))
    plan.solver = info()
    _check(portfolio, plan)
    return plan


def _run_backend(
    portfolio: Portfolio, inst: Instance, settings: SolverSettings, time_left, warm_start: dict[str, str]
) -> Outcome:
    """Run the chosen backend. The ranking heuristic's plan warm-starts CBC and is the safety net of
    both solvers: a solver stopped by the time limit never returns a plan worse than the ranking."""
    # The ranking may use a quarter of the time limit; solvers get the rest.
    ranked = _run_greedy(inst, time.monotonic() + settings.time_limit_s / 4)
    if settings.backend == "wsjf-greedy":
        return ranked
    f = build(inst)
    # Keep time for reasons, explanation and validation so the whole solve honours the limit.
    reserve = min(0.1 * settings.time_limit_s, 0.05 + 0.0004 * len(inst.mmps))
    warm = _start_hint(f, warm_start)
    if settings.backend == "cbc":
        hint = {var.index: value for var, value in warm or greedy_hint(f, ranked)}
        result = solve_cbc(f, settings, time_left() - reserve, hint)
        solution = _read_solution(f, result.values.__getitem__) if result.values else None
        bound = None if result.bound is None else _value_bound(f.inst, result.bound)
        outcome = Outcome(result.status, solution, bound)
        if result.status == "optimal" and settings.relative_gap:  # CBC stopped at the gap, not at a proof
            outcome = Outcome("feasible", solution, bound)
    else:
        for var, value in warm:
            f.model.add_hint(var, value)
        outcome = _run_cpsat(f, settings, time_left() - reserve)
    return _better_of(portfolio, _exact(inst, outcome), ranked)


def _start_hint(f: Formulation, warm_start: dict[str, str]) -> list[tuple[cp_model.IntVar, int]]:
    """Start variables set as in `warm_start` (unknown MMPs and impossible starts are ignored)."""
    if not warm_start:
        return []
    index = {m.id: i for i, m in enumerate(f.inst.mmps)}
    quarter = {label: q for q, label in enumerate(f.inst.quarters)}
    chosen = {(index[m], quarter[q]) for m, q in warm_start.items() if m in index and q in quarter}
    return [(var, int(key in chosen)) for key, var in f.x.items()]


def _better_of(portfolio: Portfolio, solved: Outcome, ranked: Outcome) -> Outcome:
    """The solver's plan, or the ranking's when the solver stopped early with a worse one (or none)."""
    if solved.status == "infeasible" and ranked.solution is not None:
        # The ranking holds a plan that keeps every rule (the validator checks it): a floating-point
        # solver (CBC) misjudged the model. Trust the plan, claim no bound.
        log.warning("the solver reported infeasible, but the ranking found a valid plan")
        return Outcome("feasible", ranked.solution)
    if solved.status not in ("feasible", "no_solution_in_time") or ranked.solution is None:
        return solved
    if solved.solution is not None and _objective(portfolio, solved) >= _objective(portfolio, ranked):
        return solved
    return Outcome("feasible", ranked.solution, solved.bound)


def _objective(portfolio: Portfolio, outcome: Outcome) -> Decimal:
    split = value_split(portfolio, outcome.solution.starts)
    return split.mmps + split.key_results - split.change_penalty


def _run_cpsat(f: Formulation, settings: SolverSettings, time_left_s: float) -> Outcome:
    # No hint from the ranking: measured on 2,000-MMP portfolios it pulls the search toward the
    # ranking's plan and ends with wider gaps; the ranking's plan is the safety net instead.
    # A caller's warm start (a current plan) is hinted by the caller of this function.
    solver = cpsat_solver(settings, time_left_s, starts=len(f.x))
    if stopping.requested():  # the job was cancelled: the ranking's plan is the answer
        return Outcome("no_solution_in_time", note="stopped")
    status = solve_stoppable(solver, f.model)
    if status == cp_model.INFEASIBLE:
        return Outcome("infeasible")
    if status == cp_model.MODEL_INVALID:  # a bug in the formulation, never the user's input
        raise RuntimeError(f"invalid CP-SAT model: {f.model.validate()}")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Outcome("no_solution_in_time")
    values = {var.index: solver.value(var) for var in (*f.x.values(), *f.b.values(), *f.e.values())}
    solution = _read_solution(f, values.__getitem__)
    bound = _value_bound(f.inst, solver.best_objective_bound)
    proven = status == cp_model.OPTIMAL and bound <= _value_bound(f.inst, solver.objective_value)
    return Outcome("optimal" if proven else "feasible", solution, bound)


def _exact(inst: Instance, outcome: Outcome) -> Outcome:
    """On a rounded objective (see Instance.objective_slack) nothing is proven optimal, and the
    bound widens by the rounding."""
    if not inst.objective_slack or outcome.solution is None:
        return outcome
    status = "feasible" if outcome.status == "optimal" else outcome.status
    bound = None if outcome.bound is None else outcome.bound + inst.objective_slack
    return Outcome(status, outcome.solution, bound, outcome.note)


def _run_greedy(inst: Instance, deadline: float | None = None) -> Outcome:
    """The WSJF ranking baseline: a feasible plan, never a proven one."""
    state = greedy_plan(inst, deadline)
    funded = allocations(state)
    if funded is None or not complete(state):
        return Outcome("no_solution_in_time", note="the WSJF ranking found no plan that meets every constraint")
    alloc, bought = funded
    solution = Solution(
        starts={inst.mmps[i].id: s for i, s in state.starts.items()},
        allocated={
            (vs.id, q): alloc[v][q] * inst.money_resolution
            for v, vs in enumerate(inst.streams)
            for q in range(inst.horizon)
        },
        purchased={
            (pool.id, q): bought[p][q] * inst.capacity_resolution
            for p, pool in enumerate(inst.pools)
            for q in range(inst.horizon)
            if bought[p][q]
        },
    )
    return Outcome("feasible", solution, ranking=state)


def greedy_hint(f: Formulation, ranked: Outcome) -> list[tuple[cp_model.IntVar, int]]:
    """The ranking's plan as (model variable, value) pairs; empty when the ranking found none."""
    state = ranked.ranking
    if state is None:
        return []
    k = f.inst.allocation_scale  # the ranking counts whole money units; allocations are finer
    hint = [(var, int(state.starts.get(i) == s)) for (i, s), var in f.x.items()]
    hint += [(var, k * state.alloc[v][q]) for (v, q), var in f.b.items()]
    return hint + [(var, state.bought[p][q]) for (p, q), var in f.e.items()]


def _read_solution(f: Formulation, value_of) -> Solution:
    """Read starts, allocations and purchases; `value_of(proto index)` gives a variable's value."""
    inst = f.inst
    starts = {inst.mmps[i].id: s for (i, s), var in f.x.items() if value_of(var.index)}
    allocated = {
        (inst.streams[v].id, q): value_of(var.index) * inst.money_resolution / inst.allocation_scale
        for (v, q), var in f.b.items()
    }
    purchased = {
        (inst.pools[p].id, q): value_of(var.index) * inst.capacity_resolution
        for (p, q), var in f.e.items()
        if value_of(var.index)
    }
    return Solution(starts=starts, allocated=allocated, purchased=purchased)


def _value_bound(inst: Instance, weighted: float) -> Decimal:
    """Objective 1 (currency) bounded by a weighted objective W * value - allocation, where
    0 <= allocation < W: value <= ceil(weighted / W)."""
    weight = tie_break_weight(inst)
    units = -(-math.floor(weighted + 1e-6) // weight)
    return Decimal(units) * inst.money_resolution


def _check(portfolio: Portfolio, plan: Plan) -> None:
    """Never hand out a plan the independent validator rejects."""
    violations = validate(portfolio, plan)
    if violations:
        raise InvalidPlanError("; ".join(violations))
