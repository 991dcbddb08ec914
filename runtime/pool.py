"""A pool of local solver processes: one solve per process at a time, each stoppable on its own.

Why not `concurrent.futures.ProcessPoolExecutor`: when one of its processes dies,
the whole pool breaks and every solve running beside it fails; it cannot stop one
task without stopping all, and replacing a process means reaching into private
fields. Here every process has its own pipe and its own stop flag:

* a stop is two-staged, as a planner expects from "cancel": first the solver's own
  stop (CP-SAT's `stop_search`, the CBC process killed) through the process's stop
  flag, which a thread in the process watches; after `grace_s` the process itself
  is killed and replaced;
* a process that dies (killed, out of memory) fails only the task it was running
  (`SolverProcessDied`) and is replaced at once;
* processes are forked from a server process that has imported the solvers and runs
  no other thread (runtime/fork_server.py; OR-Tools threads and fork do not mix), and
  die with it (Linux: PR_SET_PDEATHSIG); the server ends with the process that owns
  the pool, so a killed service leaves no solver behind.

Solver threads: a task asks for up to `settings.workers` threads; the pool gives a
lone solve every core and splits the cores between solves that run at once (a
running CP-SAT search keeps the threads it started with).

A stop flag is a shared integer holding the id of the task to stop; not a signal,
because a process-directed signal goes to any thread that does not block it, and
threads started by imports take SIGUSR1's default action: the process dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_any
from typing import Any

from optimizer import stopping
from runtime.tasks import SolveTask, run_task

log = logging.getLogger("vmo.runtime")

STOP_GRACE_S = 5.0
# The most memory one solver process may hold (VMO_SOLVER_MEMORY_MB): the largest portfolio the input caps
# admit solves in about 1 GiB (README, Benchmarks); one runaway solve must not take the host.
MEMORY_MB = int(os.environ.get("VMO_SOLVER_MEMORY_MB", "2048"))
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
STOP_POLL_S = 0.05  # how often a solver process looks at its stop flag
READY_TIMEOUT_S = 120.0
FORK_SERVER_IMPORTS = ["runtime.fork_server"]  # the solvers, imported once, before the first fork


class SolverProcessDied(RuntimeError):
    """The process solving a task died (killed, or out of memory); the pool has replaced it."""


class SolverOutOfMemory(SolverProcessDied):
    """A solve needed more memory than a solver process may hold; its process was replaced."""


class SolveStopped(RuntimeError):
    """A stopped task ignored the solver's own stop for the grace period; its process was killed."""


@dataclass
class _Job:
    id: int
    task: SolveTask
    future: Future


@dataclass
class _Process:
    process: Any  # multiprocessing.context.ForkServerProcess
    conn: Connection
    stop_flag: Any  # shared c_longlong: the id of the task to stop
    ready: bool = False
    job: _Job | None = None
    kill_reason: type[Exception] | None = None  # set when the pool kills it on purpose
    solved: int = 0  # tasks it has finished
    started: float = field(default_factory=time.monotonic)


