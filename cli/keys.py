"""`vmo keys create|list|revoke`: API keys, straight in the database the server uses (VMO_DATABASE_URL or
VMO_DATABASE_PATH, and VMO_KEY_SECRET): how the first key of a new service is made."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.common import err, fail, width
from models.auth import Role

keys = typer.Typer(help="Create, list and revoke API keys (in the server's database).", no_args_is_help=True)

ACTOR = "cli"  # how the audit log names `vmo keys` (an operator with access to the database)


def _open():
    """The migrated database and the key hasher, from the same settings the server reads."""
    from api.auth import hasher_for
    from api.settings import ApiSettings
    from cli.jobs import open_database
    from jobs.settings import JobSettings

    db = open_database(JobSettings())
    return db, hasher_for(db, ApiSettings())


@keys.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to (created when new).")],
    role: Annotated[Role, typer.Option(help="viewer (read), planner (solve, store, jobs) or admin (keys, delete).")],
    name: Annotated[str | None, typer.Option(help="A label for people: who or what uses the key.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"id", "key", "tenant", "role"} only.')] = False,
) -> None:
    """Create an API key and print it: it is shown this once (only its keyed hash is stored)."""
    from api.auth import TENANT_PATTERN, create_key

    if not TENANT_PATTERN.match(tenant):
        fail([f"--tenant {tenant!r}: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64"])
    if name is not None and len(name) > 200:
        fail(["--name: at most 200 characters"])
    db, hasher = _open()
    try:
        row, key = create_key(db, hasher, tenant, role, ACTOR, name)
    finally:
        db.dispose()
    if as_json:
        sys.stdout.write(json.dumps({"id": row.id, "key": key, "tenant": row.tenant_id, "role": row.role}) + "\n")
        return
    typer.echo(f"key {row.id} for tenant {row.tenant_id}, role {row.role}:")
    typer.echo(key)
    err.print("This is the only time the key is shown: store it now. Send it as 'Authorization: Bearer <key>'.")


@keys.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """List API keys (never the keys themselves): id, tenant, role, name, created, revoked."""
    from api.routes.access import key_info
    from storage import repo

    db, _ = _open()
    try:
        with db.reading() as session:
            rows = [key_info(row) for row in repo.list_keys(session, tenant, limit=10_000)]
    finally:
        db.dispose()
    if as_json:
        sys.stdout.write(json.dumps([row.model_dump(mode="json") for row in rows], indent=2) + "\n")
        return
    table = Table(title=f"{len(rows)} key(s)")
    for column in ("id", "tenant", "role", "name", "created", "revoked"):
        table.add_column(column)
    for row in rows:
        revoked = row.revoked_at.isoformat()[:19] if row.revoked_at else ""
        table.add_row(row.id, row.tenant, row.role, row.name or "", row.created_at.isoformat()[:19], revoked)
    Console(highlight=False, emoji=False, width=width()).print(table)


@keys.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `vmo keys list`).")]) -> None:
    """Revoke an API key: its next request is a 401."""
    from storage import repo

    db, _ = _open()
    try:
        with db.session() as session:
            row = repo.revoke_key(session, None, key_id)
            repo.audit(session, row.tenant_id, ACTOR, "key.revoke", key_id)
    except repo.NotFound:
        fail([f"no key {key_id!r}"])
    finally:
        db.dispose()
    typer.echo(f"revoked key {key_id} (tenant {row.tenant_id}, role {row.role})")
