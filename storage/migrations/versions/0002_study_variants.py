"""Job parts and plans say how their portfolio differs from the stored version as one variant.

Before: a part's spec held the difference in kind-specific keys ({"scenario", "changes"},
{"total_budget"}, {"baseline_plan_id", "change_penalty", "compare"}), and a plan's `variant`
the same keys. After: a part's spec is {"version_id", "variant": {...}} (plus "baseline_plan_id"
and "comparison" for re-optimizations), and a plan's `variant` is that variant, with
"comparison": true for a plan solved only to compare against. A re-optimization's baseline is
carried as the baseline plan's starts, so a part can be solved from its spec alone.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")
parts = sa.table(
    "job_parts", sa.column("job_id", sa.String), sa.column("index", sa.Integer), sa.column("spec", Document)
)
plans = sa.table("plans", sa.column("id", sa.String), sa.column("variant", Document), sa.column("document", Document))


def upgrade() -> None:
    bind = op.get_bind()
    starts_of = _starts_of(bind)
    for job_id, index, spec in bind.execute(sa.select(parts.c.job_id, parts.c.index, parts.c.spec)).all():
        if spec is not None and "variant" not in spec:
            new = {"version_id": spec["version_id"], "variant": _variant(spec, starts_of)}
            if "baseline_plan_id" in spec:
                new["baseline_plan_id"] = spec["baseline_plan_id"]
            if spec.get("compare"):
                new["comparison"] = True
            update = parts.update().where(parts.c.job_id == job_id, parts.c.index == index).values(spec=new)
            bind.execute(update)
    for plan_id, variant in bind.execute(sa.select(plans.c.id, plans.c.variant)).all():
        if variant and not _is_new(variant):
            new = _variant(variant, starts_of)
            if variant.get("compare"):
                new["comparison"] = True
            bind.execute(plans.update().where(plans.c.id == plan_id).values(variant=new))


def downgrade() -> None:  # the old layout cannot hold a baseline without its plan id: no way back
    raise NotImplementedError("0002 has no downgrade")


def _is_new(variant: dict[str, Any]) -> bool:
    return "scenario" not in variant and "baseline_plan_id" not in variant and "compare" not in variant


def _variant(old: dict[str, Any], starts_of) -> dict[str, Any]:
    variant: dict[str, Any] = {}
    if "changes" in old:
        variant["changes"] = old["changes"]
    if "total_budget" in old:
        variant["total_budget"] = old["total_budget"]
    if "baseline_plan_id" in old:
        variant["baseline_plan"] = starts_of(old["baseline_plan_id"])
        variant["change_penalty"] = old.get("change_penalty")
    return variant


def _starts_of(bind):
    def starts(plan_id: str) -> dict[str, str]:
        document = bind.execute(sa.select(plans.c.document).where(plans.c.id == plan_id)).scalar()
        return {s["mmp"]: s["start"] for s in (document or {}).get("selected", [])}

    return starts
