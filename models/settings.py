"""Solver settings: one vocabulary, translated per backend in `optimizer.backends`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Backend = Literal["cp-sat", "cbc", "wsjf-greedy"]
"""cp-sat: OR-Tools CP-SAT; cbc: COIN-OR CBC through PuLP; wsjf-greedy: the WSJF ranking baseline."""


class SolverSettings(BaseModel):
    """How to solve: backend, limits and reproducibility. Echoed back in every plan."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend = "cp-sat"
    time_limit_s: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)] = 10.0
    relative_gap: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.0
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    money_resolution: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)] | None = None
    """Currency amount one solver unit stands for; None picks the coarsest exact one."""
