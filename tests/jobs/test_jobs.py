"""The job engine run in-process: submit, a worker with a local process pool, and the stored results.

Every job here goes through `jobs.submit.submit`, is run by a real `jobs.worker.Worker` on a real
`SolverPool` (one pool for the module: spawning solver processes is the slow part), and is read back
with `jobs.results`. Every stored plan a test looks at passes the independent validator against the
portfolio it solved (the stored version, changed as its part says).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from bench.generator import random_portfolio
from jobs.results import job_result, job_view
from jobs.settings import JobSettings
from jobs.submit import submit
from jobs.tasks import store_plan
from jobs.worker import Worker
from models import Plan, Portfolio, SolverSettings, check_portfolio, check_solvable, load_portfolio
from models.auth import DEFAULT_TENANT
from models.jobs import BatchJob, FrontierJob, JobResult, JobView, ReoptimizeJob
from models.money import money
from models.portfolio import per_quarter
from models.scenarios import Scenario
from optimizer import solve, validate
from optimizer.studies.frontier import with_total_budget
from optimizer.studies.whatif import apply_changes
from runtime import SolverPool, SolveTask
from runtime.pool import STOP_GRACE_S
from storage import repo
from storage.db import Database
from storage.tables import JobPartRow, PlanRow, now
from tests.support.paths import FIXTURES
from tests.support.waiting import wait_for

TENANT = DEFAULT_TENANT  # the tenant these tests store in (the isolation tests use others)

# Without what it would take to fund each MMP left out (its own re-solves): no job test reads it.
FAST = SolverSettings(time_limit_s=5, what_it_takes=False)
SURE = SolverSettings(time_limit_s=60, what_it_takes=False)
"""For solves whose optimum a test checks: they end when proven optimal (seconds), the limit is only
there so that a loaded machine does not turn an optimal plan into a merely feasible one."""


def job_settings(**overrides) -> JobSettings:
    """Quick heartbeats, so that cancel and stop are noticed within a fraction of a second."""
    return JobSettings(**{"heartbeat_s": 0.3, "poll_s": 0.1, "job_lease_s": 30.0, **overrides})


@pytest.fixture(scope="module")
def pool() -> Iterator[SolverPool]:
    executor = SolverPool(2)
    yield executor
    executor.close()


class Recording:
    """The pool, noting every task a worker hands it (and when, on the database's clock)."""

    def __init__(self, inner: SolverPool):
        self.inner, self.slots = inner, inner.slots
        self.submitted: list[tuple[object, SolveTask]] = []

    def submit(self, task: SolveTask):
        self.submitted.append((now(), task))
        return self.inner.submit(task)

    def stop(self, futures, grace_s: float = STOP_GRACE_S) -> None:
        self.inner.stop(futures, grace_s)

    def close(self) -> None:  # the module's pool outlives every worker
        pass

    @property
    def names(self) -> list[str]:
        return [task.portfolio["name"] for _, task in self.submitted]


# ---------------------------------------------------------------- helpers


def generated(name: str, seed: int, n_mmps: int = 30, n_quarters: int = 4, n_pools: int = 6) -> Portfolio:
    data = random_portfolio(seed, n_mmps, n_quarters, n_pools)
    data["name"] = name
    return load_portfolio(data)


def insurance() -> Portfolio:
    return load_portfolio(json.loads((FIXTURES / "insurance-fy27.json").read_text()))


# Money counted in units of 1: the checks of a submitted job count each portfolio at its own resolution.
UNIT_MONEY = FAST.model_copy(update={"money_resolution": Decimal("0.01")})


def unplannable(name: str) -> Portfolio:
    """Passes every portfolio check (counted in units of 10^14), but its amounts span too many digits to
    count in cents as UNIT_MONEY asks: the solve itself raises (in the solver process)."""
    data = {
        "name": name,
        "quarters": ["2027Q1"],
        "budget": 10**15,
        "value_streams": [{"id": "s"}],
        "mmps": [{"id": "a", "value_stream": "s", "value": 10**15, "cost": [10**14]}],
    }
    portfolio = load_portfolio(data)
    assert check_portfolio(portfolio) == [] and check_solvable(portfolio, UNIT_MONEY) != []
    return portfolio


def submitted(db: Database, request) -> str:
    with db.session() as session:
        return submit(session, TENANT, request).id


def run_worker(db: Database, executor, **settings) -> Worker:
    worker = Worker(db, job_settings(**settings), executor=executor)
    assert worker.run(until_idle=True) == 1
    return worker


def read(db: Database, job_id: str) -> tuple[JobView, JobResult]:
    with db.session() as session:
        job = repo.get_job(session, TENANT, job_id)
        return job_view(job), job_result(session, job)


def parts(db: Database, job_id: str) -> list[JobPartRow]:
    with db.session() as session:
        return repo.parts_of(session, job_id)


def plan_row(db: Database, plan_id: str) -> PlanRow:
    with db.session() as session:
        return repo.get_plan(session, TENANT, plan_id)


def stored_portfolio(db: Database, row: PlanRow) -> Portfolio:
    """The stored portfolio version a plan was made for."""
    with db.session() as session:
        return Portfolio.model_validate(repo.get_version(session, TENANT, row.portfolio_id, row.version).document)


def plan_rows_of_job(db: Database, job_id: str) -> list[PlanRow]:
    with db.session() as session:
        return [repo.get_plan(session, TENANT, p.plan_id) for p in repo.parts_of(session, job_id) if p.plan_id]


class InBackground:
    """A worker running jobs in a thread (until idle), with any error it raised kept for the test."""

    def __init__(self, worker: Worker):
        self.worker, self.error, self.ran = worker, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.ran = self.worker.run(until_idle=True)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self, timeout: float) -> float:
        started = time.monotonic()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the worker did not end within {timeout} s"
        assert self.error is None, f"the worker raised {self.error!r}"
        return time.monotonic() - started


