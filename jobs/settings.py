"""Settings shared by the web process and the workers, read from the environment (prefix VMO_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.db import DEFAULT_PATH, database_url


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VMO_", extra="ignore")

    database_url: str | None = Field(None, description="SQLAlchemy URL, e.g. postgresql://user@host/db.")
    database_path: str = Field(DEFAULT_PATH, description="The SQLite file used when no database_url is set.")
    ray_address: str | None = Field(None, description="Run batch solves on this Ray cluster ('local': start one).")
    worker_processes: int = Field(2, ge=1, le=256, description="Solver processes of each worker's local pool.")
    job_lease_s: float = Field(30.0, gt=0, description="A running job whose worker is silent this long is resumed.")
    heartbeat_s: float = Field(2.0, gt=0, description="How often a worker renews its lease and checks for cancel.")
    max_attempts: int = Field(3, ge=1, description="Workers lost on one job before it is marked failed.")
    poll_s: float = Field(1.0, gt=0, description="How often an idle worker looks for queued jobs.")
    job_retention_days: float = Field(
        30.0, ge=0, description="Finished jobs and their parts are deleted this long after they end (0: kept)."
    )
    database_wait_s: float = Field(
        60.0, ge=0, description="How long `vmo serve` and `vmo worker` wait for the database."
    )
    max_backoff_s: float = Field(
        15.0, gt=0, description="Longest wait between a worker's tries while the database is down."
    )

    @property
    def url(self) -> str:
        return database_url(self.database_url, self.database_path)
