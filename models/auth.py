"""Who may do what: roles, tenants, API keys and audit events as the API shows them (docs/design.md, section 9).

Roles are ordered: a planner may do everything a viewer may, an admin everything a planner may.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from models.times import Timestamp

DEFAULT_TENANT = "default"
"""The tenant of everything stored before tenants existed, and of every caller when VMO_AUTH=off."""


class Role(StrEnum):
    """What a caller may do."""

    VIEWER = "viewer"  # read
    PLANNER = "planner"  # solve, what-if, frontier, store portfolios and plans, submit and cancel jobs
    ADMIN = "admin"  # keys, delete, the audit log (and, with plans of record, commit one)

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class _Out(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


class KeyCreate(BaseModel):
    """A new API key of the caller's tenant."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    role: Role
    """What the key may do: viewer, planner or admin."""
    name: Annotated[str, Field(max_length=200)] | None = None
    """A label for people (who or what uses the key)."""


class KeyInfo(_Out):
    """An API key as listed: never the key itself, which is shown once, when it is created."""

    id: str
    """The key's id (for `DELETE /v1/keys/{id}` and `vmo keys revoke`), not the key."""
    tenant: str
    """The tenant whose records the key sees."""
    role: Role
    """What the key may do: viewer, planner or admin."""
    name: str | None = None
    """The label given when it was created."""
    created_at: Timestamp
    """When it was created (UTC)."""
    revoked_at: Timestamp | None = None
    """When it was revoked (UTC); null while it works."""


class KeyCreated(KeyInfo):
    """The new key: `key` is shown this once (only its keyed hash is stored)."""

    key: str
    """Send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`."""


class KeyList(_Out):
    """A page of the tenant's keys, newest first."""

    keys: list[KeyInfo]
    """The keys (never the keys themselves)."""


class AuditEvent(_Out):
    """One audited action: who, when, what. The audit log is append-only."""

    id: int
    """Increasing: a later event has a larger id."""
    at: Timestamp
    """When (UTC)."""
    tenant: str
    """The tenant it happened in."""
    actor: str
    """`key:<id>` for an API key, `oidc:<subject>` for an OpenID Connect token, `cli` for `vmo keys`,
    `anonymous` when VMO_AUTH=off."""
    action: str
    """What was done, e.g. `portfolio.delete`, `key.create`, `job.cancel`."""
    target: str
    """The id of what it was done to."""
    details: dict[str, Any] | None = None
    """What else there is to say (the role of a new key, the version stored, a job's kind and parts)."""


class AuditList(_Out):
    """A page of the tenant's audit log, newest first."""

    events: list[AuditEvent]
    """The events."""
