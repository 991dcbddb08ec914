"""A stored part as a solve task (plain data), and its plan stored back with its lineage."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from models.plan import Plan
from models.portfolio import Portfolio
from models.settings import SolverSettings
from models.studies import Variant
from optimizer.studies import StudyTask
from runtime import SolveTask, solve_task
from storage import repo
from storage.tables import JobPartRow, JobRow, PlanRow


def job_settings(job: JobRow) -> SolverSettings:
    return SolverSettings.model_validate(job.settings)


def study_task(session: Session, job: JobRow, part: JobPartRow) -> StudyTask:
    """The part as the study task it was stored from (the portfolio version of the job's own tenant)."""
    version = repo.version_by_id(session, job.tenant_id, part.spec["version_id"])
    portfolio = Portfolio.model_validate(version.document)
    variant = Variant.model_validate(part.spec.get("variant", {}))
    return StudyTask(part.label or "", portfolio, variant, part.after, bool(part.spec.get("comparison")))


def build_task(session: Session, job: JobRow, part: JobPartRow, after: PlanRow | None) -> SolveTask:
    """The solve of `part`; `after` is the stored plan of the part it starts from (a scenario's base)."""
    start = Plan.model_validate(after.document) if after is not None else None
    return solve_task(study_task(session, job, part), job_settings(job), start)


def parent_of(part: JobPartRow, after: PlanRow | None) -> str | None:
    """Lineage: a scenario's plan descends from its base plan, a re-optimized plan from its baseline."""
    if "baseline_plan_id" in part.spec:
        return part.spec["baseline_plan_id"]
    return after.id if after is not None else None


def store_plan(
    session: Session, job: JobRow, part: JobPartRow, document: dict[str, Any], after: PlanRow | None
) -> PlanRow:
    version = repo.version_by_id(session, job.tenant_id, part.spec["version_id"])
    variant = dict(part.spec.get("variant") or {})
    if part.spec.get("comparison"):
        variant["comparison"] = True
    return repo.add_plan(
        session,
        version,
        Plan.model_validate(document),
        job_settings(job),
        parent_id=parent_of(part, after),
        job_id=job.id,
        part_index=part.index,
        label=part.label,
        variant=variant or None,
    )
