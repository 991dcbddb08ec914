"""How the solver counts a portfolio: its money and capacity units, and the limits of counting exactly.

CP-SAT accepts integer coefficients only, so money is counted in units of a
*money resolution*: by default the coarsest power of ten that still states every
amount of the portfolio exactly (cents when amounts have cents), so the solver's
figures are the portfolio's figures and an optimum it proves is the exact one.
Value and money are never weighed against each other in one objective (the
solve is lexicographic: value first, then the least money at that value), so
the unit is made coarser only when the model's 64-bit integers truly cannot hold
it; amounts finer than the unit are then rounded on the safe side (costs and
demands up, limits down, values to the nearest unit) and no plan is called
optimal. Capacity is counted in a *capacity resolution* chosen the same way.
Allocations may count in a finer unit (money resolution / *allocation scale*) so
that max_change chains stay exact.

This is pure Decimal arithmetic on the portfolio, shared by the input checks
(`models.checks.check_solvable`) and the solver's instance (`optimizer.instance`):
a portfolio the checks accept is one the solver can count, and every limit of
exact counting lives here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from models.portfolio import Portfolio, ValueStream, per_quarter

RESOLUTIONS = tuple(Decimal(10) ** k for k in range(6, -5, -1))  # 1e6 .. 1e-4, coarsest first
FINEST = RESOLUTIONS[-1]
INT_LIMIT = 2**62  # CP-SAT counts in 64-bit integers
HEADROOM = 2**6  # a row sums a few of the largest terms: keep each well inside 64 bits
PRECISION = 80  # decimal digits: amounts up to 1e15 times 1e15, scaled by 1e-4, stay exact


@dataclass(frozen=True)
class Counting:
    """The units the solver counts one portfolio in."""

    money: Decimal
    """Currency amount of one money unit (the money resolution)."""
    capacity: Decimal
    """Capacity amount of one capacity unit."""
    allocation_scale: int
    """Allocations count in units of money / allocation_scale."""

    @property
    def allocation_unit(self) -> Decimal:
        return (self.money / self.allocation_scale).normalize()


class Scaler:
    """Convert decimal amounts to integer units, rounding in the stated direction."""

    def __init__(self, resolution: Decimal):
        self.res = resolution

    def _to(self, amount: Decimal, rounding: str) -> int:
        return int((amount / self.res).to_integral_value(rounding=rounding))

    def up(self, amount: Decimal) -> int:
        return self._to(amount, ROUND_CEILING)

    def down(self, amount: Decimal) -> int:
        return self._to(amount, ROUND_FLOOR)

    def nearest(self, amount: Decimal) -> int:
        return self._to(amount, ROUND_HALF_EVEN)


def counting(p: Portfolio, money_resolution: Decimal | None = None) -> Counting:
    """The units for `p`: the stated money resolution, or else the coarsest exact one."""
    with localcontext(prec=PRECISION):
        cap = choose_capacity_resolution(p)
        money = money_resolution or choose_money_resolution(p, cap)
        return Counting(money, cap, choose_allocation_scale(p, money, cap))


def choose_capacity_resolution(p: Portfolio) -> Decimal:
    """The coarsest power of ten that states every capacity and demand amount exactly."""
    return coarsest_exact(_capacity_amounts(p))


def choose_money_resolution(p: Portfolio, capacity_resolution: Decimal) -> Decimal:
    """The coarsest power of ten that states every money amount exactly (including the price of one
    capacity unit and each key-result credit); coarser only while the model's integers would not fit
    in 64 bits (then amounts are rounded, and the plan says so)."""
    res = coarsest_exact(_money_amounts(p, capacity_resolution))
    while res < RESOLUTIONS[0] and too_large(p, Counting(res, capacity_resolution, 1)):
        res *= 10
    return res


def choose_allocation_scale(p: Portfolio, money_resolution: Decimal, capacity_resolution: Decimal) -> int:
    """A power of ten splitting the money unit for allocations, so that max_change chains stay exact.

    With max_change m (a decimal with d digits), allocations that grow or shrink by m each quarter
    need d more decimal digits per quarter; a finer grid keeps such plans feasible. It stays small
    enough that the allocation rows fit in 64 bits (coarser then: plans remain valid, a few off-grid
    allocations are out of reach)."""
    streams = [vs for vs in p.value_streams if vs.max_change is not None]
    if not streams:
        return 1
    change = max(_decimals(vs.max_change) for vs in streams if vs.max_change is not None)
    # The baseline budget itself must sit on the grid, or a change limit of 0 % could not be met.
    bases = [base / money_resolution for vs in streams if (base := p.change_base(vs))]
    wanted = max(map(_decimals, bases), default=0) + change * max(len(p.quarters) - 1, 1)
    scale = 10**wanted
    while scale > 1 and not _fits(p, Counting(money_resolution, capacity_resolution, scale)):
        scale //= 10
    return scale


def _fits(p: Portfolio, c: Counting) -> bool:
    return not too_large(p, c) and _change_rows_fit(p, c)


def is_exact(p: Portfolio, c: Counting) -> bool:
    """Whether every money and capacity amount is a whole number of its unit: the solver's figures are then
    the portfolio's, and an optimum it proves is the exact one."""
    with localcontext(prec=PRECISION):
        money = all(a % c.money == 0 for a in _money_amounts(p, c.capacity))
        return money and all(a % c.capacity == 0 for a in _capacity_amounts(p))


