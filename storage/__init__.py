"""Persistence: portfolios (versioned), plans (with lineage) and jobs, through SQLAlchemy 2.

SQLite (an embedded file) by default, PostgreSQL when the database URL points to
one; the schema is created and upgraded by Alembic migrations (`migrate`).
"""

from storage.db import Database, database_url

__all__ = ["Database", "database_url"]
