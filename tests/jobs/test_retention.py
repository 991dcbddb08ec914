"""Issue 13, storage unbounded: finished jobs and their parts are deleted once they are older than
VMO_JOB_RETENTION_DAYS (the worker's housekeeping, at most once a minute); queued and running jobs are never
touched, and the plans a deleted job stored stay with their portfolios."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bench.generator import random_portfolio
from jobs.settings import JobSettings
from jobs.submit import submit
from jobs.worker import Worker
from models import load_portfolio
from models.auth import DEFAULT_TENANT
from models.jobs import BatchJob, JobStatus
from models.settings import SolverSettings
from runtime import InlineExecutor
from storage import repo
from storage.tables import JobPartRow, JobRow, PlanRow, now


def batch_job(db, name: str) -> str:
    data = random_portfolio(7, 10, 2, 2)
    data["name"] = name
    request = BatchJob(kind="batch", portfolios=[load_portfolio(data)], settings=SolverSettings(time_limit_s=10))
    with db.session() as session:
        return submit(session, DEFAULT_TENANT, request).id


def run_all(db, **settings) -> None:
    Worker(db, JobSettings(poll_s=0.05, heartbeat_s=0.2, **settings), executor=InlineExecutor()).run(until_idle=True)


def age(db, job_id: str, days: float) -> None:
    with db.session() as session:
        session.get(JobRow, job_id).finished_at = now() - timedelta(days=days)


def test_finished_jobs_past_retention_are_deleted_with_their_parts_and_their_plans_stay(database):
    db = database
    old, recent = batch_job(db, "old"), batch_job(db, "recent")
    run_all(db, job_retention_days=0)  # 0 keeps every job
    age(db, old, 10)
    queued = batch_job(db, "queued")
    with db.session() as session:
        assert repo.get_job(session, DEFAULT_TENANT, old).status == JobStatus.SUCCEEDED
        stored_plan = repo.parts_of(session, old)[0].plan_id

    run_all(db, job_retention_days=3)  # its housekeeping purges first, then runs the queued job

    with db.session() as session:
        assert session.get(JobRow, old) is None
        assert session.scalars(select(JobPartRow).where(JobPartRow.job_id == old)).all() == []
        plan = session.get(PlanRow, stored_plan)
        assert plan is not None and plan.job_id is None and plan.part_index is None
        assert repo.get_job(session, DEFAULT_TENANT, recent).status == JobStatus.SUCCEEDED
        assert repo.get_job(session, DEFAULT_TENANT, queued).status == JobStatus.SUCCEEDED


def test_purge_never_touches_queued_or_running_jobs(database):
    db = database
    queued, running = batch_job(db, "queued"), batch_job(db, "running")
    with db.session() as session:
        job = session.get(JobRow, running)
        job.status, job.worker, job.heartbeat_at = JobStatus.RUNNING, "w", now()
        for job_id in (queued, running):  # even with an old finished_at, an unfinished job stays
            session.get(JobRow, job_id).finished_at = now() - timedelta(days=100)
    with db.session() as session:
        assert repo.purge_finished_jobs(session, 86_400) == 0
        assert session.get(JobRow, queued) is not None and session.get(JobRow, running) is not None