def part_status(db: Database, job_id: str, index: int) -> str:
    return parts(db, job_id)[index].status


def starts(plan: Plan) -> dict[str, str]:
    return {s.mmp: s.start for s in plan.selected}


# ---------------------------------------------------------------- batches


BATCH = [("batch a", 1), ("batch b", 2), (None, 0), ("batch d", 3), ("batch e", 4)]
"""Generated portfolios; the middle one (None) is an infeasible one (mandatory MMPs that cannot fit)."""


def batch_portfolios() -> list[Portfolio]:
    return [
        generated("batch c (infeasible)", 2, 12, 4, 4) if name is None else generated(name, seed)
        for name, seed in BATCH
    ]


@pytest.fixture(scope="module")
def batch_optima() -> list[Decimal | None]:
    """The optimal objective of each batch portfolio, solved here in the test process."""
    return [solve(p, SURE).objective for p in batch_portfolios()]


@pytest.mark.slow
def test_batch_of_portfolios_gives_one_valid_stored_plan_per_part_in_order(database, pool, batch_optima):
    portfolios = batch_portfolios()
    job_id = submitted(database, BatchJob(kind="batch", portfolios=portfolios, settings=SURE))
    with database.session() as session:
        queued = job_view(repo.get_job(session, TENANT, job_id))
    assert queued.status == "queued" and queued.progress.done == 0 and queued.progress.total == 5

    run_worker(database, pool)

    view, result = read(database, job_id)
    assert view.status == "succeeded" and view.error is None
    assert view.progress.done == view.progress.total == len(portfolios) and view.progress.failed == 0
    assert view.attempts == 1 and view.started_at is not None and view.finished_at is not None
    assert [p.index for p in result.parts] == list(range(5))
    assert [p.label for p in result.parts] == [p.name for p in portfolios]
    assert all(p.status == "succeeded" and p.plan_id for p in result.parts)
    assert result.whatif is None and result.frontier is None and result.reoptimized is None

    # Plans come back in submission order: the infeasible portfolio's plan is third, and every
    # optimal objective is the one the test process finds for that portfolio.
    assert [plan.status for plan in result.plans] == ["optimal", "optimal", "infeasible", "optimal", "optimal"]
    assert [plan.objective for plan in result.plans] == batch_optima
    assert result.plans[2].explanation.infeasibility, "an infeasible plan says why"
    assert view.progress.best_value == max(o for o in batch_optima if o is not None)

    with database.session() as session:
        assert repo.count_plans(session, job_id) == len(portfolios)
    seen_portfolios = set()
    for index, (part, plan, portfolio) in enumerate(zip(result.parts, result.plans, portfolios, strict=True)):
        row = plan_row(database, part.plan_id)
        assert (row.job_id, row.part_index, row.label, row.version) == (job_id, index, portfolio.name, 1)
        assert row.parent_id is None and row.variant is None
        assert row.status == plan.status and Plan.model_validate(row.document) == plan
        assert stored_portfolio(database, row) == portfolio  # each portfolio is stored as it was sent
        assert validate(stored_portfolio(database, row), plan) == []
        with database.session() as session:  # listed under its own stored portfolio, and alone there
            assert [p.id for p in repo.list_plans(session, TENANT, row.portfolio_id)] == [row.id]
        seen_portfolios.add(row.portfolio_id)
    assert len(seen_portfolios) == len(portfolios)


