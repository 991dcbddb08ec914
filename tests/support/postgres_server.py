"""A private PostgreSQL server for fault tests that stop and restart it (never the shared one on 5432).

Debian's binaries (/usr/lib/postgresql/<version>/bin) run a throwaway cluster on a free port in a temporary
folder, with trust authentication on 127.0.0.1. PostgreSQL refuses to run as root, so as root the cluster
belongs to the `postgres` user. Without the binaries the test skips, or fails where VMO_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.support.databases import REQUIRE_POSTGRES
from tests.support.service import free_port


def _binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PrivateServer:
    def __init__(self, binaries: Path, home: Path, user: str | None):
        self.binaries, self.home, self.user = binaries, home, user
        self.data, self.log = home / "data", home / "server.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.binaries / program), *args]
        done = subprocess.run(command, user=self.user, capture_output=True, text=True, timeout=120, cwd=self.home)
        if done.returncode != 0:
            raise AssertionError(f"{program} failed ({done.returncode}): {done.stdout}{done.stderr}{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: clients are disconnected (a restart as an operator does it); `immediate`: a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def private_postgres(started: bool = True) -> Iterator[PrivateServer]:
    binaries = _binaries()
    if binaries is None:
        message = "no PostgreSQL binaries under /usr/lib/postgresql/*/bin for a private server"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    home = Path(tempfile.mkdtemp(prefix="vmo-pg-"))
    user = None
    if os.geteuid() == 0:  # initdb and postgres refuse root
        user = "postgres"
        account = pwd.getpwnam(user)
        os.chown(home, account.pw_uid, account.pw_gid)
    server = PrivateServer(binaries, home, user)
    try:
        server.init()
        if started:
            server.start()
        yield server
    finally:
        if server.running():
            with suppress(AssertionError):
                server.stop("immediate")
        shutil.rmtree(home, ignore_errors=True)
