"""Solver core: plain data in, plain data out.

`solve(portfolio, settings) -> Plan` finds the best plan; `validate(portfolio,
plan) -> list[str]` checks any plan independently of how it was made.
"""

from optimizer.solve import solve
from optimizer.validator import validate

__all__ = ["solve", "validate"]
