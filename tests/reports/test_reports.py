"""The HTML reports as text: one self-contained page (no script, nothing referenced outside it), user text
escaped, every chart the issue lists, amounts in the currency. What a browser makes of them is checked in
test_reports_in_a_browser.py."""

from __future__ import annotations

import re
import warnings

from models import load_portfolio
from reports import money, plan_report
from tests.support.builders import mmp, portfolio
from tests.support.solving import solve_valid
from workbooks.writer import example_portfolio

EXTERNAL = re.compile(r"""(?:src|href|xlink:href|url)\s*[=(]\s*['"]?(?!#|data:)[^'")\s>]+""")


def test_a_plan_report_is_one_self_contained_page_with_every_chart():
    p = example_portfolio()  # a pool, a key result and a guardrail: every chart has something to show
    plan = solve_valid(p)
    html = plan_report(p, plan)
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<link" not in html and "@import" not in html and "@font-face" not in html
    assert EXTERNAL.findall(html) == []
    for chart in ("uplift", "budget", "roadmap", "capacity", "investment_mix", "key_results"):
        assert html.count(f'data-chart="{chart}"') == 1, chart
    assert f"earns {money(plan.baseline.value, 'USD')}; this plan earns {money(plan.objective, 'USD')}" in html
    assert "<?xml" not in html and "<metadata>" not in html


def test_a_plan_over_scenarios_shows_its_value_distribution_priority_and_robustness():
    data = portfolio(
        mmp("steady", 50, cost=100),
        mmp("bold", 60, cost=100),
        budget=200,
        scenarios=[
            {"id": "boom", "probability": 0.5, "value": {"bold": 120}},
            {"id": "bust", "probability": 0.5, "value": {"bold": 0}, "budget": 100},
        ],
        decision="priority",
    )
    p = load_portfolio(data)
    plan = solve_valid(p)
    html = plan_report(p, plan)
    assert html.count('data-chart="risk"') == 1
    assert "Value over 2 scenarios (expectation, decision priority)" in html
    assert f"<td>expected value</td><td class=n>{money(plan.risk.expected)}</td>" in html
    assert "".join(f"<li>{unit}</li>" for unit in plan.priority) in html
    assert "<td>bust</td>" in html and "<td>boom</td>" in html
    assert "borderline MMP" in html
    assert EXTERNAL.findall(html) == []


def test_user_text_is_escaped_and_dollar_signs_are_not_math():
    data = portfolio(mmp("a", value=10, cost=5, name="<b>$5M</b> & $more"), mmp("b", value=1, cost=999))
    data["name"] = "<script>alert(1)</script>"
    p = load_portfolio(data)
    html = plan_report(p, solve_valid(p))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;$5M&lt;/b&gt; &amp; $more" in html


def test_names_in_any_script_are_drawn_without_warnings():
    """Charts keep text as text (the browser draws it): a glyph missing from matplotlib's font is no problem,
    and no warning about it reaches the user's terminal."""
    p = load_portfolio(portfolio(mmp("rocket \U0001f680", value=10, cost=5), mmp("数据平台", value=1, cost=999)))
    with warnings.catch_warnings(record=True) as caught:  # the filters in force, as a user's process has them
        html = plan_report(p, solve_valid(p))
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    assert "rocket \U0001f680" in html and "数据平台" in html


def test_a_plan_without_a_solution_explains_itself():
    p = load_portfolio(portfolio(mmp("a", value=10, cost=5000, mandatory=True)))
    html = plan_report(p, solve_valid(p))
    assert "No plan" in html and "<svg" not in html


def test_money_never_shows_raw_decimals_or_minus_zero():
    from decimal import Decimal

    assert money(Decimal("166666.6666666666666666666667"), "USD") == "166,666.67 USD"
    assert money(Decimal("-0.001"), "USD", sign=True) == "0 USD"
    assert money(Decimal(1500), "JPY") == "1,500 JPY"


def test_a_plan_as_of_a_later_quarter_reports_its_in_flight_decisions():
    # a began in 2027Q1 and is stoppable; b (120) needs the one unit of 2027Q2 that a would keep: a stops.
    data = portfolio(
        mmp("a", 100, cost=[10, 10], units=[1, 1], started="2027Q1", stoppable=True, salvage_value=20),
        mmp("b", 120, cost=10, units=1, deadline="2027Q2"),
        mmp("done-one", 50, cost=10, done=True),
        quarters=2,
        capacity=1,
        as_of="2027Q2",
    )
    p = load_portfolio(data)
    html = plan_report(p, solve_valid(p))
    assert "<h2>In flight as of 2027Q2</h2>" in html
    assert "The quarters before it (2027Q1) are history" in html and "Done: done-one." in html
    assert "<b>stop</b>" in html and "stopped (in flight since 2027Q1)" in html


def test_the_report_says_what_it_would_take():
    p = load_portfolio(portfolio(mmp("a", 100, cost=60), mmp("b", 70, cost=50), budget=100))
    html = plan_report(p, solve_valid(p))
    assert "a value of 100, in place of a; or 10 more budget (2027Q1 10)" in html
