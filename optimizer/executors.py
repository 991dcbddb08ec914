"""Where batch solves run: one seam, a local process pool by default, Ray when configured.

A job's fan-out only ever calls `submit(task) -> Future`, `stop(futures)` and
`close()`. A task is plain data (portfolio and settings as JSON-ready dicts):
the solver model is built inside the process or Ray task that solves it, and
the answer comes back as plain data too (`Plan.model_dump(mode="json")`).

Stopping is two-staged, as a planner expects from "cancel": first the solver's
own stop (CP-SAT's `stop_search`, CBC's process killed), so a solve ends within
moments; after `grace_s` the solving process itself is killed.

A local pool tells its processes to stop through a shared counter of stops sent,
which a thread in each process watches; not through a signal, because a process
directed signal goes to any thread that does not block it, and threads started by
imports (before any initializer runs) take SIGUSR1's default action: the process dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer import stopping
from optimizer.solve import solve

log = logging.getLogger("vmo.executor")

STOP_GRACE_S = 5.0
STOP_POLL_S = 0.05  # how often a pool process looks for a stop


@dataclass(frozen=True)
class SolveTask:
    """One solve as plain data: a checked portfolio, settings, and an optional warm start."""

    portfolio: dict[str, Any]
    settings: dict[str, Any]
    warm_start: dict[str, str] = field(default_factory=dict)


def run_task(task: SolveTask) -> dict[str, Any]:
    """Solve one task; module-level so that process pools and Ray can ship it by reference."""
    stopping.clear()  # a stop meant for an earlier task of this process is over
    return _solve_task(task)


def _solve_task(task: SolveTask) -> dict[str, Any]:
    portfolio = Portfolio.model_validate(task.portfolio)
    plan = solve(portfolio, SolverSettings.model_validate(task.settings), task.warm_start or None)
    return plan.model_dump(mode="json")


class SolveExecutor(Protocol):
    slots: int
    """How many tasks it makes sense to keep in flight."""

    def submit(self, task: SolveTask) -> Future: ...

    def stop(self, futures: list[Future], grace_s: float = STOP_GRACE_S) -> None: ...

    def close(self) -> None: ...


class LocalPool:
    """A pool of `workers` clean solver processes on this machine (spawned: OR-Tools and fork do not mix)."""

    def __init__(self, workers: int):
        self.slots = workers
        self._context = multiprocessing.get_context("spawn")
        # Stops sent so far, read by every pool process. No lock in shared memory: a process killed
        # while holding it would hang the pool; this process is the only writer.
        self._stops = self._context.RawValue("q", 0)
        self._stops_lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.slots, mp_context=self._context, initializer=_watch_stops, initargs=(self._stops,)
        )

    def submit(self, task: SolveTask) -> Future:
        if getattr(self._pool, "_broken", False):  # a solver process died: carry on with a new pool
            self._replace()
        return self._pool.submit(_run_pooled, task, self._stops.value)

    def stop(self, futures: list[Future], grace_s: float = STOP_GRACE_S) -> None:
        """Stop `futures`; this stops every solve submitted before it (a pool serves one job at a time)."""
        running = [f for f in futures if not f.cancel() and not f.done()]
        if not running:
            return
        with self._stops_lock:
            self._stops.value += 1
        _, stuck = wait(running, timeout=grace_s)
        if stuck:
            log.warning("%d solves ignored the stop for %.0f s; killing their processes", len(stuck), grace_s)
            self._replace(kill=True)

    def _replace(self, kill: bool = False) -> None:
        old, self._pool = self._pool, self._start()
        if kill:
            for process in list(old._processes.values()):
                process.kill()
        old.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# In a pool process: the pool's count of stops sent, and its value when the current task was
# submitted. A higher count stops the task, also one sent before the task reached this process.
_stops_sent: Any = None
_task_stops = 0
_task_lock = threading.Lock()  # a task's count and the flag change together


def _run_pooled(task: SolveTask, stops_before: int) -> dict[str, Any]:
    global _task_stops
    with _task_lock:
        _task_stops = stops_before
        stopping.clear()  # a stop meant for an earlier task of this process is over
    return _solve_task(task)


def _watch_stops(stops_sent: Any) -> None:
    """Pool initializer: a thread stops the running solve when the count of stops sent goes up
    (a thread, because the main thread sits inside the solver's native code while solving)."""
    global _stops_sent
    _stops_sent = stops_sent
    threading.Thread(target=_stop_when_told, name="stop-watcher", daemon=True).start()


def _stop_when_told() -> None:
    while True:
        time.sleep(STOP_POLL_S)
        with _task_lock:
            if _stops_sent.value > _task_stops and not stopping.requested():
                stopping.request_stop()


class RayExecutor:
    """Each solve a Ray task with `num_cpus` equal to its solver workers; cancel is `ray.cancel(force=True)`.

    `address` is passed to `ray.init` (None starts a local Ray instance, as the tests do).
    """

    def __init__(self, address: str | None = None):
        import ray  # optional extra: pip install 'vmo-optimizer[ray]'

        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        self._remote = ray.remote(run_task)
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._refs: dict[Future, Any] = {}

    def submit(self, task: SolveTask) -> Future:
        workers = int(task.settings.get("workers", SolverSettings().workers))
        ref = self._remote.options(num_cpus=workers, max_retries=0).remote(task)
        future = ref.future()
        self._refs[future] = ref
        future.add_done_callback(lambda done: self._refs.pop(done, None))
        return future

    def stop(self, futures: list[Future], grace_s: float = STOP_GRACE_S) -> None:
        refs = [ref for f in futures if not f.done() and (ref := self._refs.get(f)) is not None]
        for ref in refs:
            self._ray.cancel(ref, force=True)
        wait([f for f in futures if not f.done()], timeout=grace_s)

    def close(self) -> None:
        if self._owns_ray:
            self._ray.shutdown()


def make_executor(workers: int, ray_address: str | None = None) -> SolveExecutor:
    """Ray when `ray_address` is set (e.g. from VMO_RAY_ADDRESS), else a local pool of `workers` processes."""
    if ray_address:
        return RayExecutor(None if ray_address == "local" else ray_address)
    return LocalPool(workers)
