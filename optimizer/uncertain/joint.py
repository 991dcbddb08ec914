"""One model over every scenario (docs/design.md, section 4.7): the decision, the rules in every scenario, and
the risk measure as a linear objective.

* decision `plan`: one set of start variables shared by all scenarios; each scenario with different figures
  (an explicit scenario) has its own allocations and purchases under its own budget, costs, capacity and
  guardrails (`formulation.add_world`); scenarios that differ only in values share them.
* decision `priority`: every scenario has its own starts, and the funded units of the scenarios must be
  prefixes of one ranking. The sets a ranking's prefixes fund are exactly the sets that are nested (a chain),
  which is stated either pairwise over scenarios or, when there are fewer units than scenarios, as a
  tournament over units (the units closed under any tournament are nested, so no transitivity is needed).

The objective is the risk measure times an integer scale, so every coefficient is an integer:
* expectation: sum_w k_w V_w, with k_w = p_w * D and D the common denominator of the probabilities;
* cvar (Rockafellar and Uryasev): (1 - lambda) E[V] + lambda (eta - E[u] / (1 - alpha)), u_w >= eta - V_w,
  u_w >= 0; the optimal eta is one of the values V_w, whole money units, so an integer eta is exact;
* wasserstein (the dual of the worst expected value over the ball): -eps gamma + sum_i p_i phi_i with
  phi_i <= V_j + gamma d_ij. gamma is counted on a grid; a MIP solver takes it as continuous (exact), CP-SAT
  only on the grid, so CP-SAT's bound is not one of this measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
from ortools.sat.python import cp_model

from models import units
from models.portfolio import Risk
from optimizer.formulation import Formulation, add_world, build, value_expression
from optimizer.instance import Instance
from optimizer.uncertain.worlds import Worlds, lcm_of

GAMMA_STEPS = 10**6  # gamma's grid: at most this many steps between 0 and its largest useful value


@dataclass(frozen=True)
class Unit:
    """What a priority list ranks: a group of alternatives (max 1) or an MMP in no such group."""

    id: str
    members: list[int]  # MMP indices


@dataclass
class Joint:
    """The model of one decision over all scenarios."""

    model: cp_model.CpModel
    forms: list[Formulation]  # per scenario: its starts (shared with decision `plan`), money and values
    scale: Fraction = Fraction(1)  # the model's objective = scale * the risk measure in money units
    exact_bound: bool = True  # whether CP-SAT's bound bounds the risk measure (not on wasserstein's grid)
    units: list[Unit] = field(default_factory=list)
    auxiliaries: set[int] = field(default_factory=set)  # the measure's variables (a MIP counts them continuous)
    fits: bool = True  # whether every row and the objective stay inside 64-bit integers (see fits_int64)

    def starts(self, value) -> list[dict[int, int]]:
        """Each scenario's starts (MMP index -> quarter) under `value` (variable -> its value)."""
        return [{i: s for (i, s), var in f.x.items() if value(var)} for f in self.forms]


def joint_model(worlds: Worlds, decision: str, risk: Risk, distances: list[list[Fraction]] | None) -> Joint:
    """The decision (`plan` or `priority`) over every scenario, with the risk measure as objective."""
    model = cp_model.CpModel()
    forms = _plan_forms(worlds, model) if decision == "plan" else _own_forms(worlds, model)
    j = Joint(model, forms)
    _objective(j, worlds, risk, distances)
    j.fits = _fits_int64(model)  # before the nesting rows: 0/1 differences, they cannot overflow
    if decision == "priority":
        j.units = priority_units(worlds.worlds[0].inst)
        _nested(j)
    return j


def _plan_forms(worlds: Worlds, model: cp_model.CpModel) -> list[Formulation]:
    """One set of starts; money and capacity per explicit scenario; values per scenario."""
    first = worlds.worlds[0]
    base = build(first.inst, model=model, objective=False)
    by_rules = {first.rules: base}
    forms = []
    for w in worlds.worlds:
        if w.rules not in by_rules:
            by_rules[w.rules] = add_world(base, w.inst)
        forms.append(replace(by_rules[w.rules], inst=w.inst))  # the same variables, this scenario's values
    return forms


def _own_forms(worlds: Worlds, model: cp_model.CpModel) -> list[Formulation]:
    """Every scenario with its own starts and every rule."""
    return [build(w.inst, model=model, objective=False) for w in worlds.worlds]


# ---------------------------------------------------------------- priority


