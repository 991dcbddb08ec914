"""Portfolios with versions, jobs with parts, plans with lineage.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "portfolios",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "portfolio_versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("portfolio_id", sa.String(32), sa.ForeignKey("portfolios.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", Document, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("portfolio_id", "version"),
    )
    op.create_index("ix_portfolio_versions_portfolio_id", "portfolio_versions", ["portfolio_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("request", Document, nullable=False),
        sa.Column("settings", Document, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("best_value", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(200)),
        sa.Column("heartbeat_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_table(
        "plans",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("portfolio_id", sa.String(32), sa.ForeignKey("portfolios.id"), nullable=False),
        sa.Column("version_id", sa.String(32), sa.ForeignKey("portfolio_versions.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.String(32), sa.ForeignKey("plans.id")),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id")),
        sa.Column("part_index", sa.Integer),
        sa.Column("label", sa.String(200)),
        sa.Column("variant", Document),
        sa.Column("settings", Document, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("objective", sa.String(64)),
        sa.Column("document", Document, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("job_id", "part_index"),
    )
    op.create_index("ix_plans_portfolio_id", "plans", ["portfolio_id"])
    op.create_index("ix_plans_created_at", "plans", ["created_at"])
    op.create_table(
        "job_parts",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("index", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(200)),
        sa.Column("spec", Document, nullable=False),
        sa.Column("after", sa.Integer),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("plan_id", sa.String(32), sa.ForeignKey("plans.id")),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    for table in ("job_parts", "plans", "jobs", "portfolio_versions", "portfolios"):
        op.drop_table(table)
