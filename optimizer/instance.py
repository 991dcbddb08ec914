"""The portfolio as integer solver data.

CP-SAT accepts integer coefficients only, so money and capacity are counted in
the units `models.units` chooses for the portfolio. Where an amount is finer
than its unit it is rounded on the safe side (costs and demands up, limits
down), so every plan the solver finds is still feasible in exact decimals.
Results are always reported from the exact portfolio figures, never from these
units. Whether the solver can count a portfolio at all is an input check
(`models.check_solvable`), made before an instance is built.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from fractions import Fraction

from models import units
from models.portfolio import MMP, Portfolio, per_quarter
from models.units import Scaler


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
    starts: list[int]  # quarters it may start in (earliest start, deadline and horizon end respected)
    value_at: dict[int, int]  # start quarter -> outcome value in money units
    mandatory: bool
    excluded: bool
    requires: list[int]
    excludes: list[int]
    requires_any: list[int]
    category: str | None
    contributions: dict[int, Fraction]  # key result index -> contribution
    wsjf: float | None  # WSJF score (cost of delay / job size) when WSJF fields are given
    exact_cost: Fraction  # total cost in money units, unrounded (investment shares use it)
    in_flight: bool = False  # started before as_of: its only start is `started`, its sunk quarters cost nothing
    stoppable: bool = False  # an in-flight MMP the optimizer may stop
    salvage: int = 0  # money units kept when it is stopped
    done: bool = False  # finished before as_of: no start variables, never funded again
    blocked: bool = False  # an alternative it excludes (or that excludes it) is done: never funded
    total_cost: int = field(init=False)

    def __post_init__(self) -> None:
        self.total_cost = sum(self.cost)


@dataclass
class GroupData:
    id: str
    members: list[int]  # MMP indices
    least: int
    most: int
    none_value: int  # money units earned when none is selected


@dataclass
class SynergyData:
    id: str
    members: list[int]
    value: int  # money units earned (or lost) when all are selected


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
    money_ceiling: int  # more money units than any allocation can need (models.units.money_ceiling)
    allocation_scale: int = 1  # allocations are counted in money units / allocation_scale
    groups: list[GroupData] = field(default_factory=list)
    synergies: list[SynergyData] = field(default_factory=list)
    together: list[list[int]] = field(default_factory=list)  # MMP indices selected all or none
    exact: bool = True  # every amount is a whole number of its unit (else some were rounded on the safe side)
    first: int = 0  # the as_of quarter: quarters before it are history (nothing allocated, bought or decided)
    prior: list[Fraction] = field(default_factory=list)  # key result -> progress achieved before as_of (units)

    @property
    def horizon(self) -> int:
        return len(self.quarters)


def build_instance(p: Portfolio, money_resolution: Decimal | None = None) -> Instance:
    """Translate a checked portfolio into integer solver data, counted in the units `models.units`
    chooses (money in `money_resolution` when given). `models.check_solvable` must accept it first."""
    with localcontext(prec=units.PRECISION):
        return _build(p, units.counting(p, money_resolution))


def _build(p: Portfolio, c: units.Counting) -> Instance:
    T = len(p.quarters)
    res, cap_res = c.money, c.capacity
    money = Scaler(res)
    capacity = Scaler(cap_res)
    stream_index = {vs.id: i for i, vs in enumerate(p.value_streams)}
    pool_index = {pool.id: i for i, pool in enumerate(p.pools)}
    mmp_index = {m.id: i for i, m in enumerate(p.mmps)}
    kr_index = {k.id: i for i, k in enumerate(p.key_results)}
    q_index = {q: i for i, q in enumerate(p.quarters)}
    first = p.first_planned

    def planned(amounts: list, history: object = 0) -> list:
        """History quarters (before as_of) decide nothing: their limits and fixed costs are not stated."""
        return [history if q < first else a for q, a in enumerate(amounts)]

    streams = []
    for vs in p.value_streams:
        base = p.change_base(vs)
        streams.append(
            StreamData(
                id=vs.id,
                min_budget=planned([money.up(a) for a in per_quarter(vs.min_budget, T)]),
                max_budget=planned([None if a is None else money.down(a) for a in per_quarter(vs.max_budget, T)], None),
                run_cost=planned([money.up(a) for a in per_quarter(vs.run_cost, T)]),
                baseline_budget=None if base is None else Fraction(base) / Fraction(res),
                max_change=None if vs.max_change is None else Fraction(vs.max_change),
            )
        )
    pools = [
        PoolData(
            id=pool.id,
            stream=None if pool.value_stream is None else stream_index[pool.value_stream],
            capacity=[capacity.down(a) for a in per_quarter(pool.capacity, T)],
            extra_capacity=planned([capacity.down(a) for a in per_quarter(pool.extra_capacity, T)]),
            # money per capacity unit, in money units: cost of one scaled unit
            extra_cost=money.up(pool.extra_cost * cap_res),
        )
        for pool in p.pools
    ]
    mmps = [_mmp_data(m, T, q_index, money, capacity, stream_index, pool_index, mmp_index, kr_index) for m in p.mmps]
    _as_of(p, mmps, first, money)
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
        # What is left of each target after the progress achieved before as_of: only that earns value here.
        key_results=[
            (k.id, Fraction(k.target - p.progress_before(k)), Fraction(k.value_per_unit) / Fraction(res))
            for k in p.key_results
        ],
        baseline={mmp_index[m]: q_index.get(q) for m, q in p.baseline_plan.items()},
        change_penalty=money.nearest(p.change_penalty),
        money_ceiling=units.money_ceiling(p, c),
        allocation_scale=c.allocation_scale,
        exact=units.is_exact(p, c),
        groups=[
            GroupData(g.id, sorted({mmp_index[m] for m in g.mmps}), g.min, g.max, money.nearest(g.none_value))
            for g in p.groups
        ],
        synergies=[
            SynergyData(s.id, sorted({mmp_index[m] for m in s.mmps}), money.nearest(s.value)) for s in p.synergies
        ],
        together=[sorted({mmp_index[m] for m in members}) for members in p.together],
        first=first,
        prior=[Fraction(p.progress_before(k)) for k in p.key_results],
    )


def _as_of(p: Portfolio, mmps: list[MMPData], first: int, money: Scaler) -> None:
    """The planning cycle (docs/design.md, 3.15). No MMP starts before as_of; an in-flight MMP keeps its start,
    the quarters it already ran cost and use nothing (sunk), and what it required is history; a done MMP has no
    start and counts as finished for what requires it."""
    q_index = {q: i for i, q in enumerate(p.quarters)}
    done = {i for i, m in enumerate(p.mmps) if m.done}
    for m, data in zip(p.mmps, mmps):
        if m.done:
            data.done, data.starts, data.value_at, data.mandatory = True, [], {}, False  # done: mandatory is met
        elif m.started is not None:
            started = q_index[m.started]
            sunk = first - started
            data.in_flight, data.stoppable = True, m.stoppable
            data.salvage = money.nearest(m.salvage_value) if m.stoppable else 0
            data.starts = [] if m.excluded and m.stoppable else [started]
            earliest = q_index[m.earliest_start] if m.earliest_start else 0
            data.value_at = {started: money.nearest(m.value_at(started - earliest))}
            data.cost = [0 if k < sunk else c for k, c in enumerate(data.cost)]
            data.demand = {pool: [0 if k < sunk else u for k, u in enumerate(row)] for pool, row in data.demand.items()}
            data.total_cost = sum(data.cost)
            data.requires, data.requires_any = [], []
        else:
            data.starts = [s for s in data.starts if s >= first]
            data.value_at = {s: v for s, v in data.value_at.items() if s >= first}
            data.requires = [j for j in data.requires if j not in done]
            data.blocked = any(j in done for j in data.excludes) or any(m.id in p.mmps[j].excludes for j in done)
            if any(j in done for j in data.requires_any):
                data.requires_any = []


def start_window(m: MMP, quarters: list[str], as_of: int = 0) -> list[int]:
    """Quarters in which `m` may start: not before earliest_start nor the as_of quarter, finishing by its
    deadline and inside the horizon (whether the user excluded it is another rule)."""
    first = max(as_of, quarters.index(m.earliest_start) if m.earliest_start else 0)
    last = quarters.index(m.deadline) if m.deadline else len(quarters) - 1
    return list(range(first, last - m.duration + 2))


def _mmp_data(
    m: MMP,
    T: int,
    q_index: dict[str, int],
    money: Scaler,
    capacity: Scaler,
    stream_index: dict[str, int],
    pool_index: dict[str, int],
    mmp_index: dict[str, int],
    kr_index: dict[str, int],
) -> MMPData:
    first = q_index[m.earliest_start] if m.earliest_start else 0
    starts = start_window(m, list(q_index))
    return MMPData(
        id=m.id,
        stream=stream_index[m.value_stream],
        duration=m.duration,
        cost=[money.up(c) for c in m.cost],
        demand={pool_index[pid]: [capacity.up(u) for u in prof] for pid, prof in m.demand.items()},
        starts=starts,
        value_at=_values_at(m, starts, first, money),
        mandatory=m.mandatory,
        excluded=m.excluded,
        requires=[mmp_index[r] for r in m.requires],
        excludes=[mmp_index[e] for e in m.excludes],
        requires_any=[mmp_index[r] for r in m.requires_any],
        category=m.category,
        contributions={kr_index[k]: Fraction(v) for k, v in m.key_results.items() if v > 0},
        wsjf=float(m.wsjf.cost_of_delay / m.wsjf.job_size) if m.wsjf else None,
        exact_cost=Fraction(sum(m.cost, Decimal(0))) / Fraction(money.res),
    )


def lcm_of_denominators(values: list[Fraction]) -> int:
    return math.lcm(*(v.denominator for v in values)) if values else 1


def with_values(inst: Instance, p: Portfolio, values: Mapping[str, Decimal]) -> Instance:
    """The same solver data with other MMP values (a scenario of the portfolio `p`, which `inst` counts, that
    differs only in those values)."""
    money = Scaler(inst.money_resolution)
    index = {m.id: i for i, m in enumerate(inst.mmps)}
    q_index = {q: i for i, q in enumerate(inst.quarters)}
    changed = list(inst.mmps)
    exact = inst.exact
    with localcontext(prec=units.PRECISION):
        for m in p.mmps:
            value = values.get(m.id)
            if value is not None:
                data = copy.copy(changed[index[m.id]])  # a shallow copy: only value_at differs
                first = q_index[m.earliest_start] if m.earliest_start else 0
                data.value_at = _values_at(m, data.starts, first, money, value)
                changed[index[m.id]] = data
                exact = exact and value % inst.money_resolution == 0
    return replace(inst, mmps=changed, exact=exact)


def _values_at(m: MMP, starts: list[int], first: int, money: Scaler, value: Decimal | None = None) -> dict[int, int]:
    """Start quarter -> outcome value in money units (`value`: a scenario's own)."""
    if not m.cost_of_delay:  # the same at every start: counted once (thousands of sampled scenarios)
        return dict.fromkeys(starts, money.nearest(m.value_at(0, value)))
    return {s: money.nearest(m.value_at(s - first, value)) for s in starts}
