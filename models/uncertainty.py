"""Uncertain portfolios (docs/design.md, section 3.11): the checks that look across scenarios, value ranges and
the risk measure, and each explicit scenario as a certain portfolio of its own.

A scenario overrides figures of the portfolio (its budget, MMP values and costs, pool capacity, stream
guardrails); the figures it omits keep the portfolio's. Value ranges are sampled by the solver (with the solve's
seed), so only the explicit scenarios are expanded here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from decimal import Decimal

from models import units
from models.limits import LIMITS
from models.paths import key
from models.portfolio import MMP, Pool, Portfolio, Risk, RiskScenario, ValueRange, ValueStream, per_quarter

PROBABILITY_TOLERANCE = Decimal("1e-9")
SAMPLE_STEPS = Decimal(10_000)  # a sampled value is rounded to a power of ten at most 1/10,000 of its range


def scenario_count(p: Portfolio) -> int:
    """How many scenarios a portfolio is scored over: its explicit scenarios (at least one: the portfolio as it
    is), each combined with every sample of the value ranges when it has any."""
    samples = p.scenario_count if any(m.value_range for m in p.mmps) else 1
    return max(1, len(p.scenarios)) * samples


def in_scenario(p: Portfolio, scenario: RiskScenario | None, values: Mapping[str, Decimal] | None = None) -> Portfolio:
    """The portfolio as it is in one scenario (None: its own figures), with `values` (MMP id -> value, e.g.
    sampled) set on top: a certain portfolio, without scenarios or value ranges. Only what changes is copied."""
    overrides = dict(scenario.value) if scenario else {}
    overrides.update(values or {})
    costs = scenario.cost if scenario else {}
    mmps = [_mmp_in(m, overrides.get(m.id), costs.get(m.id)) for m in p.mmps]
    update: dict = {"mmps": mmps, "scenarios": [], "risk": Risk(), "decision": "plan"}
    if scenario is not None:
        if scenario.budget is not None:
            update["budget"] = scenario.budget
        update["pools"] = [_pool_in(pool, scenario) for pool in p.pools]
        update["value_streams"] = [_stream_in(vs, scenario) for vs in p.value_streams]
    return p.model_copy(update=update)


def _mmp_in(m: MMP, value: Decimal | None, cost: list[Decimal] | None) -> MMP:
    if value is None and cost is None and m.value_range is None:
        return m
    update: dict = {"value_range": None, "value": m.outcome_value if value is None else value}
    if cost is not None:
        update["cost"] = cost
    return m.model_copy(update=update)


def _pool_in(pool: Pool, scenario: RiskScenario) -> Pool:
    capacity = scenario.capacity.get(pool.id)
    return pool if capacity is None else pool.model_copy(update={"capacity": capacity})


def _stream_in(vs: ValueStream, scenario: RiskScenario) -> ValueStream:
    bounds = scenario.value_streams.get(vs.id)
    if bounds is None:
        return vs
    update = {k: v for k, v in (("min_budget", bounds.min_budget), ("max_budget", bounds.max_budget)) if v is not None}
    return vs.model_copy(update=update)


def sample_step(r: ValueRange) -> Decimal | None:
    """The unit a sampled value is rounded to: the largest power of ten at most 1/10,000 of the range (None: a
    range without spread is its likely value)."""
    spread = r.high - r.low
    return Decimal(1).scaleb((spread / SAMPLE_STEPS).adjusted()) if spread else None


def money_resolution(p: Portfolio, stated: Decimal | None) -> Decimal:
    """The one money unit every scenario is counted in: the stated one, else the finest of the scenarios'
    automatic units, fine enough for the value ranges' bounds and sample steps."""
    if stated is not None:
        return stated
    finest = min(units.counting(world).money for world in counting_worlds(p))
    ranges = [m.value_range for m in p.mmps if m.value_range is not None]
    amounts = [abs(a) for r in ranges for a in (r.low, r.likely, r.high, sample_step(r)) if a]
    return min(finest, units.coarsest_exact(amounts))


def counting_worlds(p: Portfolio) -> list[Portfolio]:
    """The scenarios as certain portfolios for counting: every explicit one (or the portfolio's own figures),
    each ranged MMP at the bound of its range farthest from zero (the largest value the solver must hold)."""
    extreme = {m.id: max(m.value_range.low, m.value_range.high, key=abs) for m in p.mmps if m.value_range is not None}
    explicit: list[RiskScenario | None] = list(p.scenarios) or [None]
    return [in_scenario(p, s, extreme) for s in explicit]


# ---------------------------------------------------------------- checks


def problems(p: Portfolio) -> list[tuple[str, str]]:
    """(JSON path, sentence) for every problem of the scenarios, value ranges, risk measure and decision of a
    portfolio whose other references are sound."""
    return [*_scenarios(p), *_value_ranges(p), *_size(p), *_risk(p), *_priority_units(p), *_mid_year(p)]


def _mid_year(p: Portfolio) -> Iterator[tuple[str, str]]:
    """A re-plan over scenarios is not supported yet: the scenario solve does not model the planning cycle
    (3.15), so a portfolio with scenarios or value ranges is refused when it is planned as of a later quarter."""
    if not p.uncertain:
        return
    why = "a portfolio with scenarios or value ranges is planned from its first quarter; re-plan it without them"
    if p.as_of is not None and p.as_of != p.quarters[0]:
        yield "$.as_of", why
    if p.actuals:
        yield "$.actuals", why
    for i, m in enumerate(p.mmps):
        for name in ("started", "done"):
            if getattr(m, name):
                yield f"$.mmps[{i}].{name}", why


