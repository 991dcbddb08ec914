"""Fixtures shared by every layer's tests; helpers live in `tests.support`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from optimizer import stopping
from storage.db import Database
from tests.support.databases import fresh_postgres, migrated
from tests.support.durations import file_seconds
from tests.support.paths import FIXTURES

# Apps and workers made without an explicit database use this throwaway SQLite file, never ./vmo.db.
os.environ.setdefault("VMO_DATABASE_PATH", str(Path(tempfile.mkdtemp(prefix="vmo-tests-")) / "vmo.db"))


WHOLLY_SLOW = "\npytestmark = pytest.mark.slow"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The inner loop (`-m "not slow"`) does not even import a module marked slow as a whole: some build an
    app, a database and a schema at import (the fuzz runs), which every xdist worker would pay for nothing."""
    if config.option.markexpr.strip() != "not slow" or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    return True if WHOLLY_SLOW in collection_path.read_text(encoding="utf-8") else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files that took longest go first (tests/support/durations.py), so the two workers end together; a
    file keeps its tests' order, and files never measured go last."""
    seconds = file_seconds()
    items.sort(key=lambda item: -seconds.get(Path(item.path).relative_to(config.rootpath).as_posix(), 0.0))


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database(request, tmp_path) -> Iterator[Database]:
    """A migrated, empty database: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        with migrated(f"sqlite:///{tmp_path / 'vmo.db'}") as db:
            yield db
    else:
        with fresh_postgres() as url, migrated(url) as db:
            yield db


@pytest.fixture
def sqlite_database(tmp_path) -> Iterator[Database]:
    with migrated(f"sqlite:///{tmp_path / 'vmo.db'}") as db:
        yield db


@pytest.fixture(autouse=True)
def no_stop_left_over() -> Iterator[None]:
    """A stop requested in this process (an in-process executor stopping a job's solve) is forgotten between
    tests, as a new task forgets it (runtime.tasks.run_task): a test that solves directly starts clean."""
    stopping.clear()
    yield
    stopping.clear()
