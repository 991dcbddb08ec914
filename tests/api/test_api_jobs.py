"""Durable jobs, stored portfolios and stored plans through HTTP (FastAPI's TestClient), with real workers.

Jobs are submitted over HTTP and run by a `jobs.worker.Worker` on a module-wide pool of two solver processes,
in a background thread or until the queue is empty. The acceptance test (a batch of 100 generated portfolios)
and the cancel of a running job run on SQLite and on a fresh PostgreSQL database; the other tests share one
SQLite database and one app, and only look at the records they made themselves. Every plan a job returns is
checked by the independent validator against the portfolio it was made for, and every error comes back as the
one envelope with a JSON path.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import cache
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from bench.generator import random_portfolio
from jobs.settings import JobSettings
from jobs.worker import Worker
from models import Plan, Portfolio, SolverSettings, load_portfolio
from models.scenarios import Scenario
from optimizer import solve, validate
from optimizer.studies.frontier import with_total_budget
from optimizer.studies.whatif import apply_changes
from runtime import SolverPool
from storage.db import SQLITE_BUSY_TIMEOUT_S, Database
from tests.support.auth import bearer, keyed
from tests.support.databases import migrated
from tests.support.paths import FIXTURES
from tests.support.waiting import wait_for

MAX_TIME_LIMIT_S = 30  # the shared app's cap on any request's solver time limit
WORKER = JobSettings(heartbeat_s=0.2, poll_s=0.05, job_lease_s=60)
BATCH_SIZE = 100
UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"
SOLVED = ("optimal", "feasible")


# ---------------------------------------------------------------- helpers


THREADS = min(SolverSettings().workers, len(os.sched_getaffinity(0)))  # a job's solver threads, capped


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@cache
def small(seed: int) -> dict[str, Any]:
    """A small generated portfolio (12-20 MMPs, 2-4 quarters, 4 pools); its name carries the seed."""
    return random_portfolio(seed, 12 + seed % 9, 2 + seed % 3, 4)


def fresh(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data))


@cache
def reference(seed: int, time_limit_s: float) -> Plan:
    """`small(seed)` solved here, with one thread like a pool process."""
    return solve(load_portfolio(small(seed)), SolverSettings(time_limit_s=time_limit_s, workers=1, what_it_takes=False))


def new_client(db: Database, **settings: Any) -> TestClient:
    return keyed(TestClient(create_app(ApiSettings(pool_size=1, **settings), db), raise_server_exceptions=False))


def assert_envelope(response, status: int, code: str) -> dict[str, Any]:
    """The one error envelope: {"error": {"code", "message", "details": [{"path", "message"}]}}."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    for detail in error["details"]:
        assert set(detail) == {"path", "message"}, detail
        assert detail["path"].startswith("$"), detail
        assert detail["message"]
    return error


def paths(error: dict[str, Any]) -> list[str]:
    return [d["path"] for d in error["details"]]


