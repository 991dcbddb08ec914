"""SCIP (shipped inside the OR-Tools wheel, reached through `pywraplp`) fed from the same formulation.

Like the CBC backend, this reads the formulation's CP-SAT model, which holds only
linear and at-most-one constraints over bounded integer variables, and states it
row by row to a MIP solver: one formulation, several solvers. SCIP runs in this
process (no files, no subprocess); `optimizer.stopping` interrupts it.
"""

from __future__ import annotations

import logging
import time

from ortools.linear_solver import pywraplp

from models.settings import SolverSettings
from optimizer import stopping
from optimizer.cbc import MilpResult, build_time_s
from optimizer.formulation import Formulation
from optimizer.milp import Milp, milp

log = logging.getLogger("vmo.solver")


def to_mpsolver(f: Formulation, solver: pywraplp.Solver) -> tuple[list[pywraplp.Variable], Milp]:
    """State the formulation's model, as the scaled MILP of `optimizer.milp`, to `solver`."""
    m = milp(f)
    infinity = solver.infinity()
    variables = [(solver.IntVar if c.integer else solver.NumVar)(c.lo, c.hi, f"v{i}") for i, c in enumerate(m.columns)]
    for row in m.rows:
        lo = -infinity if row.lo is None else row.lo
        hi = infinity if row.hi is None else row.hi
        constraint = solver.RowConstraint(lo, hi)
        for column, a in row.terms:
            constraint.SetCoefficient(variables[column], a)
    objective = solver.Objective()
    for column, a in m.objective:
        objective.SetCoefficient(variables[column], a)
    objective.SetOffset(m.offset)
    objective.SetMinimization()
    return variables, m


def solve_scip(
    f: Formulation,
    settings: SolverSettings,
    time_left_s: float,
    hint: dict[int, int],
    signal: stopping.Signal | None = None,
) -> MilpResult:
    """Solve with SCIP on one thread (it has no parallel tree search), warm-started from `hint`."""
    deadline = time.monotonic() + time_left_s
    if time_left_s < build_time_s(f):  # its model (built like CBC's) would not be ready within the limit
        log.info("SCIP not run: building its model would take longer than the %.2f s left", time_left_s)
        return MilpResult("no_solution_in_time", {})
    solver = pywraplp.Solver.CreateSolver("SCIP")
    variables, m = to_mpsolver(f, solver)
    if time.monotonic() >= deadline:  # building its model took SCIP's time (the build counts against the limit)
        return MilpResult("no_solution_in_time", {})
    solver.SetTimeLimit(max(1, int((deadline - time.monotonic()) * 1000)))
    parameters = [f"randomization/randomseedshift = {settings.seed}"]
    if settings.relative_gap:
        parameters.append(f"limits/gap = {settings.relative_gap}")
    solver.SetSolverSpecificParametersAsString("\n".join(parameters) + "\n")
    if log.isEnabledFor(logging.DEBUG):
        solver.EnableOutput()
    if hint:
        known = sorted(hint)
        solver.SetHint([variables[i] for i in known], [m.mip_value(i, hint[i]) for i in known])
    if stopping.requested():
        return MilpResult("no_solution_in_time", {})
    with stopping.stoppable(solver.InterruptSolve, signal):
        status = solver.Solve()
    if status == pywraplp.Solver.INFEASIBLE:
        return MilpResult("infeasible", {})
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return MilpResult("no_solution_in_time", {})
    values = {i: m.model_value(i, v.solution_value()) for i, v in enumerate(variables)}
    proven = status == pywraplp.Solver.OPTIMAL and not settings.relative_gap
    return MilpResult("optimal" if proven else "feasible", values, m.model_bound(solver.Objective().BestBound()))
