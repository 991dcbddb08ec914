"""Issue 13 through the API: SQLite faults named with the path and the fix, in answers and at /readyz.

Before: a read-only SQLite file gave 503 "retry later" forever while /readyz said ready, and a file deleted
while the service ran kept answering 201 (and lost everything at the next start)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from bench.generator import random_portfolio
from storage import repo
from storage.db import Database
from storage.tables import WorkerRow, now
from tests.support.auth import keyed
from tests.support.files import unwritable
from tests.support.waiting import wait_for

PORTFOLIO = {
    "name": "faults",
    "quarters": ["q1"],
    "budget": 100,
    "value_streams": [{"id": "s"}],
    "mmps": [{"id": "a", "value_stream": "s", "value": 10, "cost": [5]}],
}


@pytest.fixture
def service(tmp_path) -> Iterator[tuple[TestClient, Database]]:
    db = Database(f"sqlite:///{tmp_path / 'data' / 'vmo.db'}")
    with TestClient(create_app(ApiSettings(pool_size=1), db), raise_server_exceptions=False) as client:
        keyed(client)
        yield client, db
    db.dispose()


def refused(client: TestClient, *fragments: str) -> None:
    """Writes are 503 storage_unavailable and /readyz is 503, both naming the fault; reads still answer."""
    response = client.post("/v1/portfolios", json=PORTFOLIO)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "storage_unavailable"
    assert "retry later" not in error["message"]
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert ready.json()["status"] == "not ready" and ready.json()["database"] == ready.json()["reason"]
    for fragment in fragments:
        assert fragment in error["message"], (fragment, error["message"])
        assert fragment in ready.json()["reason"], (fragment, ready.json())
    assert client.get("/healthz").status_code == 200


@pytest.mark.slow
def test_a_read_only_file_is_named_until_it_is_fixed(service):
    client, db = service
    assert client.post("/v1/portfolios", json=PORTFOLIO).status_code == 201
    with unwritable(db.path):
        refused(client, str(db.path), "read-only", "make it writable")
        assert len(client.get("/v1/portfolios").json()["portfolios"]) == 1  # reading still works
    assert client.get("/readyz").json()["database"] == "ok"
    assert client.post("/v1/portfolios", json=PORTFOLIO).status_code == 201  # fixed: no restart needed


@pytest.mark.slow
def test_an_unwritable_folder_is_named(service):
    client, db = service
    with unwritable(db.path.parent):
        refused(client, str(db.path.parent), "not writable")
    assert client.get("/readyz").status_code == 200


@pytest.mark.slow
def test_a_file_deleted_while_running_refuses_writes_instead_of_losing_them(service):
    client, db = service
    assert client.post("/v1/portfolios", json=PORTFOLIO).status_code == 201
    db.path.unlink()
    refused(client, str(db.path), "missing", "restore it from a backup")
    assert not db.path.exists()


@pytest.mark.slow
def test_a_solver_process_that_dies_mid_solve_is_a_503_and_the_next_solve_works(tmp_path):
    """A solver crash (CBC killed by a signal, the OOM killer) is a 503 solver_restarted, never a 500."""
    db = Database(f"sqlite:///{tmp_path / 'vmo.db'}")
    slow = {"portfolio": random_portfolio(5, 300, 8, 30), "settings": {"time_limit_s": 60}}
    with TestClient(create_app(ApiSettings(pool_size=1), db), raise_server_exceptions=False) as client:
        keyed(client)
        pool = client.app.state.solvers.pool
        answer: dict[str, Any] = {}
        caller = threading.Thread(target=lambda: answer.update(r=client.post("/v1/solve", json=slow)), daemon=True)
        caller.start()
        wait_for(lambda: pool.running_pids(), "the solve to start", timeout=60)
        (victim,) = pool.running_pids().values()
        os.kill(victim, signal.SIGKILL)
        caller.join(timeout=60)
        assert not caller.is_alive()
        response = answer["r"]
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "solver_restarted" and "retry" in response.json()["error"]["message"]
        assert client.post("/v1/solve", json={"portfolio": PORTFOLIO}).status_code == 200
    db.dispose()


@pytest.mark.slow
def test_readyz_says_when_no_job_worker_is_alive(tmp_path, monkeypatch):
    """A dead worker left /readyz saying ready while jobs stayed queued. With a worker expected (vmo serve
    sets VMO_REQUIRE_WORKER), /readyz counts the workers seen within a lease and is 503 without one."""
    monkeypatch.setenv("VMO_JOB_LEASE_S", "30")
    db = Database(f"sqlite:///{tmp_path / 'vmo.db'}")
    with TestClient(create_app(ApiSettings(pool_size=1, require_worker=True), db)) as client:
        keyed(client)
        none = client.get("/readyz")
        assert none.status_code == 503 and none.json()["workers"] == 0
        assert "no job worker is alive" in none.json()["reason"]
        with db.session() as session:
            repo.worker_seen(session, "w1")
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["workers"] == 1 and ready.json()["database"] == "ok"
        with db.session() as session:  # its last report is older than a lease: it is not counted
            session.get(WorkerRow, "w1").seen_at = now() - timedelta(seconds=31)
        assert client.get("/readyz").status_code == 503
    db.dispose()
