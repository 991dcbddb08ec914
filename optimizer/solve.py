"""`solve(portfolio, settings) -> Plan`: the public entry point of the solver core."""

from __future__ import annotations

import time
from decimal import Decimal

from ortools.sat.python import cp_model

from models.plan import Explanation, Plan, SolverInfo
from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer.backends import cpsat_solver
from optimizer.explain import binding_constraints, not_selected_reasons
from optimizer.formulation import Formulation, build, tie_break_weight
from optimizer.greedy import allocations, greedy_plan
from optimizer.infeasibility import explain_infeasibility, precheck
from optimizer.instance import Instance, build_instance
from optimizer.report import Solution, assemble_plan
from optimizer.validator import validate


def solve(portfolio: Portfolio, settings: SolverSettings | None = None) -> Plan:
    """Find the best funding plan for a checked portfolio within `settings.time_limit_s`.

    Returns a plan whose status is `optimal`, `feasible` (time ran out; the gap
    says how far from proven), `infeasible` (with the rules that cannot hold
    together) or `no_solution_in_time`.
    """
    settings = settings or SolverSettings()
    started = time.monotonic()
    inst = build_instance(portfolio, settings.money_resolution)

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
        return _infeasible(portfolio, reasons, info)

    f = build(inst)
    add_greedy_hint(f)
    solver = cpsat_solver(settings, settings.time_limit_s - (time.monotonic() - started))
    status = solver.solve(f.model)
    if status == cp_model.INFEASIBLE:
        left = settings.time_limit_s - (time.monotonic() - started)
        return _infeasible(portfolio, explain_infeasibility(portfolio, inst, settings, left), info)
    if status == cp_model.MODEL_INVALID:  # a bug in the formulation, never the user's input
        raise RuntimeError(f"invalid CP-SAT model: {f.model.validate()}")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Plan(status="no_solution_in_time", solver=info())

    solution = _read_solution(f, solver)
    bound = _value_bound(inst, solver)
    plan = assemble_plan(portfolio, solution, "feasible", bound, info())
    if status == cp_model.OPTIMAL and plan.objective is not None and bound <= plan.objective:
        plan = assemble_plan(portfolio, solution, "optimal", bound, info())
    plan.not_selected = not_selected_reasons(portfolio, plan)
    plan.explanation = Explanation(binding=binding_constraints(portfolio, plan))
    plan.solver = info()
    _check(portfolio, plan)
    return plan


class InvalidPlanError(RuntimeError):
    """The independent validator rejected a plan: a bug in the optimizer, never the user's input."""


def _check(portfolio: Portfolio, plan: Plan) -> None:
    """Never hand out a plan the independent validator rejects."""
    violations = validate(portfolio, plan)
    if violations:
        raise InvalidPlanError("; ".join(violations))


def add_greedy_hint(f: Formulation) -> None:
    """Seed CP-SAT with the ranking heuristic's plan, when that plan is feasible."""
    state = greedy_plan(f.inst)
    funded = allocations(state)
    if funded is None:
        return
    alloc, bought = funded
    for (i, s), var in f.x.items():
        f.model.add_hint(var, state.starts.get(i) == s)
    for (v, q), var in f.b.items():
        f.model.add_hint(var, alloc[v][q])
    for (p, q), var in f.e.items():
        f.model.add_hint(var, bought[p][q])


def _infeasible(portfolio: Portfolio, reasons: list[str], info) -> Plan:
    return Plan(status="infeasible", solver=info(), explanation=Explanation(infeasibility=reasons))


def _read_solution(f: Formulation, solver: cp_model.CpSolver) -> Solution:
    inst = f.inst
    starts = {inst.mmps[i].id: s for (i, s), var in f.x.items() if solver.boolean_value(var)}
    allocated = {(inst.streams[v].id, q): solver.value(var) * inst.money_resolution for (v, q), var in f.b.items()}
    purchased = {
        (inst.pools[p].id, q): solver.value(var) * inst.capacity_resolution
        for (p, q), var in f.e.items()
        if solver.value(var)
    }
    return Solution(starts=starts, allocated=allocated, purchased=purchased)


def _value_bound(inst: Instance, solver: cp_model.CpSolver) -> Decimal:
    """Upper bound on objective 1 from the weighted bound W*value - allocation (0 <= allocation < W)."""
    weight = tie_break_weight(inst)
    weighted = int(solver.best_objective_bound // 1)
    units = (weighted + weight - 1) // weight
    return Decimal(units) * inst.money_resolution
