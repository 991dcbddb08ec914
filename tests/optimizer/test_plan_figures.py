"""What every plan says beyond the solve: the WSJF ranking it beats (`baseline`), the investment mix against
its guardrails and the totals over the horizon. The validator recomputes all of them on every solve."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from models import load_portfolio
from optimizer.report import baseline
from tests.support.builders import mmp, portfolio
from tests.support.paths import FIXTURES
from tests.support.solving import solve_valid


def insurance():
    return load_portfolio(json.loads((FIXTURES / "insurance-fy27.json").read_text()))


@pytest.mark.slow  # two solves of the insurance fixture
def test_the_baseline_is_the_wsjf_rankings_own_plan():
    p = insurance()
    plan = solve_valid(p)
    ranking = solve_valid(p, backend="wsjf-greedy")

    b = plan.baseline
    assert b is not None and ranking.baseline is None  # the ranking is not compared with itself
    assert b.value == ranking.objective
    assert b.starts == {s.mmp: s.start for s in ranking.selected}
    assert b.uplift == plan.objective - ranking.objective > 0
    assert b.uplift_percent == (b.uplift * 100 / b.value).quantize(Decimal("0.01"))
    funded = {s.mmp for s in plan.selected}
    assert set(b.optimizer_only) == funded - b.starts.keys()
    assert set(b.ranking_only) == b.starts.keys() - funded


def test_no_baseline_without_a_ranking_plan_or_without_a_plan():
    p = load_portfolio(portfolio(mmp("a", value=10, cost=5)))
    plan = solve_valid(p)
    assert plan.baseline is not None and plan.baseline.uplift == 0
    assert baseline(p, plan, None) is None
    infeasible = load_portfolio(portfolio(mmp("a", value=10, cost=5000, mandatory=True)))
    assert solve_valid(infeasible).baseline is None


def test_investment_mix_against_guardrails_and_totals():
    data = portfolio(
        mmp("biz", value=100, cost=60, category="business"),
        mmp("enable", value=10, cost=40, category="enabler"),
        mmp("loose", value=1, cost=[100, 100]),
        quarters=2,
        budget=[200, 100],
        investment_guardrails=[{"category": "enabler", "min_share": 0.4}],
    )
    plan = solve_valid(data)
    assert {s.mmp for s in plan.selected} == {"biz", "enable"}
    mix = {r.category: r for r in plan.investment_mix}
    assert list(mix) == ["business", "enabler", None]
    assert (mix["enabler"].spend, mix["enabler"].share, mix["enabler"].min_share) == (
        40,
        Decimal("0.4"),
        Decimal("0.4"),
    )
    assert mix["enabler"].within and mix["business"].within
    assert mix[None].spend == 0
    h = plan.totals.horizon
    assert (h.budget, h.mmp_cost, h.funded, h.value) == (300, 100, 2, 110)
    assert h.unallocated == 300 - h.allocated
    (stream,) = plan.totals.value_streams
    assert (stream.value_stream, stream.funded, stream.mmp_cost) == ("s", 2, 100)