def submit(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/jobs: 202, a Location header to the job, and the queued job."""
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text[:2000]
    view = response.json()
    assert response.headers["location"] == f"/v1/jobs/{view['id']}"
    assert view["status"] == "queued" and view["kind"] == body["kind"]
    assert view["progress"]["done"] == 0 and view["progress"]["total"] > 0
    assert view["started_at"] is None and view["finished_at"] is None
    return view


def job(client: TestClient, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text[:2000]
    return response.json()


def result(client: TestClient, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/result")
    assert response.status_code == 200, response.text[:2000]
    return response.json()


def stored_plan(client: TestClient, plan_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/plans/{plan_id}")
    assert response.status_code == 200, response.text[:2000]
    return response.json()


def job_ids(client: TestClient, query: str = "") -> list[str]:
    response = client.get(f"/v1/jobs?limit=1000{query}")
    assert response.status_code == 200, response.text[:2000]
    return [j["id"] for j in response.json()["jobs"]]


def portfolio_count(client: TestClient) -> int:
    return len(client.get("/v1/portfolios?limit=1000").json()["portfolios"])


def valid(data: dict[str, Any] | Portfolio, plan: dict[str, Any] | None) -> Plan:
    """The plan, checked by the independent validator against the portfolio it should belong to."""
    assert plan is not None
    portfolio = data if isinstance(data, Portfolio) else load_portfolio(fresh(data))
    parsed = Plan.model_validate(plan)
    assert validate(portfolio, parsed) == [], "plan failed the independent validator"
    return parsed


def run_queued(db: Database, pool: SolverPool) -> int:
    """Run every queued job to its end in this thread; returns how many ran."""
    return Worker(db, WORKER, pool).run(until_idle=True)


@contextmanager
def background_worker(db: Database, pool: SolverPool) -> Iterator[Worker]:
    """A worker polling for jobs in a thread, as `vmo worker` does; stopped (and joined) at the end."""
    worker = Worker(db, WORKER, pool)
    thread = threading.Thread(target=worker.run, name="test-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the worker did not stop"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pool() -> Iterator[SolverPool]:
    """Two solver processes shared by every worker of the module (spawned once, on first use)."""
    executor = SolverPool(2)
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[Database]:
    with migrated(f"sqlite:///{tmp_path_factory.mktemp('jobs') / 'vmo.db'}") as db:
        yield db


@pytest.fixture(scope="module")
def client(store) -> Iterator[TestClient]:
    """The shared app, with its lifespan (migrations, one solver process for POST .../plans)."""
    with new_client(store, max_time_limit_s=MAX_TIME_LIMIT_S) as c:
        yield c


# ---------------------------------------------------------------- acceptance


@pytest.mark.slow
def test_batch_of_100_portfolios_over_http(database, pool):
    """A batch of 100 generated portfolios submitted over HTTP finishes with every plan stored and passing
    the validator, with progress visible while it runs."""
    portfolios = [small(seed) for seed in range(BATCH_SIZE)]
    names = [p["name"] for p in portfolios]
    assert len(set(names)) == BATCH_SIZE
    with new_client(database) as client:
        body = {
            "kind": "batch",
            "portfolios": portfolios,
            "settings": {"time_limit_s": 2, "seed": 0, "what_it_takes": False},
        }
        queued = submit(client, body)
        assert queued["progress"] == {"done": 0, "total": BATCH_SIZE, "failed": 0, "best_value": None}
        location = f"/v1/jobs/{queued['id']}"

        seen: list[dict[str, Any]] = []
        with background_worker(database, pool):
            deadline = time.monotonic() + 180
            while True:
                response = client.get(location)
                assert response.status_code == 200, response.text
                view = response.json()
                seen.append(view)
                if view["status"] in ("succeeded", "failed", "canceled"):
                    break
                assert time.monotonic() < deadline, f"the batch did not finish: {view}"
                time.sleep(0.1)  # each poll reads the job row; keep the GIL for the worker

        # Progress was visible while it ran, and only ever went up.
        dones = [v["progress"]["done"] for v in seen]
        assert all(v["progress"]["total"] == BATCH_SIZE for v in seen)
        assert all(a <= b for a, b in pairwise(dones)), dones
        assert any(v["status"] == "running" and 0 < v["progress"]["done"] < BATCH_SIZE for v in seen), dones
        stages = [("queued", "running", "succeeded").index(v["status"]) for v in seen]
        assert stages == sorted(stages) and 1 in stages, stages  # queued, then running, then succeeded

        final = seen[-1]
        assert final["status"] == "succeeded", final
        assert final["progress"]["done"] == BATCH_SIZE and final["progress"]["failed"] == 0
        assert final["error"] is None and final["cancel_requested"] is False and final["attempts"] == 1
        assert final["started_at"] is not None and final["finished_at"] is not None

        answer = result(client, queued["id"])
        assert answer["id"] == queued["id"] and answer["kind"] == "batch" and answer["status"] == "succeeded"
        assert answer["whatif"] is None and answer["frontier"] is None and answer["reoptimized"] is None
        assert len(answer["plans"]) == len(answer["parts"]) == BATCH_SIZE
        assert [p["index"] for p in answer["parts"]] == list(range(BATCH_SIZE))
        assert [p["label"] for p in answer["parts"]] == names  # submission order
        assert all(p["status"] == "succeeded" and p["error"] is None for p in answer["parts"])

        objectives = []
        for seed, (data, plan, part) in enumerate(zip(portfolios, answer["plans"], answer["parts"], strict=True)):
            parsed = valid(data, plan)
            assert parsed.solver.time_limit_s == 2 and 1 <= parsed.solver.workers <= THREADS
            # The plan is this portfolio's: the same answer as solving it here (optimal values are unique).
            ref = reference(seed, 2)
            if {parsed.status, ref.status} <= {"optimal", "infeasible"}:
                assert parsed.status == ref.status, (seed, parsed.status, ref.status)
                assert parsed.objective == ref.objective, seed
            if parsed.status in ("optimal", "feasible"):
                assert {b.quarter for b in parsed.budget} == set(data["quarters"])
                objectives.append(parsed.objective)
            # Stored: the plan, with its lineage, and the portfolio it was made from.
            stored = stored_plan(client, part["plan_id"])
            assert stored["plan"] == plan
            assert stored["job_id"] == queued["id"] and stored["label"] == data["name"]
            assert stored["version"] == 1 and stored["parent_id"] is None
            assert stored["status"] == plan["status"]
            assert stored["settings"]["time_limit_s"] == 2
            portfolio = client.get(f"/v1/portfolios/{stored['portfolio_id']}").json()
            assert portfolio["name"] == data["name"]
            assert portfolio["portfolio"] == load_portfolio(fresh(data)).model_dump(mode="json")
        assert len(objectives) >= BATCH_SIZE // 2, "most generated portfolios should be solvable"
        assert Decimal(str(final["progress"]["best_value"])) == max(objectives)
        assert len({p["plan_id"] for p in answer["parts"]}) == BATCH_SIZE

        listed = client.get("/v1/portfolios?limit=1000").json()["portfolios"]
        assert len(listed) == BATCH_SIZE
        assert sorted(p["name"] for p in listed) == sorted(names)
        assert all(p["version"] == 1 for p in listed)
        assert job_ids(client, "&status=succeeded") == [queued["id"]]


# ---------------------------------------------------------------- lifecycle


@pytest.mark.slow
def test_queued_job_listing_409_and_cancel(client, store, pool):
    first = submit(client, {"kind": "batch", "portfolios": [small(0), small(1)]})
    second = submit(client, {"kind": "batch", "portfolios": [small(2)]})

    listed = job_ids(client)
    assert listed.index(second["id"]) < listed.index(first["id"]), "newest first"
    queued = job_ids(client, "&status=queued")
    assert {first["id"], second["id"]} <= set(queued)
    assert first["id"] not in job_ids(client, "&status=running") + job_ids(client, "&status=canceled")
    assert len(client.get("/v1/jobs?limit=1").json()["jobs"]) == 1

    response = client.get(f"/v1/jobs/{first['id']}/result")
    error = assert_envelope(response, 409, "job_not_finished")
    assert "queued" in error["message"] and "0 of 2" in error["message"]
    assert response.headers["retry-after"]

    for queued_job in (first, second):
        response = client.delete(f"/v1/jobs/{queued_job['id']}")
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["status"] == "canceled" and view["finished_at"] is not None
        assert view["progress"]["done"] == view["progress"]["total"]

    canceled = result(client, first["id"])
    assert canceled["status"] == "canceled"
    assert canceled["plans"] == [None, None]
    assert [p["status"] for p in canceled["parts"]] == ["canceled", "canceled"]
    assert all(p["plan_id"] is None and p["error"] for p in canceled["parts"])
    assert {first["id"], second["id"]} <= set(job_ids(client, "&status=canceled"))
    assert first["id"] not in job_ids(client, "&status=queued")

    # A canceled job is never run; deleting it (it has finished) removes it and its parts.
    assert run_queued(store, pool) == 0
    response = client.delete(f"/v1/jobs/{first['id']}")
    assert response.status_code == 204 and response.content == b""
    assert client.get(f"/v1/jobs/{first['id']}").status_code == 404


@pytest.fixture(scope="module")
def slow_portfolio() -> dict[str, Any]:
    """A generated 300-MMP portfolio that CP-SAT does not finish in seconds."""
    return random_portfolio(5, 300, 8, 30)


@pytest.mark.slow
def test_cancel_a_running_job(database, pool, slow_portfolio):
    """Two fast parts finish, two slow ones are solving when the job is canceled, one never starts."""
    client = new_client(database)  # no lifespan needed: the fixture migrated the database, no solve runs here
    fast = [small(0), small(1), small(4)]
    portfolios = [fast[0], fast[1], slow_portfolio, slow_portfolio, fast[2]]
    queued = submit(client, {"kind": "batch", "portfolios": portfolios, "settings": {"time_limit_s": 45}})
    job_id = queued["id"]
    with background_worker(database, pool):
        wait_for(lambda: job(client, job_id)["progress"]["done"] >= 2, "the fast parts", timeout=60)
        running = job(client, job_id)
        assert running["status"] == "running" and running["progress"]["done"] == 2, running
        assert running["worker"] and running["started_at"] and running["attempts"] == 1
        assert job_id in job_ids(client, "&status=running")
        assert_envelope(client.get(f"/v1/jobs/{job_id}/result"), 409, "job_not_finished")

        asked = time.monotonic()
        response = client.delete(f"/v1/jobs/{job_id}")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "running" and response.json()["cancel_requested"] is True
        wait_for(lambda: job(client, job_id)["status"] != "running", "the worker to end the job", timeout=30)
        assert time.monotonic() - asked < 30  # the slow solves were stopped, not waited for (45 s limit)

    final = job(client, job_id)
    assert final["status"] == "canceled" and final["cancel_requested"] is True, final
    assert final["progress"] == {**final["progress"], "done": 5, "total": 5, "failed": 0}
    answer = result(client, job_id)
    assert answer["status"] == "canceled"
    assert [p["status"] for p in answer["parts"]] == ["succeeded", "succeeded", "canceled", "canceled", "canceled"]
    assert answer["plans"][2:] == [None, None, None]
    assert all(p["plan_id"] is None for p in answer["parts"][2:])
    for data, plan, part in zip(fast[:2], answer["plans"][:2], answer["parts"][:2], strict=True):
        valid(data, plan)
        assert stored_plan(client, part["plan_id"])["plan"] == plan
    # Nothing was stored for the stopped solves.
    slow = [p for p in client.get("/v1/portfolios").json()["portfolios"] if p["name"] == slow_portfolio["name"]]
    assert len(slow) == 2
    assert all(client.get(f"/v1/portfolios/{p['id']}/plans").json()["plans"] == [] for p in slow)

    # Deleting a finished job removes it; the plans it stored stay with their portfolios.
    response = client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 204
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404


# ---------------------------------------------------------------- kinds

SCENARIO_SEED = 5  # random_portfolio(5, 16, 3, 4): optimal, and still feasible with less budget


@cache
def scenario_portfolio() -> dict[str, Any]:
    return random_portfolio(SCENARIO_SEED, 16, 3, 4)


@pytest.mark.slow
def test_scenario_batch_with_capped_settings(client, store, pool):
    portfolio = scenario_portfolio()
    scenarios = [
        {"name": "budget -20%", "changes": [{"op": "scale_budget", "factor": 0.8}]},
        {"name": "team-0 +2", "changes": [{"op": "change_capacity", "pool": "team-0", "delta": 2}]},
    ]
    body = {
        "kind": "batch",
        "portfolio": portfolio,
        "scenarios": scenarios,
        "settings": {"time_limit_s": 1000, "workers": 8},
    }
    queued = submit(client, body)
    assert queued["progress"]["total"] == 3
    assert run_queued(store, pool) == 1
    done = job(client, queued["id"])
    assert done["status"] == "succeeded" and done["progress"]["done"] == 3

    answer = result(client, queued["id"])
    assert [p["label"] for p in answer["parts"]] == ["base", "budget -20%", "team-0 +2"]
    base_portfolio = load_portfolio(fresh(portfolio))
    base = valid(base_portfolio, answer["plans"][0])
    assert base.status == "optimal"
    plans = [base]
    for scenario, plan in zip(scenarios, answer["plans"][1:], strict=True):
        changes = Scenario.model_validate(scenario).changes
        plans.append(valid(apply_changes(base_portfolio, changes), plan))
    assert all(p.status == "optimal" for p in plans)
    assert plans[1].objective <= base.objective <= plans[2].objective  # less money, more people

    whatif = answer["whatif"]
    assert whatif is not None and answer["frontier"] is None and answer["reoptimized"] is None
    assert Decimal(str(whatif["base"]["objective"])) == base.objective
    assert [s["name"] for s in whatif["scenarios"]] == ["budget -20%", "team-0 +2"]
    for summary, plan in zip(whatif["scenarios"], plans[1:], strict=True):
        assert Decimal(str(summary["summary"]["objective"])) == plan.objective
        assert Decimal(str(summary["diff"]["value_delta"])) == plan.objective - base.objective

    # Lineage: each scenario plan descends from the base plan. Settings: capped by the server.
    base_id = answer["parts"][0]["plan_id"]
    for part, plan in zip(answer["parts"], plans, strict=True):
        stored = stored_plan(client, part["plan_id"])
        assert stored["parent_id"] == (None if part["index"] == 0 else base_id)
        assert stored["settings"]["time_limit_s"] == MAX_TIME_LIMIT_S
        assert stored["settings"]["workers"] == THREADS  # capped by the server (VMO_SOLVER_WORKERS)
        assert plan.solver.time_limit_s == MAX_TIME_LIMIT_S and 1 <= plan.solver.workers <= THREADS

    # Deleting a finished job removes it and its parts; its plans stay with their portfolios.
    plan_ids = [p["plan_id"] for p in result(client, queued["id"])["parts"]]
    response = client.delete(f"/v1/jobs/{queued['id']}")
    assert response.status_code == 204
    assert client.get(f"/v1/jobs/{queued['id']}").status_code == 404
    assert all(client.get(f"/v1/plans/{plan_id}").status_code == 200 for plan_id in plan_ids if plan_id)


@pytest.mark.slow
def test_frontier_job(client, store, pool):
    portfolio = scenario_portfolio()
    loaded = load_portfolio(fresh(portfolio))
    total = int(sum(loaded.budget))
    budgets = [total, total * 6 // 10, total * 8 // 10]  # the job sorts them
    queued = submit(
        client, {"kind": "frontier", "portfolio": portfolio, "budgets": budgets, "settings": {"time_limit_s": 10}}
    )
    assert queued["progress"]["total"] == 3
    assert run_queued(store, pool) == 1

    answer = result(client, queued["id"])
    assert answer["status"] == "succeeded" and answer["whatif"] is None and answer["reoptimized"] is None
    points = answer["frontier"]["points"]
    ordered = sorted(budgets)
    assert [p["budget"] for p in points] == ordered
    assert [Decimal(p["label"].removeprefix("budget ")) for p in answer["parts"]] == ordered
    plans = [
        valid(with_total_budget(loaded, Decimal(b)), plan) for b, plan in zip(ordered, answer["plans"], strict=True)
    ]
    assert all(p.status == "optimal" for p in plans)
    for point, plan in zip(points, plans, strict=True):
        assert Decimal(str(point["objective"])) == plan.objective
        assert sorted(point["selected"]) == sorted(s.mmp for s in plan.selected)
    values = [p.objective for p in plans]
    assert values == sorted(values) and values[0] < values[-1]  # more money never buys less
    assert points[0]["marginal_value"] is None and all(p["marginal_value"] is not None for p in points[1:])


@pytest.mark.slow
def test_reoptimize_flow(client, store, pool):
    original = fixture("insurance-fy27.json")
    response = client.post("/v1/portfolios", json=original)
    assert response.status_code == 201, response.text
    created = response.json()
    portfolio_id = created["id"]
    assert response.headers["location"] == f"/v1/portfolios/{portfolio_id}"
    assert created == {"id": portfolio_id, "name": original["name"], "version": 1}
    version_1 = client.get(f"/v1/portfolios/{portfolio_id}").json()
    assert version_1["version"] == version_1["latest_version"] == 1
    assert version_1["portfolio"] == load_portfolio(fixture("insurance-fy27.json")).model_dump(mode="json")

    # Solved in the request and stored.
    response = client.post(f"/v1/portfolios/{portfolio_id}/plans", json={"settings": {"time_limit_s": 30}})
    assert response.status_code == 201, response.text
    baseline = response.json()
    assert response.headers["location"] == f"/v1/plans/{baseline['id']}"
    assert baseline["portfolio_id"] == portfolio_id and baseline["version"] == 1
    assert baseline["parent_id"] is None and baseline["job_id"] is None
    baseline_plan = valid(original, baseline["plan"])
    assert baseline_plan.status in SOLVED and baseline["status"] == baseline_plan.status
    assert stored_plan(client, baseline["id"]) == baseline

    # A 10 % budget cut is the next version; version 1 stays as it was.
    cut = {**fixture("insurance-fy27.json"), "budget": original["budget"] * 0.9}
    response = client.post(f"/v1/portfolios/{portfolio_id}/versions", json=cut)
    assert response.status_code == 201, response.text
    assert response.json() == {"id": portfolio_id, "name": original["name"], "version": 2}
    assert response.headers["location"] == f"/v1/portfolios/{portfolio_id}?version=2"
    assert client.get(f"/v1/portfolios/{portfolio_id}?version=1").json() == {**version_1, "latest_version": 2}
    latest = client.get(f"/v1/portfolios/{portfolio_id}").json()
    assert latest["version"] == latest["latest_version"] == 2
    assert Decimal(str(latest["portfolio"]["budget"])) == Decimal(original["budget"]) * Decimal("0.9")
    listed = {p["id"]: p for p in client.get("/v1/portfolios").json()["portfolios"]}
    assert listed[portfolio_id]["version"] == 2

    body = {"kind": "reoptimize", "portfolio_ids": [portfolio_id], "change_penalty": 250000}
    queued = submit(client, {**body, "settings": {"time_limit_s": 30}})
    assert queued["progress"]["total"] == 2  # with and without the penalty
    assert run_queued(store, pool) == 1
    answer = result(client, queued["id"])
    assert answer["status"] == "succeeded", answer["parts"]
    assert answer["whatif"] is None and answer["frontier"] is None
    assert [p["label"] for p in answer["parts"]] == [original["name"], f"{original['name']} without penalty"]

    cut_portfolio = load_portfolio(fresh(cut))
    baseline_starts = {s.mmp: s.start for s in baseline_plan.selected}
    penalized = valid(
        cut_portfolio.model_copy(update={"baseline_plan": baseline_starts, "change_penalty": Decimal(250000)}),
        answer["plans"][0],
    )
    free = valid(cut_portfolio.model_copy(update={"baseline_plan": baseline_starts}), answer["plans"][1])
    assert penalized.status in SOLVED and free.status in SOLVED  # optimal, unless the machine is very busy

    [report] = answer["reoptimized"]
    assert report["portfolio_id"] == portfolio_id and report["version"] == 2
    assert report["baseline_plan_id"] == baseline["id"] and report["plan_id"] == answer["parts"][0]["plan_id"]
    assert Decimal(str(report["change_penalty"])) == 250000
    without = report["without_penalty"]
    assert without["plan_id"] == answer["parts"][1]["plan_id"]
    assert 0 < report["changed"] < without["changed"], report
    starts = {s.mmp: s.start for s in penalized.selected}
    assert report["changed"] == sum(starts.get(m) != baseline_starts.get(m) for m in {*starts, *baseline_starts})
    assert Decimal(str(report["value"])) == penalized.value.mmps + penalized.value.key_results
    assert Decimal(str(without["value"])) >= Decimal(str(report["value"]))
    assert Decimal(str(report["baseline_value"])) == baseline_plan.objective
    summary = report["summary"]
    assert summary.startswith(f"{report['changed']} MMP(s) change against the current plan")
    assert f"without the change penalty {without['changed']} MMP(s) would change" in summary
    assert summary.endswith(".")

    # Lineage: both new plans descend from the baseline, on version 2, made by the job.
    plans = client.get(f"/v1/portfolios/{portfolio_id}/plans").json()["plans"]
    by_id = {p["id"]: p for p in plans}
    assert set(by_id) == {baseline["id"], report["plan_id"], without["plan_id"]}
    assert by_id[baseline["id"]]["parent_id"] is None and by_id[baseline["id"]]["version"] == 1
    for plan_id in (report["plan_id"], without["plan_id"]):
        assert by_id[plan_id]["parent_id"] == baseline["id"]
        assert by_id[plan_id]["version"] == 2 and by_id[plan_id]["job_id"] == queued["id"]
    assert plans[-1]["id"] == baseline["id"], "newest first"


# ---------------------------------------------------------------- errors


def _bad_value_stream(seed: int) -> dict[str, Any]:
    data = fresh(small(seed))
    data["mmps"][3]["value_stream"] = "ghost"
    return data


SCENARIO_X = {"name": "x", "changes": [{"op": "remove_mmp", "mmp": "ghost"}]}
INVALID_JOBS = [
    (
        "bad-portfolio-in-batch",
        {"kind": "batch", "portfolios": [small(0), small(1), _bad_value_stream(2)]},
        "$.portfolios[2].mmps[3].value_stream",
        "ghost",
    ),
    (
        "bad-first-portfolio",
        {"kind": "batch", "portfolios": [_bad_value_stream(0), small(1)]},
        "$.portfolios[0].mmps[3].value_stream",
        "ghost",
    ),
    ("unknown-kind", {"kind": "sweep", "portfolios": [small(0)]}, "$", "sweep"),
    ("no-kind", {"portfolios": [small(0)]}, "$", "kind"),
    ("portfolios-and-portfolio", {"kind": "batch", "portfolios": [small(0)], "portfolio": small(1)}, "$", "either"),
    ("portfolio-without-scenarios", {"kind": "batch", "portfolio": small(1)}, "$", "scenarios"),
    ("empty-batch", {"kind": "batch", "portfolios": []}, "$.portfolios", "at least 1"),
    (
        "zero-time-limit",
        {"kind": "batch", "portfolios": [small(0)], "settings": {"time_limit_s": 0}},
        "$.settings.time_limit_s",
        "greater than 0",
    ),
    (
        "incomplete-change",
        {"kind": "batch", "portfolio": small(0), "scenarios": [{"name": "x", "changes": [{"op": "force_mmp"}]}]},
        "$.scenarios[0].changes[0].mode",
        "required",
    ),
    (
        "unknown-mmp-in-scenario",
        {"kind": "batch", "portfolio": small(0), "scenarios": [SCENARIO_X]},
        "$.scenarios[0].changes[0].mmp",
        "ghost",
    ),
    ("frontier-without-budgets", {"kind": "frontier", "portfolio": small(0)}, "$", "budgets"),
    (
        "bad-frontier-portfolio",
        {"kind": "frontier", "portfolio": _bad_value_stream(0), "budgets": [1, 2]},
        "$.portfolio.mmps[3].value_stream",
        "ghost",
    ),
    (
        "reoptimize-unknown-id",
        {"kind": "reoptimize", "portfolio_ids": ["no-such-portfolio"]},
        "$.portfolio_ids[0]",
        "no-such-portfolio",
    ),
    ("reoptimize-no-ids", {"kind": "reoptimize", "portfolio_ids": []}, "$.portfolio_ids", "at least 1"),
    ("unknown-field", {"kind": "reoptimize", "portfolio_ids": ["x"], "surprise": 1}, "$.surprise", "unknown field"),
]


@pytest.mark.parametrize(("body", "path", "words"), [pytest.param(*case[1:], id=case[0]) for case in INVALID_JOBS])
def test_invalid_jobs_are_422_and_store_nothing(client, body, path, words):
    jobs_before, portfolios_before = job_ids(client), portfolio_count(client)
    error = assert_envelope(client.post("/v1/jobs", json=body), 422, "invalid_input")
    assert error["details"], error
    assert path in paths(error), error
    assert words in json.dumps(error)
    assert job_ids(client) == jobs_before
    assert portfolio_count(client) == portfolios_before


def test_replan_job_for_many_portfolios(client, store, pool):
    """Two stored portfolios with plans of record and actuals, re-planned as of Q3 by one job: each as-of
    portfolio is stored as the next version, each plan descends from its plan of record and passes the
    validator, and the result compares each with its plan of record."""
    from tests.api.test_api_cycle import Q1, Q3, year

    ids = []
    for _ in range(2):
        pid = client.post("/v1/portfolios", json=year()).json()["id"]
        plan = client.post(f"/v1/portfolios/{pid}/plans", json={"settings": {"workers": 1}}).json()
        assert client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": plan["id"]}).status_code == 201
        actual = {"mmps": {"portal": {"status": "done"}}, "key_results": {"nps": 4}}
        assert client.put(f"/v1/portfolios/{pid}/actuals/{Q1}", json=actual).status_code == 200
        ids.append((pid, plan["id"]))
    queued = submit(
        client, {"kind": "replan", "portfolio_ids": [p for p, _ in ids], "as_of": Q3, "settings": {"workers": 1}}
    )
    assert run_queued(store, pool) >= 1
    done = result(client, queued["id"])
    assert done["status"] == "succeeded"
    for (pid, record), report, plan in zip(ids, done["replanned"], done["plans"], strict=True):
        assert (report["portfolio_id"], report["parent_id"], report["version"]) == (pid, record, 2)
        stored = client.get(f"/v1/portfolios/{pid}").json()["portfolio"]
        valid(stored, plan)
        assert stored["as_of"] == Q3 and plan["done"] == ["api", "portal"]
        assert stored_plan(client, report["plan_id"])["parent_id"] == record
        assert report["comparison"]["done"] == ["api", "portal"]


def test_replan_job_needs_a_plan_of_record_and_a_sound_as_of(client):
    pid = client.post("/v1/portfolios", json=small(3)).json()["id"]
    error = assert_envelope(
        client.post("/v1/jobs", json={"kind": "replan", "portfolio_ids": [pid, "nope"], "as_of": "2027Q2"}),
        422,
        "invalid_input",
    )
    assert paths(error) == ["$.portfolio_ids[0]", "$.portfolio_ids[1]"]
    assert "no plan of record" in error["details"][0]["message"]


def test_a_replan_jobs_as_of_is_checked_at_as_of(client):
    """An as_of outside the horizon is the request's as_of, not a problem of the as-of portfolio built from it."""
    from tests.api.test_api_cycle import year

    pid = client.post("/v1/portfolios", json=year()).json()["id"]
    plan = client.post(f"/v1/portfolios/{pid}/plans", json={"settings": {"workers": 1}}).json()
    assert client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": plan["id"]}).status_code == 201
    error = assert_envelope(
        client.post("/v1/jobs", json={"kind": "replan", "portfolio_ids": [pid], "as_of": "2099Q3"}),
        422,
        "invalid_input",
    )
    assert error["details"] == [
        {"path": "$.as_of", "message": f"portfolio {pid!r}: '2099Q3' is not a quarter of the horizon"}
    ]


def test_reoptimize_needs_stored_plans(client):
    response = client.post("/v1/portfolios", json=small(7))
    assert response.status_code == 201
    unplanned = response.json()["id"]
    jobs_before = job_ids(client)

    error = assert_envelope(
        client.post("/v1/jobs", json={"kind": "reoptimize", "portfolio_ids": [unplanned]}), 422, "invalid_input"
    )
    assert paths(error) == ["$.portfolio_ids[0]"]
    assert "no stored plan" in error["details"][0]["message"]

    # Every unusable id is reported, each at its own index.
    body = {"kind": "reoptimize", "portfolio_ids": ["nope", unplanned, "nope-2"]}
    error = assert_envelope(client.post("/v1/jobs", json=body), 422, "invalid_input")
    assert paths(error) == ["$.portfolio_ids[0]", "$.portfolio_ids[1]", "$.portfolio_ids[2]"]
    assert "'nope'" in error["details"][0]["message"] and "no stored plan" in error["details"][1]["message"]
    assert job_ids(client) == jobs_before


def test_invalid_portfolios_are_422_with_paths(client):
    response = client.post("/v1/portfolios", json=small(0))
    assert response.status_code == 201
    portfolio_id = response.json()["id"]
    count = portfolio_count(client)

    error = assert_envelope(client.post("/v1/portfolios", json=_bad_value_stream(1)), 422, "invalid_input")
    assert paths(error) == ["$.mmps[3].value_stream"]
    error = assert_envelope(
        client.post("/v1/portfolios", json={**small(1), "quarters": "2027Q1"}), 422, "invalid_input"
    )
    assert "$.quarters" in paths(error)
    error = assert_envelope(
        client.post(f"/v1/portfolios/{portfolio_id}/versions", json=_bad_value_stream(0)), 422, "invalid_input"
    )
    assert paths(error) == ["$.mmps[3].value_stream"]
    error = assert_envelope(
        client.post(f"/v1/portfolios/{portfolio_id}/plans", json={"settings": {"backend": "magic"}}),
        422,
        "invalid_input",
    )
    assert paths(error) == ["$.settings.backend"]
    assert portfolio_count(client) == count
    assert client.get(f"/v1/portfolios/{portfolio_id}").json()["latest_version"] == 1
    assert client.get(f"/v1/portfolios/{portfolio_id}/plans").json()["plans"] == []


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/v1/jobs/no-such-job", None),
        ("GET", "/v1/jobs/no-such-job/result", None),
        ("DELETE", "/v1/jobs/no-such-job", None),
        ("GET", "/v1/plans/no-such-plan", None),
        ("GET", "/v1/portfolios/no-such-portfolio", None),
        ("GET", "/v1/portfolios/no-such-portfolio?version=1", None),
        ("GET", "/v1/portfolios/no-such-portfolio/plans", None),
        ("POST", "/v1/portfolios/no-such-portfolio/versions", "portfolio"),
        ("POST", "/v1/portfolios/no-such-portfolio/plans", None),
        ("POST", "/v1/portfolios/no-such-portfolio/plans", {"settings": {"time_limit_s": 1}}),
    ],
)
def test_unknown_ids_are_404(client, method, url, body):
    payload = small(0) if body == "portfolio" else body
    error = assert_envelope(client.request(method, url, json=payload), 404, "not_found")
    assert "no-such-" in error["message"] and "not found" in error["message"]
    assert error["details"] == []