def _scenarios(p: Portfolio) -> Iterator[tuple[str, str]]:
    counts = Counter(s.id for s in p.scenarios)
    seen: set[str] = set()
    for k, s in enumerate(p.scenarios):
        if counts[s.id] > 1 and s.id in seen:
            yield f"$.scenarios[{k}].id", f"scenario id {s.id!r} is used more than once"
        seen.add(s.id)
        yield from _overrides(p, f"$.scenarios[{k}]", s)
    total = sum((s.probability for s in p.scenarios), Decimal(0))
    if p.scenarios and abs(total - 1) > PROBABILITY_TOLERANCE:
        yield "$.scenarios", f"the probabilities of the scenarios sum to {total}, not 1"


def _overrides(p: Portfolio, base: str, s: RiskScenario) -> Iterator[tuple[str, str]]:
    """A scenario names known MMPs, pools and streams, and its per-quarter figures fit the horizon."""
    mmps = {m.id: m for m in p.mmps}
    pools = {pool.id for pool in p.pools}
    streams = {vs.id: vs for vs in p.value_streams}
    yield from _profile(p, f"{base}.budget", s.budget, "the scenario's budget")
    for mmp in s.value:
        if mmp not in mmps:
            yield f"{base}.value{key(mmp)}", f"unknown MMP {mmp!r}"
    for mmp, cost in s.cost.items():
        if mmp not in mmps:
            yield f"{base}.cost{key(mmp)}", f"unknown MMP {mmp!r}"
        elif len(cost) != mmps[mmp].duration:
            yield (
                f"{base}.cost{key(mmp)}",
                f"lists {len(cost)} quarters but {mmp} runs {mmps[mmp].duration}: a scenario changes what an MMP "
                "costs, not how long it runs",
            )
    for pool, capacity in s.capacity.items():
        if pool not in pools:
            yield f"{base}.capacity{key(pool)}", f"unknown pool {pool!r}"
        yield from _profile(p, f"{base}.capacity{key(pool)}", capacity, f"capacity of {pool}")
    for stream, bounds in s.value_streams.items():
        path = f"{base}.value_streams{key(stream)}"
        if stream not in streams:
            yield path, f"unknown value stream {stream!r}"
            continue
        problems = [*_profile(p, f"{path}.min_budget", bounds.min_budget, f"min_budget of {stream}")]
        problems += _profile(p, f"{path}.max_budget", bounds.max_budget, f"max_budget of {stream}")
        yield from problems
        if not problems:
            yield from _bounds(p, path, streams[stream], bounds.min_budget, bounds.max_budget)


def _bounds(p: Portfolio, path: str, vs: ValueStream, lo, hi) -> Iterator[tuple[str, str]]:
    """The stream's guardrails as the scenario leaves them: min_budget at most max_budget every quarter."""
    n = len(p.quarters)
    lows = per_quarter(vs.min_budget if lo is None else lo, n)
    highs = per_quarter(vs.max_budget if hi is None else hi, n)
    for q, (a, b) in enumerate(zip(lows, highs)):
        if b is not None and a > b:
            yield f"{path}.min_budget", f"min_budget {a} of {vs.id} exceeds its max_budget {b} in {p.quarters[q]}"
            return


def _profile(p: Portfolio, path: str, amount, what: str) -> Iterator[tuple[str, str]]:
    if isinstance(amount, list) and len(amount) != len(p.quarters):
        yield (
            path,
            f"{what} lists {len(amount)} quarters but the horizon has {len(p.quarters)}; give one number for "
            "every quarter or one per quarter",
        )


def _value_ranges(p: Portfolio) -> Iterator[tuple[str, str]]:
    for i, m in enumerate(p.mmps):
        r = m.value_range
        if r is not None and not r.low <= r.likely <= r.high:
            yield f"$.mmps[{i}].value_range", f"needs low <= likely <= high, not {r.low}, {r.likely}, {r.high}"


def _size(p: Portfolio) -> Iterator[tuple[str, str]]:
    n = scenario_count(p)
    if n > LIMITS.max_scenarios:
        yield (
            "$.scenario_count",
            f"{len(p.scenarios)} scenarios times {p.scenario_count} samples of the value ranges make {n:,} "
            f"scenarios; this server scores plans over at most {LIMITS.max_scenarios:,}",
        )


def _risk(p: Portfolio) -> Iterator[tuple[str, str]]:
    d = p.risk.distances
    if d is None:
        return
    n = scenario_count(p)
    if len(d) != n:
        yield "$.risk.distances", f"has {len(d)} rows; it needs one per scenario ({n})"
        return
    for i, row in enumerate(d):
        if len(row) != n:
            yield f"$.risk.distances[{i}]", f"has {len(row)} entries; it needs one per scenario ({n})"
        elif row[i] != 0:
            yield f"$.risk.distances[{i}][{i}]", "a scenario's distance to itself is 0"


def _priority_units(p: Portfolio) -> Iterator[tuple[str, str]]:
    """A priority list ranks units: a group of alternatives (max 1) or an MMP in none; an MMP in two such
    groups would be two units at once."""
    if p.decision != "priority":
        return
    owner: dict[str, str] = {}
    for g, group in enumerate(p.groups):
        if group.max != 1:
            continue
        for j, mmp in enumerate(group.mmps):
            if owner.get(mmp, group.id) != group.id:
                yield (
                    f"$.groups[{g}].mmps[{j}]",
                    f"{mmp} is already an alternative in group {owner[mmp]}; with decision 'priority' an MMP "
                    "belongs to at most one group of alternatives (max 1)",
                )
            owner.setdefault(mmp, group.id)
