"""Where batch solves run: one seam, a local process pool by default, Ray when configured.

A job's fan-out only ever calls `submit(task) -> Future`, `stop(futures)` and
`close()`. A task is plain data (portfolio and settings as JSON-ready dicts):
the solver model is built inside the process or Ray task that solves it, and
the answer comes back as plain data too (`Plan.model_dump(mode="json")`).

Stopping is two-staged, as a planner expects from "cancel": first the solver's
own stop (CP-SAT's `stop_search`, CBC's process killed), so a solve ends within
moments; after `grace_s` the solving process itself is killed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from models.portfolio import Portfolio
from models.settings import SolverSettings
from optimizer import stopping
from optimizer.solve import solve

log = logging.getLogger("vmo.executor")

STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class SolveTask:
    """One solve as plain data: a checked portfolio, settings, and an optional warm start."""

    portfolio: dict[str, Any]
    settings: dict[str, Any]
    warm_start: dict[str, str] = field(default_factory=dict)


def run_task(task: SolveTask) -> dict[str, Any]:
    """Solve one task; module-level so that process pools and Ray can ship it by reference."""
    stopping.clear()  # a stop meant for an earlier task of this process is over
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
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.slots, mp_context=context, initializer=_listen_for_stop)

    def submit(self, task: SolveTask) -> Future:
        if getattr(self._pool, "_broken", False):  # a solver process died: carry on with a new pool
            self._replace()
        return self._pool.submit(run_task, task)

    def stop(self, futures: list[Future], grace_s: float = STOP_GRACE_S) -> None:
        running = [f for f in futures if not f.cancel() and not f.done()]
        if not running:
            return
        for pid in list(self._pool._processes):
            _signal(pid, signal.SIGUSR1)
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


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, signum)


def _listen_for_stop() -> None:
    """In each pool process: SIGUSR1 stops the running solve. The signal is taken by a thread
    (sigwait), because the main thread sits inside the solver's native code while solving."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    threading.Thread(target=_stop_on_signal, name="stop-listener", daemon=True).start()


def _stop_on_signal() -> None:
    while True:
        signal.sigwait({signal.SIGUSR1})
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
        refs = [self._refs[f] for f in futures if not f.done() and f in self._refs]
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
