"""Stopping a running solve from outside: a cancelled job stops its solves early.

A solve registers how to stop whatever it is running (CP-SAT's `stop_search`,
killing a CBC process) with `while_running`; `request_stop` calls every
registered stop and makes solves that have not started yet return at once. The
flag is per process: a worker process clears it before each task
(`clear`), so one cancelled job never stops the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