def test_a_queued_job_canceled_before_any_worker_runs_it(sqlite_database, pool):
    db = sqlite_database
    job_id = submitted(db, BatchJob(kind="batch", portfolios=batch_portfolios()[:2], settings=FAST))
    with db.session() as session:
        repo.request_cancel(session, TENANT, job_id)
    recording = Recording(pool)
    assert Worker(db, job_settings(), executor=recording).run(until_idle=True) == 0
    view, result = read(db, job_id)
    assert view.status == "canceled" and view.finished_at is not None
    assert view.progress.done == view.progress.total == 2
    assert [p.status for p in result.parts] == ["canceled", "canceled"]
    assert result.plans == [None, None] and recording.submitted == []


# ---------------------------------------------------------------- scenarios


@pytest.mark.slow
def test_scenario_batch_solves_the_base_first_and_reports_differences(sqlite_database, pool):
    db = sqlite_database
    base = insurance()
    forced = "broker-portal-vendor"
    scenarios = [
        Scenario(name="budget -10%", changes=[{"op": "scale_budget", "factor": "0.9"}]),
        Scenario(name="buy the broker portal", changes=[{"op": "force_mmp", "mmp": forced, "mode": "in"}]),
    ]
    job_id = submitted(db, BatchJob(kind="batch", portfolio=base, scenarios=scenarios, settings=SURE))
    recording = Recording(pool)
    run_worker(db, recording)

    view, result = read(db, job_id)
    assert view.status == "succeeded" and view.progress.done == view.progress.total == 3
    assert [p.label for p in result.parts] == ["base", "budget -10%", "buy the broker portal"]
    base_plan, cut_plan, forced_plan = result.plans
    assert [(plan.status, plan.solver.time_s) for plan in result.plans] == [
        ("optimal", plan.solver.time_s) for plan in result.plans
    ]

    # Lineage: both scenario plans descend from the base plan, which has no parent.
    base_row, *scenario_rows = (plan_row(db, p.plan_id) for p in result.parts)
    assert base_row.parent_id is None
    assert [row.parent_id for row in scenario_rows] == [base_row.id, base_row.id]
    assert [row.label for row in scenario_rows] == ["budget -10%", "buy the broker portal"]
    assert all(set(row.variant) == {"changes"} for row in scenario_rows)

    # The scenarios were handed to the solvers only after the base plan was stored: their warm start
    # is read from it (a clock comparison would be at the mercy of clock adjustments).
    assert recording.names == [base.name] * 3
    (_, base_task), *scenario_tasks = recording.submitted
    assert base_task.warm_start is None
    for _, task in scenario_tasks:
        assert task.warm_start == starts(base_plan) != {}

    # Each plan is valid for the portfolio it solved: the stored base with the scenario's changes applied.
    stored = stored_portfolio(db, base_row)
    assert stored == base
    assert validate(stored, base_plan) == []
    for scenario, plan in zip(scenarios, [cut_plan, forced_plan], strict=True):
        assert validate(apply_changes(stored, scenario.changes), plan) == []

    whatif = result.whatif
    assert whatif is not None and whatif.base.objective == base_plan.objective
    assert whatif.base.selected == len(base_plan.selected)
    assert [s.name for s in whatif.scenarios] == ["budget -10%", "buy the broker portal"]
    for s, plan in zip(whatif.scenarios, [cut_plan, forced_plan], strict=True):
        assert s.summary.objective == plan.objective
        assert s.diff.value_delta == plan.objective - base_plan.objective
        assert s.diff.added == sorted(starts(plan).keys() - starts(base_plan).keys())
        assert s.diff.dropped == sorted(starts(base_plan).keys() - starts(plan).keys())
    cut, buy = whatif.scenarios
    assert cut.diff.value_delta < 0, "10 % less money buys less value in this portfolio"
    assert sum(s.delta for s in cut.diff.budget_shifts) < 0
    assert forced not in starts(base_plan) and forced in starts(forced_plan)
    assert forced in buy.diff.added and buy.diff.value_delta <= 0


