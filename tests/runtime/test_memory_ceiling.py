"""Issue 13: one pool process peaked at 1 GiB; a solver process over its memory ceiling is replaced and its
solve fails with a clear message, while the pool goes on."""

from __future__ import annotations

import pytest

from runtime import SolverOutOfMemory, SolverPool, SolveTask
from tests.support.hungry import hold_memory, keep_memory
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow  # spawns solver processes


def test_a_solve_over_the_memory_ceiling_fails_and_its_process_is_replaced():
    with SolverPool(1, run=hold_memory, memory_mb=300) as pool:
        pool.wait_ready()
        before = pool.pids()
        future = pool.submit(SolveTask({}, {"workers": 1}))
        with pytest.raises(SolverOutOfMemory, match="300 MiB"):
            future.result(timeout=60)
        pool.wait_ready()
        assert pool.pids() != before


def test_an_idle_process_that_kept_half_the_ceiling_is_replaced():
    """A pool process kept 700 MiB after its solve: one that keeps over half the ceiling is replaced once idle."""
    with SolverPool(1, run=keep_memory, memory_mb=600) as pool:
        pool.wait_ready()
        before = pool.pids()
        assert pool.submit(SolveTask({}, {"workers": 1})).result(timeout=60) == {"kept": 1}
        wait_for(lambda: pool.ready and pool.pids() != before, "the process to be replaced", timeout=60)
        # The new process starts empty: its first solve keeps one ballast, not two.
        assert pool.submit(SolveTask({}, {"workers": 1})).result(timeout=60) == {"kept": 1}
