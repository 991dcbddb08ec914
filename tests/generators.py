"""Portfolio generators for property tests and benchmarks.

* `portfolios()` is a hypothesis strategy for small, valid portfolio dicts (they
  pass `models.load_portfolio`) that exercise every rule of DESIGN.md section 3:
  per-quarter and scalar amounts, stream guardrails, run cost, max_change with
  and without a baseline budget, shared and stream pools with purchasable
  capacity, windows, cost of delay, mandatory / excluded MMPs, acyclic
  `requires`, `excludes`, investment guardrails, key results, a baseline plan
  with a change penalty, WSJF-only values and decimal amounts. Instances are
  small enough that CP-SAT proves them in well under a second.
* `random_portfolio(seed, n_mmps, n_quarters, n_pools)` (from `bench.generator`)
  is a plain seeded generator for realistic large portfolios whose budget,
  capacity and guardrails bind, used by the time-limit test and benchmarks.

Both return JSON-like dicts (ints, floats that are exact binary fractions such
as 0.5 or 12.5, strings, lists, dicts), never pydantic objects.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bench.generator import quarter_labels, random_portfolio

__all__ = ["constraint_kinds", "portfolios", "quarter_labels", "random_portfolio"]

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
    return data


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
    for g in data.get("investment_guardrails", []):
        kinds.update(k for k in ("min_share", "max_share") if k in g)
    if data.get("baseline_plan"):
        kinds.add("baseline_plan")
    if data.get("change_penalty"):
        kinds.add("change_penalty")
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
