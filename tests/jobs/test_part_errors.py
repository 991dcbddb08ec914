"""Issue 13: inside a job, inputs and faults became failed parts whose error showed the raw exception text.
A part's error is now a sentence for the planner: what happened and what to do, never a traceback, a type
name or a file path; the details of a fault of the service go to the log."""

from __future__ import annotations

import logging
from concurrent.futures import Future

import pytest

from bench.generator import random_portfolio
from jobs.settings import JobSettings
from jobs.submit import submit
from jobs.worker import Worker
from models import load_portfolio
from models.auth import DEFAULT_TENANT
from models.checks import PortfolioError, Problem
from models.jobs import BatchJob
from models.settings import SolverSettings
from runtime import SolverOutOfMemory, SolverProcessDied, SolveTask
from storage import repo

RAW = 'Traceback (most recent call last):\n  File "/srv/vmo/optimizer/formulation.py", line 12\nOverflowError: 1e+300'

OUT_OF_MEMORY = "the solve needed more than the 2048 MiB a solver process may use (VMO_SOLVER_MEMORY_MB)"


class Failing:
    """An executor whose every solve raises `error`; counts the solves it was handed."""

    slots = 1

    def __init__(self, error: Exception):
        self.error, self.solves = error, 0

    def submit(self, task: SolveTask) -> Future:
        self.solves += 1
        future: Future = Future()
        future.set_running_or_notify_cancel()
        future.set_exception(self.error)
        return future

    def stop(self, futures, grace_s: float = 0) -> None:
        pass

    def close(self) -> None:
        pass


def failed_part(db, error: Exception) -> tuple[str, str, int]:
    """(the part's error, the job's error, solves tried) of a one-part job whose solve raises `error`."""
    data = random_portfolio(3, 10, 2, 2)
    request = BatchJob(kind="batch", portfolios=[load_portfolio(data)], settings=SolverSettings(time_limit_s=5))
    with db.session() as session:
        job_id = submit(session, DEFAULT_TENANT, request).id
    executor = Failing(error)
    Worker(db, JobSettings(poll_s=0.05, heartbeat_s=0.2), executor=executor).run(until_idle=True)
    with db.session() as session:
        job = repo.get_job(session, DEFAULT_TENANT, job_id)
        (part,) = repo.parts_of(session, job_id)
        assert job.status == "failed" and part.status == "failed"
        return part.error, job.error, executor.solves


@pytest.mark.slow
@pytest.mark.parametrize(
    ("error", "expected", "solves"),
    [
        (RuntimeError(RAW), "the solver failed on this part (a fault of the service, logged); resubmit it", 1),
        (SolverProcessDied(RAW), "the solver process died (out of memory or killed)", 2),  # tried once more
        (SolverOutOfMemory(OUT_OF_MEMORY), OUT_OF_MEMORY, 1),  # the same memory would be needed again: no retry
        (
            PortfolioError([Problem("$.budget", "too many digits to count in cents")]),
            "the portfolio was rejected: $.budget: too many digits to count in cents",
            1,
        ),
    ],
    ids=["bug", "process-died", "out-of-memory", "rejected"],
)
def test_a_failed_part_says_what_happened_in_a_sentence(sqlite_database, caplog, error, expected, solves):
    with caplog.at_level(logging.ERROR, logger="vmo.worker"):
        part_error, job_error, tried = failed_part(sqlite_database, error)
    assert part_error == expected
    assert job_error == f"1 of 1 parts failed; first: part 0: {expected}"
    assert tried == solves
    for text in (part_error, job_error):
        assert "Traceback" not in text and "formulation.py" not in text and "Error:" not in text
    if isinstance(error, RuntimeError) and not isinstance(error, SolverProcessDied):
        assert RAW in caplog.text, "the details of a fault of the service are logged"
