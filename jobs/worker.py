"""The worker: claims queued jobs and runs their parts through the executor seam.

Every finished part is stored at once (its plan, the part's status, the job's
progress) in one transaction, under the job's lease: a worker that lost its
job (it stopped heartbeating and another worker took over) records nothing, so
no plan is lost or stored twice. A worker asked to stop hands its job back to
the queue; a job asked to cancel stops its running solves and keeps what finished.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from jobs.settings import JobSettings
from jobs.tasks import build_task, store_plan
from models import PortfolioError
from models.checks import capped
from models.jobs import JobStatus, PartStatus
from runtime import Executor, SolverOutOfMemory, SolverProcessDied, SolveStopped, TaskGraph, make_executor
from storage import repo
from storage.db import Database, StorageFault
from storage.tables import JobPartRow, PlanRow

log = logging.getLogger("vmo.worker")

CRASH_RETRIES = 1  # a part whose solver process died is tried once more before it fails


class Interrupted(StrEnum):
    """Why a worker stopped running a job before it ended."""

    RELEASED = "released"  # the worker is stopping: the job goes back to the queue
    LOST = "lost"  # another worker took the job over (this one missed its lease)


class Worker:
    """Runs jobs from `db` until `stop()`; solves go to `executor` (default: from `settings`)."""

    def __init__(self, db: Database, settings: JobSettings | None = None, executor: Executor | None = None):
        self.db = db
        self.settings = settings or JobSettings()
        # An opaque id: job answers name the worker without telling clients a hostname or a process id.
        self.name = uuid.uuid4().hex[:12]
        log.info("worker %s is process %d on %s", self.name, os.getpid(), socket.gethostname())
        self._executor = executor
        self._stop = threading.Event()
        self._next_purge = 0.0

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(self.settings.worker_processes, self.settings.ray_address)
        return self._executor

    def stop(self) -> None:
        """Finish soon: the current job's solves are stopped and the job goes back to the queue."""
        self._stop.set()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()

    def run(self, until_idle: bool = False) -> int:
        """Claim and run jobs until `stop()` (or, with `until_idle`, until none is queued). Returns jobs run.
        The database may go away at any time (a restart, a network blip): the worker waits for it, with
        backoff, and logs the outage once."""
        ran = 0
        outage = Outage(self.settings.max_backoff_s)
        while not self._stop.is_set():
            try:
                self._housekeeping()
                job_id = self.claim()
            except (SQLAlchemyError, StorageFault) as exc:
                self._stop.wait(outage.failed(exc))
                continue
            outage.recovered()
            if job_id is None:
                if until_idle:
                    break
                self._stop.wait(self.settings.poll_s)
                continue
            try:
                self.run_job(job_id)
            except (SQLAlchemyError, StorageFault) as exc:  # the database went away mid-job: hand the job back
                log.warning("job %s stopped: the database failed (%s); handing it back", job_id, _first_line(exc))
                self._release(job_id, outage)
            except Exception:  # a bug: the job goes back to the queue (its lease would lapse anyway)
                log.exception("job %s stopped with an error; handing it back to the queue", job_id)
                self._release(job_id, outage)
            ran += 1
        self._forget()
        return ran

    def _release(self, job_id: str, outage: Outage) -> None:
        """Hand the job back as soon as the database answers again, so it resumes at once (not after its lease)."""
        while not self._stop.is_set():
            try:
                with self.db.session() as session:
                    repo.release(session, job_id, self.name)
                outage.recovered()
                return
            except (SQLAlchemyError, StorageFault) as exc:
                self._stop.wait(outage.failed(exc))

    def _housekeeping(self) -> None:
        """Say this worker is alive (for /readyz) and, at most once a minute, delete jobs past retention."""
        with self.db.session() as session:
            repo.worker_seen(session, self.name)
        retention = self.settings.job_retention_days * 86_400
        if retention and time.monotonic() >= self._next_purge:
            with self.db.session() as session:
                purged = repo.purge_finished_jobs(session, retention)
            if purged:
                log.info("deleted %d finished job(s) older than %g days", purged, self.settings.job_retention_days)
            self._next_purge = time.monotonic() + 60

    def _forget(self) -> None:
        try:
            with self.db.session() as session:
                repo.worker_gone(session, self.name)
        except (SQLAlchemyError, StorageFault):
            pass  # its row ages out of /readyz's count

    def claim(self) -> str | None:
        s = self.settings
        with self.db.session() as session:
            job = repo.claim(session, self.name, s.job_lease_s, s.max_attempts)
            return job.id if job is not None else None

    def run_job(self, job_id: str) -> None:
        """Run the job's pending parts; record each as it finishes; end the job (or hand it back)."""
        log.info("worker %s runs job %s", self.name, job_id)
        run = _JobRun(self, job_id)
        try:
            outcome = run.execute()
        except BaseException:
            self.executor.stop(list(run.in_flight))
            raise
        with self.db.session() as session:
            if outcome == Interrupted.RELEASED:
                repo.release(session, job_id, self.name)
            elif isinstance(outcome, JobStatus):
                error = run.error_summary() if outcome == JobStatus.FAILED else None
                repo.finish(session, job_id, self.name, outcome, error)
        log.info("job %s: %s", job_id, outcome)


