"""The executor seam: plain-data tasks, the pool of solver processes with its two-stage stop, and Ray.

Solver processes are spawned, so every function they run is module-level. Times are generous
for a noisy 2-core machine but bounded: a stop must end a 60-second solve within seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bench.generator import random_portfolio
from models import Plan, SolverSettings, load_portfolio
from optimizer import cbc, solve, stopping, validate
from runtime import InlineExecutor, SolverPool, SolverProcessDied, SolveStopped, SolveTask, make_executor, run_task
from runtime.executors import RayExecutor
from tests.support.paths import FIXTURES, ROOT
from tests.support.processes import command_line, parents
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow  # process pools and Ray

LONG = (1, 600, 8, 6)  # random_portfolio arguments: with one worker, CP-SAT and CBC run far past 8 s on it
STOP_WITHIN_S = 8.0  # a stopped 60-second solve must end this soon
# A solve stopped before its search starts builds its model and ranking (8 s on a loaded machine) and ends:
# far sooner than its limit, which a lost stop would run to.
BEFORE_START_LIMIT_S = 120
BEFORE_START_WITHIN_S = 30


@cache
def _portfolio_json(source: str | tuple[int, int, int, int]) -> str:
    data = json.loads((FIXTURES / source).read_text()) if isinstance(source, str) else random_portfolio(*source)
    return json.dumps(load_portfolio(data).model_dump(mode="json"))


def portfolio(source: str | tuple[int, int, int, int]) -> dict[str, Any]:
    """A checked portfolio as plain data: a fixture's file name or random_portfolio arguments."""
    return json.loads(_portfolio_json(source))


def task(source: str | tuple[int, int, int, int], **settings) -> SolveTask:
    """A solve of `source`, without what it would take to fund the MMPs left out: those re-solves take a fifth
    of the limit (4 s here), and how a solve runs is the same without them."""
    settings = {"time_limit_s": 20, "workers": 1, "what_it_takes": False, **settings}
    return SolveTask(portfolio(source), SolverSettings(**settings).model_dump(mode="json"))


def check_plan(source: str | tuple[int, int, int, int], document: dict[str, Any]) -> Plan:
    """The plan document is a Plan and passes the independent validator."""
    plan = Plan.model_validate(document)
    assert validate(load_portfolio(portfolio(source)), plan) == []
    return plan


def stop_and_time(executor, futures, grace_s: float = 10) -> float:
    started = time.monotonic()
    executor.stop(futures, grace_s=grace_s)
    return time.monotonic() - started


# ---------------------------------------------------------------- optimizer.stopping


@pytest.fixture
def clean_stopping():
    stopping.clear()
    yield
    stopping.clear()


def test_request_stop_calls_the_registered_stop(clean_stopping):
    calls = []
    with stopping.while_running(lambda: calls.append("stop")):
        assert calls == []
        stopping.request_stop()
        assert calls == ["stop"]
        assert stopping.requested()


def test_a_stop_registered_after_a_request_is_called_at_once(clean_stopping):
    stopping.request_stop()
    calls = []
    with stopping.while_running(lambda: calls.append("stop")):
        assert calls == ["stop"]


def test_clear_resets_the_request(clean_stopping):
    stopping.request_stop()
    stopping.clear()
    assert not stopping.requested()
    calls = []
    with stopping.while_running(lambda: calls.append("stop")):
        pass
    assert calls == []


def test_stops_are_unregistered_after_the_block(clean_stopping):
    calls = []
    with stopping.while_running(lambda: calls.append("first")):
        pass
    with pytest.raises(RuntimeError), stopping.while_running(lambda: calls.append("second")):
        raise RuntimeError("the solve failed")
    stopping.request_stop()
    assert calls == []


def test_request_stop_calls_every_running_stop_once(clean_stopping):
    calls = []
    with stopping.while_running(lambda: calls.append("a")), stopping.while_running(lambda: calls.append("b")):
        stopping.request_stop()
    assert sorted(calls) == ["a", "b"]


# ---------------------------------------------------------------- the solvers' stop hooks


def test_cpsat_stopped_just_before_it_starts_returns_at_once(clean_stopping, monkeypatch):
    """A stop that lands between the solve's last look at the flag and CP-SAT starting (when
    `stop_search` has no search to stop yet) still ends the solve at once."""
    stopping.request_stop()
    monkeypatch.setattr(stopping, "requested", lambda: False)  # the stop came just after the check
    p = load_portfolio(portfolio(LONG))
    started = time.monotonic()
    # CP-SAT by name (auto runs CBC alone on a model this large), and no what-it-takes: its re-solves read the
    # flag this test hides, and would run to their share of the limit.
    settings = SolverSettings(backend="cp-sat", time_limit_s=BEFORE_START_LIMIT_S, workers=1, what_it_takes=False)
    plan = solve(p, settings)
    assert time.monotonic() - started < BEFORE_START_WITHIN_S
    assert plan.status == "feasible"  # the ranking's plan
    assert validate(p, plan) == []


