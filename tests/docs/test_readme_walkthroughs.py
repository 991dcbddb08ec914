"""The README's curl walk-throughs, run as written against a real `vmo serve` with an API key (issues 11 and 14:
"run as written", "work with a key"); only the port is this test's own. Where the README shows what a
walk-through prints, the output starts with exactly that."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import README, ROOT
from tests.support.service import serving

pytestmark = pytest.mark.slow  # a real server and worker, and the solves the walk-throughs ask for

BLOCK = re.compile(r"```bash\n(.*?)```(?:\n\nIt prints:\n\n```text\n(.*?)```)?", re.S)


def walkthroughs() -> list[tuple[str, str | None]]:
    """Every bash block of the README that calls the service with curl, with the output the README shows."""
    return [(code, shown) for code, shown in BLOCK.findall(README.read_text()) if "curl " in code]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    home = tmp_path_factory.mktemp("readme")
    with serving(home, {"VMO_DATABASE_PATH": str(home / "vmo.db"), "VMO_POOL_SIZE": "2"}) as running:
        running.create_key(role="admin")  # committing a plan of record is an admin's call
        yield running


def test_there_are_walkthroughs_to_run():
    assert len(walkthroughs()) >= 3  # the API's, the jobs' and the quarterly cycle's


@pytest.mark.parametrize(("code", "shown"), walkthroughs(), ids=["api", "jobs", "cycle"])
def test_a_walkthrough_runs_as_written_with_a_key(service, code: str, shown: str | None):
    host_port = service.url.removeprefix("http://")
    script = code.replace("localhost:8000", host_port).replace(
        ".venv/bin/vmo", str(Path(sys.executable).parent / "vmo")
    )
    # As the README's shell has them: the key and its header (made in "HTTP API"), and, for `vmo jobs`,
    # the service's URL (its default is the README's port).
    key = service.key or ""
    env = {**os.environ, "VMO_API_KEY": key, "A": f"Authorization: Bearer {key}", "VMO_URL": service.url}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '"error"' not in done.stdout and "null" not in done.stdout.split(), done.stdout[-3000:]
    if shown is not None:
        assert done.stdout.startswith(shown), done.stdout[: len(shown) + 500]
