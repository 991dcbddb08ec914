"""Server settings, read from the environment (prefix VMO_), e.g. VMO_MAX_TIME_LIMIT_S=30."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VMO_", extra="ignore")

    max_time_limit_s: float = Field(60.0, gt=0, description="Cap on any request's solver time limit.")
    pool_size: int = Field(2, ge=1, le=64, description="Solver processes (one solve each at a time).")
    solver_workers: int = Field(1, ge=1, le=64, description="CP-SAT threads per solve inside the pool.")
    queue_limit: int = Field(8, ge=0, description="Requests allowed to wait for a solver beyond the pool.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with 503 when the queue is full.")
