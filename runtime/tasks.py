"""The one task shape: a solve as plain data, run wherever an executor puts it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.plan import Plan
from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer import solve, stopping


@dataclass(frozen=True)
class SolveTask:
    """One solve: a checked portfolio, settings, and a warm start (MMP id -> start quarter), all plain
    data, so a process pool or a Ray cluster can ship it; the solver model is built where it runs."""

    portfolio: dict[str, Any]
    settings: dict[str, Any]
    warm_start: dict[str, str] | None = None
    """None: no warm start; {} is one (a plan that funds nothing)."""

    @classmethod
    def of(cls, portfolio: Portfolio, settings: SolverSettings, warm_start: dict[str, str] | None = None) -> SolveTask:
        start = None if warm_start is None else dict(warm_start)
        return cls(portfolio.model_dump(mode="json"), settings.model_dump(mode="json"), start)

    def with_workers(self, workers: int) -> SolveTask:
        """The same solve with `workers` solver threads."""
        return SolveTask(self.portfolio, {**self.settings, "workers": workers}, self.warm_start)


def run_task(task: SolveTask) -> dict[str, Any]:
    """Solve one task and return the plan as plain data. Module-level, so pools and Ray ship it by
    reference. A stop requested for an earlier task of this process is forgotten first."""
    stopping.clear()
    return solve_task(task).model_dump(mode="json")


def solve_task(task: SolveTask) -> Plan:
    portfolio = Portfolio.model_validate(task.portfolio)
    return solve(portfolio, SolverSettings.model_validate(task.settings), task.warm_start)
