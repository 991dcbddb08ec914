"""Domain and API schemas (pydantic v2). Imports nothing from optimizer or api."""

from models.checks import PortfolioError, Problem, check_portfolio, json_path, load_portfolio, validation_problems
from models.plan import Plan
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
    "ValueStream",
    "check_portfolio",
    "json_path",
    "load_portfolio",
    "validation_problems",
]
