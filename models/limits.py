"""The sizes this service accepts, in one place (docs/design.md, section 3.14).

Every solve must be finite in time and memory, and every check linear in its
input, so the horizon, the lists of a portfolio, the model the solver would build
and the error report all have caps. Each can be changed from the environment
(`VMO_MAX_QUARTERS=60`, ...) before the process starts; the schemas read them once,
at import, so OpenAPI documents the caps in force.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Limits(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VMO_", extra="ignore")

    max_quarters: int = Field(default=40, ge=1, le=1000, description="Quarters of a horizon.")
    max_mmps: int = Field(default=5000, ge=1, le=100_000, description="MMPs of a portfolio.")
    max_pools: int = Field(default=500, ge=1, le=10_000, description="Pools of a portfolio.")
    max_value_streams: int = Field(default=200, ge=1, le=10_000, description="Value streams of a portfolio.")
    max_key_results: int = Field(default=500, ge=1, le=10_000, description="Key results of a portfolio.")
    max_start_variables: int = Field(
        default=50_000,
        ge=1,
        le=10_000_000,
        description="Model size: the start variables the solver would create (each MMP times the quarters it may "
        "start in); bench: 5,000 MMPs x 8 quarters builds in under 2 s and solves in under 1 GiB.",
    )
    max_scenarios: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Scenarios of a portfolio, after its value ranges are sampled (explicit scenarios times "
        "scenario_count).",
    )
    max_scenario_terms: int = Field(
        default=2_000_000,
        ge=1,
        le=100_000_000,
        description="Model size of an uncertain portfolio: start variables times scenarios (each scenario scores "
        "every start).",
    )
    max_error_details: int = Field(default=100, ge=1, le=10_000, description="Problems listed in one error answer.")


LIMITS = Limits()
TEXT_LENGTH = 200  # ids, names and labels: the width of the tables' text columns (storage/tables.py)
