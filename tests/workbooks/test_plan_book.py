"""The plan workbook's summary sheet."""

from __future__ import annotations

import json
from decimal import Decimal

from models import load_portfolio
from tests.support.paths import FIXTURES
from tests.support.solving import solve_valid
from tests.support.workbooks import sheet_rows
from workbooks import plan_workbook


def summary_value_rows(name: str) -> tuple[Decimal, dict[str, Decimal]]:
    portfolio = load_portfolio(json.loads((FIXTURES / name).read_text()))
    plan = solve_valid(portfolio, time_limit_s=5, what_it_takes=False)  # any plan: its rows are what counts
    rows = sheet_rows(plan_workbook(portfolio, plan), "summary")
    labels = [row[0] for row in rows]
    start, end = labels.index("value"), labels.index("proven bound")
    return Decimal(str(rows[start][1])), {row[0].strip(): Decimal(str(row[1])) for row in rows[start + 1 : end]}


def test_the_summary_splits_the_value_into_parts_that_add_up_to_it():
    value, parts = summary_value_rows("multiple-choice.json")  # a synergy and groups count besides the MMPs
    assert "synergies" in parts
    assert sum(parts.values()) == value


def test_an_uncertain_plan_s_split_is_of_the_portfolio_s_own_figures():
    value, parts = summary_value_rows("insurance-fy27-risk.json")  # the value is the risk measure
    worth = parts.pop("worth with the portfolio's own figures")
    assert sum(parts.values()) == worth != value
