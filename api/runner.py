"""Bounded, off-event-loop execution of solver work.

Solves run in a process pool (OR-Tools never blocks the event loop, and a
stuck solve cannot take the web process down). Requests beyond the pool wait
up to `queue_limit`; more than that are refused at once with 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, TypeVar

from api.errors import ServerBusy, SolverCrashed
from optimizer.parallel import local_pool

T = TypeVar("T")
log = logging.getLogger("vmo.api")


class SolverRunner:
    def __init__(self, pool_size: int, queue_limit: int):
        self.pool_size = pool_size
        self.capacity = pool_size + queue_limit
        self.in_flight = 0
        self.pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        self.pool = local_pool(self.pool_size)
        # Start the worker processes now, so the first request does not pay for their imports.
        for future in [self.pool.submit(_warm_up) for _ in range(self.pool_size)]:
            future.result()

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    @property
    def ready(self) -> bool:
        return self.pool is not None and not self.broken

    @property
    def broken(self) -> bool:
        return self.pool is not None and bool(getattr(self.pool, "_broken", False))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) in a worker process; 503 (ServerBusy) when the queue is full."""
        with self._admission(), self._replacing_a_dead_pool():
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def run_with_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args, pool) in a thread: for work that fans out over the pool itself (what-if, frontier)."""
        with self._admission(), self._replacing_a_dead_pool():
            return await asyncio.get_running_loop().run_in_executor(None, fn, *args, self.pool)

    @contextmanager
    def _replacing_a_dead_pool(self) -> Iterator[None]:
        """A solver process that died (killed, out of memory) breaks the whole pool: start a new
        one so later requests work again, and answer this one with 503 so the client retries."""
        if self.broken:
            self._restart()
        try:
            yield
        except BrokenProcessPool:
            log.error("a solver process died; starting a new pool")
            self._restart()
            raise SolverCrashed() from None

    def _restart(self) -> None:
        old, self.pool = self.pool, None
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        self.start()

    @contextmanager
    def _admission(self) -> Iterator[None]:
        if self.in_flight >= self.capacity:
            raise ServerBusy()
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


def _warm_up() -> bool:
    import optimizer  # noqa: F401  (imports OR-Tools in the worker)

    return True
