"""Seeded realistic portfolios for benchmarks and the large-instance tests.

`random_portfolio(seed, n_mmps, n_quarters, n_pools)` returns a JSON-like dict
(it passes `models.load_portfolio`); the same arguments always give the same
portfolio, so benchmark runs compare like with like.
"""

from __future__ import annotations

import random
from typing import Any


def quarter_labels(n: int, first_year: int = 2027) -> list[str]:
    """`n` consecutive quarter labels starting at first_year Q1."""
    return [f"{first_year + q // 4}Q{q % 4 + 1}" for q in range(n)]


def random_portfolio(seed: int, n_mmps: int, n_quarters: int, n_pools: int) -> dict[str, Any]:
    """A realistic, valid, larger portfolio: the same seed always gives the same portfolio.

    Value streams own most pools (a few are shared platform teams); MMPs depend on
    earlier MMPs of their stream, some are alternatives, a few are mandatory and
    cheap, categories carry investment guardrails, and budget and capacity are set
    to roughly half of what the backlog asks for, so both bind.
    """
    rng = random.Random(seed)
    quarters = quarter_labels(n_quarters)
    T = n_quarters
    n_streams = max(1, min(12, n_pools // 4 or 1))
    streams = [f"vs{v}" for v in range(n_streams)]
    n_shared = max(0, n_pools // 10)
    pools: list[dict[str, Any]] = []
    stream_pools: dict[str, list[str]] = {s: [] for s in streams}
    for p in range(n_pools):
        pool: dict[str, Any] = {"id": f"team-{p}"}
        if p >= n_pools - n_shared:
            pool["name"] = f"Shared platform team {p}"
        else:
            stream = streams[p % n_streams]
            pool["value_stream"] = stream
            stream_pools[stream].append(pool["id"])
        pools.append(pool)
    shared = [pool["id"] for pool in pools if "value_stream" not in pool]
    if not any(stream_pools.values()):  # very few pools: make the first one a stream pool
        pools[0]["value_stream"] = streams[0]
        stream_pools[streams[0]].append(pools[0]["id"])
        shared = [pool["id"] for pool in pools if "value_stream" not in pool]

    categories = ["business", "enabler", "tech-debt", "compliance"]
    weights = [0.6, 0.2, 0.15, 0.05]
    key_results = [
        {"id": f"kr-{k}", "name": f"Key result {k}", "target": rng.choice([10, 20, 50]), "value_per_unit": 20_000}
        for k in range(max(1, n_mmps // 100))
    ]
    mmps: list[dict[str, Any]] = []
    by_stream: dict[str, list[int]] = {s: [] for s in streams}
    demand_total = {pool["id"]: [0.0] * T for pool in pools}
    cost_total = [0] * T
    stream_cost = {s: 0 for s in streams}
    for i in range(n_mmps):
        stream = rng.choice(streams)
        duration = rng.choices([1, 2, 3], weights=[0.45, 0.4, 0.15])[0]
        duration = min(duration, T)
        per_quarter_cost = rng.randrange(50_000, 600_000, 10_000)
        cost = [per_quarter_cost if rng.random() > 0.1 else 0 for _ in range(duration)]
        own = stream_pools[stream] or [pools[0]["id"]]
        demand: dict[str, list[float]] = {}
        for pid in rng.sample(own, k=min(len(own), rng.choice([1, 1, 2]))):
            demand[pid] = [rng.choice([1, 1, 2, 2, 3, 0.5]) for _ in range(duration)]
        if shared and rng.random() < 0.2:
            demand[rng.choice(shared)] = [rng.choice([0.5, 1]) for _ in range(duration)]
        m: dict[str, Any] = {
            "id": f"mmp-{i:04d}",
            "name": f"MMP {i}",
            "value_stream": stream,
            "value": int(sum(cost) * rng.uniform(0.5, 4.0)) // 10_000 * 10_000,
            "cost": cost,
            "demand": demand,
            "category": rng.choices(categories, weights=weights)[0],
            "wsjf": {
                "business_value": rng.randint(1, 20),
                "time_criticality": rng.randint(1, 20),
                "risk_reduction": rng.randint(1, 20),
                "job_size": rng.choice([1, 2, 3, 5, 8, 13]),
            },
        }
        if rng.random() < 0.3:
            m["cost_of_delay"] = rng.randrange(10_000, 200_000, 10_000)
        if rng.random() < 0.15 and duration < T:
            m["earliest_start"] = quarters[rng.randrange(0, T - duration + 1)]
        if rng.random() < 0.15:
            first = quarters.index(m.get("earliest_start", quarters[0]))
            m["deadline"] = quarters[rng.randrange(min(first + duration - 1, T - 1), T)]
        earlier = by_stream[stream]
        if earlier and rng.random() < 0.25:
            recent = earlier[-20:]
            m["requires"] = [mmps[j]["id"] for j in rng.sample(recent, k=min(len(recent), rng.choice([1, 1, 2])))]
        if earlier and rng.random() < 0.05:
            m["excludes"] = [mmps[rng.choice(earlier[-10:])]["id"]]
        if rng.random() < 0.1:
            m["key_results"] = {rng.choice(key_results)["id"]: rng.choice([1, 2, 5])}
        if rng.random() < 0.01:
            m["excluded"] = True
        mmps.append(m)
        by_stream[stream].append(i)
        for pid, profile in demand.items():
            for k, u in enumerate(profile):
                demand_total[pid][min(k, T - 1)] += u
        for k, c in enumerate(cost):
            cost_total[min(k, T - 1)] += c
        stream_cost[stream] += sum(cost)

    # A few cheap, unconstrained MMPs are mandatory (compliance work that must happen).
    candidates = [
        m
        for m in mmps
        if not m.get("requires") and not m.get("excludes") and not m.get("excluded") and len(m["cost"]) == 1
    ]
    for m in rng.sample(candidates, k=min(len(candidates), max(1, n_mmps // 150))):
        m["mandatory"] = True
        m.pop("earliest_start", None)
        m.pop("deadline", None)
        m["cost"] = [min(m["cost"][0], 100_000)]
        m["demand"] = {pid: [0.5] for pid in list(m["demand"])[:1]}

    # Capacity about half of the total demand spread over the horizon (it binds).
    for pool in pools:
        need = sum(demand_total[pool["id"]]) / T
        pool["capacity"] = max(1, round(need * rng.uniform(0.3, 0.6)))
        if rng.random() < 0.3:
            pool["extra_capacity"] = [0] + [rng.choice([0, 1, 2]) for _ in range(T - 1)]
            pool["extra_cost"] = rng.randrange(50_000, 200_000, 10_000)

    # Money about 40 % of the backlog's cost per quarter (it binds), guardrails per stream.
    total = sum(sum(m["cost"]) for m in mmps)
    per_quarter_budget = max(1_000_000, int(total / T * 0.4) // 100_000 * 100_000)
    value_streams = []
    for v, s in enumerate(streams):
        share = stream_cost[s] / T / max(1, per_quarter_budget)
        vs: dict[str, Any] = {"id": s, "name": f"Value stream {v}"}
        run = rng.randrange(0, 200_000, 50_000)
        if run:
            vs["run_cost"] = run
        vs["min_budget"] = run
        vs["max_budget"] = max(run + 500_000, int(per_quarter_budget * min(1.0, share * 0.8)) // 100_000 * 100_000)
        if rng.random() < 0.4:
            vs["max_change"] = rng.choice([0.25, 0.5])
            if rng.random() < 0.5:
                vs["baseline_budget"] = vs["max_budget"] // 2 // 100_000 * 100_000 + run
        value_streams.append(vs)
    run_total = sum(vs.get("run_cost", 0) for vs in value_streams)
    budget = [per_quarter_budget + run_total for _ in range(T)]

    guardrails = [
        {"category": "enabler", "min_share": 0.1},
        {"category": "tech-debt", "min_share": 0.05, "max_share": 0.3},
        {"category": "business", "max_share": 0.85},
    ]
    used = {m["category"] for m in mmps}
    data: dict[str, Any] = {
        "name": f"Random portfolio {seed} ({n_mmps} MMPs, {n_quarters} quarters, {n_pools} pools)",
        "currency": "USD",
        "quarters": quarters,
        "budget": budget,
        "value_streams": value_streams,
        "pools": pools,
        "mmps": mmps,
        "investment_guardrails": [g for g in guardrails if g["category"] in used],
        "key_results": key_results,
    }
    return data


def unround(data: dict[str, Any], seed: int) -> dict[str, Any]:
    """The portfolio with every money amount nudged to an ordinary, non-round integer (816,451 rather
    than 820,000), as real estimates and budgets are; the structure (what binds) stays as it was."""
    rng = random.Random(seed)

    def nudge(amount: Any) -> Any:
        if isinstance(amount, list):
            return [nudge(a) for a in amount]
        if not amount:
            return amount
        return max(1, int(amount * rng.uniform(0.995, 1.005)) + rng.randint(1, 99))

    out = {**data, "budget": nudge(data["budget"])}
    out["value_streams"] = [
        {k: nudge(v) if k in ("min_budget", "max_budget", "run_cost", "baseline_budget") else v for k, v in vs.items()}
        for vs in data["value_streams"]
    ]
    out["pools"] = [{k: nudge(v) if k == "extra_cost" else v for k, v in pool.items()} for pool in data["pools"]]
    out["mmps"] = [
        {k: nudge(v) if k in ("value", "cost", "cost_of_delay") else v for k, v in m.items()} for m in data["mmps"]
    ]
    out["key_results"] = [{**k, "value_per_unit": nudge(k["value_per_unit"])} for k in data.get("key_results", [])]
    for vs in out["value_streams"]:  # keep every stream's guardrails consistent after the nudges
        if "max_budget" in vs and vs.get("min_budget", 0) > vs["max_budget"]:
            vs["min_budget"] = vs["max_budget"]
    return out
