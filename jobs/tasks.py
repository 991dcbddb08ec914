"""A stored part as a solve task (plain data), and its plan stored back with its lineage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from models.plan import Plan
from models.portfolio import Portfolio
from models.scenarios import Change
from models.settings import SolverSettings
from optimizer.executors import SolveTask
from optimizer.frontier import with_total_budget
from optimizer.whatif import apply_changes
from storage import repo
from storage.tables import JobPartRow, JobRow, PlanRow, PortfolioVersionRow

_changes = TypeAdapter(list[Change])


def job_settings(job: JobRow) -> SolverSettings:
    return SolverSettings.model_validate(job.settings)


def starts(plan_document: dict[str, Any]) -> dict[str, str]:
    """MMP id -> start quarter of a stored plan."""
    return {s["mmp"]: s["start"] for s in plan_document.get("selected", [])}


def build_task(session: Session, job: JobRow, part: JobPartRow, after: PlanRow | None) -> SolveTask:
    """The solve of `part`; `after` is the stored plan of the part it starts from (a scenario's base)."""
    spec = part.spec
    version = session.get(PortfolioVersionRow, spec["version_id"])
    portfolio = Portfolio.model_validate(version.document)
    warm: dict[str, str] = {}
    if "changes" in spec:
        portfolio = apply_changes(portfolio, _changes.validate_python(spec["changes"]))
        warm = starts(after.document) if after is not None else {}
    if "total_budget" in spec:
        portfolio = with_total_budget(portfolio, Decimal(spec["total_budget"]))
    if "baseline_plan_id" in spec:
        portfolio, warm = _against_baseline(session, portfolio, spec)
    return SolveTask(portfolio.model_dump(mode="json"), job_settings(job).model_dump(mode="json"), warm)


def _against_baseline(session: Session, portfolio: Portfolio, spec: dict[str, Any]) -> tuple[Portfolio, dict]:
    """The stored plan becomes the baseline plan (MMPs and quarters the new version still has) and the
    warm start; the change penalty is the job's, or the portfolio's own when the job gives none."""
    old = starts(repo.get_plan(session, spec["baseline_plan_id"]).document)
    mmps, quarters = {m.id for m in portfolio.mmps}, set(portfolio.quarters)
    baseline = {m: q for m, q in old.items() if m in mmps and q in quarters}
    penalty = portfolio.change_penalty if spec["change_penalty"] is None else Decimal(spec["change_penalty"])
    return portfolio.model_copy(update={"baseline_plan": baseline, "change_penalty": penalty}), baseline


def parent_of(part: JobPartRow, after: PlanRow | None) -> str | None:
    """Lineage: a scenario's plan descends from its base plan, a re-optimized plan from its baseline."""
    if "baseline_plan_id" in part.spec:
        return part.spec["baseline_plan_id"]
    return after.id if after is not None else None


def store_plan(
    session: Session, job: JobRow, part: JobPartRow, document: dict[str, Any], after: PlanRow | None
) -> PlanRow:
    version = session.get(PortfolioVersionRow, part.spec["version_id"])
    variant = {k: v for k, v in part.spec.items() if k != "version_id"} or None
    return repo.add_plan(
        session,
        version,
        Plan.model_validate(document),
        job_settings(job),
        parent_id=parent_of(part, after),
        job_id=job.id,
        part_index=part.index,
        label=part.label,
        variant=variant,
    )
