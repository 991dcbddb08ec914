"""A job's result: its plans in part order and the report its kind calls for."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from models.jobs import JobResult, JobView, PartView, Progress, Reoptimized, WithoutPenalty
from models.plan import Plan
from models.scenarios import ScenarioResult, WhatIfResponse
from optimizer.frontier import frontier_response
from optimizer.whatif import diff, summarize
from storage import repo
from storage.tables import JobPartRow, JobRow, PortfolioVersionRow


def job_view(job: JobRow) -> JobView:
    progress = Progress(
        done=job.done,
        total=job.total,
        failed=job.failed,
        best_value=None if job.best_value is None else Decimal(job.best_value),
    )
    return JobView(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=progress,
        error=job.error,
        cancel_requested=job.cancel_requested,
        attempts=job.attempts,
        worker=job.worker,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def job_result(session: Session, job: JobRow) -> JobResult:
    """Everything finished so far; parts that did not finish have no plan (None)."""
    parts = repo.parts_of(session, job.id)
    plans = [_plan(session, part) for part in parts]
    result = JobResult(
        id=job.id,
        kind=job.kind,
        status=job.status,
        plans=plans,
        parts=[
            PartView(index=p.index, status=p.status, label=p.label, plan_id=p.plan_id, error=p.error) for p in parts
        ],
    )
    if job.kind == "batch" and any("changes" in part.spec for part in parts):
        result.whatif = _whatif(parts, plans)
    elif job.kind == "frontier":
        finished = [(Decimal(part.spec["total_budget"]), plan) for part, plan in zip(parts, plans) if plan]
        result.frontier = frontier_response([b for b, _ in finished], [plan for _, plan in finished])
    elif job.kind == "reoptimize":
        result.reoptimized = _reoptimized(session, parts, plans)
    return result


def _plan(session: Session, part: JobPartRow) -> Plan | None:
    return None if part.plan_id is None else Plan.model_validate(repo.get_plan(session, part.plan_id).document)


def _whatif(parts: list[JobPartRow], plans: list[Plan | None]) -> WhatIfResponse | None:
    """The base plan's summary and each finished scenario's summary and differences from it."""
    base, *others = plans
    if base is None:
        return None
    scenarios = [
        ScenarioResult(name=part.label, summary=summarize(plan), diff=diff(base, plan))
        for part, plan in zip(parts[1:], others)
        if plan is not None
    ]
    return WhatIfResponse(base=summarize(base), scenarios=scenarios)


def outcome_value(plan: Plan | None) -> Decimal | None:
    """What a plan earns (MMPs and key results), before any change penalty."""
    if plan is None or plan.objective is None:
        return None
    return plan.value.mmps + plan.value.key_results


def _reoptimized(session: Session, parts: list[JobPartRow], plans: list[Plan | None]) -> list[Reoptimized]:
    """One report per re-planned portfolio: the penalized part, and its unpenalized twin when compared."""
    reports = []
    by_index = {part.index: (part, plan) for part, plan in zip(parts, plans)}
    for part, plan in zip(parts, plans):
        if part.spec.get("compare"):
            continue
        twin = by_index.get(part.index + 1)
        free = twin if twin is not None and twin[0].spec.get("compare") else None
        reports.append(_reoptimized_one(session, part, plan, free))
    return reports


def _reoptimized_one(
    session: Session, part: JobPartRow, plan: Plan | None, free: tuple[JobPartRow, Plan | None] | None
) -> Reoptimized:
    baseline_row = repo.get_plan(session, part.spec["baseline_plan_id"])
    baseline = Plan.model_validate(baseline_row.document)
    version = session.get(PortfolioVersionRow, part.spec["version_id"])
    own = part.spec["change_penalty"]
    penalty = Decimal(own) if own is not None else Decimal(str(version.document.get("change_penalty", 0)))
    changes = diff(baseline, plan) if outcome_value(plan) is not None else None
    changed = _changed(changes)
    without = None
    if free is not None:
        free_part, free_plan = free
        free_changes = diff(baseline, free_plan) if free_plan is not None and free_plan.objective is not None else None
        without = WithoutPenalty(
            plan_id=free_part.plan_id, changed=_changed(free_changes), value=outcome_value(free_plan)
        )
    report = Reoptimized(
        portfolio_id=baseline_row.portfolio_id,
        version=version.version,
        baseline_plan_id=baseline_row.id,
        plan_id=part.plan_id,
        status=plan.status if plan is not None else None,
        change_penalty=penalty,
        changed=changed,
        changes=changes,
        value=outcome_value(plan),
        baseline_value=outcome_value(baseline),
        without_penalty=without,
        summary="",
    )
    report.summary = summary_text(report)
    return report


def _changed(changes) -> int:
    """MMPs whose selection or start differs from the baseline plan."""
    if changes is None:
        return 0
    return len(changes.added) + len(changes.dropped) + len(changes.moved)


def summary_text(r: Reoptimized) -> str:
    """One sentence a planner can read out: what changes, what it earns, what the penalty saved."""
    if r.plan_id is None or r.value is None:
        return "no re-optimized plan: the part did not finish or found no plan"
    text = f"{r.changed} MMP(s) change against the current plan; the new plan earns {_money(r.value)}"
    if r.baseline_value is not None:
        text += f" (current plan: {_money(r.baseline_value)})"
    w = r.without_penalty
    if w is not None and w.value is not None:
        gain = w.value - r.value
        if w.changed > r.changed and gain > 0:
            text += (
                f"; without the change penalty {w.changed} MMP(s) would change for {_money(gain)} more"
                f" value, so the penalty keeps {w.changed - r.changed} more MMP(s) as teams planned them"
            )
        elif w.changed > r.changed:
            text += f"; without the change penalty {w.changed} MMP(s) would change, for no more value"
        elif w.changed == r.changed:
            text += f"; without the change penalty {w.changed} MMP(s) would change too: the penalty changes nothing"
        else:
            text += f"; without the change penalty {w.changed} MMP(s) would change"
    return text + "."


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"
