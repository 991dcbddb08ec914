"""Core problems: an LP-guided restriction of a selection model, searched for plans, never for proofs.

In a multidimensional knapsack the LP relaxation all but decides most items: the
most efficient are in every good plan, the least efficient in none, and the choice
that matters is among the few around the LP's split (Puchinger, Raidl & Pferschy,
"The multidimensional knapsack problem: structure and algorithms", 2010). A core
problem fixes the items outside a window of `size` items around that split and
leaves the window to a solver, which then searches a problem a fraction of the
size, and searches it deeper within the same time.

Efficiency is measured by the LP's own prices: an MMP's value over the value of
the capacity it takes at the LP's dual prices (its value plus its reduced cost).
A plan found in a core keeps every rule of the full model (only variable domains
are narrowed); a bound found in a core bounds nothing, so a core search reports
the LP relaxation's bound of the full model instead.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from optimizer.formulation import Formulation
from optimizer.milp import Milp, milp

DECIDED = 0.999  # an LP value above this counts as selected


@dataclass(frozen=True)
class Relaxation:
    """The LP relaxation of a formulation's model: each start variable's LP value and efficiency."""

    values: dict[int, float]  # by model variable index
    efficiency: dict[int, float]
    bound: int | None  # on the model's (maximised) objective, rounded down; None when the LP did not solve


@dataclass(frozen=True)
class Core:
    formulation: Formulation  # the full model with every start outside the core fixed
    free: int  # start variables left to choose: the window, and any the LP's values kept free


def relaxation(f: Formulation) -> Relaxation | None:
    """The LP relaxation of the model's current objective (a maximisation), solved by CLP."""
    m = milp(f)
    solver = pywraplp.Solver.CreateSolver("CLP")
    if solver is None:
        return None
    columns = _state(m, solver)
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    costs = dict(m.objective)  # a minimisation: a value is a negative cost
    values, efficiency = {}, {}
    for var in f.x.values():
        column = columns[var.index]
        cost = costs.get(var.index, 0.0)
        value, price = -cost, -cost + column.reduced_cost()  # price: the capacity it takes, at the LP's prices
        values[var.index] = column.solution_value()
        efficiency[var.index] = value / price if price > 1e-9 else math.inf
    lp = m.model_bound(solver.Objective().Value())
    bound = math.floor(lp + 1e-9 * max(1.0, abs(lp))) if m.cpsat_scaling < 0 else None
    return Relaxation(values, efficiency, bound)


def core(f: Formulation, lp: Relaxation, size: int) -> Core:
    """`f` with the `size` start variables around the LP's split left free: the more efficient ones fixed
    selected, the less efficient ones fixed out. A variable is never fixed against its LP value (a mandatory
    MMP of little value stays in, an item that fits for free is not forced): those stay free as well."""
    ranked = sorted(f.x.values(), key=lambda var: -lp.efficiency[var.index])
    selected = sum(1 for var in ranked if lp.values[var.index] > DECIDED)
    first = max(0, min(selected - size // 2, len(ranked) - size))
    restricted = copy.copy(f)
    restricted.model = f.model.clone()
    restricted.model.clear_hints()
    proto = restricted.model.proto
    free = 0
    for position, var in enumerate(ranked):
        fixed = int(position < first)
        if first <= position < first + size or fixed != round(lp.values[var.index]):
            free += 1
            continue
        domain = proto.variables[var.index].domain  # a Boolean's: [0, 1]
        domain[0], domain[1] = fixed, fixed
    return Core(restricted, free)


def _state(m: Milp, solver: pywraplp.Solver) -> list[pywraplp.Variable]:
    """State the MILP's continuous relaxation to `solver`."""
    infinity = solver.infinity()
    columns = [solver.NumVar(c.lo, c.hi, "") for c in m.columns]
    for row in m.rows:
        lo = -infinity if row.lo is None else row.lo
        constraint = solver.RowConstraint(lo, infinity if row.hi is None else row.hi)
        for column, a in row.terms:
            constraint.SetCoefficient(columns[column], a)
    objective = solver.Objective()
    for column, a in m.objective:
        objective.SetCoefficient(columns[column], a)
    objective.SetOffset(m.offset)
    objective.SetMinimization()
    return columns