class SolverPool:
    """`processes` solver processes on this machine behind `submit(task) -> Future`.

    Futures resolve to the plan as plain data (`Plan.model_dump(mode="json")`), or raise what the
    solve raised (e.g. `PortfolioError`), `SolverProcessDied` or `SolveStopped`."""

    def __init__(
        self,
        processes: int,
        run: Callable[[SolveTask], Any] = run_task,
        cores: int | None = None,
        memory_mb: int = MEMORY_MB,
    ):
        """`run` is what a process does with a task (module-level, so solver processes can import it);
        `cores` the solver threads all processes share (default: the cores this process may use); `memory_mb`
        the resident memory a process may hold: above it, the process is killed and replaced, and its solve
        fails with `SolverOutOfMemory`."""
        self.slots = processes
        self.memory_bytes = memory_mb * 2**20
        self.cores = cores or len(os.sched_getaffinity(0))
        self._run = run
        self._context = _solver_context()
        self._lock = threading.Lock()
        self._pending: deque[_Job] = deque()
        self._ids = itertools.count(1)
        self._closed = False
        # The dispatcher sleeps on the processes' pipes and on this one, which any thread writes to wake it.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._processes = [self._spawn() for _ in range(processes)]
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="solver-pool", daemon=True)
        self._dispatcher.start()

    # ---------------------------------------------------------------- public

    def submit(self, task: SolveTask) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the solver pool is closed")
            self._pending.append(_Job(next(self._ids), task, future))
        self._wake()
        return future

    def stop(self, futures: list[Future], grace_s: float = STOP_GRACE_S) -> None:
        """Stop these solves: queued ones are cancelled, running ones asked to stop, and a process whose
        solve is still running after `grace_s` is killed (its future raises `SolveStopped`)."""
        wanted = set(futures)
        with self._lock:
            for job in [job for job in self._pending if job.future in wanted]:
                self._pending.remove(job)
                job.future.cancel()
            running = []
            for p in self._processes:
                if p.job is not None and p.job.future in wanted:
                    p.stop_flag.value = p.job.id
                    running.append(p.job.future)
        _, stuck = wait(running, timeout=grace_s)
        if stuck:
            log.warning("%d solves ignored the stop for %.1f s; killing their processes", len(stuck), grace_s)
            with self._lock:
                for p in self._processes:
                    if p.job is not None and p.job.future in stuck:
                        self._kill(p, SolveStopped)
            wait(stuck, timeout=grace_s)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until every process has started and imported the solver (so a first request is fast)."""
        deadline = time.monotonic() + timeout
        while not self.ready:
            if time.monotonic() > deadline:
                raise TimeoutError("the solver processes did not start in time")
            time.sleep(0.02)

    @property
    def ready(self) -> bool:
        """Every process is up and the pool takes work."""
        with self._lock:
            return not self._closed and all(p.ready and p.process.is_alive() for p in self._processes)

    @property
    def busy(self) -> int:
        """Tasks running or waiting for a process."""
        with self._lock:
            return len(self._pending) + sum(p.job is not None for p in self._processes)

    def pids(self) -> list[int]:
        with self._lock:
            return [p.process.pid for p in self._processes]

    def running_pids(self) -> dict[Future, int]:
        """The process solving each running task."""
        with self._lock:
            return {p.job.future: p.process.pid for p in self._processes if p.job is not None}

    def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Cancel queued work, stop running solves, and end every process."""
        with self._lock:
            if self._closed:
                return
            running = [p.job.future for p in self._processes if p.job is not None]
        self.stop([job.future for job in list(self._pending)] + running, grace_s)
        with self._lock:
            self._closed = True
            for p in self._processes:
                self._send(p, None)
        self._wake()
        self._dispatcher.join(timeout=grace_s + 5)
        for p in self._processes:
            p.process.join(timeout=grace_s)
            if p.process.is_alive():
                p.process.kill()
                p.process.join(timeout=5)
            p.conn.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def __enter__(self) -> SolverPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- the dispatcher thread

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._start_pending()
                waitables: list[Any] = [self._wake_read]
                for p in self._processes:
                    waitables += [p.conn, p.process.sentinel]
            if self._wake_read in wait_for_any(waitables, timeout=0.5):
                _drain(self._wake_read)
            with self._lock:
                for p in list(self._processes):
                    self._collect(p)
                    self._watch_memory(p)

    def _start_pending(self) -> None:
        for p in self._processes:
            if not self._pending:
                return
            if p.job is None and p.ready and p.process.is_alive():
                job = self._pending.popleft()
                if job.future.set_running_or_notify_cancel():
                    p.job = job
                    self._send(p, (job.id, job.task.with_workers(self._threads_for(job.task))))

    def _threads_for(self, task: SolveTask) -> int:
        """The cores are shared by the solves about to run (running, this one, and those queued up to the
        pool's size): a lone solve gets them all, several share them; never more than the task asks for."""
        running = sum(p.job is not None for p in self._processes)  # this task's process included
        sharing = min(running + len(self._pending), self.slots)
        return max(1, min(int(task.settings.get("workers", 1)), self.cores // max(sharing, 1)))

    def _collect(self, p: _Process) -> None:
        """Read what a process sent; replace it if it died."""
        try:
            while p.conn.poll():
                self._receive(p, p.conn.recv())
        except (EOFError, OSError):
            pass  # it died while sending: handled below
        if not p.process.is_alive():
            self._replace(p)

    def _watch_memory(self, p: _Process) -> None:
        """Kill a process over the ceiling (its solve fails); retire an idle one that kept half of it."""
        if not p.process.is_alive() or p.kill_reason is not None:
            return
        rss = _resident_bytes(p.process.pid)
        if p.job is not None and rss > self.memory_bytes:
            log.error("solver process %s holds %d MiB, over the %d MiB ceiling: killing it", p.process.pid,
                      rss >> 20, self.memory_bytes >> 20)  # fmt: skip
            self._kill(p, SolverOutOfMemory)
        elif p.job is None and p.ready and p.solved and rss > self.memory_bytes // 2:
            log.info("solver process %s kept %d MiB after its solve: replacing it", p.process.pid, rss >> 20)
            p.ready = False  # takes no more work; it ends and the dispatcher replaces it
            self._send(p, None)

    def _receive(self, p: _Process, message: Any) -> None:
        kind = message[0]
        if kind == "ready":
            p.ready = True
            return
        _, job_id, ok, payload = message
        job, p.job = p.job, None
        p.stop_flag.value = 0
        p.solved += 1
        if job is None or job.id != job_id:  # cannot happen: one task per process at a time
            log.error("solver process %s answered task %s it was not running", p.process.pid, job_id)
            return
        if ok:
            job.future.set_result(payload)
        else:
            job.future.set_exception(payload)

    def _replace(self, p: _Process) -> None:
        job, reason = p.job, p.kill_reason
        p.conn.close()
        p.process.join(timeout=1)
        index = self._processes.index(p)
        if not self._closed:
            self._processes[index] = self._spawn()
        if job is not None and not job.future.done():
            if reason is SolveStopped:
                job.future.set_exception(SolveStopped("the solve ignored the stop; its process was killed"))
            elif reason is SolverOutOfMemory:
                ceiling = self.memory_bytes >> 20
                job.future.set_exception(
                    SolverOutOfMemory(
                        f"the solve needed more than the {ceiling} MiB a solver process may use "
                        "(VMO_SOLVER_MEMORY_MB): shorten the horizon, narrow the start windows or split the portfolio"
                    )
                )
            else:
                log.error("solver process %s died (exit code %s) running a task", p.process.pid, p.process.exitcode)
                job.future.set_exception(SolverProcessDied("the solver process died (out of memory or killed)"))

    # ---------------------------------------------------------------- processes

    def _spawn(self) -> _Process:
        parent_end, child_end = self._context.Pipe()
        stop_flag = self._context.RawValue("q", 0)  # no lock: a process killed holding it would hang the pool
        process = self._context.Process(
            target=_serve, args=(child_end, stop_flag, self._run), name="vmo-solver", daemon=True
        )
        process.start()
        child_end.close()
        return _Process(process, parent_end, stop_flag)

    def _kill(self, p: _Process, reason: type[Exception]) -> None:
        p.kill_reason = reason
        if p.process.is_alive():
            p.process.kill()
        self._wake()

    def _send(self, p: _Process, message: Any) -> None:
        with contextlib.suppress(OSError):  # the process died: the dispatcher sees its sentinel and replaces it
            p.conn.send(message)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already full of wake-ups, or closed during shutdown
            os.write(self._wake_write, b"!")


def _solver_context() -> Any:
    """Solver processes fork from a server process that imported the solvers once (runtime/fork_server.py),
    instead of each importing them anew."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(FORK_SERVER_IMPORTS)
    return context


def _resident_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc; 0 where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):
        pass


# ---------------------------------------------------------------- inside a solver process

_current = 0  # id of the task this process is running (0: none)
_current_lock = threading.Lock()


def _serve(conn: Connection, stop_flag: Any, run: Callable[[SolveTask], Any]) -> None:
    """A solver process: take tasks from `conn` one at a time until told to end (None)."""
    global _current
    parent_pid = os.getppid()  # the fork server, which ends with the process that owns the pool
    _die_with(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the pool decides
    threading.Thread(target=_watch_stop_flag, args=(stop_flag, parent_pid), name="stop-watcher", daemon=True).start()
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the pool went away
            return
        if message is None:
            return
        task_id, task = message
        with _current_lock:
            stopping.clear()
            _current = task_id
        try:
            reply = ("done", task_id, True, run(task))
        except Exception as exc:  # the caller decides what a failed solve means
            reply = ("done", task_id, False, _picklable(exc))
        with _current_lock:
            _current = 0
        conn.send(reply)


def _picklable(exc: Exception) -> Exception:
    """The exception itself when it crosses the pipe intact, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _watch_stop_flag(stop_flag: Any, parent_pid: int) -> None:
    """Stop the running solve when the pool names its task; a thread, because the main thread sits
    inside the solver's native code while solving. Ends the process if its parent is gone."""
    while True:
        time.sleep(STOP_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)
        with _current_lock:
            if _current and stop_flag.value == _current and not stopping.requested():
                stopping.request_stop()


def _die_with(parent_pid: int) -> None:
    """Ask Linux to kill this process when its parent dies (the watcher thread is the fallback)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
