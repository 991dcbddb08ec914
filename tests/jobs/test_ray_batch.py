"""The batch job on Ray: the same worker, its fan-out through RayExecutor on a local Ray instance."""

from __future__ import annotations

import threading
import time

import pytest

from bench.generator import random_portfolio
from jobs.results import job_result
from jobs.settings import JobSettings
from jobs.submit import submit
from jobs.worker import Worker
from models import Portfolio, load_portfolio
from models.auth import DEFAULT_TENANT
from models.jobs import BatchJob
from optimizer import validate
from runtime.executors import RayExecutor
from storage import repo

TENANT = DEFAULT_TENANT  # the tenant these tests store in (the isolation tests use others)

pytestmark = pytest.mark.slow  # starts a Ray instance


@pytest.fixture(scope="module")
def ray_executor():
    executor = RayExecutor(None)  # no address: a local Ray instance, as `VMO_RAY_ADDRESS=local` gives
    yield executor
    executor.close()


def _batch(db, portfolios: list[Portfolio], time_limit_s: float) -> str:
    request = BatchJob(kind="batch", portfolios=portfolios, settings={"time_limit_s": time_limit_s, "workers": 1})
    with db.session() as session:
        return submit(session, TENANT, request).id


def test_a_batch_job_runs_on_ray_with_every_plan_stored_and_valid(sqlite_database, ray_executor):
    portfolios = [load_portfolio(random_portfolio(seed, 15, 3, 2)) for seed in range(6)]
    job_id = _batch(sqlite_database, portfolios, 5)

    Worker(sqlite_database, JobSettings(), ray_executor).run(until_idle=True)

    with sqlite_database.session() as session:
        job = repo.get_job(session, TENANT, job_id)
        result = job_result(session, job)
        stored = repo.list_plans_of_job(session, job_id)
    assert job.status == "succeeded" and job.done == job.total == 6
    assert [p.part_index for p in stored] == list(range(6))
    for portfolio, plan in zip(portfolios, result.plans, strict=True):
        assert plan is not None and plan.solver.workers == 1  # solver status is the plan's own (may be infeasible)
        assert validate(portfolio, plan) == []
    assert sum(plan.status == "optimal" for plan in result.plans) >= 4


def test_cancel_stops_ray_tasks_and_keeps_finished_parts(sqlite_database, ray_executor):
    quick = [load_portfolio(random_portfolio(seed, 12, 2, 2)) for seed in range(2)]
    slow = [load_portfolio(random_portfolio(100 + seed, 1500, 8, 6)) for seed in range(2)]
    job_id = _batch(sqlite_database, quick + slow, 120)
    worker = Worker(sqlite_database, JobSettings(heartbeat_s=0.2), ray_executor)
    thread = threading.Thread(target=worker.run, kwargs={"until_idle": True})
    thread.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with sqlite_database.session() as session:
                if repo.get_job(session, TENANT, job_id).done >= 2:
                    break
            time.sleep(0.2)
        with sqlite_database.session() as session:
            assert repo.request_cancel(session, TENANT, job_id).status == "running"
        asked = time.monotonic()
        thread.join(timeout=60)
        stopped_in = time.monotonic() - asked
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert stopped_in < 30, f"the canceled job took {stopped_in:.1f} s to stop (time limit 120 s)"
    with sqlite_database.session() as session:
        job = repo.get_job(session, TENANT, job_id)
        parts = repo.parts_of(session, job_id)
    assert job.status == "canceled"
    assert [p.status for p in parts[:2]] == ["succeeded", "succeeded"]
    assert all(p.plan_id is not None for p in parts[:2])
    assert [p.status for p in parts[2:]] == ["canceled", "canceled"]
