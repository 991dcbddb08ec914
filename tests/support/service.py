"""`vmo serve` run as a user runs it: a subprocess on a free port, in its own process group, logging to a file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.paths import ROOT
from tests.support.processes import group_alive
from tests.support.waiting import wait_for


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    process: subprocess.Popen
    url: str
    log: Path
    environment: dict[str, str]
    key: str | None = None
    """The key `create_key` made last, sent by `headers`."""

    def create_key(self, role: str = "planner") -> str:
        """A key of the default tenant (a planner's unless said), made with `vmo keys create` in the database
        vmo serve uses (once that database answers)."""
        command = [sys.executable, "-m", "cli", "keys", "create", "--tenant", "default", "--role", role]
        made = subprocess.run(
            [*command, "--json"], cwd=ROOT, env=self.environment, capture_output=True, text=True, timeout=120
        )
        assert made.returncode == 0, made.stdout + made.stderr
        self.key = json.loads(made.stdout)["key"]
        return self.key

    @property
    def headers(self) -> dict[str, str]:
        assert self.key, "no key yet: call create_key"
        return {"Authorization": f"Bearer {self.key}"}

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-8000:] if self.log.exists() else ""

    def healthy(self) -> bool:
        assert self.process.poll() is None, f"vmo serve exited with {self.process.returncode}:\n{self.output()}"
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


@contextmanager
def serving(
    home: Path, env: dict[str, str], wait: bool = True, timeout: float = 120, worker: bool = True
) -> Iterator[Service]:
    """`vmo serve` with these VMO_* settings (the test's own VMO_* variables are dropped), one solver process
    and (with `worker`) one job worker; with `wait`, once it answers /healthz, and with a planner's key made.
    Every process of it is gone afterwards."""
    log, port = home / "serve.log", free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VMO_")},
        "VMO_POOL_SIZE": "1",
        "VMO_PARSER_PROCESSES": "1",
        "VMO_WORKER_PROCESSES": "1",
        "VMO_POLL_S": "0.2",
        "VMO_HEARTBEAT_S": "0.5",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(port), *([] if worker else ["--no-worker"])],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown reaches the worker and solver processes
        )
    service = Service(process, f"http://127.0.0.1:{port}", log, environment)
    try:
        if wait:
            wait_for(service.healthy, "vmo serve to answer /healthz", timeout=timeout, every=0.2)
            service.create_key()
        yield service
    finally:
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
        if group_alive(process.pid):  # whatever is left of this test's processes
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
