"""Workers report that they are alive; labels hold any scenario or portfolio name with a suffix.

* `workers`: one row per worker process (an opaque id), with when it started and when it was last seen;
  /readyz counts the workers seen within a lease.
* `plans.label` and `job_parts.label` become Text: a label is a portfolio or scenario name (at most 200
  characters) and a suffix (" without penalty"), which overflowed String(200) on PostgreSQL.

Self-contained: it touches only these columns and its own table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("seen_at", sa.DateTime, nullable=False),
    )
    for table in ("plans", "job_parts"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("label", type_=sa.Text, existing_type=sa.String(200), existing_nullable=True)


def downgrade() -> None:
    for table in ("plans", "job_parts"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("label", type_=sa.String(200), existing_type=sa.Text, existing_nullable=True)
    op.drop_table("workers")