# ---------------------------------------------------------------- frontier


@pytest.mark.slow
def test_frontier_job_points_in_budget_order_with_non_decreasing_value(sqlite_database, pool, batch_optima):
    db = sqlite_database
    portfolio = generated("frontier", 1)
    total = sum(per_quarter(portfolio.budget, len(portfolio.quarters)), Decimal(0))
    budgets = [total, total * Decimal("0.45"), total * Decimal("0.8"), total * Decimal("0.6"), total * 2]
    job_id = submitted(db, FrontierJob(kind="frontier", portfolio=portfolio, budgets=budgets, settings=SURE))
    run_worker(db, pool)

    view, result = read(db, job_id)
    assert view.status == "succeeded" and view.progress.done == view.progress.total == 5
    points = result.frontier.points
    assert [p.budget for p in points] == sorted(budgets)
    assert [Decimal(p.spec["variant"]["total_budget"]) for p in parts(db, job_id)] == sorted(budgets)
    assert [p.objective for p in points] == [plan.objective for plan in result.plans]
    assert all(p.status == "optimal" for p in points)
    objectives = [p.objective for p in points]
    assert objectives == sorted(objectives), f"more money never buys less: {objectives}"
    assert objectives[0] < objectives[-1]
    assert points[0].marginal_value is None and all(p.marginal_value >= 0 for p in points[1:])
    # The portfolio's own total budget gives its own optimum (batch portfolio "batch a" is the same one).
    assert points[sorted(budgets).index(total)].objective == batch_optima[0]
    for point, plan in zip(points, result.plans, strict=True):
        assert sorted(s.mmp for s in plan.selected) == point.selected
        assert validate(with_total_budget(portfolio, point.budget), plan) == []


# ---------------------------------------------------------------- re-optimization


