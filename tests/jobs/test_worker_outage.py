"""Issue 13: a database blip killed the job worker for good (`claim()` ran outside its `try`, so one
OperationalError ended the process). The worker now waits for the database with backoff, logs the outage
once, and hands a job whose run the database interrupted back to the queue, so it still ends with every
plan stored exactly once.

The outages here are made by making the storage calls raise the error a dropped connection raises;
tests/jobs/test_postgres_restart.py restarts a real PostgreSQL server under a running worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bench.generator import random_portfolio
from jobs.settings import JobSettings
from jobs.submit import submit
from jobs.worker import Worker
from models import load_portfolio
from models.auth import DEFAULT_TENANT
from models.jobs import BatchJob
from models.settings import SolverSettings
from runtime import InlineExecutor, SolveTask
from storage import repo

SETTINGS = SolverSettings(time_limit_s=10)


def blip(times: int, real: Callable[..., Any]) -> tuple[Callable[..., Any], list[int]]:
    """`real`, failing its first `times` calls as a database that went away does."""
    calls = [0]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] <= times:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        return real(*args, **kwargs)

    return flaky, calls


def batch(db, n: int = 3) -> str:
    portfolios = []
    for seed in range(n):
        data = random_portfolio(seed + 1, 12, 4, 4)
        data["name"] = f"outage {seed}"
        portfolios.append(load_portfolio(data))
    with db.session() as session:
        return submit(session, DEFAULT_TENANT, BatchJob(kind="batch", portfolios=portfolios, settings=SETTINGS)).id


def quick(**overrides: Any) -> JobSettings:
    return JobSettings(**{"heartbeat_s": 0.2, "poll_s": 0.05, "max_backoff_s": 0.2, **overrides})


def one_plan_per_part(db, job_id: str) -> None:
    with db.session() as session:
        job = repo.get_job(session, DEFAULT_TENANT, job_id)
        parts = repo.parts_of(session, job_id)
        assert job.status == "succeeded", (job.status, job.error)
        assert all(p.status == "succeeded" and p.plan_id for p in parts)
        plans = repo.list_plans_of_job(session, job_id)
        assert sorted(p.part_index for p in plans) == [p.index for p in parts]


@pytest.mark.slow
def test_a_worker_survives_failed_claims_and_logs_the_outage_once(sqlite_database, monkeypatch, caplog):
    db = sqlite_database
    job_id = batch(db)
    flaky, calls = blip(4, repo.claim)
    monkeypatch.setattr(repo, "claim", flaky)
    with caplog.at_level(logging.WARNING, logger="vmo.worker"):
        ran = Worker(db, quick(), executor=InlineExecutor()).run(until_idle=True)
    assert ran == 1 and calls[0] >= 5
    one_plan_per_part(db, job_id)
    messages = [r.getMessage() for r in caplog.records if r.name == "vmo.worker"]
    assert sum("cannot be reached" in m for m in messages) == 1, messages
    assert sum("is back after" in m for m in messages) == 1, messages


@pytest.mark.slow
def test_a_job_the_database_interrupts_is_handed_back_and_ends_with_each_plan_once(sqlite_database, monkeypatch):
    db = sqlite_database
    job_id = batch(db)
    # The second part's plan cannot be stored (the database went away): the run stops, the job is handed
    # back (the release fails once more), then claimed again; the finished part is not solved twice.
    failures = {"lock": 0, "release": 0}
    real_lock, real_release = repo.lock_part, repo.release

    def lock_part(session, job_id, worker, index):
        if index == 1 and failures["lock"] == 0:
            failures["lock"] += 1
            raise OperationalError("UPDATE", {}, Exception("terminating connection due to administrator command"))
        return real_lock(session, job_id, worker, index)

    def release(*args: Any) -> None:
        if failures["release"] == 0:
            failures["release"] += 1
            raise OperationalError("UPDATE", {}, Exception("the database system is starting up"))
        real_release(*args)

    monkeypatch.setattr(repo, "lock_part", lock_part)
    monkeypatch.setattr(repo, "release", release)
    solved: list[str] = []

    class Counting(InlineExecutor):
        def submit(self, task: SolveTask):
            solved.append(task.portfolio["name"])
            return super().submit(task)

    assert Worker(db, quick(), executor=Counting()).run(until_idle=True) == 2  # the claim, and the claim again
    assert failures == {"lock": 1, "release": 1}
    one_plan_per_part(db, job_id)
    assert solved.count("outage 0") == 1 and solved.count("outage 1") == 2 and solved.count("outage 2") == 1
    with db.session() as session:
        assert repo.get_job(session, DEFAULT_TENANT, job_id).attempts == 1  # a job handed back is not a lost attempt


@pytest.mark.slow
@pytest.mark.parametrize("failing", ["worker_seen", "purge_finished_jobs"])
def test_housekeeping_errors_do_not_end_the_worker(sqlite_database, monkeypatch, failing):
    db = sqlite_database
    job_id = batch(db, 1)
    flaky, calls = blip(2, getattr(repo, failing))
    monkeypatch.setattr(repo, failing, flaky)
    assert Worker(db, quick(job_retention_days=1), executor=InlineExecutor()).run(until_idle=True) == 1
    assert calls[0] >= 3
    one_plan_per_part(db, job_id)
