"""Stopping a running solve from outside: a cancelled job stops its solves early.

A solve registers how to stop whatever it is running (CP-SAT's `stop_search`,
killing a CBC process) with `while_running`; `request_stop` calls every
registered stop and makes solves that have not started yet return at once. The
flag is per process: a worker process clears it before each task
(`clear`), so one cancelled job never stops the next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TypeVar

log = logging.getLogger("vmo.solver")
R = TypeVar("R")

_lock = threading.Lock()
_requested = threading.Event()
_stops: list[Callable[[], None]] = []


def request_stop() -> None:
    """Stop every running solve in this process, and any solve started before `clear`."""
    with _lock:
        _requested.set()
        stops = list(_stops)
    for stop in stops:
        stop()


def requested() -> bool:
    return _requested.is_set()


def clear() -> None:
    _requested.clear()


@contextmanager
def while_running(stop: Callable[[], None]) -> Iterator[None]:
    """Register `stop` for the duration of the block (called at once if a stop is already requested)."""
    with _lock:
        _stops.append(stop)
        already = _requested.is_set()
    if already:
        stop()
    try:
        yield
    finally:
        with _lock:
            _stops.remove(stop)


class Signal:
    """A stop that one caller sends to the solves it started itself: in a race, the solver that proves
    its plan optimal stops the others. Independent of the process-wide stop above."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fired = False
        self._stops: list[Callable[[], None]] = []

    def fire(self) -> None:
        with self._lock:
            self._fired = True
            stops = list(self._stops)
        for stop in stops:
            stop()

    @contextmanager
    def while_running(self, stop: Callable[[], None]) -> Iterator[None]:
        """Register `stop` for the block (called at once if the signal was already sent)."""
        with self._lock:
            self._stops.append(stop)
            fired = self._fired
        if fired:
            stop()
        try:
            yield
        finally:
            with self._lock:
                self._stops.remove(stop)


@contextmanager
def stoppable(stop: Callable[[], None], signal: Signal | None = None) -> Iterator[None]:
    """`stop` registered for the block: with the process-wide stop, and with `signal` when given."""
    with while_running(stop), signal.while_running(stop) if signal is not None else nullcontext():
        yield


def race(runs: dict[str, Callable[[Signal], R]], won: Callable[[R], bool], failed: R) -> dict[str, R]:
    """Run each of `runs` in its own thread with its own signal; the first whose result `won` (a proof of
    optimality) stops the others. A run that raises (a bug, a crash) leaves the race to the others and counts
    as `failed`."""
    signals = {name: Signal() for name in runs}
    found: dict[str, R] = {}

    def run(name: str) -> None:
        try:
            found[name] = runs[name](signals[name])
        except Exception:
            log.exception("the %s search of a race failed", name)
            found[name] = failed
            return
        if won(found[name]):
            for other, signal in signals.items():
                if other != name:
                    signal.fire()

    threads = [threading.Thread(target=run, args=(name,), name=f"race-{name}") for name in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found
