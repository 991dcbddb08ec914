"""Solving in tests: every plan a test produces goes through the independent validator."""

from __future__ import annotations

from models import Plan, Portfolio, SolverSettings, load_portfolio
from optimizer import solve, validate


def solve_valid(portfolio: Portfolio | dict, **settings) -> Plan:
    """Solve (dicts are loaded and checked first) and assert the plan passes the validator."""
    if isinstance(portfolio, dict):
        portfolio = load_portfolio(portfolio)
    settings.setdefault("time_limit_s", 20)
    plan = solve(portfolio, SolverSettings(**settings))
    assert validate(portfolio, plan) == [], "plan failed the independent validator"
    return plan
