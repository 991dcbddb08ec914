"""Running a study's tasks on an executor, in the order they depend on each other.

A task may start from the plan of an earlier task (`StudyTask.after`): it is
submitted once that plan exists, with the plan as its warm start. `TaskGraph`
keeps that order; `run_tasks` (blocking: CLI, tests) and `run_tasks_async`
(the API) drive it. The job worker drives the same graph from stored parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Generic, TypeVar

from models.plan import Plan
from models.settings import SolverSettings
from optimizer.studies import Study, StudyTask, prepared
from runtime.executors import Executor
from runtime.tasks import SolveTask

Request = TypeVar("Request")
Response = TypeVar("Response")
T = TypeVar("T")


class TaskGraph(Generic[T]):
    """Which tasks may start: those not started whose `after` task has finished. What a finished task
    leaves (its plan, a stored plan's id, or None when it failed) is kept for the tasks after it."""

    def __init__(self, afters: Sequence[int | None], finished: dict[int, T | None] | None = None):
        self.afters = list(afters)
        self.results: dict[int, T | None] = dict(finished or {})
        self._started = set(self.results)

    def ready(self, limit: int | None = None) -> list[int]:
        """Up to `limit` tasks that may start now, in task order (each returned once)."""
        out = [
            i
            for i, after in enumerate(self.afters)
            if i not in self._started and (after is None or after in self.results)
        ][:limit]
        self._started.update(out)
        return out

    def finish(self, index: int, result: T | None) -> None:
        self.results[index] = result

    def retry(self, index: int) -> None:
        """Start a task again (its solve was lost, e.g. its process died)."""
        self._started.discard(index)

    def result_of(self, index: int | None) -> T | None:
        """What the task left (None for no task, or a task that left nothing)."""
        return None if index is None else self.results.get(index)

    @property
    def done(self) -> bool:
        return len(self.results) == len(self.afters)


def solve_task(task: StudyTask, settings: SolverSettings, after: Plan | None) -> SolveTask:
    """The solve of a study task, warm-started from the plan it starts from."""
    portfolio, warm = prepared(task, after)
    return SolveTask.of(portfolio, settings, warm)


def run_study(
    executor: Executor, study: Study[Request, Response], request: Request, settings: SolverSettings
) -> Response:
    """Plan the study's tasks, solve them on `executor`, and assemble the answer."""
    tasks = study.tasks(request)
    return study.assemble(request, run_tasks(executor, tasks, settings))


def run_tasks(executor: Executor, tasks: Sequence[StudyTask], settings: SolverSettings) -> list[Plan]:
    """Every task's plan, in task order. A failing solve stops the others and raises."""
    graph: TaskGraph[Plan] = TaskGraph([t.after for t in tasks])
    plans: dict[int, Plan] = {}
    futures: dict[Future, int] = {}
    try:
        while not graph.done:
            for i in graph.ready():
                futures[executor.submit(solve_task(tasks[i], settings, graph.result_of(tasks[i].after)))] = i
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for future in finished:
                i = futures.pop(future)
                plans[i] = Plan.model_validate(future.result())
                graph.finish(i, plans[i])
    except BaseException:
        executor.stop(list(futures))
        raise
    return [plans[i] for i in range(len(tasks))]


async def run_tasks_async(executor: Executor, tasks: Sequence[StudyTask], settings: SolverSettings) -> list[Plan]:
    """`run_tasks` for the event loop: preparing a task (applying its changes) runs in a thread; a cancelled
    call (the client went away) stops its solves."""
    graph: TaskGraph[Plan] = TaskGraph([t.after for t in tasks])
    plans: dict[int, Plan] = {}
    running: dict[asyncio.Future, tuple[int, Future]] = {}
    try:
        while not graph.done:
            for i in graph.ready():
                task = await asyncio.to_thread(solve_task, tasks[i], settings, graph.result_of(tasks[i].after))
                future = executor.submit(task)
                running[asyncio.wrap_future(future)] = (i, future)
            finished, _ = await asyncio.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
            for waited in finished:
                i, _future = running.pop(waited)
                plans[i] = Plan.model_validate(waited.result())
                graph.finish(i, plans[i])
    except BaseException:
        # Stopping waits for the solves to end: off the event loop, and without holding up the cancellation.
        asyncio.get_running_loop().run_in_executor(None, executor.stop, [f for _, f in running.values()])
        raise
    return [plans[i] for i in range(len(tasks))]
