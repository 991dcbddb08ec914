"""Uplift: the optimizer's value over the WSJF ranking on a fixed seeded set of realistic portfolios."""

from __future__ import annotations

from bench.generator import random_portfolio
from models import SolverSettings, load_portfolio
from optimizer import solve, validate


def run(count: int, time_limit: float) -> tuple[list[dict], dict]:
    rows = []
    for seed in range(count):
        portfolio = load_portfolio(random_portfolio(seed=1000 + seed, n_mmps=60, n_quarters=4, n_pools=12))
        best = solve(portfolio, SolverSettings(time_limit_s=time_limit))
        ranked = solve(portfolio, SolverSettings(backend="wsjf-greedy", time_limit_s=time_limit))
        for plan in (best, ranked):
            assert not plan.selected or validate(portfolio, plan) == []
        if best.objective is None or not ranked.objective:
            continue
        rows.append(
            {
                "seed": 1000 + seed,
                "optimizer": float(best.objective),
                "status": best.status,
                "wsjf": float(ranked.objective),
                "uplift_pct": float(100 * (best.objective - ranked.objective) / ranked.objective),
            }
        )
    uplifts = [r["uplift_pct"] for r in rows]
    summary = {
        "portfolios": len(rows),
        "optimal": sum(r["status"] == "optimal" for r in rows),
        "mean_pct": sum(uplifts) / len(uplifts) if uplifts else 0.0,
        "min_pct": min(uplifts, default=0.0),
        "max_pct": max(uplifts, default=0.0),
    }
    return rows, summary
