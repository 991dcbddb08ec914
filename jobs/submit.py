"""Turn a job request into stored parts: check everything first, then store portfolios, job and parts at once.

Part specs (plain data, stored with each part):
  {"version_id": V}                                   solve a stored portfolio version
  {"version_id": V, "scenario": name, "changes": [...]}  a scenario of it (after part 0, its base)
  {"version_id": V, "total_budget": "1200000.00"}       it at another total budget (a frontier point)
  {"version_id": V, "baseline_plan_id": P, "change_penalty": "50000" | null}
                                                      re-plan it close to stored plan P
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import PortfolioError, Problem, check_portfolio
from models.jobs import BatchJob, FrontierJob, ReoptimizeJob
from models.portfolio import Portfolio
from models.scenarios import WhatIfRequest
from optimizer.frontier import budget_points
from optimizer.whatif import scenario_portfolios
from storage import repo
from storage.tables import JobPartRow, JobRow, PlanRow


def submit(session: Session, request: BatchJob | FrontierJob | ReoptimizeJob) -> JobRow:
    """Store the job and its parts (queued). Raises PortfolioError (paths into the request) before storing
    anything when a portfolio, scenario or referenced record is not usable."""
    if isinstance(request, BatchJob) and request.portfolios is not None:
        parts = _batch_parts(session, request.portfolios)
    elif isinstance(request, BatchJob):
        parts = _scenario_parts(session, request)
    elif isinstance(request, FrontierJob):
        parts = _frontier_parts(session, request)
    else:
        parts = _reoptimize_parts(session, request)
    return repo.add_job(session, request.kind, request.model_dump(mode="json", by_alias=True), request.settings, parts)


def _checked(portfolio: Portfolio, path: str) -> list[Problem]:
    return [Problem(path + p.path[1:], p.message) for p in check_portfolio(portfolio)]


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise PortfolioError(problems)


def _batch_parts(session: Session, portfolios: list[Portfolio]) -> list[JobPartRow]:
    _raise_if([p for i, portfolio in enumerate(portfolios) for p in _checked(portfolio, f"$.portfolios[{i}]")])
    versions = [repo.add_portfolio(session, portfolio) for portfolio in portfolios]
    return [
        JobPartRow(index=i, label=p.name, spec={"version_id": v.id})
        for i, (p, v) in enumerate(zip(portfolios, versions))
    ]


def _scenario_parts(session: Session, request: BatchJob) -> list[JobPartRow]:
    scenario_portfolios(WhatIfRequest(portfolio=request.portfolio, scenarios=request.scenarios))  # raises
    version = repo.add_portfolio(session, request.portfolio)
    base = JobPartRow(index=0, label="base", spec={"version_id": version.id})
    scenarios = [
        JobPartRow(
            index=i,
            label=s.name,
            after=0,
            spec={"version_id": version.id, "scenario": s.name, "changes": s.model_dump(mode="json")["changes"]},
        )
        for i, s in enumerate(request.scenarios, start=1)
    ]
    return [base, *scenarios]


def _frontier_parts(session: Session, request: FrontierJob) -> list[JobPartRow]:
    _raise_if(_checked(request.portfolio, "$.portfolio"))
    version = repo.add_portfolio(session, request.portfolio)
    return [
        JobPartRow(index=i, label=f"budget {b}", spec={"version_id": version.id, "total_budget": str(b)})
        for i, b in enumerate(budget_points(request))
    ]


def _reoptimize_parts(session: Session, request: ReoptimizeJob) -> list[JobPartRow]:
    """Per portfolio: its latest version re-planned against its latest plan, and (compare) without the penalty."""
    problems, parts = [], []
    penalty = None if request.change_penalty is None else str(request.change_penalty)
    for k, portfolio_id in enumerate(request.portfolio_ids):
        path = f"$.portfolio_ids[{k}]"
        try:
            version = repo.get_version(session, portfolio_id)
        except repo.NotFound:
            problems.append(Problem(path, f"no stored portfolio {portfolio_id!r}"))
            continue
        baseline = _current_plan(session, portfolio_id)
        if baseline is None:
            problems.append(Problem(path, f"portfolio {portfolio_id!r} has no stored plan to re-optimize against"))
            continue
        spec = {"version_id": version.id, "baseline_plan_id": baseline.id, "change_penalty": penalty}
        parts.append(JobPartRow(index=len(parts), label=f"{version.document['name']}", spec=spec))
        if request.compare:
            free = {**spec, "change_penalty": "0", "compare": True}
            parts.append(JobPartRow(index=len(parts), label=f"{version.document['name']} without penalty", spec=free))
    _raise_if(problems)
    return parts


def _current_plan(session: Session, portfolio_id: str, page: int = 50) -> PlanRow | None:
    """The plan teams work on: the portfolio's newest solved plan of a stored version as it is (a solve,
    a batch, or a re-optimization). Not a what-if scenario's or a frontier point's plan (a changed
    portfolio), nor the unpenalized plan a re-optimization stores only to compare against."""
    query = select(PlanRow).where(PlanRow.portfolio_id == portfolio_id, PlanRow.status.in_(repo.SOLVED))
    query = query.order_by(PlanRow.created_at.desc(), PlanRow.id.desc()).limit(page)
    offset = 0
    while True:
        rows = list(session.scalars(query.offset(offset)))
        current = next((row for row in rows if _adoptable(row.variant)), None)
        if current is not None or len(rows) < page:
            return current
        offset += page


def _adoptable(variant: dict | None) -> bool:
    """A plan of the stored version itself: no variant, or a penalized re-optimization."""
    return not variant or set(variant) == {"baseline_plan_id", "change_penalty"}
