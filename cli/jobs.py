"""`vmo batch`, `vmo worker` and `vmo jobs`: many solves at once, the job worker, and following jobs."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, as_completed
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cli.common import EXIT_NO_PLAN, err, fail, read_portfolio, solver_settings, width
from cli.render import money
from models.jobs import TERMINAL, JobStatus
from models.plan import NO_PLAN, Plan

DEFAULT_URL = "http://127.0.0.1:8000"


def _progress(console: Console) -> Progress:
    """done / total, elapsed and ETA."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
    )


# ---------------------------------------------------------------- vmo batch


def batch(
    files: Annotated[list[Path], typer.Argument(help="Portfolio JSON files.")],
    workers: Annotated[int, typer.Option(min=1, max=256, help="Portfolios solved at once (processes).")] = 2,
    out: Annotated[Path | None, typer.Option(help="Write each plan to DIR/<file name>.plan.json.")] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds per solve.")] = None,
    backend: Annotated[str | None, typer.Option(help="auto (default), cp-sat, cbc, scip or wsjf-greedy.")] = None,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Solver threads per solve.")] = 1,
    what_it_takes: Annotated[
        bool,
        typer.Option(
            "--what-it-takes/--no-what-it-takes",
            help="Work out what it would take to fund each MMP left out (within the time limit).",
        ),
    ] = True,
) -> None:
    """Solve many portfolios in parallel (a local process pool, or Ray when VMO_RAY_ADDRESS is set)."""
    from jobs.settings import JobSettings
    from runtime import SolveTask, make_executor

    portfolios = [read_portfolio(path, name_file=True) for path in files]  # every file is checked before any solve
    names = _output_names(files)
    settings = solver_settings(time_limit_s=time_limit, backend=backend, workers=threads, what_it_takes=what_it_takes)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    executor = make_executor(workers, JobSettings().ray_address, threads_per_task=threads)
    plans: dict[int, Plan] = {}
    futures: dict[Future, int] = {}
    try:
        for i, portfolio in enumerate(portfolios):
            task = SolveTask.of(portfolio, settings)
            futures[executor.submit(task)] = i
        with _progress(err) as progress:
            bar = progress.add_task("solving", total=len(portfolios))
            for future in as_completed(futures):
                i = futures[future]
                plans[i] = _plan_or_fail(future, files[i])
                if out is not None:
                    _write_atomically(out / names[i], plans[i].model_dump_json(indent=2))
                progress.advance(bar)
    except KeyboardInterrupt:
        executor.stop(list(futures))
        err.print("stopped: finished plans were written", markup=False)
        raise typer.Exit(130) from None
    finally:
        executor.close()
    _batch_table(files, [plans[i] for i in range(len(files))])
    if any(plan.status in NO_PLAN for plan in plans.values()):
        raise typer.Exit(EXIT_NO_PLAN)


def _output_names(files: list[Path]) -> list[str]:
    """<stem>.plan.json, made unique when two files share a name."""
    names, seen = [], set()
    for path in files:
        name, n = f"{path.stem}.plan.json", 1
        while name in seen:
            n += 1
            name = f"{path.stem}-{n}.plan.json"
        seen.add(name)
        names.append(name)
    return names


def _plan_or_fail(future: Future, path: Path) -> Plan:
    from models import PortfolioError

    try:
        return Plan.model_validate(future.result())
    except PortfolioError as exc:
        fail([f"{path}: {problem}" for problem in exc.problems])
    raise AssertionError("unreachable")


