"""Shared test helpers: every plan a test produces goes through the independent validator."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import Plan, Portfolio, SolverSettings, load_portfolio
from optimizer import solve, validate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def solve_valid(portfolio: Portfolio | dict, **settings) -> Plan:
    """Solve (dicts are loaded and checked first) and assert the plan passes the validator."""
    if isinstance(portfolio, dict):
        portfolio = load_portfolio(portfolio)
    settings.setdefault("time_limit_s", 20)
    plan = solve(portfolio, SolverSettings(**settings))
    assert validate(portfolio, plan) == [], "plan failed the independent validator"
    return plan


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
