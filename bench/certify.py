"""Certification on real amounts: seeded portfolios whose every amount is an ordinary, non-round integer,
solved by the default backend (which must prove each optimal) and by CBC (which must find the same value)."""

from __future__ import annotations

import time

from bench.generator import random_portfolio, unround
from models import SolverSettings, load_portfolio
from optimizer import solve, validate


def portfolio(seed: int):
    n_mmps = 30 + (seed * 7) % 51  # 30 to 80 MMPs
    return load_portfolio(unround(random_portfolio(seed=5000 + seed, n_mmps=n_mmps, n_quarters=4, n_pools=6), seed))


def run(count: int, time_limit: float, cbc_time_limit: float) -> tuple[list[dict], dict]:
    rows = []
    for seed in range(count):
        p = portfolio(seed)
        started = time.perf_counter()
        plan = solve(p, SolverSettings(time_limit_s=time_limit))
        seconds = time.perf_counter() - started
        reference = solve(p, SolverSettings(backend="cbc", time_limit_s=cbc_time_limit))
        for each in (plan, reference):
            assert validate(p, each) == [], f"seed {seed}: a plan failed the validator"
        rows.append(
            {
                "seed": seed,
                "mmps": len(p.mmps),
                "status": plan.status,
                "seconds": seconds,
                "value": float(plan.objective) if plan.objective is not None else None,
                "money_resolution": str(plan.solver.money_resolution),
                "cbc_status": reference.status,
                "cbc_value": float(reference.objective) if reference.objective is not None else None,
                "same_value": plan.objective == reference.objective,
            }
        )
    summary = {
        "portfolios": len(rows),
        "optimal": sum(r["status"] == "optimal" for r in rows),
        "same_as_cbc": sum(r["same_value"] for r in rows),
        "cbc_optimal": sum(r["cbc_status"] == "optimal" for r in rows),
        "max_seconds": max(r["seconds"] for r in rows),
    }
    return rows, summary
