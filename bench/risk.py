"""Decisions over scenarios (issue 15): how long a priority list takes against one plan, and how many sampled
scenarios a plan needs before its value out of sample stops moving."""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

from bench.generator import random_portfolio
from models import Portfolio, SolverSettings, load_portfolio
from optimizer import solve, validate
from optimizer.uncertain import measures
from optimizer.uncertain.worlds import sample_values

MMPS = 40
EVALUATION_SAMPLES = 10_000
EVALUATION_SEED = 99_999  # other draws than any solve's seed


def budget_scenarios(seed: int, count: int) -> dict[str, Any]:
    """A 40-MMP portfolio whose budget may turn out anywhere from 60 % to 120 % of plan, equally likely."""
    data = random_portfolio(seed, n_mmps=MMPS, n_quarters=4, n_pools=8)
    budget = data["budget"]
    assert 10**6 % count == 0, "equal probabilities must be exact decimals"
    data["scenarios"] = [
        {"id": f"budget-{k}", "probability": 1 / count, "budget": _scaled(budget, 0.6 + 0.6 * k / max(1, count - 1))}
        for k in range(count)
    ]
    return data


def _scaled(budget, factor: float):
    return [round(b * factor) for b in budget] if isinstance(budget, list) else round(budget * factor)


def priority(time_limit: float, seeds: list[int], sizes: list[int]) -> list[dict]:
    """Per seed and scenario count: the priority list beside one plan for every budget (its peer)."""
    rows = []
    for seed in seeds:
        for count in sizes:
            data = budget_scenarios(seed, count)
            portfolio = load_portfolio(data)
            row: dict[str, Any] = {"seed": seed, "scenarios": count}
            for decision in ("plan", "priority"):
                p = portfolio.model_copy(update={"decision": decision})
                started = time.perf_counter()
                plan = solve(p, SolverSettings(time_limit_s=time_limit))
                row[f"{decision}_s"] = time.perf_counter() - started
                assert validate(p, plan) == [], "plan failed the validator"
                row[f"{decision}_status"] = plan.status
                row[f"{decision}_value"] = float(plan.objective or 0)
                row[f"{decision}_gap"] = plan.gap
            single = row["plan_value"]
            row["priority_over_plan_pct"] = 100 * (row["priority_value"] / single - 1) if single else 0.0
            rows.append(row)
    return rows


def ranged(seed: int, count: int) -> Portfolio:
    """A 40-MMP portfolio whose MMP values are PERT estimates from 30 % to 250 % of the likely value, scored by
    0.7 x expected value + 0.3 x CVaR at 0.9 (no cost of delay: a value then adds up linearly)."""
    data = random_portfolio(seed, n_mmps=MMPS, n_quarters=4, n_pools=8)
    for m in data["mmps"]:
        m.pop("cost_of_delay", None)
        value = m.pop("value", None)
        if value:
            m["value_range"] = {"low": value * 3 // 10, "likely": value, "high": value * 5 // 2}
        elif value is not None:
            m["value"] = value
    data["scenario_count"] = count
    data["risk"] = {"measure": "cvar", "weight": 0.3, "alpha": 0.9}
    return load_portfolio(data)


def sampling(time_limit: float, seed: int, counts: list[int]) -> list[dict]:
    """The plan chosen on n sampled scenarios, valued on 10,000 other samples."""
    # The server caps scenario_count at 1,000; the evaluation draws past it outside the solver.
    many = ranged(seed, 1).model_copy(update={"scenario_count": EVALUATION_SAMPLES})
    evaluation = sample_values(many, EVALUATION_SEED)
    rows = []
    for count in counts:
        portfolio = ranged(seed, count)
        started = time.perf_counter()
        plan = solve(portfolio, SolverSettings(time_limit_s=time_limit, seed=1))
        elapsed = time.perf_counter() - started
        assert validate(portfolio, plan) == [], "plan failed the validator"
        first = plan.scenarios[0]
        funded = [i for i in first.funded if i in first.values]
        rest = Fraction(first.value) - sum(Fraction(first.values[i]) for i in funded)  # what does not vary
        dist = [(Fraction(1, len(evaluation)), rest + sum(Fraction(s[i]) for i in funded)) for s in evaluation]
        out_of_sample = measures.score(portfolio.risk, dist, None)
        rows.append(
            {
                "samples": count,
                "seconds": elapsed,
                "status": plan.status,
                "gap": plan.gap,
                "in_sample": float(plan.objective or 0),
                "out_of_sample": float(out_of_sample),
                "expected_out": float(measures.expectation(dist)),
            }
        )
    best = max(r["out_of_sample"] for r in rows)
    for r in rows:
        r["vs_best_pct"] = 100 * (r["out_of_sample"] / best - 1) if best else 0.0
    return rows
