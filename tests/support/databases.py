"""Databases for storage tests: SQLite files and fresh PostgreSQL databases.

Storage tests run on SQLite and on a real PostgreSQL server. Locally the PostgreSQL
cases skip when no server answers; CI sets VMO_REQUIRE_POSTGRES=1, so there they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, create_engine, insert, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.db import Database

POSTGRES_URL = os.environ.get("VMO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("VMO_REQUIRE_POSTGRES") == "1"


def _postgres_admin() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


def postgres_admin() -> Engine:
    """An engine on the test server's maintenance database (skips or fails without a server)."""
    admin = _postgres_admin()
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        message = f"no PostgreSQL server at {POSTGRES_URL}: {str(exc).splitlines()[0]}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    return admin


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards (skips or fails without a server)."""
    admin = postgres_admin()
    name = f"vmo_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated(url: str) -> Iterator[Database]:
    db = Database(url)
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


def insert_old_rows(session: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows written as an older schema has them (the table as the database has it now, reflected): how the
    migration tests store data from before a revision without the current ORM classes."""
    reflected = Table(table, MetaData(), autoload_with=session.connection())
    session.execute(insert(reflected), rows)
