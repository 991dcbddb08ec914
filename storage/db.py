"""Engines, sessions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
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


class Database:
    """One engine and its session factory. `migrate()` brings the schema to the newest revision."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        reading = self.engine.execution_options(**{READ_ONLY: True})
        self._read_sessions = sessionmaker(reading, expire_on_commit=False)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on an error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads: on SQLite it does not wait for (or hold up) a writer."""
        with self._read_sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if self.is_postgresql:  # two processes starting at once must not both create the tables
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
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