def priority_units(inst: Instance) -> list[Unit]:
    """Groups of alternatives (max 1) first in portfolio order of their first MMP, each MMP in none as its own."""
    grouped = {i: g for g in inst.groups if g.most == 1 for i in g.members}
    units: dict[str, Unit] = {}
    for i, m in enumerate(inst.mmps):
        g = grouped.get(i)
        if g is None:
            units[m.id] = Unit(m.id, [i])
        elif g.id not in units:
            units[g.id] = Unit(g.id, list(g.members))
    return list(units.values())


def _funded(j: Joint) -> list[list[cp_model.IntVar]]:
    """Per scenario and unit, a 0/1 variable: the unit is funded there (a group of alternatives funds at most
    one member). Two-variable rows below are cheap to build and propagate well."""
    funded = []
    for w, f in enumerate(j.forms):
        row = []
        for unit in j.units:
            z = j.model.new_bool_var(f"funded[{w},{unit.id}]")
            j.model.add(z == sum(f.y(i) for i in unit.members))
            row.append(z)
        funded.append(row)
    return funded


def _nested(j: Joint) -> None:
    """The scenarios' funded units are prefixes of one ranking: every unit has a rank r_u (0 first; units with
    equal ranks are funded together), every scenario a level L_w, and a unit is funded in a scenario exactly
    when its rank is below the scenario's level (z = 1 => r_u <= L_w - 1; z = 0 => r_u >= L_w). Two rows per
    unit and scenario, where a pairwise statement (every two units, or every two scenarios) needs two per
    pair and scenario or unit."""
    m, n = j.model, len(j.units)
    ranks = [m.new_int_var(0, max(0, n - 1), f"rank[{unit.id}]") for unit in j.units]
    for w, row in enumerate(_funded(j)):
        level = m.new_int_var(0, n, f"level[{w}]")
        for rank, z in zip(ranks, row, strict=True):
            m.add(rank - level + (n + 1) * z <= n)  # funded: rank < level
            m.add(rank - level + n * z >= 0)  # not funded: rank >= level


# ---------------------------------------------------------------- the risk measure


def _objective(j: Joint, worlds: Worlds, risk: Risk, distances: list[list[Fraction]] | None) -> None:
    probabilities = [w.probability for w in worlds.worlds]
    denominator = lcm_of(probabilities)
    weights = [int(p * denominator) for p in probabilities]
    values = [value_expression(f) for f in j.forms]
    lo, hi = _value_range(worlds)
    if risk.measure == "cvar" and risk.weight:
        _cvar(j, values, weights, denominator, Fraction(risk.weight), 1 - Fraction(risk.alpha), (lo, hi))
    elif risk.measure == "wasserstein":
        assert distances is not None
        _wasserstein(j, values, weights, denominator, distances, Fraction(risk.radius), (lo, hi))
    else:
        j.model.maximize(sum(k * v for k, v in zip(weights, values)))
        j.scale = Fraction(denominator)


def _cvar(j: Joint, values, weights, denominator: int, weight: Fraction, tail: Fraction, bounds) -> None:
    """(1 - lambda) E[V] + lambda (eta - E[u] / tail), times A * c * D for lambda = a / A and tail = c / C."""
    m = j.model
    lo, hi = bounds
    a, big_a = weight.numerator, weight.denominator
    c, big_c = tail.numerator, tail.denominator
    eta = m.new_int_var(lo, hi, "eta")
    shortfalls = []
    for n, value in enumerate(values):
        u = m.new_int_var(0, hi - lo, f"shortfall[{n}]")
        m.add(u >= eta - value)
        shortfalls.append(u)
    expected = sum(k * v for k, v in zip(weights, values))
    tail_loss = sum(k * u for k, u in zip(weights, shortfalls))
    m.maximize((big_a - a) * c * expected + a * (c * denominator * eta - big_c * tail_loss))
    j.scale = Fraction(big_a * c * denominator)
    _continuous(j, [eta, *shortfalls])


