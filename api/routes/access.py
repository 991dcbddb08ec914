"""Who may do what: a tenant's API keys (/v1/keys) and its audit log (/v1/audit), for its admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import Admin, create_key
from api.deps import Store
from api.errors import responses
from api.routes.portfolios import Limit, Offset
from models.auth import AuditEvent, AuditList, KeyCreate, KeyCreated, KeyInfo, KeyList
from storage import repo
from storage.tables import ApiKeyRow, AuditRow

router = APIRouter(prefix="/v1", tags=["access"], responses=responses(401, 403))


@router.post(
    "/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    summary="Create an API key of the caller's tenant",
    responses=responses(400, 413, 422, 503),
)
async def create(body: KeyCreate, caller: Admin, db: Store, request: Request, response: Response) -> KeyCreated:
    """The key is in this answer and never again (only its keyed hash is stored). Audited."""
    hasher = request.app.state.auth.hasher
    row, key = await run_in_threadpool(create_key, db, hasher, caller.tenant, body.role, caller.actor, body.name)
    response.headers["Cache-Control"] = "no-store"
    return KeyCreated(**key_info(row).model_dump(), key=key)


@router.get("/keys", response_model=KeyList, summary="The tenant's API keys", responses=responses(422, 503))
def list_keys(caller: Admin, db: Store, limit: Limit = 100, offset: Offset = 0) -> KeyList:
    """Newest first, revoked ones too; never the keys themselves."""
    with db.reading() as session:
        return KeyList(keys=[key_info(row) for row in repo.list_keys(session, caller.tenant, limit, offset)])


@router.delete("/keys/{key_id}", response_model=KeyInfo, summary="Revoke an API key", responses=responses(404, 503))
def revoke(key_id: str, caller: Admin, db: Store) -> KeyInfo:
    """The key stops working at once (its next request is a 401). Revoking twice changes nothing. Audited."""
    with db.session() as session:
        row = repo.revoke_key(session, caller.tenant, key_id)
        repo.audit(session, caller.tenant, caller.actor, "key.revoke", key_id)
        return key_info(row)


@router.get("/audit", response_model=AuditList, summary="The tenant's audit log", responses=responses(422, 503))
def audit(
    caller: Admin,
    db: Store,
    action: Annotated[str | None, Query(max_length=64, description="Only this action, e.g. key.create.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AuditList:
    """Who did what, when, newest first: key.create, key.revoke, portfolio.create, portfolio.version,
    portfolio.delete, job.submit, job.cancel, job.delete. Append-only: the database refuses to change an event."""
    with db.reading() as session:
        return AuditList(events=[event(row) for row in repo.list_audit(session, caller.tenant, action, limit, offset)])


def key_info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        tenant=row.tenant_id,
        role=row.role,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def event(row: AuditRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        tenant=row.tenant_id,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=row.details,
    )
