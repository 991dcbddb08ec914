"""Domain and API schemas (pydantic v2). Imports nothing from optimizer or api."""

from models.checks import (
    PortfolioError,
    Problem,
    check_portfolio,
    check_solvable,
    checked,
    checked_problems,
    json_path,
    load_portfolio,
    validation_problems,
)
from models.plan import Plan, SolverStatus
from models.portfolio import MMP, Pool, Portfolio, ValueStream
from models.settings import SolverSettings

__all__ = [
    "MMP",
    "Plan",
    "Pool",
    "Portfolio",
    "PortfolioError",
    "Problem",
    "SolverSettings",
    "SolverStatus",
    "ValueStream",
    "check_portfolio",
    "check_solvable",
    "checked",
    "checked_problems",
    "json_path",
    "load_portfolio",
    "validation_problems",
]
