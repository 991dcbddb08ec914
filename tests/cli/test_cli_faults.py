"""Issue 13: `vmo serve` and `vmo worker` meet a database they cannot use at start. Before, an uncreatable
database folder printed a 46-line traceback; each fault is now one line naming the path and what to do,
and exit 2, before anything (the server, the worker, the solver pool) starts."""

from __future__ import annotations

import logging
import time

import pytest

from storage.db import Database
from tests.support.cli import error_lines, invoke
from tests.support.files import unwritable
from tests.support.service import free_port

COMMANDS = [["serve", "--port", "9"], ["worker"]]


def rejected(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_uncreatable_database_folder_is_one_line_not_a_traceback(tmp_path, monkeypatch, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VMO_DATABASE_PATH", str(blocker / "data" / "vmo.db"))
    monkeypatch.delenv("VMO_DATABASE_URL", raising=False)
    line = rejected(*command)
    assert str(blocker / "data") in line and "cannot be created" in line and "VMO_DATABASE_PATH" in line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_read_only_database_file_is_one_line_naming_it(tmp_path, monkeypatch, command):
    path = tmp_path / "vmo.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    monkeypatch.setenv("VMO_DATABASE_PATH", str(path))
    monkeypatch.delenv("VMO_DATABASE_URL", raising=False)
    with unwritable(path):
        line = rejected(*command)
    assert str(path) in line and "read-only" in line and "make it writable" in line


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_database_that_never_answers_is_waited_for_then_one_line(monkeypatch, caplog, command):
    """`vmo serve` exited at once when PostgreSQL was down; it now waits VMO_DATABASE_WAIT_S (logged), then
    says so in one line (tests/cli/test_serve_faults.py has a server that comes up while it waits)."""
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing-listens-here"
    monkeypatch.setenv("VMO_DATABASE_URL", url)
    monkeypatch.setenv("VMO_DATABASE_WAIT_S", "2")
    with caplog.at_level(logging.WARNING, logger="vmo.storage"):
        started = time.monotonic()
        line = rejected(*command)
        waited = time.monotonic() - started
    assert "the database did not answer within 2 s" in line
    assert waited >= 2
    assert sum("waiting for the database (up to 2 s)" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unwritable_database_folder_is_one_line_naming_it(tmp_path, monkeypatch, command):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("VMO_DATABASE_PATH", str(folder / "vmo.db"))
    monkeypatch.delenv("VMO_DATABASE_URL", raising=False)
    with unwritable(folder):
        line = rejected(*command)
    assert str(folder) in line and "not writable" in line and "VMO_DATABASE_PATH" in line
