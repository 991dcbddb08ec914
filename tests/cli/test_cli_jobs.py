"""`vmo batch` (many files solved at once) and `vmo jobs` (against a real `vmo serve` and its worker).

`vmo batch` runs in-process (typer's CliRunner) and solves in a local process pool. `vmo jobs` talks to a
`vmo serve` subprocess (uvicorn plus the worker process it starts) over a socket; the last test stops that
service with SIGTERM and checks that its worker stops too, handing its running job back to the queue.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from bench.generator import random_portfolio
from models import Plan, load_portfolio
from optimizer import validate
from tests.support import waiting
from tests.support.cli import error_lines, invoke
from tests.support.paths import FIXTURES, ROOT
from tests.support.processes import group_alive, worker_name

pytestmark = pytest.mark.slow  # batch pools and a real `vmo serve` in a subprocess

WAIT_S = 90  # a bound for a loaded machine

T = TypeVar("T")


wait_for = partial(waiting.wait_for, timeout=WAIT_S, every=0.2)


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


SOLVED = ("optimal", "feasible")  # generated portfolios are usually proven optimal in 2 s, not always when loaded


def generated(seed: int) -> dict[str, Any]:
    """A small generated portfolio (30 MMPs)."""
    return random_portfolio(seed, 30, 4, 4)


def assert_plan_file(path: Path, portfolio: dict[str, Any], *statuses: str) -> Plan:
    assert path.is_file(), f"no plan written to {path}"
    plan = Plan.model_validate_json(path.read_text(encoding="utf-8"))
    assert plan.status in statuses, (path.name, plan.status)
    assert validate(load_portfolio(portfolio), plan) == [], f"{path.name} failed the validator"
    return plan


# ---------------------------------------------------------------- vmo batch


def test_batch_writes_one_valid_plan_per_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative names, as a user types them
    portfolios = {f"in/p{seed}.json": generated(seed) for seed in (1, 2, 3)}
    portfolios["in/wsjf-backlog.json"] = json.loads((FIXTURES / "wsjf-backlog.json").read_text())
    files = [write(Path(name), data) for name, data in portfolios.items()]

    result = invoke("batch", *files, "--workers", "2", "--out", "out", "--time-limit", "2")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert sorted(p.name for p in Path("out").iterdir()) == sorted(f"{f.stem}.plan.json" for f in files)
    for path in files:
        assert_plan_file(Path("out") / f"{path.stem}.plan.json", portfolios[str(path)], *SOLVED)
    assert "4 portfolios" in result.stdout
    table = result.stdout.splitlines()
    for path in files:
        (row,) = [line for line in table if str(path) in line]
        assert "optimal" in row or "feasible" in row
    assert "4/4" in result.stderr, result.stderr  # the progress: done / total


def test_batch_files_with_the_same_name_get_distinct_outputs(tmp_path):
    backlog = json.loads((FIXTURES / "wsjf-backlog.json").read_text())
    first, second = write(tmp_path / "a" / "p.json", backlog), write(tmp_path / "b" / "p.json", generated(7))
    out = tmp_path / "out"
    result = invoke("batch", first, second, "--out", out, "--time-limit", "2")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert sorted(p.name for p in out.iterdir()) == ["p-2.plan.json", "p.plan.json"]
    # Each file's plan is the plan of that file's portfolio (their MMP ids differ, so a swap fails the validator).
    assert_plan_file(out / "p.plan.json", backlog, "optimal")
    assert_plan_file(out / "p-2.plan.json", generated(7), *SOLVED)


def test_batch_can_skip_what_it_would_take(tmp_path):
    backlog = json.loads((FIXTURES / "wsjf-backlog.json").read_text())
    path = write(tmp_path / "p.json", backlog)
    for flag, worked_out in (("--what-it-takes", True), ("--no-what-it-takes", False)):
        out = tmp_path / flag
        result = invoke("batch", path, "--out", out, "--time-limit", "5", flag)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        plan = Plan.model_validate_json((out / "p.plan.json").read_text())
        assert plan.not_selected
        assert any(n.needs is not None for n in plan.not_selected) is worked_out


def _missing(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / "missing.json", "no such file"


def _not_json(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "budget": }', encoding="utf-8")
    return path, "line 2"


def _invalid_portfolio(tmp_path: Path) -> tuple[Path, str]:
    data = generated(5)
    data["mmps"][1]["value_stream"] = "no-such-stream"
    return write(tmp_path / "invalid.json", data), "$.mmps[1].value_stream"


@pytest.mark.parametrize("bad_file", [_missing, _not_json, _invalid_portfolio], ids=["missing", "json", "portfolio"])
def test_batch_rejects_a_bad_file_before_solving_anything(tmp_path, bad_file):
    good = [write(tmp_path / f"good{seed}.json", generated(seed)) for seed in (1, 2)]
    bad, where = bad_file(tmp_path)
    out = tmp_path / "out"
    result = invoke("batch", *good, bad, "--out", out, "--time-limit", "2")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    (line,) = error_lines(result)  # one line, no progress: nothing was solved
    assert line.startswith(f"error: {bad}: "), line
    assert where in line, line
    assert not out.exists(), "files were written for a rejected batch"


def test_batch_with_an_infeasible_portfolio_exits_1_and_writes_the_other_plans(tmp_path):
    good = {write(tmp_path / f"g{seed}.json", generated(seed)): generated(seed) for seed in (11, 12)}
    infeasible = FIXTURES / "infeasible-mandatory.json"
    out = tmp_path / "out"
    result = invoke("batch", *good, infeasible, "--workers", "2", "--out", out, "--time-limit", "2")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    for path, data in good.items():
        assert_plan_file(out / f"{path.stem}.plan.json", data, *SOLVED)
    plan = assert_plan_file(out / "infeasible-mandatory.plan.json", json.loads(infeasible.read_text()), "infeasible")
    assert plan.selected == []
    (row,) = [line for line in result.stdout.splitlines() if "infeasible-mandatory" in line]
    assert "infeasible" in row.replace("infeasible-mandatory", "")
    assert "3/3" in result.stderr, result.stderr


# ---------------------------------------------------------------- vmo jobs against `vmo serve`


@dataclass
class Service:
    process: subprocess.Popen
    url: str
    log: Path
    database: Path
    key: str
    """A planner's key of the default tenant, made with `vmo keys create` before `vmo serve` started."""

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def worker_children(pid: int) -> list[int]:
    """The `vmo worker` processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == pid and b"worker" in command:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[Service]:
    """`vmo serve` on a free port with its own SQLite file; it starts one worker process."""
    home = tmp_path_factory.mktemp("service")
    log, database = home / "serve.log", home / "vmo.db"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VMO_")},
        "VMO_DATABASE_PATH": str(database),
        "VMO_POOL_SIZE": "1",
        "VMO_WORKER_PROCESSES": "1",
        "VMO_POLL_S": "0.2",
        "VMO_HEARTBEAT_S": "0.5",
    }
    keys = [sys.executable, "-m", "cli", "keys", "create", "--tenant", "default", "--role", "planner", "--json"]
    made = subprocess.run(keys, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    key = json.loads(made.stdout)["key"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown reaches the worker and solver processes
        )
    handle = Service(process, f"http://127.0.0.1:{port}", log, database, key)
    try:

        def healthy() -> bool:
            assert process.poll() is None, f"vmo serve exited with {process.returncode}:\n{handle.output()}"
            try:
                return httpx.get(f"{handle.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, "vmo serve to answer /healthz")
        yield handle
    finally:
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
        if group_alive(process.pid):  # whatever is left of this test's processes
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def http(service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=60, headers={"Authorization": f"Bearer {service.key}"}) as client:
        yield client


def submit_job(http: httpx.Client, portfolios: list[dict[str, Any]], time_limit_s: float) -> str:
    body = {"kind": "batch", "portfolios": portfolios, "settings": {"time_limit_s": time_limit_s, "workers": 1}}
    response = http.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text[:2000]
    return response.json()["id"]


def long_job(http: httpx.Client, seed: int) -> str:
    """Ten 3-second solves on one solver process: about 30 s, far longer than the tests wait."""
    return submit_job(http, [random_portfolio(seed + i, 120, 4, 6) for i in range(10)], 3)


def running(http: httpx.Client, service: Service, job_id: str) -> dict[str, Any]:
    def started() -> dict[str, Any] | None:
        job = http.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), (job, service.output())
        return job if job["status"] == "running" else None

    return wait_for(started, f"job {job_id} to start running")


def test_jobs_lists_and_follows_a_job_to_success(service, http):
    portfolios = [generated(seed) for seed in (21, 22, 23)]
    job_id = submit_job(http, portfolios, 2)

    listed = invoke("jobs", "--url", service.url, "--key", service.key)
    assert listed.exit_code == 0, (listed.stdout, listed.stderr)
    (row,) = [line for line in listed.stdout.splitlines() if job_id in line]
    assert "batch" in row and "/3" in row

    followed = invoke("jobs", job_id, "--url", service.url, "--key", service.key, "--follow")
    assert followed.exit_code == 0, (followed.stdout, followed.stderr, service.output())
    (row,) = [line for line in followed.stdout.splitlines() if job_id in line]
    assert "succeeded" in row and "3/3" in row
    assert "3/3" in followed.stderr  # the progress bar ended at done / total

    job = http.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["progress"] == {**job["progress"], "done": 3, "total": 3}
    result = http.get(f"/v1/jobs/{job_id}/result").json()
    for portfolio, plan in zip(portfolios, result["plans"], strict=True):
        assert validate(load_portfolio(portfolio), Plan.model_validate(plan)) == []

    only = invoke("jobs", "--url", service.url, "--key", service.key, "--status", "succeeded")
    assert only.exit_code == 0 and job_id in only.stdout
    other = invoke("jobs", "--url", service.url, "--key", service.key, "--status", "canceled")
    assert other.exit_code == 0 and job_id not in other.stdout and "0 job(s)" in other.stdout


def test_jobs_cancel_stops_a_running_job(service, http):
    job_id = long_job(http, 600)
    running(http, service, job_id)

    started = time.monotonic()
    result = invoke("jobs", job_id, "--url", service.url, "--key", service.key, "--cancel", "--follow")
    assert result.exit_code == 1, (result.stdout, result.stderr, service.output())  # following a canceled job
    assert time.monotonic() - started < 30, "the cancel took longer than the rest of the job"
    (row,) = [line for line in result.stdout.splitlines() if job_id in line]
    assert "canceled" in row

    job = http.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "canceled" and job["cancel_requested"]
    assert job["progress"]["done"] == job["progress"]["total"] == 10  # canceled parts count as done
    parts = http.get(f"/v1/jobs/{job_id}/result").json()["parts"]
    assert any(p["status"] == "canceled" for p in parts)
    assert all((p["plan_id"] is not None) == (p["status"] == "succeeded") for p in parts)


def test_jobs_unknown_id_is_a_404_on_one_line(service):
    result = invoke("jobs", "no-such-job", "--url", service.url, "--key", service.key)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert line.startswith("error: GET /v1/jobs/no-such-job: 404 "), line
    assert "job 'no-such-job' not found" in line


def test_jobs_without_a_service_is_one_line():
    result = invoke("jobs", "--url", "http://127.0.0.1:1")
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert line.startswith("error: cannot reach the service at http://127.0.0.1:1"), line


def test_stopping_the_service_stops_its_worker_and_requeues_its_job(service, http):
    """SIGTERM to `vmo serve` (as a service manager sends it) ends the server and its worker: the worker hands
    its running job back to the queue and no process of the service is left behind. (uvicorn re-raises the
    signal after its graceful shutdown, so the exit status is 0 or -SIGTERM.)"""
    (worker,) = wait_for(lambda: worker_children(service.process.pid), "the service's worker process")
    job_id = long_job(http, 700)
    job = running(http, service, job_id)
    name = worker_name(service.log.read_text(errors="replace"), worker)
    assert name and name in job["worker"], "the job is not run by the service's own worker"
    http.close()

    service.process.terminate()
    try:
        code = service.process.wait(40)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vmo serve did not stop within 40 s of SIGTERM:\n{service.output()}")
    assert code in (0, -signal.SIGTERM), service.output()
    assert "Application shutdown complete" in service.output()
    wait_for(lambda: not alive(worker), f"the worker {worker} to exit (an orphan outlived vmo serve)", timeout=20)
    wait_for(lambda: not group_alive(service.process.pid), "the service's solver processes to end", timeout=20)

    with sqlite3.connect(service.database) as connection:
        status, owner, done, total = connection.execute(
            "SELECT status, worker, done, total FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    assert (status, owner) == ("queued", None), "the stopped worker did not hand its job back"
    assert done < total
