"""Issue 13, must show, on PostgreSQL: the fuzz run of tests/api/test_fuzz.py (same settings, same
schemathesis.toml) against the app storing in PostgreSQL, which refuses what SQLite takes (a NUL in text, an
integer past 32 bits): a NUL in a path id and `?version=2147483648` were 500s there and not on SQLite.

The app is made at import (schemathesis reads its OpenAPI document then) on a database that the module's
fixture creates before the first request and drops after the last: nothing connects before that."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.app import create_app
from models.auth import Role
from storage.db import Database
from tests.support.auth import bearer, new_key
from tests.support.databases import POSTGRES_URL, postgres_admin
from tests.support.fuzz import fuzz_settings

pytestmark = pytest.mark.slow

EXAMPLES = 1  # per operation: the PostgreSQL-only refusals (NUL, 32-bit versions) have tests of their own

NAME = f"vmo_fuzz_{uuid.uuid4().hex[:12]}"
_db = Database(make_url(POSTGRES_URL).set(database=NAME).render_as_string(hide_password=False))
APP = create_app(fuzz_settings(), _db)
# The document as /openapi.json serves it, read without starting the app (that needs the database).
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(APP.openapi())))
schema.app, schema.location = APP, "/openapi.json"


KEYS: dict[str, str] = {}  # an admin key, made once the database exists


@pytest.fixture(scope="module", autouse=True)
def running_app() -> Iterator[None]:
    admin = postgres_admin()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{NAME}"'))
    try:
        KEYS["admin"] = new_key(APP, role=Role.ADMIN)
        with TestClient(APP):  # the lifespan: migrations, the parser and solver processes
            yield
    finally:
        _db.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
        admin.dispose()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_answer_in_the_schema_on_postgresql(case):
    case.call_and_validate(headers=bearer(KEYS["admin"]))
