"""The real server: `python -m uvicorn api.app:create_app --factory` on 127.0.0.1, one solver process, driven
with httpx over a socket. The server is always stopped (and its solver processes with it) at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from models import Plan, SolverSettings, load_portfolio
from optimizer import validate
from tests.support.paths import FIXTURES, ROOT

pytestmark = pytest.mark.slow  # a real uvicorn server in a subprocess

INSURANCE = FIXTURES / "insurance-fy27.json"
MAX_BODY = 1 << 20
TIME_LIMIT = 20  # a bound for a loaded machine; the insurance fixture is proven optimal in about 2 s


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path
    key: str
    """A planner's API key of the default tenant, made with `vmo keys create` before the server started."""

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a foreign process took the id
        return False
    return True


def stop(server: Server, timeout: float = 30) -> int | None:
    """SIGTERM the server, wait for it; kill its process group (the server and its solver processes) if it hangs."""
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    return process.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("server")
    log = folder / "server.log"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VMO_")},
        "VMO_POOL_SIZE": "1",
        "VMO_MAX_BODY_BYTES": str(MAX_BODY),
        "VMO_MAX_TIME_LIMIT_S": str(TIME_LIMIT),
        "VMO_DATABASE_PATH": str(folder / "vmo.db"),
    }
    # The first key, made as the README says, in the database the server then reads.
    made = subprocess.run(
        [sys.executable, "-m", "cli", "keys", "create", "--tenant", "default", "--role", "planner", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key = json.loads(made.stdout)["key"]
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown can reach the solver processes too
        )
    handle = Server(process, f"http://127.0.0.1:{port}", log, key)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the server exited with {process.returncode}:\n{handle.output()}"
            try:
                if httpx.get(f"{handle.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server was not ready within 60 s:\n{handle.output()}"
            time.sleep(0.25)
        yield handle
    finally:
        stop(handle)
        if group_alive(process.pid):  # solver processes left behind: end them (they are this test's)
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {server.key}"}) as client:
        yield client


def insurance() -> dict[str, Any]:
    return json.loads(INSURANCE.read_text())


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    return body["error"]


def test_health_and_readiness(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["pool_size"] == 1


def test_the_real_server_needs_a_key(server, http):
    """The key made by `vmo keys create` (same database, same secret) works; without one every /v1 route is 401."""
    assert_envelope(httpx.get(f"{server.url}/v1/portfolios", timeout=30), 401, "unauthorized")
    assert http.get("/v1/portfolios").status_code == 200
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200


def test_solve_insurance(http):
    response = http.post("/v1/solve", json={"portfolio": insurance(), "settings": {"time_limit_s": TIME_LIMIT}})
    assert response.status_code == 200, response.text[:2000]
    plan = Plan.model_validate(response.json())
    assert validate(load_portfolio(insurance()), plan) == []
    assert plan.status == "optimal" and plan.gap == 0
    # One solve on an idle server gets the cores it asks for, as `vmo solve` does.
    assert plan.solver.time_limit_s == TIME_LIMIT
    assert plan.solver.workers == min(SolverSettings().workers, len(os.sched_getaffinity(0)))


def test_solve_time_limit_is_capped_by_the_environment(http):
    response = http.post("/v1/solve", json={"portfolio": insurance(), "settings": {"time_limit_s": 1000}})
    assert response.status_code == 200, response.text[:2000]
    assert response.json()["solver"]["time_limit_s"] == TIME_LIMIT


def test_whatif_insurance(http):
    body = {
        "portfolio": insurance(),
        "scenarios": [{"name": "budget -10%", "changes": [{"op": "scale_budget", "factor": 0.9}]}],
        "settings": {"time_limit_s": TIME_LIMIT},
    }
    response = http.post("/v1/whatif", json=body)
    assert response.status_code == 200, response.text[:2000]
    answer = response.json()
    (cut,) = answer["scenarios"]
    assert cut["name"] == "budget -10%"
    assert answer["base"]["status"] == cut["summary"]["status"] == "optimal"
    assert cut["diff"]["value_delta"] == cut["summary"]["objective"] - answer["base"]["objective"]
    assert cut["diff"]["value_delta"] <= 0
    assert (
        answer["base"]["selected"] + len(cut["diff"]["added"]) - len(cut["diff"]["dropped"])
        == (cut["summary"]["selected"])
    )


def test_frontier_insurance(http):
    body = {
        "portfolio": insurance(),
        "range": {"from": 20_000_000, "to": 40_000_000, "steps": 3},
        "settings": {"time_limit_s": TIME_LIMIT},
    }
    response = http.post("/v1/frontier", json=body)
    assert response.status_code == 200, response.text[:2000]
    answer = response.json()
    points = answer["points"]
    assert [p["budget"] for p in points] == [20_000_000, 30_000_000, 40_000_000]
    assert all(p["status"] == "optimal" for p in points)
    objectives = [p["objective"] for p in points]
    assert objectives == sorted(objectives)
    assert points[0]["marginal_value"] is None
    for prev, point in pairwise(points):
        expected = (point["objective"] - prev["objective"]) / (point["budget"] - prev["budget"])
        assert point["marginal_value"] == pytest.approx(expected)
    low, middle, high = objectives  # the knee is the middle budget exactly when it lies above the chord
    assert answer["knee"] == (30_000_000 if 2 * middle > low + high else None)


def test_errors_over_the_wire(http):
    assert_envelope(http.get("/v1/nowhere"), 404, "not_found")
    assert_envelope(http.get("/v1/solve"), 405, "method_not_allowed")
    response = http.post("/v1/solve", content=b'{"portfolio": ', headers={"content-type": "application/json"})
    assert_envelope(response, 400, "malformed_json")
    response = http.post("/v1/check", json={"portfolio": {**insurance(), "budget": -1}})
    error = assert_envelope(response, 422, "invalid_input")
    assert [d["path"] for d in error["details"]] == ["$.portfolio.budget"]


def test_body_limit_over_the_wire(http):
    body = b'{"portfolio": ' + b" " * MAX_BODY + b"null}"
    response = http.post("/v1/check", content=body, headers={"content-type": "application/json"})
    assert_envelope(response, 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent with Transfer-Encoding: chunked
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    response = http.post("/v1/check", content=chunks(), headers={"content-type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_envelope(response, 413, "too_large")
    # The server still answers afterwards.
    assert http.get("/healthz").status_code == 200


def test_shutdown_is_clean(server, http):
    """SIGTERM stops the server within seconds after a graceful shutdown, leaving no solver process behind.
    (uvicorn re-raises the signal after shutting down, so the exit status is 0 or -SIGTERM.)"""
    http.close()
    assert stop(server) in (0, -signal.SIGTERM), server.output()
    assert "Application shutdown complete" in server.output()
    deadline = time.monotonic() + 15
    while group_alive(server.process.pid):
        assert time.monotonic() < deadline, "solver processes outlived the server"
        time.sleep(0.2)