def first_allocation_range(baseline: Fraction, max_change: Fraction) -> tuple[int, int]:
    """The least and the most first-quarter allocation, in whole allocation units, that stays within
    `max_change` of a `baseline` budget stated in allocation units (empty when least > most)."""
    return math.ceil(baseline * (1 - max_change)), math.floor(baseline * (1 + max_change))


def baselines_off_grid(p: Portfolio, c: Counting) -> list[int]:
    """Value streams whose change limit around their baseline budget holds no allocation the solver can
    count: the portfolio would look infeasible when it is not."""
    return [v for v, vs in enumerate(p.value_streams) if _first_allocations(p.change_base(vs), vs, c) == 0]


def _first_allocations(budget: Decimal | None, vs: ValueStream, c: Counting) -> int | None:
    """How many first-planned-quarter allocations the base budget and max_change allow (None: no such limit)."""
    if budget is None or vs.max_change is None:
        return None
    base = Fraction(budget) / Fraction(c.money) * c.allocation_scale
    least, most = first_allocation_range(base, Fraction(vs.max_change))
    return max(0, most - least + 1)


def too_large(p: Portfolio, c: Counting) -> bool:
    """Whether the amounts themselves could leave the solver's 64-bit integers: the most money any allocation
    can need (on the allocation grid), or the value of every MMP and key result. Rows that multiply them by
    a fraction (max_change, shares, key-result credit) are judged by `models.ranges`."""
    money = Scaler(c.money)
    limit = INT_LIMIT // HEADROOM
    with localcontext(prec=PRECISION):
        allocation = money_ceiling(p, c) * c.allocation_scale
        value = value_ceiling(p, c) + money.nearest(p.change_penalty) * len(p.mmps)
        return allocation >= limit or value >= limit


def _change_rows_fit(p: Portfolio, c: Counting) -> bool:
    """Whether the max_change rows (allocations times den + num of the change) fit in 64 bits."""
    changes = [Fraction(vs.max_change) for vs in p.value_streams if vs.max_change is not None]
    factor = max((m.denominator + m.numerator for m in changes), default=1)
    with localcontext(prec=PRECISION):
        return money_ceiling(p, c) * c.allocation_scale * factor < INT_LIMIT // HEADROOM


def money_ceiling(p: Portfolio, c: Counting) -> int:
    """More money (in money units) than any allocation can need: it bounds allocation variables
    without hiding the total budget rule (which an infeasibility explanation may need to relax)."""
    T = len(p.quarters)
    money, units = Scaler(c.money), Scaler(c.capacity)
    with localcontext(prec=PRECISION):
        spend = sum(money.up(x) for m in p.mmps for x in m.cost)
        for vs in p.value_streams:
            spend += sum(money.up(x) for f in (vs.run_cost, vs.min_budget) for x in per_quarter(f, T) if x)
        for pool in p.pools:
            extra = sum(units.down(x) for x in per_quarter(pool.extra_capacity, T) if x)
            spend += money.up(pool.extra_cost * c.capacity) * extra
        return max(spend, max((money.down(b) for b in per_quarter(p.budget, T) if b is not None), default=0))


def value_ceiling(p: Portfolio, c: Counting) -> int:
    """More outcome value (in money units, either sign) than any plan can earn or lose: every MMP's value
    (a negative one lowered by its cost of delay over the horizon), group and synergy, and every key result
    at its target."""
    money = Scaler(c.money)
    T = len(p.quarters)
    with localcontext(prec=PRECISION):
        value = sum(abs(money.nearest(m.outcome_value)) + money.up(m.cost_of_delay) * T for m in p.mmps)
        value += sum(abs(money.nearest(x.none_value)) for x in p.groups)
        value += sum(abs(money.nearest(x.value)) for x in p.synergies)
        value += sum(money.nearest(m.salvage_value) for m in p.mmps)
        return value + sum(int(k.target * k.value_per_unit / c.money) for k in p.key_results)


def _decimals(amount: Decimal) -> int:
    """Digits after the decimal point of an amount (0 for whole numbers)."""
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def coarsest_exact(amounts: list[Decimal]) -> Decimal:
    """The coarsest resolution that states every amount exactly."""
    for res in RESOLUTIONS:
        if all((a % res) == 0 for a in amounts):
            return res
    return FINEST


def _money_amounts(p: Portfolio, cap_res: Decimal) -> list[Decimal]:
    T = len(p.quarters)
    out = [a for a in per_quarter(p.budget, T) if a is not None] + [p.change_penalty]
    for vs in p.value_streams:
        for f in (vs.min_budget, vs.max_budget, vs.run_cost):
            out += [a for a in per_quarter(f, T) if a is not None]
        if vs.baseline_budget is not None:
            out.append(vs.baseline_budget)
        if (base := p.change_base(vs)) is not None:
            out.append(base)
    out += [pool.extra_cost * cap_res for pool in p.pools]
    per_unit = {k.id: k.value_per_unit for k in p.key_results}
    for m in p.mmps:
        out += [*m.cost, m.outcome_value, m.cost_of_delay]
        out += [per_unit[k] * c for k, c in m.key_results.items()]
    out += [k.value_per_unit * k.target for k in p.key_results]
    out += [g.none_value for g in p.groups] + [s.value for s in p.synergies]
    out += [m.salvage_value for m in p.mmps]
    return [abs(a) for a in out if a]


def _capacity_amounts(p: Portfolio) -> list[Decimal]:
    T = len(p.quarters)
    out: list[Decimal] = []
    for pool in p.pools:
        out += [a for f in (pool.capacity, pool.extra_capacity) for a in per_quarter(f, T) if a]
    for m in p.mmps:
        for prof in m.demand.values():
            out += [a for a in prof if a]
    return out