def test_unknown_version_is_404(client):
    response = client.post("/v1/portfolios", json=small(3))
    portfolio_id = response.json()["id"]
    error = assert_envelope(client.get(f"/v1/portfolios/{portfolio_id}?version=2"), 404, "not_found")
    assert "version 2" in error["message"]
    assert client.get(f"/v1/portfolios/{portfolio_id}?version=1").status_code == 200


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/v1/jobs?limit=0", "$.query.limit"),
        ("/v1/jobs?limit=1001", "$.query.limit"),
        ("/v1/jobs?limit=many", "$.query.limit"),
        ("/v1/jobs?status=done", "$.query.status"),
        ("/v1/portfolios?limit=0", "$.query.limit"),
        ("/v1/portfolios?offset=-1", "$.query.offset"),
        ("/v1/portfolios/any?version=0", "$.query.version"),
        ("/v1/portfolios/any/plans?limit=0", "$.query.limit"),
    ],
)
def test_bad_query_parameters_are_422_and_named(client, url, path):
    error = assert_envelope(client.get(url), 422, "invalid_input")
    assert paths(error) == [path]


@pytest.mark.slow
def test_unreachable_database_is_503_never_500():
    """Without the lifespan (which would migrate it) the app starts; every storage route then answers 503 (the
    caller's key cannot be checked either)."""
    client = TestClient(create_app(ApiSettings(pool_size=1), Database(UNREACHABLE)), raise_server_exceptions=False)
    client.headers.update(bearer("vmo_" + "k" * 43))
    requests = [
        ("POST", "/v1/jobs", {"kind": "batch", "portfolios": [small(0)]}),
        ("POST", "/v1/jobs", {"kind": "reoptimize", "portfolio_ids": ["x"]}),
        ("GET", "/v1/jobs", None),
        ("GET", "/v1/jobs?status=running", None),
        ("GET", "/v1/jobs/x", None),
        ("GET", "/v1/jobs/x/result", None),
        ("DELETE", "/v1/jobs/x", None),
        ("POST", "/v1/portfolios", small(0)),
        ("GET", "/v1/portfolios", None),
        ("GET", "/v1/portfolios/x", None),
        ("POST", "/v1/portfolios/x/versions", small(0)),
        ("GET", "/v1/portfolios/x/plans", None),
        ("POST", "/v1/portfolios/x/plans", None),
        ("GET", "/v1/plans/x", None),
    ]
    for method, url, body in requests:
        response = client.request(method, url, json=body)
        error = assert_envelope(response, 503, "storage_unavailable")
        assert response.headers["retry-after"] == "5", (method, url)
        assert "postgresql" not in response.text and "nobody" not in response.text  # no internals leak
        assert error["details"] == []
    # Without authentication (VMO_AUTH=off) input is still checked first: a bad body is the client's problem,
    # whatever the database does. With it, who calls is known first, from the database.
    assert_envelope(client.post("/v1/jobs", json={"kind": "sweep"}), 503, "storage_unavailable")
    local = TestClient(create_app(ApiSettings(pool_size=1, auth="off"), Database(UNREACHABLE)))
    assert_envelope(local.post("/v1/jobs", json={"kind": "sweep"}), 422, "invalid_input")


