"""Running a backend on the model over all scenarios (`optimizer.uncertain.joint`).

The same vocabulary as a certain solve (`optimizer.solve`): cp-sat, cbc, scip, or auto (CP-SAT on all threads
but one racing CBC on the last; with one thread CP-SAT, or CBC for the Wasserstein measure, whose multiplier
only a MIP solver takes as continuous). Only the starts of a search are used: every plan is priced exactly
afterwards in every scenario, and only a bound that holds for the risk measure is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from ortools.sat.python import cp_model

from models.settings import SolverSettings
from optimizer import stopping
from optimizer.backends import cpsat_solver, solve_stoppable
from optimizer.cbc import solve_cbc
from optimizer.scip import solve_scip
from optimizer.uncertain.joint import Joint, mip_view

Decision = list[dict[int, int]]
"""Per scenario: MMP index -> start quarter."""


@dataclass(frozen=True)
class JointSearch:
    status: str  # optimal, feasible, infeasible, no_solution_in_time
    plans: list[Decision] = field(default_factory=list)  # the decisions found, for the caller to price
    bound: Fraction | None = None  # on the risk measure, in money units (None after a proof: the plan's value)


def search(j: Joint, settings: SolverSettings, time_s: float, hint: list[dict[int, int]] | None) -> JointSearch:
    """One run of the chosen backend on the joint model, hinted with a decision (starts per scenario)."""
    if stopping.requested() or time_s <= 0.01:
        return JointSearch("no_solution_in_time")
    hints = _hints(j, hint)
    if settings.backend == "cbc":
        return _run_mip(solve_cbc, j, settings, time_s, hints)
    if settings.backend == "scip":
        return _run_mip(solve_scip, j, settings, time_s, hints)
    if settings.backend == "auto" and settings.workers >= 2:
        return _race(j, settings, time_s, hints)
    if settings.backend == "auto" and not j.exact_bound:
        return _run_mip(solve_cbc, j, settings, time_s, hints)
    return _run_cpsat(j, settings, time_s, hints)


def _hints(j: Joint, hint: list[dict[int, int]] | None) -> dict[int, int]:
    """Start variable index -> 0 or 1, from a decision."""
    if hint is None:
        return {}
    out: dict[int, int] = {}
    for f, starts in zip(j.forms, hint, strict=True):
        for (i, s), var in f.x.items():
            out[var.index] = int(starts.get(i) == s)
    return out


def _run_cpsat(
    j: Joint, settings: SolverSettings, time_s: float, hints: dict[int, int], signal: stopping.Signal | None = None
) -> JointSearch:
    if hints:
        _set_hints(j, hints)
    # The start variables of the joint model, each once: one plan's forms share them across scenarios.
    starts = len({var.index for f in j.forms for var in f.x.values()})
    solver = cpsat_solver(settings, time_s, starts=starts)
    status = solve_stoppable(solver, j.model, signal)
    if status == cp_model.INFEASIBLE:
        return JointSearch("infeasible")
    if status == cp_model.MODEL_INVALID:  # a bug in the formulation, never the user's input
        raise RuntimeError(f"invalid CP-SAT model: {j.model.validate()}")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return JointSearch("no_solution_in_time")
    bound = Fraction(round(solver.best_objective_bound)) / j.scale if j.exact_bound else None
    proven = status == cp_model.OPTIMAL and j.exact_bound
    return JointSearch("optimal" if proven else "feasible", [j.starts(lambda var: solver.value(var))], bound)


def _set_hints(j: Joint, hints: dict[int, int]) -> None:
    j.model.clear_hints()
    variables = {var.index: var for f in j.forms for var in f.x.values()}
    for index, value in hints.items():
        j.model.add_hint(variables[index], value)


def _run_mip(
    solve_mip,
    j: Joint,
    settings: SolverSettings,
    time_s: float,
    hints: dict[int, int],
    signal: stopping.Signal | None = None,
) -> JointSearch:
    """A MIP solver on the joint model; its bound, from floating point, rounded outward."""
    result = solve_mip(mip_view(j), settings, time_s, hints, signal)
    plans = [j.starts(lambda var: result.values.get(var.index))] if result.values else []
    status = result.status
    if status == "optimal" and settings.relative_gap:  # stopped at the gap, not at a proof
        status = "feasible"
    bound = None
    if result.bound is not None:
        # Expectation and CVaR are whole numbers of model units at every plan; the Wasserstein dual is not.
        b = result.bound + 1e-9 * max(1.0, abs(result.bound))
        bound = Fraction(math.floor(b) if j.exact_bound else math.ceil(b)) / j.scale
    return JointSearch(status, plans, bound)


def _race(j: Joint, settings: SolverSettings, time_s: float, hints: dict[int, int]) -> JointSearch:
    """CP-SAT on all threads but one beside CBC on the last; the caller prices both plans and keeps the
    better, with the tighter bound."""
    _set_hints(j, hints)  # before the threads start: from then on the model is only read
    cpsat = settings.model_copy(update={"workers": settings.workers - 1})
    cbc = settings.model_copy(update={"workers": 1})
    found = stopping.race(
        {
            "cp-sat": lambda signal: _run_cpsat(j, cpsat, time_s, {}, signal),
            "cbc": lambda signal: _run_mip(solve_cbc, j, cbc, time_s, hints, signal),
        },
        won=lambda s: s.status == "optimal",
        failed=JointSearch("no_solution_in_time"),
    )
    return _merge(found["cp-sat"], found["cbc"])


def _merge(exact: JointSearch, other: JointSearch) -> JointSearch:
    """Both searches' plans for the caller to price, the tighter bound, and the exact solver's word on
    infeasibility."""
    if exact.status == "infeasible":
        return exact
    plans = exact.plans + other.plans
    bounds = [s.bound for s in (exact, other) if s.bound is not None]
    proofs = [s for s in (exact, other) if s.status == "optimal"]
    if proofs and any(s.bound is None for s in proofs):  # a proof without a bound: its plan's value is one
        return JointSearch("optimal", plans, None)
    status = "optimal" if proofs else "feasible" if plans else "no_solution_in_time"
    return JointSearch(status, plans, min(bounds, default=None))
