"""Durable jobs: POST /v1/jobs (202 + Location), GET /v1/jobs[/{id}[/result]], DELETE /v1/jobs/{id} (cancel).

The web process only stores the job; workers (`vmo worker`, started by `vmo serve`) run it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from api.deps import Server, Store, capped
from api.errors import JobNotFinished
from api.examples import job_examples
from jobs.results import job_result, job_view
from jobs.submit import submit
from models.jobs import TERMINAL, JobList, JobRequest, JobResult, JobStatus, JobView
from storage import repo

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobView, summary="Submit a job")
def create_job(
    body: Annotated[JobRequest, Body(openapi_examples=job_examples())], db: Store, server: Server, response: Response
) -> JobView:
    """Kinds: `batch` (many portfolios, or one portfolio and its scenarios), `frontier`, `reoptimize`.
    Everything is checked before anything is stored; the job is queued for a worker."""
    request = body.model_copy(update={"settings": capped(body.settings, server)})
    with db.session() as session:
        job = submit(session, request)
        view = job_view(job)
    response.headers["Location"] = f"/v1/jobs/{view.id}"
    return view


@router.get("/jobs", response_model=JobList, summary="List jobs, newest first")
def list_jobs(db: Store, status: JobStatus | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> JobList:
    with db.reading() as session:
        return JobList(jobs=[job_view(job) for job in repo.list_jobs(session, status, limit)])


@router.get("/jobs/{job_id}", response_model=JobView, summary="Job status and progress")
def get_job(job_id: str, db: Store) -> JobView:
    """`status` is the job's (queued, running, succeeded, failed, canceled); `progress` counts finished parts."""
    with db.reading() as session:
        return job_view(repo.get_job(session, job_id))


@router.get("/jobs/{job_id}/result", response_model=JobResult, summary="The result of a finished job")
def get_result(job_id: str, db: Store) -> JobResult:
    """Plans in part order (a canceled or failed part has none) and the report of the job's kind.
    409 while the job is queued or running."""
    with db.reading() as session:
        job = repo.get_job(session, job_id)
        if job.status not in TERMINAL:
            raise JobNotFinished(job_view(job))
        return job_result(session, job)


@router.delete("/jobs/{job_id}", response_model=JobView, summary="Cancel a job")
def cancel_job(job_id: str, db: Store, response: Response) -> JobView:
    """A queued job is canceled at once (200). A running one is asked to stop (202): its worker stops the
    running solves and keeps the finished parts. A finished job is left as it is (200)."""
    with db.session() as session:
        view = job_view(repo.request_cancel(session, job_id))
    if view.status == "running":
        response.status_code = status.HTTP_202_ACCEPTED
    return view
