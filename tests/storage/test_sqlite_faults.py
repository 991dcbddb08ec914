"""Issue 13: SQLite faults were reported badly: a read-only file gave 503 "retry later" forever, a file deleted
while the service ran kept answering 201 and lost everything at the next start, an uncreatable folder printed
a traceback. Each fault is now named with the path and what to do, and no write reaches a broken file."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import load_portfolio
from models.auth import DEFAULT_TENANT
from storage import repo
from storage.db import Database, StorageFault, sqlite_fault
from storage.tables import PortfolioRow
from tests.support.builders import mmp
from tests.support.builders import portfolio as portfolio_data
from tests.support.databases import migrated
from tests.support.files import unwritable


def build_portfolio():
    return load_portfolio(portfolio_data(mmp("a", 10, cost=5)))


@pytest.fixture
def sqlite_file(tmp_path):
    path = tmp_path / "data" / "vmo.db"
    with migrated(f"sqlite:///{path}") as db:
        yield db, path


def test_a_healthy_file_has_no_fault(sqlite_file):
    db, path = sqlite_file
    assert sqlite_fault(path) is None and db.fault() is None
    db.ping()


def test_a_file_deleted_while_running_is_named_and_refuses_writes(sqlite_file):
    db, path = sqlite_file
    path.unlink()
    fault = db.fault()
    assert fault is not None and str(path) in fault and "missing" in fault and "restore it" in fault
    with pytest.raises(StorageFault, match="missing"):
        db.ping()
    with pytest.raises(StorageFault, match="missing"), db.session() as session:
        repo.add_portfolio(session, DEFAULT_TENANT, build_portfolio())
    assert not path.exists(), "nothing was written to a file nobody will read"


def test_a_read_only_file_is_named_with_its_fix(sqlite_file):
    db, path = sqlite_file
    with unwritable(path):
        fault = db.fault()
        assert fault is not None and str(path) in fault and "read-only" in fault and "writable" in fault
        with pytest.raises(StorageFault, match="read-only"), db.session() as session:
            repo.add_portfolio(session, DEFAULT_TENANT, build_portfolio())
        with pytest.raises(StorageFault, match="read-only"):  # at start: refused before any migration
            Database(f"sqlite:///{path}")
    with db.session() as session:  # writable again: the same engine writes, no restart needed
        repo.add_portfolio(session, DEFAULT_TENANT, build_portfolio())
    with db.reading() as session:
        assert len(session.scalars(select(PortfolioRow)).all()) == 1


def test_an_unwritable_folder_is_named_with_its_fix(sqlite_file):
    db, path = sqlite_file
    with unwritable(path.parent):
        fault = db.fault()
        assert fault is not None and str(path.parent) in fault and "not writable" in fault and "journal" in fault
        with pytest.raises(StorageFault, match="not writable"):
            db.ping()


def test_a_missing_folder_is_named(tmp_path):
    path = tmp_path / "gone" / "vmo.db"
    fault = sqlite_fault(path)
    assert fault is not None and str(path.parent) in fault and "does not exist" in fault


def test_an_uncreatable_folder_is_a_fault_with_its_fix_not_a_traceback(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageFault) as caught:
        Database(f"sqlite:///{blocker / 'sub' / 'vmo.db'}")
    message = str(caught.value)
    assert str(blocker / "sub") in message and "cannot be created" in message and "VMO_DATABASE_PATH" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_new_file_in_an_unwritable_folder_is_blamed_on_the_folder(tmp_path):
    """Not "missing (deleted while the service ran?) ... restart the service": a restart cannot help."""
    folder = tmp_path / "data"
    folder.mkdir()
    with unwritable(folder):
        fault = sqlite_fault(folder / "vmo.db")
    assert fault is not None and str(folder) in fault and "not writable" in fault and "missing" not in fault