@pytest.mark.slow
def test_reoptimize_after_a_budget_cut_changes_fewer_mmps_with_the_change_penalty(sqlite_database, pool):
    """Acceptance: re-optimizing insurance-fy27 after a 10 % budget cut changes fewer MMPs with the
    change penalty than without it, and says so."""
    db = sqlite_database
    settings = SURE
    original = insurance()
    # The current plan: a batch job stores the portfolio and its plan.
    first = submitted(db, BatchJob(kind="batch", portfolios=[original], settings=settings))
    run_worker(db, pool)
    _, planned = read(db, first)
    baseline = planned.plans[0]
    assert baseline.status == "optimal", baseline.solver
    baseline_row = plan_row(db, planned.parts[0].plan_id)
    portfolio_id = baseline_row.portfolio_id

    # Next quarter's news: every quarter's budget is cut by 10 %.
    budget = per_quarter(original.budget, len(original.quarters))
    cut = load_portfolio({**original.model_dump(mode="json"), "budget": [str(b * Decimal("0.9")) for b in budget]})
    with db.session() as session:
        v2 = repo.add_version(session, TENANT, portfolio_id, cut)
        v2_id = v2.id
    penalty = Decimal(1_000_000)  # about the value of a mid-size MMP of this portfolio
    request = ReoptimizeJob(
        kind="reoptimize", portfolio_ids=[portfolio_id], change_penalty=penalty, compare=True, settings=settings
    )
    job_id = submitted(db, request)
    run_worker(db, pool)

    view, result = read(db, job_id)
    assert view.status == "succeeded" and view.progress.done == view.progress.total == 2
    assert [p.label for p in result.parts] == [original.name, f"{original.name} without penalty"]
    plan, free_plan = result.plans
    assert [(p.status, p.solver.time_s) for p in result.plans] == [("optimal", p.solver.time_s) for p in result.plans]
    (report,) = result.reoptimized
    assert report.portfolio_id == portfolio_id and report.version == 2
    assert report.baseline_plan_id == baseline_row.id and report.plan_id == result.parts[0].plan_id
    assert report.status == "optimal" and report.change_penalty == penalty
    assert report.baseline_value == baseline.value.mmps + baseline.value.key_results

    # Changes counted independently from the two plans: selection or start differs from the baseline.
    old, new, free = starts(baseline), starts(plan), starts(free_plan)
    changed = sum(old.get(m) != new.get(m) for m in old.keys() | new.keys())
    changed_free = sum(old.get(m) != free.get(m) for m in old.keys() | free.keys())
    assert report.changed == changed and report.without_penalty.changed == changed_free
    assert report.without_penalty.plan_id == result.parts[1].plan_id
    assert 0 < report.changed < report.without_penalty.changed, "the penalty keeps MMPs where teams planned them"
    assert report.value == plan.value.mmps + plan.value.key_results
    assert report.without_penalty.value == free_plan.objective
    assert report.value <= report.without_penalty.value, "stability costs value, never earns it"

    # The sentence says so, with both numbers.
    summary = report.summary
    assert f"{report.changed} MMP(s) change against the current plan" in summary
    assert f"without the change penalty {report.without_penalty.changed} MMP(s) would change" in summary
    assert f"keeps {report.without_penalty.changed - report.changed} more MMP(s)" in summary
    assert f"the new plan earns {money(report.value, 'USD')}" in summary  # the currency's, not raw decimals

    # The baseline plan and the change penalty were really applied in the solve.
    assert plan.value.change_penalty == report.changed * penalty
    assert plan.objective == report.value - report.changed * penalty
    assert free_plan.value.change_penalty == 0
    with_baseline = cut.model_copy(update={"baseline_plan": old, "change_penalty": penalty})
    assert validate(with_baseline, plan) == []
    assert validate(cut, plan) != [], "judged without the penalty, the plan's objective is off"
    assert validate(cut.model_copy(update={"baseline_plan": old}), free_plan) == []

    # Lineage: both new plans are plans of version 2 and descend from the baseline plan.
    for part in result.parts:
        row = plan_row(db, part.plan_id)
        assert (row.parent_id, row.version_id, row.version) == (baseline_row.id, v2_id, 2)
    with db.session() as session:
        assert {p.id for p in repo.list_plans(session, TENANT, portfolio_id)} == {
            baseline_row.id,
            *(p.plan_id for p in result.parts),
        }
        # The next re-optimization starts from the re-optimized plan, never from the comparison plan
        # (whichever of the two happened to finish last).
        follow_up = submit(
            session, TENANT, ReoptimizeJob(kind="reoptimize", portfolio_ids=[portfolio_id], compare=False)
        )
        (next_part,) = repo.parts_of(session, follow_up.id)
        assert next_part.spec["baseline_plan_id"] == report.plan_id
        repo.request_cancel(session, TENANT, follow_up.id)


