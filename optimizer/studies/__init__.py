"""Studies: many related solves planned as tasks and assembled into one answer.

A study turns a request into tasks (`tasks(request) -> [StudyTask]`, every input
checked first, problems named by their path in the request) and the tasks' plans
back into its response (`assemble(request, plans) -> response`). Where the tasks
run is not its business: the API runs them on its solver pool and answers at once,
a job stores them as parts for a worker, the CLI runs them on a local pool, and
all of them assemble the same way.

A task solves its portfolio as changed by its `Variant` and may start from the
plan of an earlier task (`after`): a what-if scenario from the base plan.
"""

from __future__ import annotations

from models.plan import Plan
from models.portfolio import Portfolio
from models.studies import Variant
from optimizer.studies.core import Study, StudyTask, starts, with_baseline
from optimizer.studies.frontier import with_total_budget
from optimizer.studies.whatif import apply_changes

__all__ = [
    "Study",
    "StudyTask",
    "apply_variant",
    "prepared",
    "starts",
]


def prepared(task: StudyTask, after: Plan | None = None) -> tuple[Portfolio, dict[str, str] | None]:
    """The portfolio the task solves and its warm start: the plan it starts from (when that plan has a
    solution), or its baseline plan, or None."""
    portfolio = task.changed if task.changed is not None else apply_variant(task.portfolio, task.variant)
    if after is not None and after.objective is not None:
        return portfolio, starts(after)
    return portfolio, dict(portfolio.baseline_plan) if task.variant.baseline_plan is not None else None


def apply_variant(portfolio: Portfolio, variant: Variant) -> Portfolio:
    """`portfolio` changed by `variant` (checked again when it has changes)."""
    if variant.changes:
        portfolio = apply_changes(portfolio, variant.changes)
    if variant.total_budget is not None:
        portfolio = with_total_budget(portfolio, variant.total_budget)
    if variant.baseline_plan is not None:
        portfolio = with_baseline(portfolio, variant.baseline_plan, variant.change_penalty)
    return portfolio
