"""Request and response bodies of the solve and check routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.portfolio import Portfolio
from models.settings import SolverSettings


class SolveRequest(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    portfolio: Portfolio
    """The portfolio to solve."""
    settings: SolverSettings = Field(default_factory=SolverSettings)
    """How to solve it."""


class CheckRequest(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    portfolio: Portfolio
    """The portfolio to check."""


class CheckResponse(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)

    ok: bool
    """Always true: a portfolio with problems gets 422."""
    mmps: int
    """Number of MMPs."""
    value_streams: int
    """Number of value streams."""
    pools: int
    """Number of pools."""
    quarters: int
    """Number of quarters in the horizon."""


class StorePlanRequest(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    settings: SolverSettings = Field(default_factory=SolverSettings)
    """How to solve it."""
