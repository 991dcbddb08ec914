"""Where solves run: one task shape, one executor seam, and the order of a study's solves.

`optimizer` is the model and the solve (plain data in and out); this package runs
those solves somewhere: in this process (`InlineExecutor`), on a pool of local
solver processes (`SolverPool`), or on a Ray cluster (`RayExecutor`). The API,
the job worker and the CLI all submit the same `SolveTask` through the same
`Executor` protocol, and run a study's tasks in the same order (`run_study`).
"""

from runtime.executors import Executor, InlineExecutor, make_executor
from runtime.pool import SolverOutOfMemory, SolverPool, SolverProcessDied, SolveStopped
from runtime.studies import TaskGraph, run_study, run_tasks, run_tasks_async, solve_task
from runtime.tasks import SolveTask, run_task

__all__ = [
    "Executor",
    "InlineExecutor",
    "SolveStopped",
    "SolveTask",
    "SolverOutOfMemory",
    "SolverPool",
    "SolverProcessDied",
    "TaskGraph",
    "make_executor",
    "run_study",
    "run_task",
    "run_tasks",
    "run_tasks_async",
    "solve_task",
]
