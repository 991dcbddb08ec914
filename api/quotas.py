"""Solver seconds per tenant per minute, for the API's own solves (docs/design.md, section 9.4).

A request is charged, when it is admitted, its time limit for every solve it needs (at most the whole
quota), so that many requests sent at once cannot all start; when it ends the charge becomes the solver
seconds its plans report. A request that would take the tenant's last minute over the quota is refused with
429 and Retry-After: the seconds until enough of that minute's charges have aged out. The meter lives in the
API process (`vmo serve` runs one); jobs are bounded by the queued-jobs and parts-per-job quotas instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from storage.repo import QuotaExceeded

WINDOW_S = 60.0


@dataclass
class _Charge:
    at: float
    seconds: float


class SolverMeter:
    """Per-tenant solver seconds within the last minute."""

    def __init__(self, seconds_per_minute: float, clock: Callable[[], float] = time.monotonic):
        self.limit = seconds_per_minute
        self.clock = clock
        self._charges: dict[str, deque[_Charge]] = {}
        self._lock = threading.Lock()

    def used(self, tenant: str) -> float:
        with self._lock:
            return sum(c.seconds for c in self._live(tenant))

    def _live(self, tenant: str) -> deque[_Charge]:
        """The tenant's charges of the last minute (older ones dropped)."""
        charges = self._charges.setdefault(tenant, deque())
        cutoff = self.clock() - WINDOW_S
        while charges and charges[0].at <= cutoff:
            charges.popleft()
        return charges

    def _reserve(self, tenant: str, seconds: float) -> _Charge:
        seconds = min(seconds, self.limit)
        with self._lock:
            charges = self._live(tenant)
            used = sum(c.seconds for c in charges)
            if used + seconds > self.limit:
                raise QuotaExceeded(
                    f"tenant {tenant!r} used {used:.0f} of its {self.limit:g} solver seconds in the last minute "
                    f"(VMO_QUOTA_SOLVER_SECONDS) and this request may use {seconds:g} more; retry later, or "
                    "submit it as a job",
                    self._wait(charges, used + seconds - self.limit),
                )
            charge = _Charge(self.clock(), seconds)
            charges.append(charge)
            return charge

    def _wait(self, charges: deque[_Charge], excess: float) -> int:
        """Seconds until charges worth `excess` have left the window."""
        freed = 0.0
        for charge in charges:
            freed += charge.seconds
            if freed >= excess:
                return max(1, math.ceil(charge.at + WINDOW_S - self.clock()))
        return math.ceil(WINDOW_S)

    @contextmanager
    def charged(self, tenant: str | None, seconds: float) -> Iterator[_Charge]:
        """Reserve `seconds` for the block (QuotaExceeded when they do not fit); the block sets the charge's
        `seconds` to what its solves really used. A block that fails keeps its reservation (its solves ran).
        No tenant: nothing is charged (the CLI's and the tests' own solvers)."""
        if tenant is None:
            yield _Charge(self.clock(), 0.0)
            return
        yield self._reserve(tenant, seconds)
