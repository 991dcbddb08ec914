"""The formulation's CP-SAT model as a well-scaled MILP, for the MIP backends (CBC through PuLP, SCIP
through OR-Tools' pywraplp).

The CP-SAT model holds only linear and at-most-one constraints over bounded
integer variables, which is exactly a MILP: one formulation, several solvers.
CP-SAT counts money exactly in 64-bit integers; a MIP solver counts in floating
point, and amounts in the trillions of money units (a budget of 14 billion in
thousandths) break its tolerances: CBC 2.10 then calls a plan that overspends by
billions "optimal". So the MILP is stated at a sane scale:

* money columns (allocations, key-result credit) are continuous and counted in
  units of `money_scale` model units: their plan is always re-priced exactly
  from the chosen starts (`optimizer.greedy.replay`), so the MIP need not count
  them as integers;
* a row whose largest coefficient is above `ROW_LIMIT` is divided by a power of
  ten (the same for the objective, with `objective_scale` to map its bound back).

Start and purchase columns keep their integer nature and their units.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimizer.formulation import Formulation

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ROW_LIMIT = 1e6  # largest coefficient a row keeps; larger rows are divided by a power of ten
COLUMN_LIMIT = 1e7  # a money column's upper bound in MIP units stays about this large


@dataclass(frozen=True)
class Column:
    lo: float
    hi: float
    integer: bool
    scale: float  # model value = scale * MIP value


@dataclass(frozen=True)
class Row:
    terms: list[tuple[int, float]]  # (column, coefficient)
    lo: float | None  # None: no lower limit
    hi: float | None  # None: no upper limit


@dataclass(frozen=True)
class Milp:
    """A minimisation: columns by CP-SAT variable index, rows, and the objective."""

    columns: list[Column]
    rows: list[Row]
    objective: list[tuple[int, float]]
    offset: float
    objective_scale: float  # the CP-SAT model's inner objective = objective_scale * the MIP's
    cpsat_scaling: float  # CP-SAT's true objective = cpsat_scaling * inner (-1 for a maximisation)

    def model_value(self, column: int, value: float) -> int:
        """A MIP column's value in the CP-SAT model's units (rounded: integer columns are integral)."""
        return round(self.columns[column].scale * value)

    def mip_value(self, column: int, value: int) -> float:
        """A CP-SAT model value (a hint) in the MIP column's units."""
        return value / self.columns[column].scale

    def model_bound(self, mip_bound: float) -> float:
        """A bound on the MIP's objective as a bound on the CP-SAT model's true objective."""
        return self.cpsat_scaling * self.objective_scale * mip_bound


def milp(f: Formulation) -> Milp:
    """The formulation's current model (constraints and objective) as a scaled minimisation."""
    proto = f.model.proto
    money = f.continuous_indices()
    scale = _money_scale(proto, money)
    columns = [_column(v, scale if i in money else 1.0, i in money) for i, v in enumerate(proto.variables)]
    rows = []
    for n, ct in enumerate(proto.constraints):
        if len(ct.enforcement_literal):
            raise ValueError("enforcement literals (explain mode) have no MILP translation")
        if ct.has_linear():
            domain = list(ct.linear.domain)
            if len(domain) != 2:
                raise ValueError(f"constraint {n} has a domain with holes")
            rows.append(_row(columns, ct.linear.vars, ct.linear.coeffs, *domain))
        elif ct.has_at_most_one():
            literals = list(ct.at_most_one.literals)
            rows.append(_row(columns, literals, [1] * len(literals), INT64_MIN, 1))
        elif ct.has_bool_or():  # CP-SAT states a constant-true constraint this way
            literals = list(ct.bool_or.literals)
            rows.append(_row(columns, literals, [1] * len(literals), 1, INT64_MAX))
        else:
            raise ValueError(f"constraint {n} has no MILP translation")
    objective, constant = _terms(columns, proto.objective.vars, proto.objective.coeffs)
    divisor = _divisor(objective)
    return Milp(
        columns=columns,
        rows=rows,
        objective=[(c, a / divisor) for c, a in objective],
        offset=(constant + proto.objective.offset) / divisor,
        objective_scale=divisor,
        cpsat_scaling=proto.objective.scaling_factor or 1.0,
    )


def _money_scale(proto, money: set[int]) -> float:
    """A power of ten that brings the largest money column to about COLUMN_LIMIT."""
    largest = max((abs(list(proto.variables[i].domain)[-1]) for i in money), default=0)  # (no negative index on it)
    scale = 1.0
    while largest / scale > COLUMN_LIMIT:
        scale *= 10
    return scale


def _column(v, scale: float, money: bool) -> Column:
    domain = list(v.domain)
    if len(domain) != 2:
        raise ValueError(f"variable {v.name} has a domain with holes")
    lo, hi = domain
    return Column(lo / scale, hi / scale, integer=not money, scale=scale)


def _terms(columns: list[Column], refs, coeffs) -> tuple[list[tuple[int, float]], float]:
    """Linear terms over literals (a negated literal r < 0 is 1 - x) in MIP columns, and their constant."""
    merged: dict[int, float] = {}
    constant = 0.0
    for ref, c in zip(refs, coeffs, strict=True):
        column = ref if ref >= 0 else -ref - 1
        sign = 1 if ref >= 0 else -1
        if ref < 0:
            constant += c
        merged[column] = merged.get(column, 0.0) + sign * c * columns[column].scale
    return [(column, a) for column, a in merged.items() if a], constant


def _row(columns: list[Column], refs, coeffs, lo: int, hi: int) -> Row:
    terms, constant = _terms(columns, refs, coeffs)
    divisor = _divisor(terms)
    low = None if lo <= INT64_MIN + 1 else (lo - constant) / divisor
    high = None if hi >= INT64_MAX - 1 else (hi - constant) / divisor
    return Row([(c, a / divisor) for c, a in terms], low, high)


def _divisor(terms: list[tuple[int, float]]) -> float:
    """A power of ten that brings a row's largest coefficient to at most ROW_LIMIT (1 when it is)."""
    largest = max((abs(a) for _, a in terms), default=0.0)
    divisor = 1.0
    while largest / divisor > ROW_LIMIT:
        divisor *= 10
    return divisor