class Outage:
    """A database outage as the worker lives through it: logged once when it starts and once when it ends,
    with a wait between tries that doubles up to `max_backoff_s`."""

    def __init__(self, max_backoff_s: float):
        self.max_backoff_s = max_backoff_s
        self.since: float | None = None
        self.wait_s = 0.25

    def failed(self, exc: BaseException) -> float:
        """Note a failed try; returns how long to wait before the next."""
        if self.since is None:
            self.since = time.monotonic()
            log.warning("the database cannot be reached (%s); retrying with backoff", _first_line(exc))
        else:
            self.wait_s = min(self.wait_s * 2, self.max_backoff_s)
        return self.wait_s

    def recovered(self) -> None:
        if self.since is not None:
            log.warning("the database is back after %.1f s", time.monotonic() - self.since)
        self.since, self.wait_s = None, 0.25


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class _JobRun:
    """One claim of one job: the parts left to do, in the order they depend on each other."""

    def __init__(self, worker: Worker, job_id: str):
        self.worker, self.db, self.job_id = worker, worker.db, job_id
        self.tenant = ""  # the job's tenant: everything it reads and stores is that tenant's (see _load)
        self.parts: dict[int, JobPartRow] = {}
        self.graph: TaskGraph[str] = TaskGraph([])  # part index -> stored plan id (None: no plan)
        self.statuses: dict[int, PartStatus] = {}  # finished part index -> status
        self.in_flight: dict[Future, int] = {}
        self.crashes: dict[int, int] = {}
        self.errors: list[str] = []

    def execute(self) -> JobStatus | Interrupted:
        """How the job ended (succeeded, failed, canceled), or why this worker stopped running it."""
        self._load()
        beat = time.monotonic()
        while not self.graph.done:
            self._submit_ready()
            if self.in_flight:
                done, _ = wait(list(self.in_flight), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    self._record(self.in_flight.pop(future), future)
            else:
                time.sleep(0.05)
            if time.monotonic() - beat >= self.worker.settings.heartbeat_s or self.worker._stop.is_set():
                beat = time.monotonic()
                interrupt = self._interruption()
                if interrupt is not None:
                    self.worker.executor.stop(list(self.in_flight))
                    return interrupt
        failed = any(s == PartStatus.FAILED for s in self.statuses.values())
        return JobStatus.FAILED if failed else JobStatus.SUCCEEDED

    def _load(self) -> None:
        with self.db.reading() as session:
            self.tenant = repo.tenant_of_job(session, self.job_id)
            parts = repo.parts_of(session, self.job_id)
        finished = {}
        for part in parts:
            self.parts[part.index] = part
            if part.status != PartStatus.PENDING:
                finished[part.index] = part.plan_id
                self.statuses[part.index] = PartStatus(part.status)
                if part.status == PartStatus.FAILED:
                    self.errors.append(f"part {part.index}: {part.error}")
        self.graph = TaskGraph([part.after for part in parts], finished)

    def _interruption(self) -> JobStatus | Interrupted | None:
        if self.worker._stop.is_set():
            return Interrupted.RELEASED
        with self.db.session() as session:
            ours, cancel = repo.heartbeat(session, self.job_id, self.worker.name)
            repo.worker_seen(session, self.worker.name)
        if not ours:
            log.warning("job %s was taken over by another worker; stopping", self.job_id)
            return Interrupted.LOST
        return JobStatus.CANCELED if cancel else None

    def _submit_ready(self) -> None:
        executor = self.worker.executor
        for index in self.graph.ready(limit=max(0, executor.slots - len(self.in_flight))):
            part = self.parts[index]
            if part.after is not None and self.graph.result_of(part.after) is None:
                self._fail(index, f"part {part.after}, which it starts from, did not finish")
                continue
            try:
                with self.db.reading() as session:
                    job = repo.get_job(session, self.tenant, self.job_id)
                    task = build_task(session, job, part, self._plan_row(session, part.after))
            except PortfolioError as exc:
                self._fail(index, f"the portfolio was rejected: {'; '.join(str(p) for p in capped(exc.problems, 5))}")
                continue
            except repo.NotFound as exc:
                self._fail(index, f"what this part solves is no longer stored ({exc})")
                continue
            self.in_flight[executor.submit(task)] = index

    def _plan_row(self, session, index: int | None) -> PlanRow | None:
        plan_id = self.graph.result_of(index)
        return None if plan_id is None else repo.get_plan(session, self.tenant, plan_id)

    def _record(self, index: int, future: Future) -> None:
        try:
            document: dict[str, Any] | None = future.result()
            error = None
        except (CancelledError, SolveStopped):
            return
        except SolverOutOfMemory as exc:  # trying again would need the same memory
            document, error = None, str(exc)
        except SolverProcessDied:
            self.crashes[index] = self.crashes.get(index, 0) + 1
            if self.crashes[index] <= CRASH_RETRIES:
                log.warning("the solver process of job %s part %d died; retrying the part", self.job_id, index)
                self.graph.retry(index)
                return
            document, error = None, "the solver process died (out of memory or killed)"
        except PortfolioError as exc:
            document, error = None, f"the portfolio was rejected: {'; '.join(str(p) for p in capped(exc.problems, 5))}"
        except Exception:  # a bug in a solve: the part fails, the job goes on; the details go to the log
            log.exception("job %s part %d failed", self.job_id, index)
            document, error = None, "the solver failed on this part (a fault of the service, logged); resubmit it"
        if document is None:
            self._fail(index, error)
            return
        with self.db.session() as session:
            locked = repo.lock_part(session, self.job_id, self.worker.name, index)
            if locked is None:
                return
            job, part = locked
            plan = store_plan(session, job, part, document, self._plan_row(session, part.after))
            repo.count_part(job, part, PartStatus.SUCCEEDED, plan)
        self.statuses[index] = PartStatus.SUCCEEDED
        self.graph.finish(index, plan.id)

    def _fail(self, index: int, error: str) -> None:
        with self.db.session() as session:
            locked = repo.lock_part(session, self.job_id, self.worker.name, index)
            if locked is not None:
                repo.count_part(*locked, PartStatus.FAILED, error=error)
        self.statuses[index] = PartStatus.FAILED
        self.graph.finish(index, None)
        self.errors.append(f"part {index}: {error}")

    def error_summary(self) -> str:
        failed = sum(s == PartStatus.FAILED for s in self.statuses.values())
        return f"{failed} of {len(self.statuses)} parts failed; first: {self.errors[0] if self.errors else '?'}"