def _write_atomically(path: Path, text: str) -> None:
    """Never a half-written plan file: write beside it, then rename."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(path)


def _batch_table(files: list[Path], plans: list[Plan]) -> None:
    table = Table(title=f"{len(plans)} portfolios")
    for column in ("file", "status", "objective", "gap", "selected", "seconds"):
        table.add_column(column, justify="left" if column in ("file", "status") else "right")
    for path, plan in zip(files, plans, strict=True):
        objective = "-" if plan.objective is None else money(plan.objective)
        gap = "-" if plan.gap is None else f"{plan.gap:.2%}"
        table.add_row(str(path), plan.status, objective, gap, str(len(plan.selected)), f"{plan.solver.time_s:.1f}")
    Console(highlight=False, emoji=False, width=width()).print(table)


# ---------------------------------------------------------------- vmo worker


def worker(
    processes: Annotated[
        int | None, typer.Option(min=1, max=256, help="Solver processes (VMO_WORKER_PROCESSES).")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL (VMO_DATABASE_URL); default SQLite.")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to solve on (VMO_RAY_ADDRESS).")] = None,
    parent_pid: Annotated[int | None, typer.Option(hidden=True, help="Stop when this process ends.")] = None,
) -> None:
    """Run queued jobs until stopped (Ctrl-C or SIGTERM hands the current job back to the queue)."""
    from jobs.settings import JobSettings
    from jobs.worker import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    overrides = {"worker_processes": processes, "database_url": database_url, "ray_address": ray_address}
    settings = JobSettings(**{k: v for k, v in overrides.items() if v is not None})
    db = open_database(settings)
    runner = Worker(db, settings)
    for signum in (signal.SIGTERM, signal.SIGINT):
        # From a thread: a handler runs between two bytecodes of the main thread, maybe inside the
        # worker's own Event.wait holding the lock that Event.set needs.
        signal.signal(signum, lambda *_: threading.Thread(target=runner.stop, daemon=True).start())
    if parent_pid is not None:
        _stop_with_parent(parent_pid, runner.stop)
    logging.getLogger("vmo.worker").info("worker %s on %s", runner.name, db.engine.url.render_as_string())
    try:
        runner.run()
    finally:
        runner.close()
        db.dispose()


# ---------------------------------------------------------------- vmo jobs


def jobs(
    job_id: Annotated[str | None, typer.Argument(help="A job id: show it (and --follow, --cancel).")] = None,
    url: Annotated[str, typer.Option(envvar="VMO_URL", help="The service's base URL.")] = DEFAULT_URL,
    follow: Annotated[bool, typer.Option("--follow", help="Show progress until the job ends.")] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancel the job.")] = False,
    status: Annotated[str | None, typer.Option(help="List only jobs with this status.")] = None,
    key: Annotated[
        str | None, typer.Option(envvar="VMO_API_KEY", help="The API key to call the service with (VMO_API_KEY).")
    ] = None,
) -> None:
    """List the jobs of a running service, or show, follow or cancel one."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        if job_id is None:
            _job_table(_call(client, "GET", "/v1/jobs", params={"status": status} if status else None)["jobs"])
            return
        job = _call(client, "DELETE" if cancel else "GET", f"/v1/jobs/{job_id}")
        if follow:
            job = _follow(client, job)
        _job_table([job])
        if job["status"] in (JobStatus.FAILED, JobStatus.CANCELED):
            raise typer.Exit(EXIT_NO_PLAN)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """The JSON answer, or one line on stderr and exit 2 (unreachable service, error envelope)."""
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        fail([f"cannot reach the service at {client.base_url}: {exc}"])
    if response.is_error:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        fail([f"{method} {path}: {response.status_code} {message}"])
    return response.json()


def _follow(client: httpx.Client, job: dict[str, Any], poll_s: float = 1.0) -> dict[str, Any]:
    with _progress(err) as progress:
        bar = progress.add_task(f"job {job['id'][:8]}", total=job["progress"]["total"])
        while True:
            progress.update(bar, completed=job["progress"]["done"], description=f"job {job['id'][:8]} {job['status']}")
            if job["status"] in TERMINAL:
                return job
            time.sleep(poll_s)
            job = _call(client, "GET", f"/v1/jobs/{job['id']}")


def _job_table(jobs: list[dict[str, Any]]) -> None:
    table = Table(title=f"{len(jobs)} job(s)")
    for column in ("id", "kind", "status", "done", "best value", "created", "error"):
        table.add_column(column)
    for job in jobs:
        p = job["progress"]
        best = "-" if p.get("best_value") is None else money(p["best_value"])
        done = f"{p['done']}/{p['total']}" + (f" ({p['failed']} failed)" if p.get("failed") else "")
        table.add_row(job["id"], job["kind"], job["status"], done, best, job["created_at"][:19], job.get("error") or "")
    Console(highlight=False, emoji=False, width=width()).print(table)


def open_database(settings: Any) -> Any:
    """The migrated database, waiting for it to answer (bounded, logged); a fault is one line and exit 2."""
    from storage.db import Database, StorageFault

    try:
        db = Database(settings.url)
        db.migrate_when_reachable(settings.database_wait_s, logging.getLogger("vmo.storage"))
        return db
    except StorageFault as exc:
        fail([str(exc)])


def start_worker_process() -> Any:
    """`vmo serve`'s local worker: a separate process running `vmo worker` on the same settings. It
    stops with the server however the server ends (uvicorn re-raises SIGTERM, so no cleanup code runs)."""
    import subprocess

    command = [sys.executable, "-m", "cli", "worker", "--parent-pid", str(os.getpid())]
    return subprocess.Popen(command, env=os.environ.copy())


def _stop_with_parent(parent_pid: int, stop) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        logging.getLogger("vmo.worker").info("the server (pid %d) ended; stopping", parent_pid)
        stop()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class WorkerSupervisor:
    """`vmo serve`'s worker, started again when it dies (a crash, the OOM killer): waits 1 s, doubling while it
    keeps dying at once, up to a minute. Stopped with the server."""

    def __init__(self, start: Any):
        self._start = start
        self._stopping = threading.Event()
        self.process = start()
        self.started = time.monotonic()
        self.restarts = 0
        threading.Thread(target=self._watch, name="worker-supervisor", daemon=True).start()

    def _watch(self) -> None:
        log = logging.getLogger("vmo.serve")
        delay = 0.5  # doubled to 1 s for the first death
        while not self._stopping.wait(1.0):
            code = self.process.poll()
            if code is None:
                continue
            delay = min(delay * 2, 60.0) if time.monotonic() - self.started < 30 else 1.0
            log.error("the job worker (pid %d) ended with exit code %s; starting a new one in %.0f s",
                      self.process.pid, code, delay)  # fmt: skip
            if self._stopping.wait(delay):
                return
            self.process, self.started = self._start(), time.monotonic()
            self.restarts += 1

    def stop(self) -> None:
        import subprocess

        self._stopping.set()
        self.process.terminate()  # the worker hands its current job back to the queue
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