def test_cbc_stopped_before_it_starts_does_not_run(clean_stopping):
    stopping.request_stop()
    p = load_portfolio(portfolio(LONG))
    started = time.monotonic()
    plan = solve(p, SolverSettings(backend="cbc", time_limit_s=BEFORE_START_LIMIT_S, workers=1))
    assert time.monotonic() - started < BEFORE_START_WITHIN_S
    assert plan.status == "feasible"
    assert validate(p, plan) == []


def test_cbc_stopped_before_its_process_exists_is_killed_once_it_does(clean_stopping):
    def slow_to_start() -> None:
        time.sleep(0.5)  # PuLP still writing the model when the stop comes
        cbc._CbcProcess(["sleep", "30"]).wait()

    timer = threading.Timer(0.1, stopping.request_stop)
    timer.start()
    started = time.monotonic()
    assert cbc._run_watched(slow_to_start, 20) is False
    assert time.monotonic() - started < 5
    timer.join()


# ---------------------------------------------------------------- run_task


@pytest.mark.parametrize("source", ["insurance-fy27.json", (7, 30, 4, 4)])
def test_run_task_solves_plain_data(source):
    document = run_task(task(source))
    json.dumps(document)  # plain data all the way
    plan = check_plan(source, document)
    assert plan.status == "optimal"
    assert plan.solver.workers == 1


def test_run_task_forgets_a_stop_meant_for_an_earlier_task(clean_stopping):
    stopping.request_stop()
    plan = check_plan((7, 30, 4, 4), run_task(task((7, 30, 4, 4))))
    assert plan.status == "optimal"


def test_run_task_passes_the_warm_start():
    first = check_plan((7, 30, 4, 4), run_task(task((7, 30, 4, 4))))
    warm = {s.mmp: s.start for s in first.selected}
    again = SolveTask(portfolio((7, 30, 4, 4)), task((7, 30, 4, 4)).settings, warm)
    plan = check_plan((7, 30, 4, 4), run_task(again))
    assert plan.status == "optimal" and plan.objective == first.objective


# ---------------------------------------------------------------- SolverPool


@pytest.fixture(scope="module")
def pool():
    """Two warm solver processes, shared by the tests that leave the pool as it was."""
    pool = SolverPool(2)
    pool.wait_ready()
    yield pool
    pool.close()


def test_solver_pool_solves_in_parallel_like_in_process(pool):
    assert pool.slots == 2
    sources = [(seed, 30, 4, 4) for seed in (1, 2, 3, 4)]
    futures = [pool.submit(task(source)) for source in sources]
    for source, future in zip(sources, futures):
        plan = check_plan(source, future.result(timeout=120))
        local = solve(load_portfolio(portfolio(source)), SolverSettings(**task(source).settings))
        assert plan.status == local.status == "optimal"
        assert plan.objective == local.objective
    assert len(pool.pids()) == 2 and os.getpid() not in pool.pids()


def test_a_lone_solve_gets_every_core_and_solves_at_once_share_them():
    """A solve asks for up to `workers` threads; the pool splits its cores between the solves running at once."""
    with SolverPool(2, cores=2) as pool:
        pool.wait_ready()
        first = pool.submit(task(LONG, workers=2, time_limit_s=60))
        wait_for(first.running, "the first solve to start", timeout=60)
        beside = check_plan((1, 30, 4, 4), pool.submit(task((1, 30, 4, 4), workers=2)).result(timeout=120))
        assert beside.solver.workers == 1  # two solves at once: a core each
        pool.stop([first])
        assert check_plan(LONG, first.result(timeout=0)).solver.workers == 2  # alone when it started
        alone = check_plan((3, 30, 4, 4), pool.submit(task((3, 30, 4, 4), workers=2)).result(timeout=120))
        assert alone.solver.workers == 2
        modest = check_plan((4, 30, 4, 4), pool.submit(task((4, 30, 4, 4), workers=1)).result(timeout=120))
        assert modest.solver.workers == 1  # never more than asked for


def test_a_failing_solve_raises_its_own_error_and_the_process_goes_on(pool):
    bad = SolveTask({"name": "not a portfolio"}, task((1, 30, 4, 4)).settings)
    pids = pool.pids()
    with pytest.raises(ValidationError):
        pool.submit(bad).result(timeout=60)
    assert pool.pids() == pids
    assert check_plan((1, 30, 4, 4), pool.submit(task((1, 30, 4, 4))).result(timeout=60)).status == "optimal"


