"""`vmo keys create|list|revoke`: keys made in the database the server reads (VMO_DATABASE_PATH or
VMO_DATABASE_URL, and VMO_KEY_SECRET), shown once, never listed, revoked at once; the database URL's password
never reaches a log or a message."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from storage.db import Database, StorageFault
from tests.support.cli import assert_rejected, invoke


@pytest.fixture
def database(tmp_path, monkeypatch) -> str:
    path = tmp_path / "vmo.db"
    monkeypatch.setenv("VMO_DATABASE_PATH", str(path))
    monkeypatch.delenv("VMO_DATABASE_URL", raising=False)
    monkeypatch.delenv("VMO_KEY_SECRET", raising=False)
    return f"sqlite:///{path}"


def api(url: str) -> TestClient:
    return TestClient(create_app(ApiSettings(pool_size=1), Database(url)), raise_server_exceptions=False)


@pytest.mark.slow
def test_create_prints_the_key_once_and_the_server_accepts_it(database):
    made = invoke("keys", "create", "--tenant", "acme", "--role", "planner", "--json")
    assert made.exit_code == 0, made.stderr
    created = json.loads(made.stdout)
    assert set(created) == {"id", "key", "tenant", "role"}
    assert (created["tenant"], created["role"]) == ("acme", "planner") and created["key"].startswith("vmo_")
    client = api(database)
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.post("/v1/portfolios", json=_portfolio(), headers=headers).status_code == 201
    assert client.get("/v1/keys", headers=headers).status_code == 403  # a planner
    listed = invoke("keys", "list", "--json")
    assert listed.exit_code == 0
    (row,) = json.loads(listed.stdout)
    assert row["id"] == created["id"] and row["revoked_at"] is None
    assert created["key"] not in listed.stdout
    table = invoke("keys", "list")
    assert created["id"] in table.stdout and created["key"] not in table.stdout
    revoked = invoke("keys", "revoke", created["id"])
    assert revoked.exit_code == 0 and f"revoked key {created['id']}" in revoked.stdout
    assert client.get("/v1/portfolios", headers=headers).status_code == 401
    assert json.loads(invoke("keys", "list", "--json").stdout)[0]["revoked_at"] is not None


def test_the_plain_output_says_the_key_is_shown_once(database):
    made = invoke("keys", "create", "--tenant", "default", "--role", "admin", "--name", "first admin")
    assert made.exit_code == 0
    lines = made.stdout.splitlines()
    assert lines[0].startswith("key ") and "tenant default, role admin" in lines[0]
    assert lines[1].startswith("vmo_")
    assert "only time the key is shown" in made.stderr


def test_keys_are_hashed_with_the_configured_secret(database, monkeypatch):
    """VMO_KEY_SECRET set: the server must have the same secret; changing it invalidates every key."""
    monkeypatch.setenv("VMO_KEY_SECRET", "s" * 40)
    key = json.loads(invoke("keys", "create", "--tenant", "t", "--role", "viewer", "--json").stdout)["key"]
    headers = {"X-API-Key": key}
    assert api(database).get("/v1/portfolios", headers=headers).status_code == 200
    monkeypatch.setenv("VMO_KEY_SECRET", "another secret entirely")
    assert api(database).get("/v1/portfolios", headers=headers).status_code == 401


def test_create_and_revoke_refuse_bad_input(database):
    assert_rejected(invoke("keys", "create", "--tenant", "../x", "--role", "admin"), "--tenant '../x'")
    assert invoke("keys", "create", "--tenant", "t", "--role", "root").exit_code == 2
    assert_rejected(invoke("keys", "revoke", "nope"), "no key 'nope'")


def test_the_database_password_is_never_said(caplog):
    url = "postgresql+psycopg://vmo:hunter2-secret@127.0.0.1:1/vmo"
    db = Database(url)
    with caplog.at_level(logging.DEBUG), pytest.raises(StorageFault) as failed:
        db.migrate_when_reachable(0, logging.getLogger("vmo.storage"))
    assert "hunter2" not in str(failed.value) and "hunter2" not in caplog.text
    assert "hunter2" not in db.engine.url.render_as_string()  # what `vmo worker` logs at start
    assert "hunter2" not in repr(db.engine)


def _portfolio() -> dict:
    return {
        "name": "p",
        "quarters": ["q1"],
        "budget": 100,
        "value_streams": [{"id": "s"}],
        "mmps": [{"id": "a", "value_stream": "s", "value": 10, "cost": [5]}],
    }
