"""The executor seam: `submit(task) -> Future`, `stop(futures)`, `close()`, and how many tasks to keep in flight.

Three executors: `InlineExecutor` (this process, one solve at a time: the CLI's
single-process runs and tests), `SolverPool` (local solver processes, see
runtime/pool.py) and `RayExecutor` (a Ray cluster). Whatever runs a solve
returns the plan as plain data (`Plan.model_dump(mode="json")`).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, wait
from typing import Any, Protocol

from models.settings import SolverSettings
from optimizer import stopping
from runtime.pool import STOP_GRACE_S, SolverPool
from runtime.tasks import SolveTask, run_task

log = logging.getLogger("vmo.runtime")


class Executor(Protocol):
    slots: int
    """How many tasks it makes sense to keep in flight."""

    def submit(self, task: SolveTask) -> Future: ...

    def stop(self, futures: list[Future], grace_s: float = STOP_GRACE_S) -> None: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Solves in the calling thread: `submit` returns a finished future. For one-process runs and tests."""

    slots = 1

    def submit(self, task: SolveTask) -> Future:
        future: Future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(run_task(task))
        except Exception as exc:
            future.set_exception(exc)
        finally:
            stopping.clear()  # a stop sent to this solve ends with it: a later solve in this process starts clean
        return future

    def stop(self, futures: list[Future], grace_s: float = STOP_GRACE_S) -> None:
        if any(not f.done() for f in futures):  # only when called from another thread mid-solve
            stopping.request_stop()

    def close(self) -> None:
        pass


class RayExecutor:
    """Each solve a Ray task with `num_cpus` equal to its solver threads; stop is `ray.cancel(force=True)`.

    `address` is passed to `ray.init` (None starts a local Ray instance, as the tests do)."""

    def __init__(self, address: str | None = None, threads_per_task: int = 1):
        import ray  # optional extra: pip install 'vmo-optimizer[ray]'

        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        self._remote = ray.remote(run_task)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = max(1, cpus // max(1, threads_per_task))
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


def make_executor(processes: int, ray_address: str | None = None, threads_per_task: int = 1) -> Executor:
    """Ray when `ray_address` is set (e.g. from VMO_RAY_ADDRESS; `local` starts one on this machine),
    else a pool of `processes` local solver processes."""
    if ray_address:
        return RayExecutor(None if ray_address == "local" else ray_address, threads_per_task)
    return SolverPool(processes)
