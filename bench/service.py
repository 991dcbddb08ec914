"""Service conditions: is a solve through the service's solver pool as strong as `vmo solve` on the same
machine, and how do solves that arrive together share the cores?

Three ways over the same seeded portfolios, each solve asking for every core:
- direct: `optimizer.solve` in this process, as `vmo solve` runs it;
- lone: through a pool of solver processes (the service's default shape), one request at a time;
- together: every request submitted to that pool at once, so the pool splits the cores between them.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import Future

from bench.generator import random_portfolio
from models import SolverSettings, load_portfolio
from models.plan import Plan
from models.portfolio import Portfolio
from optimizer import solve, validate
from runtime import SolverPool
from runtime.tasks import SolveTask

PROCESSES = 2  # VMO_POOL_SIZE's default


def portfolios(count: int, mmps: int) -> list[Portfolio]:
    return [
        load_portfolio(random_portfolio(seed=9100 + k, n_mmps=mmps, n_quarters=4, n_pools=12)) for k in range(count)
    ]


def run(count: int, mmps: int, time_limit: float) -> tuple[list[dict], dict]:
    cores = len(os.sched_getaffinity(0))
    settings = SolverSettings(time_limit_s=time_limit, workers=cores, what_it_takes=False)
    cases = portfolios(count, mmps)
    direct = [_timed(lambda p=p: solve(p, settings)) for p in cases]
    with SolverPool(PROCESSES, cores=cores) as pool:
        pool.wait_ready()
        lone = [_timed(lambda p=p: _plan(pool.submit(SolveTask.of(p, settings)))) for p in cases]
        started = time.perf_counter()
        futures = [pool.submit(SolveTask.of(p, settings)) for p in cases]
        together = [(_plan(f), time.perf_counter() - started) for f in futures]
        together_wall = time.perf_counter() - started
    rows = []
    for k, p in enumerate(cases):
        for way, (plan, seconds) in (("direct", direct[k]), ("lone", lone[k]), ("together", together[k])):
            assert validate(p, plan) == [], f"portfolio {k} ({way}) failed the validator"
            rows.append(_row(k, way, plan, seconds))
    return rows, _summary(rows, count, sum(s for _, s in lone), together_wall)


def _timed(solve_one) -> tuple[Plan, float]:
    started = time.perf_counter()
    plan = solve_one()
    return plan, time.perf_counter() - started


def _plan(future: Future) -> Plan:
    return Plan.model_validate(future.result())


def _row(k: int, way: str, plan: Plan, seconds: float) -> dict:
    return {
        "portfolio": k,
        "way": way,
        "threads": plan.solver.workers,
        "status": plan.status,
        "value": float(plan.objective) if plan.objective is not None else None,
        "gap_pct": None if plan.gap is None else 100 * float(plan.gap),
        "seconds": seconds,
    }


def _summary(rows: list[dict], count: int, lone_total_s: float, together_wall_s: float) -> dict:
    by = {(r["portfolio"], r["way"]): r for r in rows}

    def ratios(way: str) -> list[float]:
        return [(by[k, way]["value"] or 0) / by[k, "direct"]["value"] for k in range(count) if by[k, "direct"]["value"]]

    def mean_gap(way: str) -> float:
        gaps = [by[k, way]["gap_pct"] for k in range(count) if by[k, way]["gap_pct"] is not None]
        return statistics.mean(gaps) if gaps else float("nan")

    return {
        "portfolios": count,
        "lone_threads": sorted({by[k, "lone"]["threads"] for k in range(count)}),
        "together_threads": sorted({by[k, "together"]["threads"] for k in range(count)}),
        "lone_over_direct_mean": statistics.mean(ratios("lone")),
        "lone_over_direct_min": min(ratios("lone")),
        "together_over_direct_mean": statistics.mean(ratios("together")),
        "mean_gap_pct": {way: mean_gap(way) for way in ("direct", "lone", "together")},
        "lone_total_s": lone_total_s,
        "together_wall_s": together_wall_s,
        "throughput_together_over_lone": lone_total_s / together_wall_s,
    }
