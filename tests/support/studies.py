"""Running a study in this process, keeping every solved portfolio beside its plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models import Plan, Portfolio, SolverSettings
from optimizer.studies import StudyTask, prepared
from runtime import InlineExecutor, SolverPool, run_tasks


@dataclass
class StudyRun:
    tasks: list[StudyTask]
    plans: list[Plan]
    response: Any

    def solved(self) -> list[tuple[Portfolio, Plan]]:
        """Each task's solved portfolio (its variant applied) with its plan."""
        return [(prepared(task)[0], plan) for task, plan in zip(self.tasks, self.plans, strict=True)]


def run_study_here(study, request, settings: SolverSettings | None = None, processes: int = 1) -> StudyRun:
    """Plan, solve (in this process, or on a pool of `processes`) and assemble a study."""
    tasks = study.tasks(request)
    executor = InlineExecutor() if processes == 1 else SolverPool(processes)
    try:
        plans = run_tasks(executor, tasks, settings or request.settings)
    finally:
        executor.close()
    return StudyRun(tasks, plans, study.assemble(request, plans))
