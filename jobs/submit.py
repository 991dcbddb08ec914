"""Turn a job request into stored parts: the study plans the tasks (checking everything first), then the
portfolios, the job and one part per task are stored at once.

A part's spec is plain data: {"version_id": V, "variant": {...}} solves stored portfolio version V as
changed by the variant (see models/studies.py); a re-optimization's parts add "baseline_plan_id" (the
plan it stays close to, for lineage) and, for the plan solved without the penalty, "comparison": true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from models import PortfolioError, Problem, load_portfolio
from models.cycle import as_of_problem
from models.jobs import BatchJob, FrontierJob, ReoptimizeJob, ReplanJob
from models.plan import Plan
from models.portfolio import Portfolio, QuarterActuals
from models.scenarios import WhatIfRequest
from models.studies import ReoptimizeRequest, ReplanItem
from optimizer.studies import StudyTask
from optimizer.studies.batch import BatchStudy
from optimizer.studies.cycle import as_of_portfolio, replan_task
from optimizer.studies.frontier import FrontierStudy
from optimizer.studies.reoptimize import ReoptimizeStudy
from optimizer.studies.whatif import WhatIfStudy
from storage import repo
from storage.tables import JobPartRow, JobRow


@dataclass
class Planned:
    """A job's tasks, with what storage already knows about them."""

    tasks: list[StudyTask]
    versions: dict[int, str] = field(default_factory=dict)
    """id(portfolio) -> stored version id, for portfolios already stored (a re-optimization's)."""
    lineage: list[dict[str, Any]] = field(default_factory=list)
    """Per task, extra spec fields (a re-optimization's baseline plan id)."""


def submit(
    session: Session,
    tenant: str,
    request: BatchJob | FrontierJob | ReoptimizeJob | ReplanJob,
    quotas: repo.Quotas = repo.NO_QUOTAS,
) -> JobRow:
    """Store the job of `tenant` and its parts (queued). Raises PortfolioError (paths into the request) before
    storing anything when a portfolio, scenario or referenced record is not usable (another tenant's portfolio
    is as unknown as one never stored), and QuotaExceeded when the tenant is at a quota."""
    planned = plan_job(session, tenant, request)
    repo.check_job_room(session, tenant, quotas, len(planned.tasks))
    new = {id(task.portfolio) for task in planned.tasks} - set(planned.versions)
    repo.check_room(session, tenant, quotas, portfolios=len(new), versions=len(new))
    parts = _parts(session, tenant, planned)
    request_json = request.model_dump(mode="json", by_alias=True)
    return repo.add_job(session, tenant, request.kind, request_json, request.settings, parts)


def plan_job(session: Session, tenant: str, request: BatchJob | FrontierJob | ReoptimizeJob | ReplanJob) -> Planned:
    if isinstance(request, BatchJob) and request.portfolios is not None:
        return Planned(BatchStudy().tasks(request.portfolios))
    if isinstance(request, BatchJob):
        return Planned(WhatIfStudy().tasks(whatif_request(request)))
    if isinstance(request, FrontierJob):
        return Planned(FrontierStudy().tasks(request))
    if isinstance(request, ReplanJob):
        return _replan(session, tenant, request)
    return _reoptimize(session, tenant, request)


def whatif_request(request: BatchJob) -> WhatIfRequest:
    """A scenario batch is a what-if study."""
    return WhatIfRequest(portfolio=request.portfolio, scenarios=request.scenarios, settings=request.settings)


