"""Real `vmo worker` processes (`python -m cli worker`) killed and restarted around a running job.

Each worker runs in its own process group (its solver processes too), so a test can SIGKILL all of it at
once, as a crashed machine or an OOM kill of the container would. Leases are short (VMO_JOB_LEASE_S=3) so
a lost worker's job is resumed within seconds. Every plan the workers store is checked with the
independent validator against the portfolio version it was solved from.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from bench.generator import random_portfolio
from jobs.submit import submit
from models import Plan, Portfolio
from models.auth import DEFAULT_TENANT
from models.jobs import BatchJob
from optimizer import validate
from storage import repo
from storage.db import Database
from storage.tables import JobPartRow, JobRow, PlanRow, PortfolioVersionRow, now
from tests.support.databases import fresh_postgres, migrated
from tests.support.paths import ROOT
from tests.support.processes import group_alive, worker_name
from tests.support.waiting import wait_for

TENANT = DEFAULT_TENANT  # the tenant these tests store in (the isolation tests use others)

pytestmark = pytest.mark.slow  # real worker processes killed and restarted

LEASE_S = 3.0
TIME_LIMIT_S = 1.0  # each part is a 120-MMP portfolio that CP-SAT does not prove optimal this fast
WAIT_S = 120  # a bound for a loaded machine; the jobs here take seconds

T = TypeVar("T")


# ---------------------------------------------------------------- helpers


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""

    @property
    def name(self) -> str:
        """The opaque id the worker logged at start; jobs and errors name it."""
        name = worker_name(self.log.read_text(errors="replace"), self.pid)
        assert name, f"worker {self.pid} has not logged its name:\n{self.output()}"
        return name


@pytest.fixture
def workers(tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `vmo worker` processes; every one still running at the end is killed with its process group."""
    started: list[WorkerProcess] = []

    def start(url: str, **env: Any) -> WorkerProcess:
        settings = {
            "VMO_DATABASE_URL": url,
            "VMO_JOB_LEASE_S": LEASE_S,
            "VMO_HEARTBEAT_S": 0.5,
            "VMO_POLL_S": 0.2,
            "VMO_WORKER_PROCESSES": 2,
            **env,
        }
        environment = {k: v for k, v in os.environ.items() if not k.startswith("VMO_")}
        environment.update({k: str(v) for k, v in settings.items()})
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", "worker"],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, with its solver processes
            )
        worker = WorkerProcess(process, log)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if group_alive(worker.pid):
                os.killpg(worker.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(10)


def wait_ready(worker: WorkerProcess) -> None:
    """The worker logs `worker <name> on <url>` once its database is migrated and it polls for jobs."""

    def ready() -> bool:
        assert worker.process.poll() is None, f"the worker exited with {worker.process.returncode}:\n{worker.output()}"
        return worker_name(worker.output(), worker.pid) is not None

    wait_for(ready, f"worker {worker.pid} to start")


def kill_group(worker: WorkerProcess) -> None:
    """SIGKILL the worker and its solver processes at once, and wait until all of them are gone."""
    os.killpg(worker.pid, signal.SIGKILL)
    assert worker.process.wait(10) == -signal.SIGKILL
    wait_for(lambda: not group_alive(worker.pid), "the killed worker's solver processes to end", timeout=15)


def submit_batch(db: Database, seeds: range, time_limit_s: float = TIME_LIMIT_S) -> str:
    request = BatchJob.model_validate(
        {
            "kind": "batch",
            "portfolios": [random_portfolio(seed, 120, 4, 6) for seed in seeds],
            "settings": {"time_limit_s": time_limit_s, "workers": 1},
        }
    )
    with db.session() as session:
        return submit(session, TENANT, request).id


def job_of(db: Database, job_id: str) -> JobRow:
    with db.session() as session:
        return repo.get_job(session, TENANT, job_id)


def parts_of(db: Database, job_id: str) -> list[JobPartRow]:
    with db.session() as session:
        return repo.parts_of(session, job_id)


def plans_of(db: Database, job_id: str) -> list[PlanRow]:
    with db.session() as session:
        return list(session.scalars(select(PlanRow).where(PlanRow.job_id == job_id)))


def done_between(db: Database, job_id: str, low: int, worker: WorkerProcess) -> JobRow | None:
    """The job once at least `low` of its parts are done (and not all); the worker must still be running."""
    assert worker.process.poll() is None, f"the worker exited with {worker.process.returncode}:\n{worker.output()}"
    job = job_of(db, job_id)
    assert job.status in ("queued", "running"), (job.status, job.error, worker.output())
    assert job.done < job.total, f"the whole job finished before the test could interrupt it ({job.done} parts)"
    return job if job.done >= low else None


def finished_plans(db: Database, job_id: str) -> dict[int, str]:
    """Part index -> plan id of every succeeded part; each such plan is stored under the job and part."""
    parts = parts_of(db, job_id)
    plans = {p.index: p.plan_id for p in parts if p.status == "succeeded"}
    assert all(plans.values()), "a succeeded part without a plan"
    stored = {row.part_index: row.id for row in plans_of(db, job_id)}
    assert stored == plans, "the stored plans of the job do not match its succeeded parts"
    return plans


def assert_valid_plans(db: Database, job_id: str) -> list[PlanRow]:
    """Each stored plan of the job passes the validator against the portfolio version it was solved from."""
    rows = plans_of(db, job_id)
    with db.session() as session:
        for row in rows:
            version = session.get(PortfolioVersionRow, row.version_id)
            portfolio = Portfolio.model_validate(version.document)
            plan = Plan.model_validate(row.document)
            assert plan.status in ("optimal", "feasible"), (row.part_index, plan.status)
            assert validate(portfolio, plan) == [], f"the plan of part {row.part_index} failed the validator"
    return rows


def assert_each_part_once(db: Database, job_id: str, total: int) -> None:
    """Exactly one stored plan per part: no part lost, none stored twice."""
    rows = plans_of(db, job_id)
    indexes = [row.part_index for row in rows]
    with db.session() as session:
        assert repo.count_plans(session, job_id) == total
    assert len(rows) == total, f"{len(rows)} plans for {total} parts"
    assert sorted(indexes) == list(range(total)), f"part indexes {sorted(indexes)}"
    parts = parts_of(db, job_id)
    assert [p.status for p in parts] == ["succeeded"] * total
    assert {p.index: p.plan_id for p in parts} == {row.part_index: row.id for row in rows}


# ---------------------------------------------------------------- tests


def test_a_killed_worker_s_batch_is_completed_by_the_next_worker(database, workers):
    """ACCEPTANCE: killing the worker mid-batch and starting it again completes the batch with no lost or
    duplicated plan."""
    total = 12
    job_id = submit_batch(database, range(total))
    first = workers(database.url)

    job = wait_for(lambda: done_between(database, job_id, 3, first), "3 parts to finish")
    kill_group(first)

    job = job_of(database, job_id)
    assert job.status == "running" and job.attempts == 1, (job.status, job.attempts)
    assert first.name in job.worker
    assert 3 <= job.done < total
    kept = finished_plans(database, job_id)
    assert len(kept) == job.done and job.failed == 0
    lost_heartbeat = job.heartbeat_at

    second = workers(database.url)  # the worker started again
    wait_for(lambda: job_of(database, job_id).attempts == 2, "the new worker to resume the job")
    seen = now()  # the claim happened before this, and only once the lease had run out
    assert (seen - lost_heartbeat).total_seconds() >= LEASE_S, "the job was taken over while its lease held"
    resumed = job_of(database, job_id)
    assert second.name in resumed.worker
    assert resumed.heartbeat_at > lost_heartbeat
    assert "resumed" in resumed.error and first.name in resumed.error

    def finished() -> JobRow | None:
        assert second.process.poll() is None, second.output()
        job = job_of(database, job_id)
        return job if job.status not in ("queued", "running") else None

    job = wait_for(finished, "the resumed job to finish")
    assert job.status == "succeeded", (job.status, job.error, second.output())
    # attempts 2 tells it resumed; the "resumed after ..." note was the error while it ran (checked above)
    assert (job.done, job.failed, job.total, job.attempts) == (total, 0, total, 2)
    assert_each_part_once(database, job_id, total)
    after = finished_plans(database, job_id)
    assert {i: after[i] for i in kept} == kept, "parts finished before the kill were solved again"
    assert_valid_plans(database, job_id)

    second.process.terminate()  # an idle worker stops at once
    try:
        assert second.process.wait(30) == 0, second.output()
    except subprocess.TimeoutExpired:
        pytest.fail(f"the idle worker did not stop within 30 s of SIGTERM:\n{second.output()}")
    assert "Traceback" not in first.output() + second.output()


def test_a_job_that_lost_its_only_attempt_fails_and_keeps_its_plans(sqlite_database, workers):
    """VMO_MAX_ATTEMPTS=1: the next worker gives the job up with the reason, keeping what was finished."""
    db, total = sqlite_database, 6
    job_id = submit_batch(db, range(100, 100 + total))
    first = workers(db.url, VMO_MAX_ATTEMPTS=1)
    wait_for(lambda: done_between(db, job_id, 1, first), "a part to finish")
    kill_group(first)
    kept = finished_plans(db, job_id)
    assert 1 <= len(kept) < total

    later = submit_batch(db, range(200, 202), time_limit_s=0.5)  # the new worker runs this one too
    second = workers(db.url, VMO_MAX_ATTEMPTS=1)
    job = wait_for(
        lambda: (j := job_of(db, job_id)).status != "running" and j, "the lost job to be given up", timeout=60
    )
    assert job.status == "failed", (job.status, job.error, second.output())
    assert "gave up" in job.error and "stopped responding" in job.error and first.name in job.error
    assert job.attempts == 1 and job.finished_at is not None
    assert (job.done, job.total) == (total, total)
    parts = parts_of(db, job_id)
    assert {p.index for p in parts if p.status == "succeeded"} == set(kept)
    assert all(p.status == "canceled" for p in parts if p.index not in kept)
    assert finished_plans(db, job_id) == kept, "the finished parts' plans were not kept"
    assert_valid_plans(db, job_id)

    job = wait_for(
        lambda: (j := job_of(db, later)).status not in ("queued", "running") and j, "the next job to run", timeout=60
    )
    assert job.status == "succeeded", (job.status, job.error, second.output())
    assert second.name in job.worker and job.attempts == 1
    assert_each_part_once(db, later, 2)


def test_sigterm_hands_the_job_back_and_the_next_worker_completes_it(sqlite_database, workers):
    """A graceful stop: the worker exits 0 within seconds, its job is queued again with the finished parts
    kept, and the next worker does only the rest."""
    db, total = sqlite_database, 8
    job_id = submit_batch(db, range(300, 300 + total))
    first = workers(db.url)
    wait_for(lambda: done_between(db, job_id, 2, first), "2 parts to finish")

    first.process.terminate()  # SIGTERM to the worker alone, as `vmo serve` or a service manager sends it
    stopped = time.monotonic()
    try:
        code = first.process.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not stop within 15 s of SIGTERM:\n{first.output()}")
    assert code == 0, first.output()
    assert time.monotonic() - stopped < 15
    wait_for(lambda: not group_alive(first.pid), "the stopped worker's solver processes to end", timeout=15)

    job = job_of(db, job_id)
    assert job.status == "queued", (job.status, job.error)
    assert job.worker is None and job.attempts == 0 and not job.cancel_requested
    assert 2 <= job.done < total and job.failed == 0
    kept = finished_plans(db, job_id)
    assert len(kept) == job.done
    assert all(p.status == "pending" for p in parts_of(db, job_id) if p.index not in kept)

    second = workers(db.url)
    job = wait_for(lambda: (j := job_of(db, job_id)).status not in ("queued", "running") and j, "the job to finish")
    assert job.status == "succeeded", (job.status, job.error, second.output())
    assert (job.done, job.failed, job.attempts) == (total, 0, 1)
    assert second.name in job.worker
    assert_each_part_once(db, job_id, total)
    after = finished_plans(db, job_id)
    assert {i: after[i] for i in kept} == kept, "parts finished before the stop were solved again"
    assert_valid_plans(db, job_id)
    assert "Traceback" not in first.output() + second.output()


def test_two_workers_on_postgres_run_two_jobs_each_part_once(workers):
    """Two workers polling one PostgreSQL database: each claims a different job (FOR UPDATE SKIP LOCKED),
    both jobs complete, and each part's plan is stored exactly once."""
    with fresh_postgres() as url, migrated(url) as db:
        a = workers(url, VMO_WORKER_PROCESSES=1)
        b = workers(url, VMO_WORKER_PROCESSES=1)
        wait_ready(a)
        wait_ready(b)
        sizes = {submit_batch(db, range(400, 404)): 4, submit_batch(db, range(500, 504)): 4}

        def all_finished() -> list[JobRow] | None:
            for w in (a, b):
                assert w.process.poll() is None, w.output()
            rows = [job_of(db, job_id) for job_id in sizes]
            return rows if all(j.status not in ("queued", "running") for j in rows) else None

        rows = wait_for(all_finished, "both jobs to finish")
        for job in rows:
            assert job.status == "succeeded", (job.status, job.error, a.output(), b.output())
            assert (job.done, job.failed, job.attempts) == (sizes[job.id], 0, 1)
            assert_each_part_once(db, job.id, sizes[job.id])
            assert_valid_plans(db, job.id)
        owners = {job.worker for job in rows}
        assert owners == {a.name, b.name}, "one worker ran both jobs while the other idled"
        for w in (a, b):
            w.process.terminate()
        for w in (a, b):
            try:
                code = w.process.wait(30)
            except subprocess.TimeoutExpired:
                pytest.fail(f"idle worker {w.pid} did not stop within 30 s of SIGTERM:\n{w.output()}")
            assert code == 0, w.output()
            assert "Traceback" not in w.output()
