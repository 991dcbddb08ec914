"""Engines, sessions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_PATH = "vmo.db"
SQLITE_BUSY_TIMEOUT_S = 30
READ_ONLY = "vmo_read_only"  # execution option of reading sessions
_MIGRATION_LOCK = 7_311_001  # PostgreSQL advisory lock key: one migrator at a time


def database_url(url: str | None = None, path: str | Path | None = None) -> str:
    """The URL to use: `url` when given (postgresql://... picks the psycopg driver), else a SQLite file at `path`."""
    if url:
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
    return f"sqlite:///{Path(path or DEFAULT_PATH)}"


class StorageFault(RuntimeError):
    """The database cannot be used as configured; the message names the file and what to do."""


class Database:
    """One engine and its session factory. `migrate()` brings the schema to the newest revision."""

    def __init__(self, url: str):
        self.url = url
        self.path = _sqlite_path(url)
        self.engine = _engine(url, self.path)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        reading = self.engine.execution_options(**{READ_ONLY: True})
        self._read_sessions = sessionmaker(reading, expire_on_commit=False)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on an error. On SQLite a
        file that was deleted or made read-only is refused first: SQLite would keep writing to a deleted
        file (lost at the next start) or answer a bare "readonly database"."""
        fault = self.fault()
        if fault is not None:
            raise StorageFault(fault)
        with self._sessions() as session, session.begin():
            yield session

    def fault(self) -> str | None:
        """What is wrong with an SQLite file, in words with its path and the fix (None: nothing, or PostgreSQL)."""
        if self.path is None:
            return None
        return sqlite_fault(self.path)

    def ping(self) -> None:
        """Raise when the database cannot be reached (a StorageFault for a broken SQLite file)."""
        fault = self.fault()
        if fault is not None:
            raise StorageFault(fault)
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads: on SQLite it does not wait for (or hold up) a writer."""
        with self._read_sessions() as session, session.begin():
            yield session

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision` (the newest by default)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as connection:
            # SQLite changes a table by copying it, dropping the old one and renaming the copy, which foreign
            # keys would refuse while other tables' rows point at it: they are off while migrating (the pragma
            # works only outside a transaction) and every reference is checked before the migration commits.
            sqlite = None if self.is_postgresql else connection.connection.driver_connection
            if sqlite is not None:
                sqlite.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    if self.is_postgresql:  # two processes starting at once must not both create the tables
                        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
                    if sqlite is not None:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StorageFault(f"the migration left {len(broken)} broken reference(s): {broken[:3]}")
            finally:
                if sqlite is not None:
                    sqlite.execute("PRAGMA foreign_keys=ON")

    def migrate_when_reachable(self, wait_s: float, log: logging.Logger) -> None:
        """Migrate, waiting up to `wait_s` for a database that does not answer yet (PostgreSQL starting with
        the service); logged when the wait starts and every 10 s. A broken SQLite file is not waited for."""
        deadline = time.monotonic() + wait_s
        next_note = 0.0
        while True:
            try:
                self.migrate()
                return
            except OperationalError as exc:
                fault = self.fault()
                if fault is not None:
                    raise StorageFault(fault) from None
                if time.monotonic() >= deadline:
                    raise StorageFault(f"the database did not answer within {wait_s:g} s: {_first_line(exc)}") from None
                if time.monotonic() >= next_note:
                    log.warning("waiting for the database (up to %g s): %s", wait_s, _first_line(exc))
                    next_note = time.monotonic() + 10
                time.sleep(1)

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///"))
    return None


def sqlite_fault(path: Path) -> str | None:
    """A missing, read-only or unwritable SQLite file (or folder), named with the path and what to do."""
    folder = path.parent
    if not folder.is_dir():
        return f"the database folder {folder} does not exist: create it or set VMO_DATABASE_PATH to a file elsewhere"
    if not os.access(folder, os.W_OK | os.X_OK):  # first: a new file could not be created there either
        return (
            f"the database folder {folder} is not writable (SQLite keeps its journal beside the file): make it "
            "writable for this user, or set VMO_DATABASE_PATH"
        )
    if not path.exists():
        return (
            f"the database file {path} is missing (deleted while the service ran?): restore it from a backup, or "
            "restart the service to start an empty database"
        )
    if not os.access(path, os.W_OK):
        return f"the database file {path} is read-only: make it writable for this user, or set VMO_DATABASE_PATH"
    return None


def _engine(url: str, path: Path | None) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageFault(
                f"the database folder {path.parent} cannot be created ({exc.strerror}): create it, or set "
                "VMO_DATABASE_PATH to a file in a writable folder"
            ) from None
        if path.exists() and sqlite_fault(path):
            raise StorageFault(sqlite_fault(path))
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # WAL lets the web process read while a worker writes; foreign keys are off by default in SQLite.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        dbapi_connection.isolation_level = None  # transactions are begun explicitly (below)

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # BEGIN IMMEDIATE takes SQLite's write lock at the start: one writer (and one job claimer) at a time,
        # and no deadlock between two transactions that both read and then write. Readers read a snapshot.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
