"""Batch throughput: the same batch job run end to end by a worker (SQLite storage included) with a
local pool of 1 process and of 2, alternated in one run so machine noise hits both alike."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.generator import random_portfolio
from jobs.settings import JobSettings
from jobs.submit import submit
from jobs.worker import Worker
from models import SolverSettings, load_portfolio
from models.auth import DEFAULT_TENANT
from models.jobs import BatchJob
from runtime import SolverPool
from storage import repo
from storage.db import Database

TENANT = DEFAULT_TENANT  # the benchmark stores in the default tenant


def portfolios(count: int, mmps: int, quarters: int, pools: int) -> list:
    return [load_portfolio(random_portfolio(seed, mmps, quarters, pools)) for seed in range(count)]


def run_once(batch: list, processes: int, time_limit: float) -> dict:
    """One batch job through submit -> worker -> stored plans; seconds from claim to the last plan stored."""
    settings = SolverSettings(workers=1, time_limit_s=time_limit)
    with tempfile.TemporaryDirectory(prefix="vmo-bench-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.migrate()
        with db.session() as session:
            job_id = submit(session, TENANT, BatchJob(kind="batch", portfolios=batch, settings=settings)).id
        pool = SolverPool(processes)
        try:
            pool.wait_ready()  # every process started and OR-Tools loaded before the clock starts
            worker = Worker(db, JobSettings(heartbeat_s=1.0), pool)
            started = time.perf_counter()
            worker.run(until_idle=True)
            elapsed = time.perf_counter() - started
        finally:
            pool.close()
        with db.session() as session:
            job = repo.get_job(session, TENANT, job_id)
            statuses = [p.status for p in repo.list_plans_of_job(session, job_id)]
        db.dispose()
    if job.status != "succeeded" or len(statuses) != len(batch):
        raise RuntimeError(f"batch job ended {job.status} with {len(statuses)} of {len(batch)} plans")
    return {
        "processes": processes,
        "seconds": elapsed,
        "optimal": statuses.count("optimal"),
        "infeasible": statuses.count("infeasible"),
        "solves": len(batch),
    }


def run(count: int, time_limit: float, mmps: int, repeats: int) -> tuple[list[dict], dict]:
    batch = portfolios(count, mmps, quarters=4, pools=3)
    runs = [run_once(batch, processes, time_limit) for _ in range(repeats) for processes in (1, 2)]
    rows = []
    for processes in (1, 2):
        mine = [r for r in runs if r["processes"] == processes]
        seconds = statistics.median(r["seconds"] for r in mine)
        rows.append(
            {
                "processes": processes,
                "solves": count,
                "median_s": seconds,
                "solves_per_s": count / seconds,
                "optimal": min(r["optimal"] for r in mine),
                "infeasible": min(r["infeasible"] for r in mine),
            }
        )
    summary = {"speedup_2_vs_1": rows[0]["median_s"] / rows[1]["median_s"], "target": 1.7}
    return rows, summary