# ---------------------------------------------------------------- cancel, stop, lost workers


def long_batch(quick: int = 1, slow: int = 3) -> list[Portfolio]:
    """`quick` small portfolios first, then `slow` large ones whose solves run to the time limit."""
    small = [generated(f"quick {k}", 1 + k) for k in range(quick)]
    return small + [generated(f"slow {k}", 11 + k, 300, 8, 20) for k in range(slow)]


@pytest.mark.slow
def test_cancel_stops_a_running_job_and_keeps_the_finished_parts(sqlite_database, pool):
    db = sqlite_database
    time_limit = 30
    settings = SolverSettings(time_limit_s=time_limit)
    job_id = submitted(db, BatchJob(kind="batch", portfolios=long_batch(), settings=settings))
    background = InBackground(Worker(db, job_settings(), executor=pool))
    wait_for(lambda: part_status(db, job_id, 0) == "succeeded", "the quick part to finish", timeout=20)
    _, before = read(db, job_id)
    kept = plan_row(db, before.parts[0].plan_id)
    assert before.status == "running" and [p.status for p in before.parts[1:]] == ["pending"] * 3

    started = time.monotonic()
    with db.session() as session:
        repo.request_cancel(session, TENANT, job_id)
    background.join(timeout=20)
    took = time.monotonic() - started
    assert took < 10, f"cancel took {took:.1f} s (solver time limit {time_limit} s)"
    assert background.ran == 1

    view, result = read(db, job_id)
    assert view.status == "canceled" and view.cancel_requested and view.finished_at is not None
    assert view.progress.done == view.progress.total == 4 and view.progress.failed == 0
    assert view.error is None
    assert [p.status for p in result.parts] == ["succeeded", "canceled", "canceled", "canceled"]
    assert all(p.error == "the job was canceled" and p.plan_id is None for p in result.parts[1:])
    assert result.plans[1:] == [None, None, None]
    # The finished part keeps its plan exactly as it was stored, with the solver's own status.
    assert result.parts[0].plan_id == kept.id
    after = plan_row(db, kept.id)
    assert (after.status, after.document) == (kept.status, kept.document) and after.status == "optimal"
    with db.session() as session:
        assert repo.count_plans(session, job_id) == 1
    # Canceling a finished job changes nothing.
    with db.session() as session:
        assert repo.request_cancel(session, TENANT, job_id).status == "canceled"


@pytest.mark.slow
def test_a_stopped_worker_hands_the_job_back_and_another_completes_it(sqlite_database, pool):
    db = sqlite_database
    portfolios = long_batch(quick=1, slow=3)
    job_id = submitted(db, BatchJob(kind="batch", portfolios=portfolios, settings=SolverSettings(time_limit_s=2)))
    first = Worker(db, job_settings(), executor=pool)
    background = InBackground(first)
    wait_for(lambda: part_status(db, job_id, 0) == "succeeded", "the quick part to finish", timeout=20)
    first.stop()
    background.join(timeout=15)  # the worker ends: it hands the job back instead of finishing it
    assert background.ran == 1

    view, result = read(db, job_id)
    assert view.status == "queued" and view.worker is None and view.attempts == 0
    finished = {p.index: p.plan_id for p in result.parts if p.status == "succeeded"}
    pending = [p.index for p in result.parts if p.status == "pending"]
    assert 0 in finished and pending, "the stop came mid-job"
    assert sorted([*finished, *pending]) == [0, 1, 2, 3]
    assert view.progress.done == len(finished)
    with db.session() as session:
        assert repo.count_plans(session, job_id) == len(finished)

    recording = Recording(pool)
    second = run_worker(db, recording)
    assert sorted(recording.names) == sorted(portfolios[i].name for i in pending), "only the unfinished parts"

    view, result = read(db, job_id)
    assert view.status == "succeeded" and view.worker == second.name and view.attempts == 1
    assert view.progress.done == view.progress.total == 4
    assert {i: result.parts[i].plan_id for i in finished} == finished, "finished parts keep their plans"
    rows = plan_rows_of_job(db, job_id)
    with db.session() as session:
        assert repo.count_plans(session, job_id) == view.progress.total == len(rows)
    assert sorted(row.part_index for row in rows) == [0, 1, 2, 3]
    for row, portfolio in zip(rows, portfolios, strict=True):
        assert validate(portfolio, Plan.model_validate(row.document)) == []


