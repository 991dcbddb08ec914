"""Server settings, read from the environment (prefix VMO_), e.g. VMO_MAX_TIME_LIMIT_S=30."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.repo import Quotas


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VMO_", extra="ignore")

    max_time_limit_s: float = Field(60.0, gt=0, description="Cap on any request's solver time limit.")
    pool_size: int = Field(2, ge=1, le=64, description="Solver processes (one solve each at a time).")
    solver_workers: int = Field(
        default_factory=lambda: len(os.sched_getaffinity(0)),
        ge=1,
        le=64,
        description="Most solver threads one solve may use (default: the cores); concurrent solves share the cores.",
    )
    queue_limit: int = Field(
        64,
        ge=0,
        description="Solves allowed to wait for a solver process beyond the pool (a what-if counts one per scenario).",
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    parser_processes: int = Field(
        1, ge=1, le=64, description="Processes that parse, validate and check request bodies (off the event loop)."
    )
    header_timeout_s: float = Field(10.0, gt=0, description="`vmo serve`: a request head must arrive within this.")
    body_timeout_s: float = Field(60.0, gt=0, description="The whole request body must arrive within this (408).")
    keep_alive_s: int = Field(5, ge=1, description="`vmo serve`: an idle kept-alive connection is closed after this.")
    max_connections: int = Field(1000, ge=1, description="`vmo serve`: open connections beyond this get 503.")
    require_worker: bool = Field(
        False, description="/readyz is 503 while no job worker is alive (`vmo serve` sets it when it starts one)."
    )
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with 503 when the queue is full.")

    # ------------------------------------------------------------ who may do what (docs/design.md, section 9)
    auth: Literal["on", "off"] = Field(
        "on",
        description="on: every route but /healthz, /readyz and the docs needs an API key or an OpenID Connect "
        "token. off: a local single-user run, every caller is an admin of the default tenant (`vmo serve` "
        "warns loudly).",
    )
    key_secret: SecretStr | None = Field(
        None,
        description="The server secret API keys are hashed with (HMAC-SHA-256). Unset: one is generated and "
        "stored in the database on first use. Changing it invalidates every key.",
    )
    oidc_issuer: str | None = Field(
        None, description="Accept OpenID Connect bearer tokens (JWTs) from this issuer (its `iss`)."
    )
    oidc_audience: str | None = Field(None, description="The `aud` an OpenID Connect token must carry.")
    oidc_jwks_url: str | None = Field(
        None, description="The issuer's JWKS; default: `jwks_uri` of its /.well-known/openid-configuration."
    )
    oidc_tenant_claim: str = Field("vmo_tenant", description="The token claim naming the caller's tenant.")
    oidc_role_claim: str = Field("vmo_role", description="The token claim naming the caller's role.")
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="Signature algorithms accepted (comma-separated); never `none` or an HMAC one.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins a browser may call the API from (comma-separated); none by default: CORS closed.",
    )

    # ------------------------------------------------------------ per-tenant quotas
    quota_portfolios: int = Field(1000, ge=1, description="Stored portfolios per tenant (429 beyond).")
    quota_versions: int = Field(20_000, ge=1, description="Stored portfolio versions per tenant (429 beyond).")
    quota_queued_jobs: int = Field(10, ge=1, description="Jobs queued or running at once per tenant (429 beyond).")
    quota_parts_per_job: int = Field(1000, ge=1, description="Parts (solves) of one job (429 beyond).")
    quota_solver_seconds: float = Field(
        600.0,
        gt=0,
        description="Solver seconds per tenant per minute in the API's own solves (solve, what-if, frontier, "
        "solve-and-store); a request is charged its time limit per solve until it ends, then what it used.",
    )

    @field_validator("oidc_algorithms", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        weak = [a for a in value if a.lower() == "none" or a.upper().startswith("HS")]
        if weak:
            raise ValueError(f"{', '.join(weak)}: OpenID Connect tokens must be signed with the issuer's public key")
        return value

    def quotas(self) -> Quotas:
        return Quotas(
            portfolios=self.quota_portfolios,
            versions=self.quota_versions,
            queued_jobs=self.quota_queued_jobs,
            parts_per_job=self.quota_parts_per_job,
        )
