"""Request and response bodies of the solve and check routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.portfolio import Portfolio
from models.settings import SolverSettings


class SolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portfolio: Portfolio
    settings: SolverSettings = Field(default_factory=SolverSettings)


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    portfolio: Portfolio


class CheckResponse(BaseModel):
    ok: bool
    mmps: int
    value_streams: int
    pools: int
    quarters: int


class StorePlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: SolverSettings = Field(default_factory=SolverSettings)