def test_a_lost_workers_job_is_resumed_and_its_late_results_are_refused(database, pool, batch_optima):
    db = database
    portfolios = [p for p in batch_portfolios() if p.name != "batch c (infeasible)"]
    optima = [o for o in batch_optima if o is not None]
    job_id = submitted(db, BatchJob(kind="batch", portfolios=portfolios, settings=SURE))

    # Worker A claims the job and records parts 0 and 1, as a worker does, then goes silent.
    with db.session() as session:
        assert repo.claim(session, "worker-a", 30.0, 3).id == job_id
    a_plans = {}
    for index in (0, 1):
        document = solve(portfolios[index], SURE).model_dump(mode="json")
        with db.session() as session:
            job, part = repo.lock_part(session, job_id, "worker-a", index)
            row = store_plan(session, job, part, document, None)
            repo.count_part(job, part, "succeeded", row)
            a_plans[index] = row.id
    with db.session() as session:
        repo.get_job(session, TENANT, job_id).heartbeat_at = now() - timedelta(hours=1)

    recording = Recording(pool)
    b = Worker(db, job_settings(job_lease_s=5.0), executor=recording)
    assert b.claim() == job_id
    with db.session() as session:
        resumed = repo.get_job(session, TENANT, job_id)
        assert (resumed.worker, resumed.attempts) == (b.name, 2)
        assert "worker-a" in resumed.error
        # A's late attempts: its heartbeat is refused and its part is not recorded.
        assert repo.heartbeat(session, job_id, "worker-a") == (False, False)
        assert repo.lock_part(session, job_id, "worker-a", 2) is None
    with db.session() as session:
        assert repo.count_plans(session, job_id) == 2
        assert [p.status for p in repo.parts_of(session, job_id)] == ["succeeded", "succeeded", "pending", "pending"]
    b.run_job(job_id)
    assert recording.names == [portfolios[2].name, portfolios[3].name], "B runs only the parts A did not record"

    view, result = read(db, job_id)
    assert view.status == "succeeded" and view.error is None and view.attempts == 2 and view.worker == b.name
    assert view.progress.done == view.progress.total == 4 and view.progress.failed == 0
    assert {i: result.parts[i].plan_id for i in (0, 1)} == a_plans
    assert [plan.objective for plan in result.plans] == optima
    with db.session() as session:  # after the job ended A still records nothing
        assert repo.lock_part(session, job_id, "worker-a", 2) is None
        assert repo.count_plans(session, job_id) == 4
    rows = plan_rows_of_job(db, job_id)
    assert sorted(row.part_index for row in rows) == [0, 1, 2, 3]
    assert {row.job_id for row in rows} == {job_id}


# ---------------------------------------------------------------- failures


