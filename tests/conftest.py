"""Shared test helpers: every plan a test produces goes through the independent validator."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from models import Plan, Portfolio, SolverSettings, load_portfolio
from optimizer import solve, validate
from storage.db import Database

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Apps and workers made without an explicit database use this throwaway SQLite file, never ./vmo.db.
os.environ.setdefault("VMO_DATABASE_PATH", str(Path(tempfile.mkdtemp(prefix="vmo-tests-")) / "vmo.db"))


def solve_valid(portfolio: Portfolio | dict, **settings) -> Plan:
    """Solve (dicts are loaded and checked first) and assert the plan passes the validator."""
    if isinstance(portfolio, dict):
        portfolio = load_portfolio(portfolio)
    settings.setdefault("time_limit_s", 20)
    plan = solve(portfolio, SolverSettings(**settings))
    assert validate(portfolio, plan) == [], "plan failed the independent validator"
    return plan


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


# ---------------------------------------------------------------- databases
#
# Storage tests run on SQLite and on a real PostgreSQL server. Locally the PostgreSQL
# cases skip when no server answers; CI sets VMO_REQUIRE_POSTGRES=1, so there they fail instead.

POSTGRES_URL = os.environ.get("VMO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("VMO_REQUIRE_POSTGRES") == "1"


def _postgres_admin() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards (skips or fails without a server)."""
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


@pytest.fixture(params=["sqlite", "postgresql"])
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