def _reoptimize(session: Session, tenant: str, request: ReoptimizeJob) -> Planned:
    """Per portfolio: its latest version re-planned against its current plan (and, to compare, without the penalty)."""
    problems, items, versions, baselines = [], [], {}, []
    for k, portfolio_id in enumerate(request.portfolio_ids):
        path = f"$.portfolio_ids[{k}]"
        try:
            version = repo.get_version(session, tenant, portfolio_id)
        except repo.NotFound:
            problems.append(Problem(path, f"no stored portfolio {portfolio_id!r}"))
            continue
        baseline = repo.current_plan(session, tenant, portfolio_id)
        if baseline is None:
            problems.append(Problem(path, f"portfolio {portfolio_id!r} has no stored plan to re-optimize against"))
            continue
        portfolio = Portfolio.model_validate(version.document)
        versions[id(portfolio)] = version.id
        baselines.append(baseline.id)
        plan = Plan.model_validate(baseline.document)
        items.append(
            ReplanItem(label=portfolio.name, portfolio=portfolio, baseline=plan, change_penalty=request.change_penalty)
        )
    if problems:
        raise PortfolioError(problems)
    study_request = ReoptimizeRequest(items=items, compare=request.compare)
    tasks = ReoptimizeStudy().tasks(study_request)
    per_item = 2 if request.compare else 1
    lineage = [{"baseline_plan_id": baselines[k // per_item]} for k in range(len(tasks))]
    return Planned(tasks, versions, lineage)


def _replan(session: Session, tenant: str, request: ReplanJob) -> Planned:
    """Per portfolio: the as-of portfolio built from its latest version, its plan of record and its actuals,
    checked (paths name the portfolio and the as-of portfolio's field), then stored as its next version and
    solved close to the plan of record, which becomes the plan's parent."""
    problems, built = [], []
    for k, portfolio_id in enumerate(request.portfolio_ids):
        found = _as_of(session, tenant, request, k)
        if isinstance(found, list):
            problems += found
        else:
            built.append((portfolio_id, *found))
    if problems:
        raise PortfolioError(problems)
    tasks, versions, lineage = [], {}, []
    for portfolio_id, portfolio, parent in built:
        versions[id(portfolio)] = repo.add_version(session, tenant, portfolio_id, portfolio).id
        tasks.append(replan_task(portfolio))
        lineage.append({"baseline_plan_id": parent})
    return Planned(tasks, versions, lineage)


def _as_of(session: Session, tenant: str, request: ReplanJob, k: int) -> tuple[Portfolio, str] | list[Problem]:
    """The k-th portfolio's checked as-of portfolio and its plan of record's id, or what stands in the way."""
    portfolio_id, path = request.portfolio_ids[k], f"$.portfolio_ids[{k}]"
    try:
        version = repo.get_version(session, tenant, portfolio_id)
    except repo.NotFound:
        return [Problem(path, f"no stored portfolio {portfolio_id!r}")]
    record = repo.plan_of_record(session, tenant, portfolio_id)
    if record is None:
        return [Problem(path, f"portfolio {portfolio_id!r} has no plan of record: commit a plan first")]
    latest = Portfolio.model_validate(version.document)
    reason = as_of_problem(latest, request.as_of, "the latest version's")
    if reason is not None:  # the request's as_of, not the as-of portfolio built from it
        return [Problem("$.as_of", f"portfolio {portfolio_id!r}: {reason}")]
    plan = Plan.model_validate(repo.get_plan(session, tenant, record.plan_id).document)
    actuals = [
        QuarterActuals(quarter=a.quarter, **a.document) for a in repo.list_actuals(session, tenant, portfolio_id)
    ]
    try:
        portfolio = load_portfolio(as_of_portfolio(latest, plan, actuals, request.as_of, request.change_penalty))
    except PortfolioError as exc:
        return [Problem(path, f"as-of portfolio {p.path}: {p.message}") for p in exc.problems]
    return portfolio, record.plan_id


def _parts(session: Session, tenant: str, planned: Planned) -> list[JobPartRow]:
    """One part per task; each distinct portfolio is stored once, as a new stored portfolio."""
    versions = dict(planned.versions)
    parts = []
    for i, task in enumerate(planned.tasks):
        key = id(task.portfolio)
        if key not in versions:
            versions[key] = repo.add_portfolio(session, tenant, task.portfolio).id
        spec: dict[str, Any] = {
            "version_id": versions[key],
            "variant": task.variant.model_dump(mode="json", exclude_defaults=True),
            **(planned.lineage[i] if planned.lineage else {}),
        }
        if task.comparison:
            spec["comparison"] = True
        parts.append(JobPartRow(index=i, label=task.label, after=task.after, spec=spec))
    return parts
