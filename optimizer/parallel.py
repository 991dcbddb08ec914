"""Solve several portfolios at once through one executor seam.

`solve_all` takes any `concurrent.futures.Executor` (the API's bounded process
pool, a fresh local pool, or None to solve in this process one by one), so the
what-if and frontier code never cares where solves run.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor

from models.plan import Plan
from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer.solve import solve

Job = tuple[Portfolio, SolverSettings] | tuple[Portfolio, SolverSettings, dict[str, str]]
"""A portfolio, its settings and optionally a warm start (MMP id -> start quarter)."""


def solve_one(job: Job) -> Plan:
    """Module-level so a process pool can pickle it."""
    return solve(*job)


def solve_all(jobs: list[Job], executor: Executor | None = None) -> list[Plan]:
    """Plans in the order of `jobs`; in parallel when an executor is given."""
    if executor is None:
        return [solve_one(job) for job in jobs]
    return list(executor.map(solve_one, jobs))


def local_pool(max_workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool that starts clean interpreters (OR-Tools threads and fork do not mix)."""
    workers = max_workers or max(1, (os.cpu_count() or 1))
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