def _wasserstein(j: Joint, values, weights, denominator: int, distances, radius: Fraction, bounds) -> None:
    """max -eps gamma + sum_i p_i phi_i, phi_i <= V_j + gamma d_ij, in money units (distances in their own unit,
    gamma in money units per unit of distance); with eps = 0 the limit gamma -> infinity: phi_i <= V_j for the
    scenarios j at distance 0 from i."""
    m = j.model
    lo, hi = bounds
    if not radius:
        phis = [m.new_int_var(lo, hi, f"phi[{i}]") for i in range(len(values))]
        for i, row in enumerate(distances):
            for jj, d in enumerate(row):
                if not d:
                    m.add(phis[i] <= values[jj])
        m.maximize(sum(k * phi for k, phi in zip(weights, phis)))
        j.scale = Fraction(denominator)
        _continuous(j, phis)
        return
    step = _gamma_step(Fraction(hi - lo) / radius)  # gamma = g * step, g integer in 0..GAMMA_STEPS
    coefficients = [[step * d for d in row] for row in distances]
    q = lcm_of([c for row in coefficients for c in row] + [step * radius])
    g = m.new_int_var(0, GAMMA_STEPS, "gamma")
    phis = [m.new_int_var(q * lo, q * hi, f"phi[{i}]") for i in range(len(values))]  # q * phi_i
    for i, row in enumerate(coefficients):
        for jj, c in enumerate(row):
            m.add(phis[i] <= q * values[jj] + int(q * c) * g)
    m.maximize(sum(k * phi for k, phi in zip(weights, phis)) - int(denominator * q * step * radius) * g)
    j.scale = Fraction(denominator * q)
    j.exact_bound = False
    _continuous(j, [g, *phis])


def _gamma_step(largest: Fraction) -> Fraction:
    """A power of ten such that GAMMA_STEPS steps reach past `largest`."""
    exponent = math.ceil(math.log10(max(float(largest), 1e-30) / GAMMA_STEPS)) if largest else 0
    step = Fraction(10) ** exponent
    while step * GAMMA_STEPS < largest:
        step *= 10
    return step


def _value_range(worlds: Worlds) -> tuple[int, int]:
    """Every plan's value in every scenario lies in this range (money units)."""
    lows, highs = zip(*(_range_of(w.inst) for w in worlds.worlds))
    return min(lows), max(highs)


def _range_of(inst: Instance) -> tuple[int, int]:
    lo = hi = 0
    for m in inst.mmps:
        values = list(m.value_at.values()) or [0]
        lo += min(0, *values)
        hi += max(0, *values)
    for g in inst.groups:
        lo, hi = lo + min(0, g.none_value), hi + max(0, g.none_value)
    for s in inst.synergies:
        lo, hi = lo + min(0, s.value), hi + max(0, s.value)
    hi += sum(math.floor(target * per_unit) for _, target, per_unit in inst.key_results)
    lo -= inst.change_penalty * len(inst.mmps)
    return lo, hi


def _continuous(j: Joint, variables: list[cp_model.IntVar]) -> None:
    j.auxiliaries.update(var.index for var in variables)


def mip_view(j: Joint) -> Formulation:
    """The whole model as one formulation for the MIP backends: every scenario's money and the measure's
    auxiliaries continuous (plans are re-priced exactly afterwards)."""
    money = set(j.auxiliaries)
    for f in j.forms:
        money |= f.continuous_indices()
    first = j.forms[0]
    return Formulation(first.inst, model=j.model, x=first.x, continuous=money)


def fits_int64(j: Joint) -> bool:
    """Whether every row and the objective, at the extremes of their variables, stay inside 64-bit integers."""
    return j.fits


def _fits_int64(model: cp_model.CpModel) -> bool:
    """Each row's largest reach, sum |coefficient| x |variable bound|, in floating point first (fast over the
    many rows of many scenarios); only a row within 0.1 % of the limit is summed exactly."""
    proto = model.proto
    reach = np.array([max(abs(v.domain[0]), abs(v.domain[-1])) for v in proto.variables], dtype=np.float64)
    exact_reach = [max(abs(v.domain[0]), abs(v.domain[-1])) for v in proto.variables]

    def fits(variables, coefficients) -> bool:
        if not variables:
            return True
        index = np.array(variables, dtype=np.int64)
        index = np.where(index >= 0, index, -index - 1)
        approx = float(np.abs(np.array(coefficients, dtype=np.float64)) @ reach[index])
        if approx < 0.999 * units.INT_LIMIT:
            return True
        if approx > 1.001 * units.INT_LIMIT:
            return False
        return sum(abs(c) * exact_reach[v] for v, c in zip(index.tolist(), coefficients)) < units.INT_LIMIT

    rows = (ct.linear for ct in proto.constraints if ct.has_linear())
    return fits(proto.objective.vars, proto.objective.coeffs) and all(fits(r.vars, r.coeffs) for r in rows)