@pytest.mark.slow
def test_a_failing_part_fails_the_job_and_keeps_the_other_plans(sqlite_database, pool):
    db = sqlite_database
    good = batch_portfolios()
    portfolios = [good[0], unplannable("too large"), good[1]]
    job_id = submitted(db, BatchJob(kind="batch", portfolios=portfolios, settings=UNIT_MONEY))
    run_worker(db, pool)

    view, result = read(db, job_id)
    assert view.status == "failed"
    assert view.progress.done == view.progress.total == 3 and view.progress.failed == 1
    assert view.error.startswith("1 of 3 parts failed; first: part 1: ")
    assert "too many digits" in view.error
    assert [p.status for p in result.parts] == ["succeeded", "failed", "succeeded"]
    assert "too many digits" in result.parts[1].error and result.parts[1].plan_id is None
    assert result.plans[1] is None
    assert view.progress.best_value == max(result.plans[0].objective, result.plans[2].objective)
    for index in (0, 2):
        row = plan_row(db, result.parts[index].plan_id)
        assert validate(stored_portfolio(db, row), result.plans[index]) == []
    with db.session() as session:
        assert repo.count_plans(session, job_id) == 2


def test_scenarios_of_a_base_that_failed_fail_with_the_reason(sqlite_database, pool):
    db = sqlite_database
    scenarios = [Scenario(name="less money", changes=[{"op": "scale_budget", "factor": "0.5"}])]
    request = BatchJob(kind="batch", portfolio=unplannable("too large"), scenarios=scenarios, settings=UNIT_MONEY)
    job_id = submitted(db, request)
    recording = Recording(pool)
    run_worker(db, recording)

    view, result = read(db, job_id)
    assert view.status == "failed" and view.progress.failed == 2 and view.progress.done == 2
    assert [p.status for p in result.parts] == ["failed", "failed"]
    assert result.parts[1].error == "part 0, which it starts from, did not finish"
    assert "2 of 2 parts failed" in view.error
    assert result.plans == [None, None] and result.whatif is None
    assert len(recording.submitted) == 1, "the scenario is never solved without its base"


def test_reoptimize_starts_from_the_base_plan_not_from_a_scenario_or_frontier_plan(sqlite_database, pool):
    """Scenario and frontier plans are plans of changed portfolios: nobody works on them."""
    db = sqlite_database
    base = generated("scenario base", seed=7, n_mmps=12, n_quarters=3, n_pools=2)
    scenarios = [Scenario(name="cut", changes=[{"op": "scale_budget", "factor": "0.8"}])]
    settings = {"time_limit_s": 5, "workers": 1}
    job_id = submitted(db, BatchJob(kind="batch", portfolio=base, scenarios=scenarios, settings=settings))
    run_worker(db, pool)
    base_part, scenario_part = parts(db, job_id)
    assert base_part.plan_id and scenario_part.plan_id
    portfolio_id = plan_row(db, base_part.plan_id).portfolio_id
    assert plan_row(db, scenario_part.plan_id).created_at >= plan_row(db, base_part.plan_id).created_at

    reoptimize = submitted(db, ReoptimizeJob(kind="reoptimize", portfolio_ids=[portfolio_id]))
    assert [p.spec["baseline_plan_id"] for p in parts(db, reoptimize)] == [base_part.plan_id] * 2


def test_a_worker_runs_a_job_under_its_own_tenant(database, pool):
    """Issue 14: the worker serves every tenant; what a job reads and stores is its own tenant's."""
    portfolio = batch_portfolios()[0]
    with database.session() as session:
        job_id = submit(session, "acme", BatchJob(kind="batch", portfolios=[portfolio], settings=SURE)).id
    run_worker(database, pool)
    with database.session() as session:
        job = repo.get_job(session, "acme", job_id)
        assert job.status == "succeeded"
        (plan,) = repo.list_plans_of_job(session, job_id)
        assert plan.tenant_id == "acme"
        assert repo.get_plan(session, "acme", plan.id).portfolio_id == plan.portfolio_id
        assert repo.get_portfolio(session, "acme", plan.portfolio_id).name == portfolio.name
        with pytest.raises(repo.NotFound):
            repo.get_job(session, TENANT, job_id)
        with pytest.raises(repo.NotFound):
            repo.get_plan(session, TENANT, plan.id)
        assert job_result(session, job).plans[0] is not None
