"""Solver settings: one vocabulary, translated per backend in `optimizer.backends`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.portfolio import PLAIN_NUMBER

MIN_RESOLUTION = Decimal("1e-6")  # finer units overflow the solver's integers on any real amount
MAX_RESOLUTION = Decimal("1e9")

Backend = Literal["auto", "cp-sat", "cbc", "scip", "wsjf-greedy"]
"""auto: CP-SAT and CBC racing on the cores (default); cp-sat: OR-Tools CP-SAT; cbc: COIN-OR CBC through PuLP;
scip: SCIP through OR-Tools (pywraplp); wsjf-greedy: the WSJF ranking baseline."""


class SolverSettings(BaseModel):
    """How to solve: backend, limits and reproducibility. Echoed back in every plan."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    backend: Backend = "auto"
    """auto (default: CP-SAT on all threads but one racing CBC on the last; with one thread, CP-SAT alone, or CBC
    alone on models above 1,000 start variables), cp-sat (OR-Tools CP-SAT), cbc (COIN-OR CBC through PuLP), scip
    (SCIP through OR-Tools' pywraplp) or wsjf-greedy (the WSJF ranking baseline)."""
    time_limit_s: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False, strict=True)] = 10.0
    """Wall-clock limit for the whole solve, in seconds."""
    relative_gap: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)] = 0.0
    """Stop once (bound - value) / bound is at most this."""
    seed: Annotated[int, Field(ge=0, le=2**31 - 1, strict=True)] = 0
    """Random seed, for reproducible runs."""
    workers: Annotated[int, Field(ge=1, le=64, strict=True)] = 2
    """Solver threads."""
    money_resolution: (
        Annotated[Decimal, Field(ge=MIN_RESOLUTION, le=MAX_RESOLUTION, allow_inf_nan=False), PLAIN_NUMBER] | None
    ) = None
    """Currency amount one solver unit stands for (0.000001 to 1,000,000,000); None picks the coarsest exact one."""
    what_it_takes: Annotated[bool, Field(strict=True)] = True
    """Work out, for every MMP the plan leaves out, what it would take to fund it: re-solves in the time the search
    leaves, at most a fifth of the time limit. Turn off for batch and what-if studies, where it would multiply
    the cost of every solve."""