@pytest.mark.parametrize("backend", ["cp-sat", "cbc"])
def test_solver_pool_stops_a_running_solve_cooperatively(pool, backend):
    pids = pool.pids()
    future = pool.submit(task(LONG, backend=backend, time_limit_s=60))
    time.sleep(3)  # well inside the solve
    assert not future.done()
    assert stop_and_time(pool, [future]) < STOP_WITHIN_S
    # Stopped by the solver's own stop, not by killing: the answer is a valid (unproven) plan,
    # and the same processes go on working.
    plan = check_plan(LONG, future.result(timeout=0))
    assert plan.status in ("feasible", "no_solution_in_time")
    assert plan.solver.time_s < STOP_WITHIN_S + 3
    assert pool.pids() == pids
    assert check_plan((4, 30, 4, 4), pool.submit(task((4, 30, 4, 4))).result(timeout=60)).status == "optimal"


@pytest.mark.parametrize("backend", ["cp-sat", "cbc"])
def test_solver_pool_stops_a_solve_that_has_not_reached_the_solver(pool, backend):
    """A stop sent as the task arrives (loading, ranking, building the model) is not lost."""
    pids = pool.pids()
    future = pool.submit(task(LONG, backend=backend, time_limit_s=60))
    time.sleep(0.05)
    assert stop_and_time(pool, [future]) < STOP_WITHIN_S
    plan = check_plan(LONG, future.result(timeout=0))
    assert plan.status in ("feasible", "no_solution_in_time")
    assert pool.pids() == pids
    # The stop is over: the next task runs in full.
    assert check_plan((5, 30, 4, 4), pool.submit(task((5, 30, 4, 4))).result(timeout=60)).status == "optimal"


def test_stopping_only_the_named_solve_leaves_its_neighbour_running(pool):
    stopped = pool.submit(task(LONG, time_limit_s=60))
    neighbour = pool.submit(task((6, 30, 4, 4), time_limit_s=60))
    time.sleep(1)
    pool.stop([stopped])
    assert check_plan((6, 30, 4, 4), neighbour.result(timeout=60)).status == "optimal"
    assert check_plan(LONG, stopped.result(timeout=0)).status in ("feasible", "no_solution_in_time")


def test_queued_solves_are_cancelled_without_running():
    with SolverPool(1) as pool:
        running = pool.submit(task(LONG, time_limit_s=60))
        queued = pool.submit(task((1, 30, 4, 4)))
        wait_for(running.running, "the first solve to start", timeout=60)
        pool.stop([running, queued], grace_s=30)
        assert queued.cancelled()
        assert check_plan(LONG, running.result(timeout=0)).status in ("feasible", "no_solution_in_time")


def test_solver_processes_fork_from_a_server_that_runs_one_thread(pool):
    """A fork copies only the forking thread: another thread in the server (OpenBLAS's pool, which NumPy
    starts on import) could hold a lock the solver process would then wait on for ever."""
    parent_of = parents()
    mine = [pid for pid, parent in parent_of.items() if parent == os.getpid()]
    (server,) = [pid for pid in mine if "forkserver" in " ".join(command_line(pid))]
    assert len(list(Path(f"/proc/{server}/task").iterdir())) == 1
    assert {parent_of[pid] for pid in pool.pids()} == {server}


def test_stopping_a_finished_future_does_nothing(pool):
    done = pool.submit(task((1, 30, 4, 4)))
    done.result(timeout=60)
    pids = pool.pids()
    assert stop_and_time(pool, [done], grace_s=30) < 1
    assert pool.pids() == pids


def _ignore_stop(task: SolveTask) -> int:
    """Run in a solver process instead of a solve: never looks at the stop (no solver registered), so
    only killing its process ends it; a `solve` task is solved as usual."""
    if task.portfolio.get("name") != "stuck":
        return run_task(task)
    Path(task.warm_start["marker"]).touch()
    time.sleep(120)
    return os.getpid()


def test_solver_pool_kills_a_process_that_ignores_the_stop(tmp_path):
    marker = tmp_path / "started"
    with SolverPool(1, run=_ignore_stop) as pool:
        stuck = pool.submit(SolveTask({"name": "stuck"}, {}, {"marker": str(marker)}))
        wait_for(marker.exists, f"{marker.name} to appear", timeout=30)
        (old_pid,) = pool.pids()
        elapsed = stop_and_time(pool, [stuck], grace_s=1.5)
        assert 1.5 <= elapsed < 1.5 + 5
        with pytest.raises(SolveStopped):
            stuck.result(timeout=30)
        wait_for(lambda: not _alive(old_pid), f"process {old_pid} to be gone", timeout=10)
        assert pool.pids() != [old_pid]
        assert check_plan((6, 30, 4, 4), pool.submit(task((6, 30, 4, 4))).result(timeout=120)).status == "optimal"


