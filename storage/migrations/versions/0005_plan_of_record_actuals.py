"""The planning cycle: the plan of record with its history, and the actuals of past quarters.

* `plan_of_record`: one row per commit of a stored plan (with the portfolio version it plans and a note);
  the newest commit of a portfolio is its plan of record, the others its history.
* `actuals`: one row per portfolio and past quarter, the quarter's actuals as a document.

Self-contained: it only adds its own two tables.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "plan_of_record",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("portfolio_id", sa.String(32), sa.ForeignKey("portfolios.id"), nullable=False),
        sa.Column("plan_id", sa.String(32), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("committed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_plan_of_record_portfolio_id", "plan_of_record", ["portfolio_id"])
    op.create_index("ix_plan_of_record_committed_at", "plan_of_record", ["committed_at"])
    op.create_table(
        "actuals",
        sa.Column("portfolio_id", sa.String(32), sa.ForeignKey("portfolios.id"), primary_key=True),
        sa.Column("quarter", sa.String(200), primary_key=True),
        sa.Column("document", Document, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("actuals")
    op.drop_index("ix_plan_of_record_committed_at", "plan_of_record")
    op.drop_index("ix_plan_of_record_portfolio_id", "plan_of_record")
    op.drop_table("plan_of_record")
