"""`solve(portfolio, settings) -> Plan`: the public entry point of the solver core."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from decimal import Decimal

from ortools.sat.python import cp_model

from models.plan import Explanation, Plan, SolverInfo
from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer.backends import cpsat_solver
from optimizer.cbc import solve_cbc
from optimizer.explain import binding_constraints, not_selected_reasons
from optimizer.formulation import Formulation, build, tie_break_weight
from optimizer.greedy import GreedyState, allocations, complete, greedy_plan
from optimizer.infeasibility import explain_infeasibility, precheck
from optimizer.instance import Instance, build_instance
from optimizer.report import Solution, assemble_plan
from optimizer.validator import validate


class InvalidPlanError(RuntimeError):
    """The independent validator rejected a plan: a bug in the optimizer, never the user's input."""


@dataclass
class Outcome:
    """What a backend found, in portfolio terms."""

    status: str
    solution: Solution | None = None
    bound: Decimal | None = None  # proven upper bound on the objective, when the backend gives one
    note: str | None = None  # why no plan came back, when the backend can say


def solve(portfolio: Portfolio, settings: SolverSettings | None = None) -> Plan:
    """Find the best funding plan for a checked portfolio within `settings.time_limit_s`.

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
    outcome = _run_backend(inst, settings, time_left)
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


def _run_backend(inst: Instance, settings: SolverSettings, time_left) -> Outcome:
    if settings.backend == "wsjf-greedy":
        return _run_greedy(inst)
    f = build(inst)
    hint = greedy_hint(f)
    if settings.backend == "cbc":
        result = solve_cbc(f, settings, time_left(), {var.index: value for var, value in hint})
        solution = _read_solution(f, result.values.__getitem__) if result.values else None
        return Outcome(result.status, solution)  # CBC through PuLP reports no bound
    return _run_cpsat(f, settings, time_left(), hint)


def _run_cpsat(f: Formulation, settings: SolverSettings, time_left_s: float, hint: list) -> Outcome:
    for var, value in hint:
        f.model.add_hint(var, value)
    solver = cpsat_solver(settings, time_left_s)
    status = solver.solve(f.model)
    if status == cp_model.INFEASIBLE:
        return Outcome("infeasible")
    if status == cp_model.MODEL_INVALID:  # a bug in the formulation, never the user's input
        raise RuntimeError(f"invalid CP-SAT model: {f.model.validate()}")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Outcome("no_solution_in_time")
    values = {var.index: solver.value(var) for var in (*f.x.values(), *f.b.values(), *f.e.values())}
    solution = _read_solution(f, values.__getitem__)
    # Objective = W * value - allocation with 0 <= allocation < W: value = ceil(objective / W).
    weight = tie_break_weight(f.inst)
    value_units = -(-round(solver.objective_value) // weight)
    bound_units = -(-math.floor(solver.best_objective_bound) // weight)
    proven = status == cp_model.OPTIMAL and bound_units <= value_units
    return Outcome("optimal" if proven else "feasible", solution, bound_units * f.inst.money_resolution)


def _run_greedy(inst: Instance) -> Outcome:
    """The WSJF ranking baseline: a feasible plan, never a proven one."""
    state = greedy_plan(inst)
    solution = _greedy_solution(inst, state)
    if solution is None:
        return Outcome("no_solution_in_time", note="the WSJF ranking found no plan that meets every constraint")
    return Outcome("feasible", solution)


def greedy_hint(f: Formulation) -> list[tuple[cp_model.IntVar, int]]:
    """The ranking heuristic's plan as (variable, value) pairs; empty when that plan is not feasible."""
    state = greedy_plan(f.inst)
    funded = allocations(state)
    if funded is None or not complete(state):
        return []
    alloc, bought = funded
    hint = [(var, int(state.starts.get(i) == s)) for (i, s), var in f.x.items()]
    hint += [(var, alloc[v][q]) for (v, q), var in f.b.items()]
    return hint + [(var, bought[p][q]) for (p, q), var in f.e.items()]


def _greedy_solution(inst: Instance, state: GreedyState) -> Solution | None:
    funded = allocations(state)
    if funded is None or not complete(state):
        return None
    alloc, bought = funded
    return Solution(
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


def _read_solution(f: Formulation, value_of) -> Solution:
    """Read starts, allocations and purchases; `value_of(proto index)` gives a variable's value."""
    inst = f.inst
    starts = {inst.mmps[i].id: s for (i, s), var in f.x.items() if value_of(var.index)}
    allocated = {(inst.streams[v].id, q): value_of(var.index) * inst.money_resolution for (v, q), var in f.b.items()}
    purchased = {
        (inst.pools[p].id, q): value_of(var.index) * inst.capacity_resolution
        for (p, q), var in f.e.items()
        if value_of(var.index)
    }
    return Solution(starts=starts, allocated=allocated, purchased=purchased)


def _check(portfolio: Portfolio, plan: Plan) -> None:
    """Never hand out a plan the independent validator rejects."""
    violations = validate(portfolio, plan)
    if violations:
        raise InvalidPlanError("; ".join(violations))
