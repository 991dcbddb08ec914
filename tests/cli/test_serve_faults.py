"""Issue 13, faults around a running `vmo serve` (a real server, its worker process and their solver processes):

* PostgreSQL down at start: `vmo serve` exited; it now waits for the database (bounded, logged).
* PostgreSQL restarted mid-job: the worker died for good and jobs stayed running; now the job finishes with
  every plan exactly once and the same worker still alive, and /readyz says when the database is away.
* kill -9 of the worker: its solver processes stayed alive and nobody restarted it; now they die with it, and
  `vmo serve` starts a new worker, which finishes the job.

The PostgreSQL server here is a private one (tests/support/postgres_server.py), never the shared one.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from bench.generator import random_portfolio
from models import Plan, load_portfolio
from optimizer import validate
from tests.support.postgres_server import private_postgres
from tests.support.processes import alive, command_line, descendants, worker_children
from tests.support.service import Service, serving
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow  # real servers, workers and a private PostgreSQL in subprocesses

WAIT_S = 180  # a bound for a loaded machine


def batch(seeds: range, n_mmps: int) -> list[dict[str, Any]]:
    portfolios = []
    for seed in seeds:
        data = random_portfolio(seed, n_mmps, 4, 6)
        data["name"] = f"held {seed}"
        portfolios.append(data)
    return portfolios


def submit(service: Service, portfolios: list[dict[str, Any]], time_limit_s: float) -> str:
    body = {"kind": "batch", "portfolios": portfolios, "settings": {"time_limit_s": time_limit_s, "workers": 1}}
    response = httpx.post(f"{service.url}/v1/jobs", json=body, headers=service.headers, timeout=60)
    assert response.status_code == 202, response.text[:2000]
    return response.json()["id"]


def job(service: Service, job_id: str) -> dict[str, Any]:
    return httpx.get(f"{service.url}/v1/jobs/{job_id}", headers=service.headers, timeout=30).json()


def done_at_least(service: Service, job_id: str, low: int) -> dict[str, Any] | None:
    answer = job(service, job_id)
    assert answer["status"] in ("queued", "running"), (answer, service.output())
    return answer if answer["progress"]["done"] >= low else None


def running(service: Service, job_id: str) -> dict[str, Any] | None:
    answer = job(service, job_id)
    return answer if answer["status"] == "running" else None


def finished(service: Service, job_id: str) -> dict[str, Any] | None:
    try:
        answer = job(service, job_id)
    except (httpx.TransportError, ValueError):
        return None
    return answer if answer.get("status") in ("succeeded", "failed", "canceled") else None


def ready(service: Service) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{service.url}/readyz", timeout=10)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 and response.json().get("workers") else None


def every_plan_once(service: Service, url: str, job_id: str, portfolios: list[dict[str, Any]]) -> None:
    """The job succeeded; each part has its plan, which passes the validator; the database holds exactly one
    plan per part and no other plan."""
    answer = job(service, job_id)
    assert answer["status"] == "succeeded", (answer, service.output())
    result = httpx.get(f"{service.url}/v1/jobs/{job_id}/result", headers=service.headers, timeout=60).json()
    assert [p["status"] for p in result["parts"]] == ["succeeded"] * len(portfolios)
    for data, plan in zip(portfolios, result["plans"], strict=True):
        assert validate(load_portfolio(data), Plan.model_validate(plan)) == []
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT job_id, part_index FROM plans")).all()
    finally:
        engine.dispose()
    assert sorted(rows) == [(job_id, i) for i in range(len(portfolios))], rows


def test_serve_waits_for_postgres_and_a_restart_mid_job_loses_nothing(tmp_path):
    with private_postgres(started=False) as pg:
        settings = {"VMO_DATABASE_URL": pg.url, "VMO_DATABASE_WAIT_S": "120", "VMO_MAX_BACKOFF_S": "1"}
        with serving(tmp_path, settings, wait=False) as service:
            # PostgreSQL is down at start: vmo serve waits (and says so) instead of exiting.
            wait_for(lambda: "waiting for the database" in service.output(), "vmo serve to wait", timeout=WAIT_S)
            time.sleep(2)
            assert service.process.poll() is None, service.output()
            assert not service.healthy()
            pg.start()
            wait_for(service.healthy, "vmo serve to start once PostgreSQL answers", timeout=WAIT_S, every=0.2)
            wait_for(lambda: ready(service), "/readyz to count the worker", timeout=WAIT_S, every=0.5)
            service.create_key()
            (worker,) = wait_for(lambda: worker_children(service.process.pid), "the worker process")

            portfolios = batch(range(1, 9), 60)
            job_id = submit(service, portfolios, 2)
            wait_for(lambda: done_at_least(service, job_id, 2), "two parts to finish", timeout=WAIT_S, every=0.2)

            pg.stop("fast")  # an operator's restart: every connection is dropped
            down = httpx.get(f"{service.url}/readyz", timeout=30)
            assert down.status_code == 503 and "cannot be reached" in down.json()["database"], down.text
            time.sleep(3)
            pg.start()

            final = wait_for(lambda: finished(service, job_id), "the job to end", timeout=WAIT_S, every=0.5)
            assert final["status"] == "succeeded", (final, service.output())
            every_plan_once(service, pg.url, job_id, portfolios)
            assert alive(worker) and worker_children(service.process.pid) == [worker], "the worker did not survive"
            log = service.output()
            assert "the database cannot be reached" in log and "the database is back" in log, log
            assert wait_for(lambda: ready(service), "/readyz to be ready again", timeout=60, every=0.5)


def test_a_killed_worker_takes_its_solver_processes_and_serve_starts_a_new_one(tmp_path):
    database = tmp_path / "vmo.db"
    settings = {"VMO_DATABASE_PATH": str(database), "VMO_JOB_LEASE_S": "3"}
    with serving(tmp_path, settings) as service:
        (worker,) = wait_for(lambda: worker_children(service.process.pid), "the worker process", timeout=WAIT_S)
        portfolios = batch(range(101, 106), 120)
        job_id = submit(service, portfolios, 3)
        started = wait_for(lambda: running(service, job_id), "the job to run", timeout=WAIT_S)
        # The job names its worker by an opaque id, never the host name and process id (issue 13).
        assert started["worker"] and socket.gethostname() not in started["worker"]
        assert str(worker) not in started["worker"].split(":")
        solvers = wait_for(lambda: descendants(worker), "the worker's solver processes", timeout=WAIT_S)

        os.kill(worker, signal.SIGKILL)
        wait_for(
            lambda: not any(alive(pid) for pid in solvers),
            f"the worker's processes {solvers} to die with it",
            timeout=30,
        )
        (new,) = wait_for(
            lambda: [pid for pid in worker_children(service.process.pid) if pid != worker],
            "vmo serve to start a new worker",
            timeout=60,
        )
        final = wait_for(lambda: finished(service, job_id), "the job to end", timeout=WAIT_S, every=0.5)
        assert final["status"] == "succeeded", (final, service.output())
        every_plan_once(service, f"sqlite:///{database}", job_id, portfolios)
        assert alive(new) and f"the job worker (pid {worker}) ended with exit code -9" in service.output()
        assert wait_for(lambda: ready(service), "/readyz to count the new worker", timeout=60, every=0.5)


def test_kill_9_of_serve_leaves_no_process_behind(tmp_path):
    """Every process vmo serve started (solver and parser processes, its worker and the worker's solver
    processes, any resource tracker) ends when vmo serve is killed: nothing holds memory for nobody."""
    settings = {"VMO_DATABASE_PATH": str(tmp_path / "vmo.db")}
    with serving(tmp_path, settings) as service:
        (worker,) = wait_for(lambda: worker_children(service.process.pid), "the worker process", timeout=WAIT_S)
        job_id = submit(service, batch(range(201, 204), 120), 3)  # the worker's solver processes start
        wait_for(lambda: running(service, job_id), "the job to run", timeout=WAIT_S)
        # A body parsed, so the parser processes run too.
        body = {"portfolio": batch(range(1, 2), 5)[0]}
        assert httpx.post(f"{service.url}/v1/check", json=body, headers=service.headers).status_code == 200
        wait_for(lambda: descendants(worker), "the worker's solver processes", timeout=WAIT_S)
        started = descendants(service.process.pid)
        assert len(started) >= 4, started  # solver, parser, worker, the worker's solver process at least
        os.kill(service.process.pid, signal.SIGKILL)
        service.process.wait(30)
        deadline = time.monotonic() + 60
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [(pid, command_line(pid)[:6]) for pid in started if alive(pid)]
        assert not left, f"processes of vmo serve outlived it: {left}\n{service.output()}"
