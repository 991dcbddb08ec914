"""Tenants, API keys, the audit log and the server's own secrets; every portfolio, version, plan and job
belongs to a tenant.

* `tenants`: one row per organization; the tenant `default` is created here and everything stored before
  this revision moves to it.
* `api_keys`: the keyed hash of each key (never the key), its tenant, role, label, and when it was revoked.
* `audit_events`: who did what, when; append-only: the database itself refuses UPDATE and DELETE on it
  (a trigger on PostgreSQL and on SQLite).
* `server_secrets`: the API-key hashing secret the server generates when VMO_KEY_SECRET is not set.
* `tenant_id` on `portfolios`, `portfolio_versions`, `plans` and `jobs` (not null, indexed, a foreign key).

Self-contained: it touches only these columns and its own tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")
DEFAULT_TENANT = "default"  # models.auth.DEFAULT_TENANT, copied: a migration never changes with the code
SCOPED = ("portfolios", "portfolio_versions", "plans", "jobs")
APPEND_ONLY = "the audit log is append-only"


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.execute(f"INSERT INTO tenants (id, created_at) VALUES ('{DEFAULT_TENANT}', CURRENT_TIMESTAMP)")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("details", Document),
    )
    op.create_index("ix_audit_events_tenant_id", "audit_events", ["tenant_id"])
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    for table in SCOPED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("tenant_id", sa.String(64), nullable=False, server_default=sa.text(f"'{DEFAULT_TENANT}'"))
            )
        with op.batch_alter_table(table) as batch:  # existing rows moved; new rows must name their tenant
            batch.alter_column("tenant_id", server_default=None, existing_type=sa.String(64), existing_nullable=False)
            batch.create_foreign_key(f"fk_{table}_tenant_id", "tenants", ["tenant_id"], ["id"])
            batch.create_index(f"ix_{table}_tenant_id", ["tenant_id"])
    _append_only()


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION vmo_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION vmo_audit_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    for table in reversed(SCOPED):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_tenant_id")
            batch.drop_constraint(f"fk_{table}_tenant_id", type_="foreignkey")
            batch.drop_column("tenant_id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION vmo_audit_append_only()")
    op.drop_table("server_secrets")
    op.drop_index("ix_audit_events_tenant_id", "audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_api_keys_tenant_id", "api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
