"""Scale: seeded realistic portfolios from 100 to 5,000 MMPs, each solved in a fresh process
so peak memory (max RSS) belongs to that case alone."""

from __future__ import annotations

import multiprocessing
import resource
import time

from bench.generator import random_portfolio
from models import SolverSettings, load_portfolio

DEFAULT_SIZES = "100x4x10,500x4x40,2000x4x100,5000x8x200"


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    return [tuple(int(n) for n in case.split("x")) for case in text.split(",")]  # type: ignore[misc]


def _case(n_mmps: int, quarters: int, pools: int, backend: str, time_limit: float, workers: int) -> dict:
    from optimizer import solve, validate
    from optimizer.formulation import build
    from optimizer.greedy import greedy_plan
    from optimizer.instance import build_instance

    portfolio = load_portfolio(random_portfolio(seed=n_mmps, n_mmps=n_mmps, n_quarters=quarters, n_pools=pools))
    started = time.perf_counter()
    inst = build_instance(portfolio)
    build(inst)
    greedy_plan(inst)  # the ranking plan is built before every solve (safety net, CBC warm start)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    plan = solve(portfolio, SolverSettings(backend=backend, time_limit_s=time_limit, workers=workers))
    solve_s = time.perf_counter() - started
    valid = validate(portfolio, plan) == [] if plan.selected else None
    return {
        "case": f"{n_mmps}x{quarters}x{pools}",
        "backend": backend,
        "build_s": build_s,
        "solve_s": solve_s,
        "status": plan.status,
        "objective": "-" if plan.objective is None else f"{plan.objective:,.0f}",
        "gap_pct": "-" if plan.gap is None else f"{100 * plan.gap:.3f}",
        "valid": valid,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(sizes: list[tuple[int, int, int]], backends: list[str], time_limit: float, workers: int) -> list[dict]:
    rows = []
    context = multiprocessing.get_context("spawn")
    for n_mmps, quarters, pools in sizes:
        for backend in backends:
            with context.Pool(1) as pool:
                rows.append(pool.apply(_case, (n_mmps, quarters, pools, backend, time_limit, workers)))
    return rows
