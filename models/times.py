"""Timestamps in answers: UTC, with their zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _utc(moment: datetime) -> datetime:
    """Storage keeps UTC without a zone (SQLite has none): answers say it is UTC (`...Z`, RFC 3339)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_utc)]
