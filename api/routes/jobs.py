"""Durable jobs: POST /v1/jobs (202 + Location), GET /v1/jobs[/{id}[/result]], DELETE /v1/jobs/{id} (cancel).

The web process only stores the job; workers (`vmo worker`, started by `vmo serve`) run it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

from api.auth import Forbidden, Planner, Viewer
from api.deps import Server, Store, StoredId, capped
from api.errors import JobNotFinished, responses
from api.examples import job_examples
from api.parsing import ParsedRoute
from api.routes.portfolios import Limit, Offset
from jobs.results import job_result, job_view
from jobs.submit import submit
from models.auth import Role
from models.jobs import TERMINAL, JobList, JobRequest, JobResult, JobStatus, JobView
from storage import repo

router = APIRouter(prefix="/v1", tags=["jobs"], route_class=ParsedRoute, responses=responses(401, 403))


@router.post(
    "/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobView,
    summary="Submit a job",
    responses=responses(400, 404, 413, 422, 429, 503),
)
def create_job(
    body: Annotated[JobRequest, Body(openapi_examples=job_examples())],
    caller: Planner,
    db: Store,
    server: Server,
    response: Response,
) -> JobView:
    """Kinds: `batch` (many portfolios, or one portfolio and its scenarios), `frontier`, `reoptimize`.
    Everything is checked before anything is stored; the job is queued for a worker and runs under the
    caller's tenant. 429 beyond the tenant's queued jobs or a job's parts."""
    request = body.model_copy(update={"settings": capped(body.settings, server)})
    with db.session() as session:
        job = submit(session, caller.tenant, request, server.quotas())
        repo.audit(session, caller.tenant, caller.actor, "job.submit", job.id, {"kind": job.kind, "parts": job.total})
        view = job_view(job)
    response.headers["Location"] = f"/v1/jobs/{view.id}"
    return view


@router.get("/jobs", response_model=JobList, summary="List jobs, newest first", responses=responses(422, 503))
def list_jobs(
    caller: Viewer, db: Store, status: JobStatus | None = None, limit: Limit = 50, offset: Offset = 0
) -> JobList:
    """The caller's tenant's jobs."""
    with db.reading() as session:
        rows = repo.list_jobs(session, caller.tenant, status, limit, offset)
        return JobList(jobs=[job_view(job) for job in rows])


@router.get(
    "/jobs/{job_id}", response_model=JobView, summary="Job status and progress", responses=responses(404, 422, 503)
)
def get_job(job_id: StoredId, caller: Viewer, db: Store) -> JobView:
    """`status` is the job's (queued, running, succeeded, failed, canceled); `progress` counts finished parts."""
    with db.reading() as session:
        return job_view(repo.get_job(session, caller.tenant, job_id))


@router.get(
    "/jobs/{job_id}/result",
    response_model=JobResult,
    summary="The result of a finished job",
    responses=responses(404, 409, 422, 503),
)
def get_result(job_id: StoredId, caller: Viewer, db: Store) -> JobResult:
    """Plans in part order (a canceled or failed part has none) and the report of the job's kind.
    409 while the job is queued or running."""
    with db.reading() as session:
        job = repo.get_job(session, caller.tenant, job_id)
        if job.status not in TERMINAL:
            raise JobNotFinished(job_view(job))
        return job_result(session, job)


@router.delete(
    "/jobs/{job_id}",
    response_model=JobView,
    summary="Cancel a job, or delete a finished one",
    responses={204: {"description": "The finished job and its parts were deleted"}, **responses(404, 422, 503)},
)
def cancel_job(job_id: StoredId, caller: Planner, db: Store, response: Response) -> JobView | Response:
    """A queued job is canceled at once (200). A running one is asked to stop (202): its worker stops the
    running solves and keeps the finished parts. A finished job (succeeded, failed, canceled) is deleted with
    its parts (204; admins only); the plans it stored stay with their portfolios. Audited."""
    with db.session() as session:
        job = repo.get_job(session, caller.tenant, job_id)
        if job.status in TERMINAL:
            if not caller.role.allows(Role.ADMIN):
                raise Forbidden(f"deleting a finished job needs the admin role; the caller's role is {caller.role}")
            repo.delete_job(session, caller.tenant, job_id)
            repo.audit(session, caller.tenant, caller.actor, "job.delete", job_id)
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        view = job_view(repo.request_cancel(session, caller.tenant, job_id))
        repo.audit(session, caller.tenant, caller.actor, "job.cancel", job_id, {"status": view.status.value})
    if view.status == JobStatus.RUNNING:
        response.status_code = status.HTTP_202_ACCEPTED
    return view
