"""API keys for tests: most API tests call the service as a real client would, with a key.

`keyed(client)` gives a TestClient a new key (admin of the default tenant unless asked otherwise) on every
request; `new_key(app, tenant, role)` makes another, e.g. a second tenant's for the isolation tests.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth import create_key
from models.auth import DEFAULT_TENANT, Role


def new_key(app: FastAPI, tenant: str = DEFAULT_TENANT, role: Role = Role.ADMIN) -> str:
    """A new API key in the app's database (migrated first, so it works before the app has started)."""
    db = app.state.db
    db.migrate()
    _, key = create_key(db, app.state.auth.hasher, tenant, role, "test")
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def keyed(client: TestClient, tenant: str = DEFAULT_TENANT, role: Role = Role.ADMIN) -> TestClient:
    """The client, sending a new key of `tenant` with `role` on every request."""
    client.headers.update(bearer(new_key(client.app, tenant, role)))  # type: ignore[arg-type]
    return client
