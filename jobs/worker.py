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
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from jobs.settings import JobSettings
from jobs.tasks import build_task, store_plan
from models import PortfolioError
from optimizer.executors import SolveExecutor, make_executor
from storage import repo
from storage.db import Database
from storage.tables import JobPartRow, PlanRow

log = logging.getLogger("vmo.worker")

CRASH_RETRIES = 1  # a part whose solver process died is tried once more before it fails


class Worker:
    """Runs jobs from `db` until `stop()`; solves go to `executor` (default: from `settings`)."""

    def __init__(self, db: Database, settings: JobSettings | None = None, executor: SolveExecutor | None = None):
        self.db = db
        self.settings = settings or JobSettings()
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._executor = executor
        self._stop = threading.Event()

    @property
    def executor(self) -> SolveExecutor:
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
        """Claim and run jobs until `stop()` (or, with `until_idle`, until none is queued). Returns jobs run."""
        ran = 0
        while not self._stop.is_set():
            job_id = self.claim()
            if job_id is None:
                if until_idle:
                    break
                self._stop.wait(self.settings.poll_s)
                continue
            try:
                self.run_job(job_id)
            except Exception:  # e.g. the database went away: hand the job back, or its lease lapses
                log.exception("job %s stopped with an error; handing it back to the queue", job_id)
                self._release_quietly(job_id)
                self._stop.wait(self.settings.poll_s)
            ran += 1
        return ran

    def _release_quietly(self, job_id: str) -> None:
        try:
            with self.db.session() as session:
                repo.release(session, job_id, self.name)
        except Exception:  # still failing: the lease lapses and another claim resumes the job
            log.warning("could not hand job %s back; it resumes when its lease lapses", job_id)

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
            if outcome == "released":
                repo.release(session, job_id, self.name)
            elif outcome in ("succeeded", "failed", "canceled"):
                error = run.error_summary() if outcome == "failed" else None
                repo.finish(session, job_id, self.name, outcome, error)
        log.info("job %s: %s", job_id, outcome)


class _JobRun:
    """One claim of one job: the parts left to do and the solves in flight."""

    def __init__(self, worker: Worker, job_id: str):
        self.worker, self.db, self.job_id = worker, worker.db, job_id
        self.pending: dict[int, JobPartRow] = {}
        self.finished: dict[int, str] = {}  # part index -> status
        self.plans: dict[int, str] = {}  # part index -> stored plan id
        self.in_flight: dict[Future, int] = {}
        self.crashes: dict[int, int] = {}
        self.errors: list[str] = []

    def execute(self) -> str:
        """'succeeded', 'failed', 'canceled', 'released' (worker stopping) or 'lost' (another worker has it)."""
        self._load()
        beat = time.monotonic()
        while self.pending or self.in_flight:
            self._submit_ready()
            if self.in_flight:
                done, _ = wait(list(self.in_flight), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    self._record(self.in_flight.pop(future), future)
            elif self.pending:
                time.sleep(0.05)
            if time.monotonic() - beat >= self.worker.settings.heartbeat_s or self.worker._stop.is_set():
                beat = time.monotonic()
                interrupt = self._interruption()
                if interrupt is not None:
                    self.worker.executor.stop(list(self.in_flight))
                    return interrupt
        return "failed" if any(s == "failed" for s in self.finished.values()) else "succeeded"

    def _load(self) -> None:
        with self.db.reading() as session:
            for part in repo.parts_of(session, self.job_id):
                if part.status == "pending":
                    self.pending[part.index] = part
                else:
                    self.finished[part.index] = part.status
                    if part.plan_id is not None:
                        self.plans[part.index] = part.plan_id
                    if part.status == "failed":
                        self.errors.append(f"part {part.index}: {part.error}")

    def _interruption(self) -> str | None:
        if self.worker._stop.is_set():
            return "released"
        with self.db.session() as session:
            ours, cancel = repo.heartbeat(session, self.job_id, self.worker.name)
        if not ours:
            log.warning("job %s was taken over by another worker; stopping", self.job_id)
            return "lost"
        return "canceled" if cancel else None

    def _submit_ready(self) -> None:
        executor = self.worker.executor
        for index in sorted(self.pending):
            if len(self.in_flight) >= executor.slots:
                return
            part = self.pending[index]
            if part.after is not None and part.after not in self.plans:
                if part.after in self.finished:  # its base part ended without a plan
                    del self.pending[index]
                    self._fail(index, f"part {part.after}, which it starts from, did not finish")
                continue
            try:
                with self.db.reading() as session:
                    job = repo.get_job(session, self.job_id)
                    task = build_task(session, job, part, self._plan_row(session, part.after))
            except (PortfolioError, repo.NotFound) as exc:
                del self.pending[index]
                self._fail(index, str(exc))
                continue
            del self.pending[index]
            self.in_flight[executor.submit(task)] = index

    def _plan_row(self, session, index: int | None) -> PlanRow | None:
        return None if index is None or index not in self.plans else repo.get_plan(session, self.plans[index])

    def _record(self, index: int, future: Future) -> None:
        try:
            document: dict[str, Any] | None = future.result()
            error = None
        except CancelledError:
            return
        except BrokenProcessPool:
            self.crashes[index] = self.crashes.get(index, 0) + 1
            if self.crashes[index] <= CRASH_RETRIES:
                log.warning("the solver process of job %s part %d died; retrying the part", self.job_id, index)
                with self.db.session() as session:
                    self.pending[index] = repo.parts_of(session, self.job_id)[index]
                return
            document, error = None, "the solver process died (out of memory or killed)"
        except PortfolioError as exc:
            document, error = None, str(exc)
        except Exception as exc:  # a bug in a solve: the part fails, the job goes on
            log.exception("job %s part %d failed", self.job_id, index)
            document, error = None, f"{type(exc).__name__}: {exc}"
        if document is None:
            self._fail(index, error)
            return
        with self.db.session() as session:
            locked = repo.lock_part(session, self.job_id, self.worker.name, index)
            if locked is None:
                return
            job, part = locked
            plan = store_plan(session, job, part, document, self._plan_row(session, part.after))
            repo.count_part(job, part, "succeeded", plan)
        self.finished[index], self.plans[index] = "succeeded", plan.id

    def _fail(self, index: int, error: str) -> None:
        with self.db.session() as session:
            locked = repo.lock_part(session, self.job_id, self.worker.name, index)
            if locked is None:
                return
            repo.count_part(*locked, "failed", error=error)
        self.finished[index] = "failed"
        self.errors.append(f"part {index}: {error}")

    def error_summary(self) -> str:
        failed = sum(s == "failed" for s in self.finished.values())
        return f"{failed} of {len(self.finished)} parts failed; first: {self.errors[0] if self.errors else '?'}"
