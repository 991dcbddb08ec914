"""The portfolio as integer solver data.

CP-SAT accepts integer coefficients only, so money is counted in units of a
stated *money resolution* (by default the coarsest power of ten that represents
every amount of the portfolio exactly) and capacity in units of a *capacity
resolution* chosen the same way. Where an amount is finer than the resolution
it is rounded on the safe side (costs and demands up, limits down), so every
plan the solver finds is still feasible in exact decimals. Results are always
reported from the exact portfolio figures, never from these units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from models.checks import PortfolioError, Problem
from models.portfolio import MMP, Portfolio, per_quarter

_RESOLUTIONS = [Decimal(10) ** k for k in range(6, -5, -1)]  # 1e6 .. 1e-4
_MAX_OBJECTIVE = 2**53  # keep weighted objective values exactly representable


@dataclass
class StreamData:
    id: str
    min_budget: list[int]
    max_budget: list[int | None]
    run_cost: list[int]
    baseline_budget: Fraction | None  # exact, in money units (limits from it are rounded inward)
    max_change: Fraction | None


@dataclass
class PoolData:
    id: str
    stream: int | None  # index into streams; None: a shared pool paid from the total budget
    capacity: list[int]
    extra_capacity: list[int]
    extra_cost: int  # money units per capacity unit


@dataclass
class MMPData:
    id: str
    stream: int
    duration: int
    cost: list[int]  # money units per quarter of execution
    demand: dict[int, list[int]]  # pool index -> capacity units per quarter of execution
    starts: list[int]  # quarters it may start in (window, deadline and horizon respected)
    value_at: dict[int, int]  # start quarter -> outcome value in money units
    mandatory: bool
    requires: list[int]
    excludes: list[int]
    category: str | None
    contributions: dict[int, Fraction]  # key result index -> contribution
    wsjf: float | None  # WSJF score (cost of delay / job size) when WSJF fields are given
    exact_cost: Fraction  # total cost in money units, unrounded (investment shares use it)
    total_cost: int = field(init=False)

    def __post_init__(self) -> None:
        self.total_cost = sum(self.cost)


@dataclass
class Instance:
    """Everything the formulation needs, indexed by position, in integer units."""

    quarters: list[str]
    money_resolution: Decimal
    capacity_resolution: Decimal
    budget: list[int]
    streams: list[StreamData]
    pools: list[PoolData]
    mmps: list[MMPData]
    guardrails: list[tuple[str, Fraction | None, Fraction | None]]  # category, min, max share
    key_results: list[tuple[str, Fraction, Fraction]]  # id, target, value per unit (money units)
    baseline: dict[int, int | None]  # MMP index -> baseline start quarter index
    change_penalty: int
    allocation_scale: int = 1  # allocations are counted in money units / allocation_scale
    objective_slack: Decimal = Decimal(0)  # most the rounded objective can differ from the exact one

    @property
    def horizon(self) -> int:
        return len(self.quarters)

    def money_ceiling(self) -> int:
        """More money than any allocation can need: bounds allocation variables without
        hiding the total budget rule (which an infeasibility explanation may need to relax)."""
        spend = sum(m.total_cost for m in self.mmps)
        spend += sum(sum(vs.run_cost) + sum(x or 0 for x in vs.min_budget) for vs in self.streams)
        spend += sum(pool.extra_cost * sum(pool.extra_capacity) for pool in self.pools)
        return max(spend, max(self.budget, default=0))


def build_instance(p: Portfolio, money_resolution: Decimal | None = None) -> Instance:
    """Translate a checked portfolio into integer solver data.

    Raises PortfolioError when its amounts span more digits than the solver can count exactly."""
    with localcontext() as ctx:
        ctx.prec = 80  # amounts up to 1e15 times 1e15, scaled by 1e-4, stay exact
        inst = _build(p, money_resolution)
    _check_magnitudes(p, inst)
    _check_baselines_on_grid(p, inst)
    return inst


def _build(p: Portfolio, money_resolution: Decimal | None) -> Instance:
    T = len(p.quarters)
    cap_res = choose_capacity_resolution(p)
    res = money_resolution or choose_money_resolution(p, cap_res)
    money = _Scaler(res)
    units = _Scaler(cap_res)
    stream_index = {vs.id: i for i, vs in enumerate(p.value_streams)}
    pool_index = {pool.id: i for i, pool in enumerate(p.pools)}
    mmp_index = {m.id: i for i, m in enumerate(p.mmps)}
    kr_index = {k.id: i for i, k in enumerate(p.key_results)}
    q_index = {q: i for i, q in enumerate(p.quarters)}

    streams = [
        StreamData(
            id=vs.id,
            min_budget=[money.up(a) for a in per_quarter(vs.min_budget, T)],
            max_budget=[None if a is None else money.down(a) for a in per_quarter(vs.max_budget, T)],
            run_cost=[money.up(a) for a in per_quarter(vs.run_cost, T)],
            baseline_budget=None if vs.baseline_budget is None else Fraction(vs.baseline_budget) / Fraction(res),
            max_change=None if vs.max_change is None else Fraction(vs.max_change),
        )
        for vs in p.value_streams
    ]
    pools = [
        PoolData(
            id=pool.id,
            stream=None if pool.value_stream is None else stream_index[pool.value_stream],
            capacity=[units.down(a) for a in per_quarter(pool.capacity, T)],
            extra_capacity=[units.down(a) for a in per_quarter(pool.extra_capacity, T)],
            # money per capacity unit, in money units: cost of one scaled unit
            extra_cost=money.up(pool.extra_cost * cap_res),
        )
        for pool in p.pools
    ]
    mmps = [_mmp_data(m, T, q_index, money, units, stream_index, pool_index, mmp_index, kr_index) for m in p.mmps]
    return Instance(
        quarters=list(p.quarters),
        money_resolution=res,
        capacity_resolution=cap_res,
        budget=[money.down(a) for a in per_quarter(p.budget, T)],
        streams=streams,
        pools=pools,
        mmps=mmps,
        guardrails=[
            (
                g.category,
                None if g.min_share is None else Fraction(g.min_share),
                None if g.max_share is None else Fraction(g.max_share),
            )
            for g in p.investment_guardrails
        ],
        key_results=[(k.id, Fraction(k.target), Fraction(k.value_per_unit) / Fraction(res)) for k in p.key_results],
        baseline={mmp_index[m]: q_index.get(q) for m, q in p.baseline_plan.items()},
        change_penalty=money.nearest(p.change_penalty),
        allocation_scale=choose_allocation_scale(p, res),
        objective_slack=_objective_slack(p, res),
    )


def _objective_slack(p: Portfolio, res: Decimal) -> Decimal:
    """Zero when the resolution states every objective amount exactly; otherwise a bound on how far
    the solver's rounded objective can be from the exact one (half a unit per MMP value and change,
    one unit per key result), so no plan is called optimal on rounded figures."""
    per_unit = {k.id: k.value_per_unit for k in p.key_results}
    amounts = [p.change_penalty] + [k.value_per_unit * k.target for k in p.key_results]
    for m in p.mmps:
        amounts += [m.outcome_value, m.cost_of_delay] + [per_unit[k] * c for k, c in m.key_results.items()]
    if all(a % res == 0 for a in amounts):
        return Decimal(0)
    return res * (len(p.mmps) + len(p.key_results))


def choose_allocation_scale(p: Portfolio, money_resolution: Decimal) -> int:
    """A power of ten splitting the money unit for allocations, so that max_change chains stay exact.

    With max_change m (a decimal with d digits), allocations that grow or shrink by m each quarter
    need d more decimal digits per quarter; a finer grid keeps such plans feasible. It stays small
    enough that the weighted objective keeps below 2**53 (coarser then: plans remain valid, a few
    off-grid allocations are out of reach)."""
    streams = [vs for vs in p.value_streams if vs.max_change is not None]
    if not streams:
        return 1
    change = max(_decimals(vs.max_change) for vs in streams)
    # The baseline budget itself must sit on the grid, or a change limit of 0 % could not be met.
    base = max((_decimals(vs.baseline_budget / money_resolution) for vs in streams if vs.baseline_budget), default=0)
    wanted = base + change * max(len(p.quarters) - 1, 1)
    total = sum(_money_amounts(p, choose_capacity_resolution(p)), Decimal(0)) / money_resolution or Decimal(1)
    scale = 10**wanted
    while scale > 1 and total * total * scale > _MAX_OBJECTIVE:
        scale //= 10
    return scale


def _decimals(amount: Decimal) -> int:
    """Digits after the decimal point of an amount (0 for whole numbers)."""
    return max(0, -amount.normalize().as_tuple().exponent)


def start_window(m: MMP, quarters: list[str]) -> list[int]:
    """Quarters in which `m` may start: not before earliest_start, finishing by its deadline."""
    first = quarters.index(m.earliest_start) if m.earliest_start else 0
    last = quarters.index(m.deadline) if m.deadline else len(quarters) - 1
    return [] if m.excluded else list(range(first, last - m.duration + 2))


def _mmp_data(m, T, q_index, money, units, stream_index, pool_index, mmp_index, kr_index) -> MMPData:
    first = q_index[m.earliest_start] if m.earliest_start else 0
    starts = start_window(m, list(q_index))
    return MMPData(
        id=m.id,
        stream=stream_index[m.value_stream],
        duration=m.duration,
        cost=[money.up(c) for c in m.cost],
        demand={pool_index[pid]: [units.up(u) for u in prof] for pid, prof in m.demand.items()},
        starts=starts,
        value_at={s: money.nearest(max(Decimal(0), m.outcome_value - m.cost_of_delay * (s - first))) for s in starts},
        mandatory=m.mandatory,
        requires=[mmp_index[r] for r in m.requires],
        excludes=[mmp_index[e] for e in m.excludes],
        category=m.category,
        contributions={kr_index[k]: Fraction(v) for k, v in m.key_results.items() if v > 0},
        wsjf=float(m.wsjf.cost_of_delay / m.wsjf.job_size) if m.wsjf else None,
        exact_cost=Fraction(sum(m.cost, Decimal(0))) / Fraction(money.res),
    )


def choose_capacity_resolution(p: Portfolio) -> Decimal:
    """The coarsest power of ten that states every capacity and demand amount exactly."""
    return _coarsest_exact(_capacity_amounts(p), floor=Decimal("0.0001"))


def choose_money_resolution(p: Portfolio, capacity_resolution: Decimal | None = None) -> Decimal:
    """The coarsest power of ten that states every money amount exactly (including the price of one
    capacity unit and each key-result credit), kept small enough that the weighted objective
    (value times total budget) stays below 2**53."""
    cap_res = capacity_resolution or choose_capacity_resolution(p)
    amounts = _money_amounts(p, cap_res)
    res = _coarsest_exact(amounts, floor=Decimal("0.0001"))
    total = sum(amounts, Decimal(0)) or Decimal(1)
    smallest = min(amounts, default=Decimal(1))
    # Coarser units round amounts; allow it only while every amount stays at least one unit.
    while (total / res) ** 2 > _MAX_OBJECTIVE and res * 10 <= smallest:
        res *= 10
    return res


_INT_LIMIT = 2**62  # CP-SAT counts in 64-bit integers


def _check_baselines_on_grid(p: Portfolio, inst: Instance) -> None:
    """A baseline budget whose change limit leaves no allocation on the solver's grid would make the
    portfolio look infeasible when it is not: refuse it with the reason instead."""
    for v, (vs, data) in enumerate(zip(p.value_streams, inst.streams)):
        base, change = data.baseline_budget, data.max_change
        if base is None or change is None:
            continue
        lo, hi = base * (1 - change) * inst.allocation_scale, base * (1 + change) * inst.allocation_scale
        if math.ceil(lo) > math.floor(hi):
            raise PortfolioError(
                [
                    Problem(
                        f"$.value_streams[{v}].baseline_budget",
                        f"with max_change {vs.max_change}, {vs.id}'s first-quarter budget must stay within "
                        f"{vs.max_change:.0%} of {vs.baseline_budget}, and no multiple of the solver's counting "
                        f"unit for this portfolio ({_unit_text(inst)}, forced by its largest amounts) lies there; "
                        "round the baseline budget to that unit or allow a larger max_change",
                    )
                ]
            )


def _unit_text(inst: Instance) -> str:
    return f"{(inst.money_resolution / inst.allocation_scale).normalize():f}"


def _check_magnitudes(p: Portfolio, inst: Instance) -> None:
    """Refuse (rather than silently round or overflow) amounts the solver cannot count exactly."""
    ceiling = inst.money_ceiling() * inst.allocation_scale
    value = sum(max(m.value_at.values(), default=0) for m in inst.mmps)
    value += sum(int(target * per_unit) for _k, target, per_unit in inst.key_results)
    weighted = (inst.allocation_scale * sum(inst.budget) + 1) * (value + inst.change_penalty * len(inst.mmps))
    if ceiling < _INT_LIMIT and weighted < _INT_LIMIT:
        return
    raise PortfolioError(
        [
            Problem(
                "$",
                "the amounts span too many digits to plan exactly (money counted in units of "
                f"{inst.money_resolution}); state money in a larger unit (for example thousands) "
                "or lower the largest amounts",
            )
        ]
    )


def _coarsest_exact(amounts: list[Decimal], floor: Decimal) -> Decimal:
    for res in _RESOLUTIONS:
        if res >= floor and all((a % res) == 0 for a in amounts):
            return res
    return floor


def _money_amounts(p: Portfolio, cap_res: Decimal) -> list[Decimal]:
    T = len(p.quarters)
    out: list[Decimal] = [a for a in per_quarter(p.budget, T)] + [p.change_penalty]
    for vs in p.value_streams:
        for f in (vs.min_budget, vs.max_budget, vs.run_cost):
            out += [a for a in per_quarter(f, T) if a is not None]
        if vs.baseline_budget is not None:
            out.append(vs.baseline_budget)
    out += [pool.extra_cost * cap_res for pool in p.pools]
    per_unit = {k.id: k.value_per_unit for k in p.key_results}
    for m in p.mmps:
        out += [*m.cost, m.outcome_value, m.cost_of_delay]
        out += [per_unit[k] * c for k, c in m.key_results.items()]
    out += [k.value_per_unit * k.target for k in p.key_results]
    return [a for a in out if a]


def _capacity_amounts(p: Portfolio) -> list[Decimal]:
    T = len(p.quarters)
    out: list[Decimal] = []
    for pool in p.pools:
        out += per_quarter(pool.capacity, T) + per_quarter(pool.extra_capacity, T)
    for m in p.mmps:
        for prof in m.demand.values():
            out += prof
    return [a for a in out if a]


class _Scaler:
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


def lcm_of_denominators(values: list[Fraction]) -> int:
    return math.lcm(*(v.denominator for v in values)) if values else 1