def test_store_and_solve_does_not_block_other_requests(client, store):
    """POST /v1/portfolios/{id}/plans is async: its database work must not stall the event loop."""
    portfolio_id = client.post("/v1/portfolios", json=small(0)).json()["id"]
    path = store.url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    outcome: dict[str, Any] = {}
    try:
        blocker.execute("BEGIN IMMEDIATE")  # hold SQLite's write lock: the route's session has to wait

        def store_a_plan() -> None:
            outcome["response"] = client.post(f"/v1/portfolios/{portfolio_id}/plans")

        thread = threading.Thread(target=store_a_plan, daemon=True)
        thread.start()
        time.sleep(0.5)  # the route is now waiting for the lock
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        # A blocked event loop would answer only once the route's wait ends, after SQLite's busy timeout (30 s):
        # a third of it tells the two apart on any machine, however loaded.
        assert time.monotonic() - started < SQLITE_BUSY_TIMEOUT_S / 3, "the event loop was blocked by a database wait"
        assert thread.is_alive(), "the route's database wait ended before /healthz answered"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    thread.join(timeout=60)
    response = outcome["response"]
    assert response.status_code == 201, response.text
    valid(small(0), response.json()["plan"])


# ---------------------------------------------------------------- OpenAPI


def test_openapi_documents_jobs_and_storage(client):
    spec = client.get("/openapi.json").json()
    expected = {
        "/v1/jobs": {"get", "post"},
        "/v1/jobs/{job_id}": {"get", "delete"},
        "/v1/jobs/{job_id}/result": {"get"},
        "/v1/portfolios": {"get", "post"},
        "/v1/portfolios/{portfolio_id}": {"get"},
        "/v1/portfolios/{portfolio_id}/versions": {"post"},
        "/v1/portfolios/{portfolio_id}/plans": {"get", "post"},
        "/v1/plans/{plan_id}": {"get"},
    }
    for route, methods in expected.items():
        assert methods <= set(spec["paths"][route]), route

    examples = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == {"batch", "scenarios", "frontier", "reoptimize", "replan"}
    insurance, backlog = fixture("insurance-fy27.json"), fixture("wsjf-backlog.json")
    assert examples["batch"]["value"]["portfolios"] == [insurance, backlog]
    assert examples["scenarios"]["value"]["portfolio"] == insurance and examples["scenarios"]["value"]["scenarios"]
    assert examples["frontier"]["value"]["portfolio"] == insurance
    assert examples["reoptimize"]["value"]["portfolio_ids"] and examples["replan"]["value"]["portfolio_ids"]
    for name, example in examples.items():
        assert example["value"]["kind"] == {"scenarios": "batch"}.get(name, name)
    assert spec["paths"]["/v1/jobs"]["post"]["responses"]["202"]

    stored = spec["paths"]["/v1/portfolios"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert stored["insurance"]["value"] == insurance
    assert spec["paths"]["/v1/portfolios"]["post"]["responses"]["201"]


@pytest.mark.slow
def test_openapi_job_examples_are_accepted(client):
    """The documented examples are real requests: each is accepted (then canceled, before any worker runs it),
    except the re-optimization and re-plan ones, whose portfolio id is a placeholder."""
    spec = client.get("/openapi.json").json()
    examples = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    for name in ("batch", "scenarios", "frontier"):
        queued = submit(client, examples[name]["value"])
        response = client.delete(f"/v1/jobs/{queued['id']}")
        assert response.status_code == 200 and response.json()["status"] == "canceled", name
    for name in ("reoptimize", "replan"):
        error = assert_envelope(client.post("/v1/jobs", json=examples[name]["value"]), 422, "invalid_input")
        assert paths(error) == ["$.portfolio_ids[0]"]
