"""Portfolio generators for property tests and benchmarks.

* `portfolios()` is a hypothesis strategy for small, valid portfolio dicts (they
  pass `models.load_portfolio`) that exercise every rule of docs/design.md, section 3:
  per-quarter and scalar amounts, stream guardrails, run cost, max_change with
  and without a baseline budget, shared and stream pools with purchasable
  capacity, windows, cost of delay, mandatory / excluded MMPs, acyclic
  `requires`, `excludes`, investment guardrails, key results, a baseline plan
  with a change penalty, WSJF-only values and decimal amounts, and the planning
  cycle (an `as_of` quarter, in-flight MMPs that may be stoppable with a salvage
  value, done MMPs, actual spend and key-result progress). Instances are
  small enough that CP-SAT proves them in well under a second.
* `random_portfolio(seed, n_mmps, n_quarters, n_pools)` (from `bench.generator`)
  is a plain seeded generator for realistic large portfolios whose budget,
  capacity and guardrails bind, used by the time-limit test and benchmarks.

Both return JSON-like dicts (ints, floats that are exact binary fractions such
as 0.5 or 12.5, strings, lists, dicts), never pydantic objects.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from bench.generator import quarter_labels, random_portfolio

__all__ = [
    "constraint_kinds",
    "portfolios",
    "quarter_labels",
    "random_portfolio",
    "stochastic_portfolio",
    "with_cents",
]

CATEGORIES = ["business", "enabler", "tech-debt"]


# --------------------------------------------------------------------------- hypothesis


@st.composite
def _amount(draw, lo: int, hi: int, step: int = 10, decimals: bool = True) -> int | float:
    """A round amount in [lo, hi] (multiples of `step`), occasionally with a .5 (e.g. 12.5)."""
    value = draw(st.integers(lo // step, hi // step)) * step
    if decimals and draw(st.integers(0, 9)) == 0:
        return value + 2.5 if value + 2.5 <= hi else value / 2 if value else 0.5
    return value


@st.composite
def _per_quarter(draw, T: int, lo: int, hi: int, step: int = 10, decimals: bool = True):
    """One amount for every quarter, or a list with one per quarter."""
    if draw(st.booleans()):
        return draw(_amount(lo, hi, step, decimals))
    return [draw(_amount(lo, hi, step, decimals)) for _ in range(T)]


def _expand(amount, T: int) -> list:
    return list(amount) if isinstance(amount, list) else [amount] * T


@st.composite
def _units(draw, lo: int, hi: int, decimals: bool = True) -> int | float:
    """Capacity units, occasionally halves (0.5, 2.5)."""
    value = draw(st.integers(lo, hi))
    if decimals and draw(st.integers(0, 7)) == 0:
        return value + 0.5 if value + 0.5 <= hi else max(value - 0.5, 0)
    return value


@st.composite
def _value_stream(draw, i: int, T: int, fine: bool) -> dict[str, Any]:
    vs: dict[str, Any] = {"id": f"vs{i}"}
    if draw(st.booleans()):
        vs["name"] = f"Value stream {i}"
    lows = None
    if draw(st.integers(0, 3)) == 0:
        vs["min_budget"] = draw(_per_quarter(T, 0, 40, decimals=fine))
        lows = _expand(vs["min_budget"], T)
    if draw(st.integers(0, 2)) == 0:
        # max_budget >= min_budget quarter by quarter (the input checks insist).
        lo = lows or [0] * T
        if draw(st.booleans()) and lows is None:
            vs["max_budget"] = draw(_amount(0, 150, decimals=fine))
        else:
            vs["max_budget"] = [low + draw(_amount(0, 120, decimals=fine)) for low in lo]
    if draw(st.integers(0, 2)) == 0:
        vs["run_cost"] = draw(_per_quarter(T, 0, 20, decimals=fine))
    if draw(st.integers(0, 3)) == 0:
        vs["max_change"] = draw(st.sampled_from([0, 0.25, 0.5, 1, 2]))
        if draw(st.booleans()):
            vs["baseline_budget"] = draw(_amount(0, 100, decimals=fine))
    elif draw(st.integers(0, 9)) == 0:
        vs["baseline_budget"] = draw(_amount(0, 100, decimals=fine))  # without max_change it limits nothing
    return vs


@st.composite
def _pool(draw, i: int, T: int, n_streams: int, fine: bool, fine_units: bool) -> dict[str, Any]:
    pool: dict[str, Any] = {"id": f"p{i}"}
    if draw(st.integers(0, 2)) > 0:
        pool["value_stream"] = f"vs{draw(st.integers(0, n_streams - 1))}"
    if draw(st.booleans()):
        pool["capacity"] = draw(_units(0, 8, fine_units))
    else:
        pool["capacity"] = [draw(_units(0, 8, fine_units)) for _ in range(T)]
    if draw(st.integers(0, 2)) == 0:
        if draw(st.booleans()):
            pool["extra_capacity"] = draw(_units(0, 3, fine_units))
        else:
            pool["extra_capacity"] = [draw(_units(0, 3, fine_units)) for _ in range(T)]
        if draw(st.integers(0, 3)) > 0:
            pool["extra_cost"] = draw(_amount(0, 30, step=5, decimals=fine))
    return pool


@st.composite
def _mmp(
    draw,
    i: int,
    quarters: list[str],
    n_streams: int,
    n_pools: int,
    n_krs: int,
    n: int,
    mandatory: bool,
    fine: bool,
    fine_units: bool,
) -> dict[str, Any]:
    T = len(quarters)
    duration = draw(st.integers(1, 3))
    m: dict[str, Any] = {"id": f"m{i}", "value_stream": f"vs{draw(st.integers(0, n_streams - 1))}"}
    if draw(st.integers(0, 7)) == 0:
        # A plain WSJF backlog item: the WSJF cost of delay is its value.
        m["wsjf"] = {
            "business_value": draw(st.integers(0, 20)),
            "time_criticality": draw(st.integers(0, 20)),
            "risk_reduction": draw(st.integers(0, 20)),
            "job_size": draw(st.integers(1, 13)),
        }
    elif draw(st.integers(0, 9)) == 0:
        m["value"] = -draw(_amount(0, 60, decimals=fine))  # compliance work: a value that costs
    else:
        m["value"] = draw(_amount(0, 200, decimals=fine))
        if draw(st.integers(0, 5)) == 0:
            m["wsjf"] = {"business_value": 5, "time_criticality": 3, "risk_reduction": 1, "job_size": 3}
    m["cost"] = [draw(_amount(0, 50, decimals=fine)) for _ in range(duration)]
    demand = {}
    for p in range(n_pools):
        if draw(st.integers(0, 2)) == 0:
            demand[f"p{p}"] = [draw(_units(0, 5, fine_units)) for _ in range(duration)]
    if demand:
        m["demand"] = demand
    if draw(st.integers(0, 3)) == 0:
        m["earliest_start"] = quarters[draw(st.integers(0, T - 1))]
    if draw(st.integers(0, 3)) == 0:
        m["deadline"] = quarters[draw(st.integers(0, T - 1))]
    if draw(st.integers(0, 2)) == 0:
        m["cost_of_delay"] = draw(_amount(0, 80, decimals=fine))
    if mandatory and draw(st.integers(0, 4)) == 0:
        m["mandatory"] = True
    if draw(st.integers(0, 13)) == 0 and (not m.get("mandatory") or draw(st.integers(0, 3)) == 0):
        m["excluded"] = True  # mandatory and excluded at once is a contradiction: rarer still
    if i > 0 and draw(st.integers(0, 2)) == 0:
        # Only MMPs with a lower index: `requires` is acyclic by construction.
        m["requires"] = sorted(draw(st.sets(st.integers(0, i - 1), min_size=1, max_size=min(2, i))))
        m["requires"] = [f"m{j}" for j in m["requires"]]
    if i > 0 and draw(st.integers(0, 5)) == 0:
        m["requires_any"] = [f"m{j}" for j in sorted(draw(st.sets(st.integers(0, i - 1), min_size=1, max_size=2)))]
    if n > 1 and draw(st.integers(0, 3)) == 0:
        others = [j for j in range(n) if j != i]
        m["excludes"] = [f"m{j}" for j in sorted(draw(st.sets(st.sampled_from(others), min_size=1, max_size=2)))]
    if draw(st.integers(0, 3)) > 0:
        m["category"] = draw(st.sampled_from(CATEGORIES))
    if n_krs and draw(st.booleans()):
        krs = draw(st.sets(st.integers(0, n_krs - 1), min_size=1))
        m["key_results"] = {f"kr{k}": draw(st.sampled_from([0, 0.5, 1, 1.5, 2, 3])) for k in sorted(krs)}
    return m


@st.composite
def _guardrail(draw, category: str) -> dict[str, Any]:
    shares = [0, 0.1, 0.2, 0.25, 0.3, 0.5, 0.75, 1]
    kind = draw(st.sampled_from(["min", "max", "both"]))
    g: dict[str, Any] = {"category": category}
    if kind in ("min", "both"):
        g["min_share"] = draw(st.sampled_from(shares[:6]))
    if kind in ("max", "both"):
        g["max_share"] = draw(st.sampled_from([s for s in shares if s >= g.get("min_share", 0)]))
    return g


@st.composite
def portfolios(draw, max_quarters: int = 4, max_mmps: int = 8) -> dict[str, Any]:
    """A small valid portfolio dict touching every kind of constraint (each in some examples)."""
    T = draw(st.integers(1, max_quarters))
    quarters = quarter_labels(T)
    n_streams = draw(st.integers(1, 3))
    n_pools = draw(st.integers(1, 4))
    n_mmps = draw(st.integers(2, max_mmps))
    n_krs = draw(st.integers(0, 2))
    data: dict[str, Any] = {"name": "generated", "quarters": quarters}
    if draw(st.booleans()):
        data["currency"] = "EUR"
    # Decimal money (12.5) and decimal capacity units (0.5) in some portfolios, only round ones in others:
    # the solver scales each to its own resolution, and the two need not agree.
    fine, fine_units = draw(st.booleans()), draw(st.booleans())
    data["budget"] = draw(_per_quarter(T, 0, 200, step=draw(st.sampled_from([10, 5])), decimals=fine))
    data["value_streams"] = [draw(_value_stream(v, T, fine)) for v in range(n_streams)]
    data["pools"] = [draw(_pool(p, T, n_streams, fine, fine_units)) for p in range(n_pools)]
    mandatory = draw(st.integers(0, 3)) == 0  # mandatory MMPs are rare: only in some portfolios
    data["mmps"] = [
        draw(_mmp(i, quarters, n_streams, n_pools, n_krs, n_mmps, mandatory, fine, fine_units)) for i in range(n_mmps)
    ]
    used = sorted({m["category"] for m in data["mmps"] if "category" in m})
    if used and draw(st.booleans()):
        chosen = draw(st.sets(st.sampled_from(used), min_size=1))
        data["investment_guardrails"] = [draw(_guardrail(c)) for c in sorted(chosen)]
    if n_krs:
        data["key_results"] = [
            {
                "id": f"kr{k}",
                "target": draw(st.sampled_from([0.5, 1, 2, 2.5, 4])),
                "value_per_unit": draw(_amount(0, 60, step=5, decimals=fine)),
            }
            for k in range(n_krs)
        ]
    if draw(st.integers(0, 2)) == 0:
        planned = draw(st.sets(st.integers(0, n_mmps - 1), max_size=n_mmps))
        data["baseline_plan"] = {f"m{i}": quarters[draw(st.integers(0, T - 1))] for i in sorted(planned)}
        if draw(st.integers(0, 3)) > 0:
            data["change_penalty"] = draw(_amount(0, 40, decimals=fine))
    elif draw(st.integers(0, 9)) == 0:
        data["change_penalty"] = draw(_amount(0, 40, decimals=fine))  # without a baseline plan it charges nothing
    data.update(draw(_choices(n_mmps, fine)))
    if T > 1 and draw(st.integers(0, 2)) == 0:
        _cycle(draw, data, fine)
    return data


def _cycle(draw, data: dict[str, Any], fine: bool) -> None:
    """As of a later quarter: some MMPs done, some in flight (stoppable or not, with a salvage value), actual
    spend per stream and key-result progress for some past quarters."""
    quarters = data["quarters"]
    T, a = len(quarters), draw(st.integers(1, len(quarters) - 1))
    data["as_of"] = quarters[a]
    in_sets = {m for key in ("groups", "synergies") for x in data.get(key, []) for m in x["mmps"]}
    in_sets |= {m for members in data.get("together", []) for m in members}
    # Alternatives exclude each other: one is never done while the other is under way.
    alternatives: dict[str, set[str]] = {m["id"]: set(m.get("excludes", [])) for m in data["mmps"]}
    for m in data["mmps"]:
        for other in m.get("excludes", []):
            alternatives[other].add(m["id"])
    done, started_ids = set(), set()
    for m in data["mmps"]:
        d, roll = len(m["cost"]), draw(st.integers(0, 5))
        if roll == 0 and m["id"] not in in_sets and not alternatives[m["id"]] & started_ids:
            m["done"] = True
            done.add(m["id"])
        elif roll in (1, 2) and a + 1 - d <= a - 1 and a - 1 >= 0 and not alternatives[m["id"]] & done:
            started = draw(st.integers(max(0, a + 1 - d), a - 1))
            if started + d > T:
                continue
            m["started"] = quarters[started]
            started_ids.add(m["id"])
            if "earliest_start" in m and quarters.index(m["earliest_start"]) > started:
                del m["earliest_start"]
            if draw(st.booleans()) or m.get("excluded"):
                m["stoppable"] = True
                if draw(st.booleans()):
                    m["salvage_value"] = draw(_amount(0, 60, decimals=fine))
            if m["id"] in data.get("baseline_plan", {}):
                data["baseline_plan"][m["id"]] = m["started"]
    actuals = []
    for q in sorted(draw(st.sets(st.integers(0, a - 1), max_size=a))):
        actual: dict[str, Any] = {"quarter": quarters[q]}
        streams = draw(st.sets(st.sampled_from([vs["id"] for vs in data["value_streams"]])))
        actual["spent"] = {v: draw(_amount(0, 150, decimals=fine)) for v in sorted(streams)}
        if data.get("key_results") and draw(st.booleans()):
            actual["key_results"] = {data["key_results"][0]["id"]: draw(st.sampled_from([0, 0.5, 1, 3]))}
        actuals.append(actual)
    if actuals:
        data["actuals"] = actuals


@st.composite
def _choices(draw, n_mmps: int, fine: bool) -> dict[str, Any]:
    """Groups of alternatives, synergies and all-or-none sets, each in some portfolios."""
    ids = [f"m{i}" for i in range(n_mmps)]
    out: dict[str, Any] = {}
    if draw(st.integers(0, 2)) == 0:
        groups = []
        for g in range(draw(st.integers(1, 2))):
            members = sorted(draw(st.sets(st.sampled_from(ids), min_size=2, max_size=min(3, n_mmps))))
            most = draw(st.integers(1, len(members)))
            group: dict[str, Any] = {"id": f"g{g}", "mmps": members, "max": most, "min": draw(st.integers(0, 1))}
            if draw(st.booleans()):
                group["none_value"] = draw(_amount(0, 60, decimals=fine)) * draw(st.sampled_from([1, -1]))
            groups.append(group)
        out["groups"] = groups
    if draw(st.integers(0, 3)) == 0:
        members = sorted(draw(st.sets(st.sampled_from(ids), min_size=2, max_size=min(3, n_mmps))))
        value = draw(_amount(0, 80, decimals=fine)) * draw(st.sampled_from([1, -1]))
        out["synergies"] = [{"id": "s0", "mmps": members, "value": value}]
    if draw(st.integers(0, 4)) == 0:
        out["together"] = [sorted(draw(st.sets(st.sampled_from(ids), min_size=2, max_size=2)))]
    return out


def constraint_kinds(data: dict[str, Any]) -> set[str]:
    """Which kinds of rule a generated portfolio exercises (for coverage statistics)."""
    kinds = set()
    for vs in data["value_streams"]:
        for key in ("min_budget", "max_budget", "run_cost", "baseline_budget"):
            if key in vs:
                kinds.add(key)
        if "max_change" in vs:
            kinds.add("max_change+baseline" if "baseline_budget" in vs else "max_change")
    for pool in data.get("pools", []):
        kinds.add("stream_pool" if "value_stream" in pool else "shared_pool")
        if "extra_capacity" in pool:
            kinds.add("extra_capacity")
        if pool.get("extra_cost"):
            kinds.add("extra_cost")
    for m in data["mmps"]:
        for key in ("earliest_start", "deadline", "mandatory", "excluded", "requires", "excludes", "key_results"):
            if m.get(key):
                kinds.add(key)
        if m.get("cost_of_delay"):
            kinds.add("cost_of_delay")
        if "value" not in m:
            kinds.add("wsjf_value")
        if "demand" in m:
            kinds.add("demand")
        if 0 in m["cost"]:
            kinds.add("zero_cost")
        for key in ("started", "stoppable", "salvage_value", "done"):
            if m.get(key):
                kinds.add(key)
    for g in data.get("investment_guardrails", []):
        kinds.update(k for k in ("min_share", "max_share") if k in g)
    if data.get("baseline_plan"):
        kinds.add("baseline_plan")
    if data.get("change_penalty"):
        kinds.add("change_penalty")
    if data.get("as_of"):
        kinds.add("as_of")
    if data.get("actuals"):
        kinds.add("actuals")
    if _has_fraction(data):
        kinds.add("decimal_amount")
    return kinds


def _has_fraction(obj: Any) -> bool:
    if isinstance(obj, float):
        return obj != int(obj)
    if isinstance(obj, dict):
        return any(_has_fraction(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_fraction(v) for v in obj)
    return False


MONEY_FIELDS = {
    "value_streams": ("min_budget", "max_budget", "run_cost", "baseline_budget"),
    "pools": ("extra_cost",),
    "mmps": ("value", "cost", "cost_of_delay", "salvage_value"),
    "key_results": ("value_per_unit",),
}


def with_cents(data: dict[str, Any], seed: int, scale: int = 10_000) -> dict[str, Any]:
    """The same portfolio with every money amount scaled by `scale` and given ordinary cents (816,451.37
    rather than 820,000), budgets included: what the solver must count exactly, cent by cent, beside
    large budgets. The structure (what binds) stays much as it was."""
    rng = random.Random(seed)

    def cents(amount: Any) -> Any:
        if isinstance(amount, list):
            return [cents(a) for a in amount]
        if not amount:
            return amount
        return str(Decimal(str(amount)) * scale + Decimal(rng.randint(1, 99)) / 100)

    out = {**data, "budget": cents(data["budget"]), "change_penalty": cents(data.get("change_penalty", 0))}
    for collection, fields in MONEY_FIELDS.items():
        out[collection] = [
            {k: cents(v) if k in fields else v for k, v in item.items()} for item in data.get(collection, [])
        ]
    out["actuals"] = [
        {**a, "spent": {v: cents(x) for v, x in a.get("spent", {}).items()}} for a in data.get("actuals", [])
    ]
    T = len(data["quarters"])
    for vs in out["value_streams"]:  # a min budget nudged above its max is not the point here
        if "min_budget" in vs and "max_budget" in vs:
            pairs = zip(_expand(vs["min_budget"], T), _expand(vs["max_budget"], T), strict=True)
            vs["min_budget"] = [min(Decimal(lo), Decimal(hi)) for lo, hi in pairs]
    return out


def stochastic_portfolio(seed: int) -> dict[str, Any]:
    """A generated 6-10-MMP portfolio (bench.generator: budget and capacity bind) scored over two or three
    explicit scenarios: budgets cut or raised, some MMP values changed (to a negative one too); by expectation or
    CVaR (by seed), decided as one plan, a priority list or per scenario (seed modulo 3), so 100 seeds cover
    every decision with every measure."""
    rng = random.Random(seed)
    data = random_portfolio(seed, n_mmps=rng.randint(6, 10), n_quarters=rng.randint(1, 3), n_pools=rng.randint(1, 4))
    for m in data["mmps"]:  # mandatory work makes most small ones infeasible: scores are what is compared here
        m.pop("mandatory", None)
    probabilities = rng.choice([["0.5", "0.5"], ["0.25", "0.25", "0.5"], ["0.2", "0.3", "0.5"]])
    values = {m["id"]: m["value"] for m in data["mmps"] if "value" in m}
    scenarios = []
    for n, probability in enumerate(probabilities):
        scenario: dict[str, Any] = {"id": f"w{n}", "probability": probability}
        factor = rng.choice([None, 0.9, 0.95, 1.2])
        if factor is not None:
            budget = data["budget"]
            scenario["budget"] = (
                [round(b * factor) for b in budget] if isinstance(budget, list) else round(budget * factor)
            )
        changed = rng.sample(sorted(values), k=min(3, len(values)))
        scenario["value"] = {i: round(values[i] * rng.choice([0, 0.5, 2, -1])) for i in changed}
        scenarios.append(scenario)
    data["scenarios"] = scenarios
    if seed // 3 % 2:
        data["risk"] = {"measure": "cvar", "weight": rng.choice([0.3, 1]), "alpha": rng.choice([0.5, 0.8])}
    data["decision"] = ["plan", "priority", "per_scenario"][seed % 3]
    return data
