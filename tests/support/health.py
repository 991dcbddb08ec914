"""/healthz while the server works: the freeze tests of issue 13.

A server whose event loop does the work (a parse, a check, a solve) holds /healthz for about all of it; one that
hands the work off answers in milliseconds. The budget is 1 s, ten times the 100 ms the service promises, and on
a machine loaded enough to slow the work itself, a quarter of the work's own time: a loaded CI machine then
stretches both figures alike instead of failing the test (it did, at 1.2 s and 2.0 s, beside the other tests).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from fastapi.testclient import TestClient

HEALTH_BUDGET_S = 1.0
SHARE_OF_THE_WORK = 0.25


@dataclass(frozen=True)
class HealthDuringWork:
    worst_s: float  # the slowest /healthz answer while the work ran
    work_s: float  # how long the work ran
    answers: int  # /healthz answers while it ran

    def held(self) -> bool:
        """/healthz was never held long: within the budget, or within a quarter of the work's own time."""
        return self.worst_s < max(HEALTH_BUDGET_S, SHARE_OF_THE_WORK * self.work_s)

    def __str__(self) -> str:
        return f"/healthz took up to {self.worst_s:.2f} s ({self.answers} answers) during {self.work_s:.2f} s of work"


def health_during(client: TestClient, work: threading.Thread) -> HealthDuringWork:
    """Ask /healthz every 20 ms while `work` runs (it is started here)."""
    worst, answers = 0.0, 0
    began = time.monotonic()
    work.start()
    while work.is_alive():
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        worst = max(worst, time.monotonic() - started)
        answers += 1
        time.sleep(0.02)
    return HealthDuringWork(worst, time.monotonic() - began, answers)
