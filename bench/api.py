"""API overhead: the same solve called directly and through HTTP (a real uvicorn server on
127.0.0.1), alternated in one run so machine noise hits both alike; overhead = difference of medians."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from models import SolverSettings, load_portfolio
from optimizer import solve

ROOT = Path(__file__).resolve().parent.parent
SMALLEST = "wsjf-backlog.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base: str, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")


def run(repeats: int) -> dict:
    data = json.loads((ROOT / "fixtures" / SMALLEST).read_text())
    portfolio = load_portfolio(data)
    settings = SolverSettings(workers=1, time_limit_s=10)
    port = _free_port()
    database = Path(tempfile.mkdtemp(prefix="vmo-bench-")) / "vmo.db"  # the app migrates its database at start
    env = {**os.environ, "VMO_POOL_SIZE": "1", "VMO_SOLVER_WORKERS": "1", "VMO_DATABASE_PATH": str(database)}
    # Measured as a client calls: with an API key (its check is part of the overhead).
    keys = [sys.executable, "-m", "cli", "keys", "create", "--tenant", "bench", "--role", "planner", "--json"]
    made = subprocess.run(keys, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    headers = {"Authorization": f"Bearer {json.loads(made.stdout)['key']}"}
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--log-level", "warning"]
    server = subprocess.Popen([*cmd, "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    direct, http = [], []
    try:
        _wait_ready(base)
        body = {"portfolio": data, "settings": {"workers": 1, "time_limit_s": 10}}
        with httpx.Client(timeout=60, headers=headers) as client:
            client.post(f"{base}/v1/solve", json=body).raise_for_status()  # warm the worker
            for _ in range(repeats):
                started = time.perf_counter()
                solve(portfolio, settings)
                direct.append(time.perf_counter() - started)
                started = time.perf_counter()
                client.post(f"{base}/v1/solve", json=body).raise_for_status()
                http.append(time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "fixture": SMALLEST,
        "repeats": repeats,
        "direct_median_ms": 1000 * statistics.median(direct),
        "http_median_ms": 1000 * statistics.median(http),
        "overhead_ms": 1000 * (statistics.median(http) - statistics.median(direct)),
    }
