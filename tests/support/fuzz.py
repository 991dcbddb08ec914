"""The settings both fuzz runs (tests/api/test_fuzz.py on SQLite, test_fuzz_postgres.py) make their app with."""

from __future__ import annotations

from api.settings import ApiSettings


def fuzz_settings() -> ApiSettings:
    """One solver process and 1 s solves. No worker runs: the quotas are raised so that every schema-valid job is
    queued and every solve admitted (the 429s of the quotas are tested in tests/api/test_api_access.py)."""
    return ApiSettings(
        pool_size=1, max_time_limit_s=1, queue_limit=4, quota_queued_jobs=100_000, quota_solver_seconds=1e9
    )