def test_a_dead_process_fails_only_its_own_solve_and_is_replaced():
    with SolverPool(2) as pool:
        pool.wait_ready()
        victim_future = pool.submit(task(LONG, time_limit_s=60))
        neighbour = pool.submit(task((2, 30, 4, 4), time_limit_s=60))
        time.sleep(1.5)
        assert not victim_future.done()
        running = pool.running_pids()
        victim = running[victim_future]
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(SolverProcessDied):
            victim_future.result(timeout=30)
        assert check_plan((2, 30, 4, 4), neighbour.result(timeout=120)).status == "optimal"
        wait_for(lambda: victim not in pool.pids() and len(pool.pids()) == 2, "the replacement process", timeout=10)
        assert check_plan((3, 30, 4, 4), pool.submit(task((3, 30, 4, 4))).result(timeout=120)).status == "optimal"


def test_solver_processes_die_with_the_process_that_started_them(tmp_path):
    """kill -9 of a service leaves no solver behind (Linux: the parent-death signal)."""
    script = (
        "import sys, time\n"
        "from runtime import SolverPool\n"
        "pool = SolverPool(2)\n"
        "pool.wait_ready()\n"
        "print(' '.join(map(str, pool.pids())), flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        pids = [int(pid) for pid in owner.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    finally:
        owner.kill()
        owner.wait(timeout=30)
    wait_for(lambda: not any(_alive(pid) for pid in pids), "the solver processes to die with their parent", timeout=15)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_make_executor_without_ray_is_a_solver_pool():
    executor = make_executor(2, None)
    try:
        assert isinstance(executor, SolverPool)
        assert executor.slots == 2
    finally:
        executor.close()


def test_inline_executor_solves_in_this_process():
    future = InlineExecutor().submit(task((1, 30, 4, 4)))
    assert future.done()
    assert check_plan((1, 30, 4, 4), future.result()).status == "optimal"


def test_a_stop_sent_to_an_inline_solve_ends_with_it(clean_stopping, monkeypatch):
    """The stop is process-wide; an inline solve that was stopped must not leave it set for the next solve
    this process runs without `run_task` (a route's example, the cycle command)."""

    def stopped_midway(task):
        stopping.request_stop()  # as a job's cancel would, while the solve runs
        return {"stopped": True}

    monkeypatch.setattr("runtime.executors.run_task", stopped_midway)
    assert InlineExecutor().submit(task((1, 30, 4, 4))).result() == {"stopped": True}
    assert not stopping.requested()


# ---------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_executor():
    """One local Ray instance for the module, started by RayExecutor(None) and shut down by close()."""
    import ray

    quiet = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}  # no token warning, no usage report
    saved = {name: os.environ.get(name) for name in quiet}
    os.environ.update(quiet)
    assert not ray.is_initialized()
    executor = RayExecutor(None)
    try:
        yield executor
    finally:
        executor.close()
        assert not ray.is_initialized()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_ray_tasks_return_valid_plans(ray_executor):
    assert ray_executor.slots == 2
    sources = [(3, 30, 4, 4), (4, 30, 4, 4)]
    futures = [ray_executor.submit(task(source)) for source in sources]
    for source, future in zip(sources, futures):
        plan = check_plan(source, future.result(timeout=120))
        assert plan.status == "optimal"
    deadline = time.monotonic() + 10  # finished tasks are forgotten (by a done callback, just after the result)
    while ray_executor._refs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ray_executor._refs == {}


def test_ray_stop_cancels_a_long_running_task(ray_executor):
    import ray

    future = ray_executor.submit(task(LONG, time_limit_s=60))
    time.sleep(3)
    assert not future.done()
    assert stop_and_time(ray_executor, [future]) < STOP_WITHIN_S
    assert future.done()
    assert isinstance(future.exception(timeout=0), ray.exceptions.RayError)
    # Ray goes on: the next task solves.
    assert check_plan((4, 30, 4, 4), ray_executor.submit(task((4, 30, 4, 4))).result(timeout=120)).status == "optimal"


def test_make_executor_local_joins_the_running_ray(ray_executor):
    import ray

    executor = make_executor(2, "local")
    assert isinstance(executor, RayExecutor)
    executor.close()  # it did not start Ray, so it leaves it running
    assert ray.is_initialized()
