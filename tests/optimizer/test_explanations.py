"""Why an MMP is left out, why a portfolio is infeasible, and which constraints bind.

Tiny hand-built portfolios (builders from tests.support), each solved through
`solve_valid` so the validator checks every plan.
"""

from __future__ import annotations

import re

from models import Plan
from tests.support.builders import (
    Q1,
    Q2,
    baseline_budget_portfolio,
    change_portfolio,
    extra_capacity_portfolio,
    mmp,
    portfolio,
    starts,
)
from tests.support.solving import solve_valid


def reasons(plan: Plan) -> dict[str, str]:
    return {n.mmp: n.reason for n in plan.not_selected}


def words(plan: Plan) -> set[str]:
    """Every word and number of the infeasibility explanation."""
    return set(re.findall(r"[\w.-]+", " ".join(plan.explanation.infeasibility)))


def infeasible(portfolio_data: dict) -> Plan:
    plan = solve_valid(portfolio_data)
    assert plan.status == "infeasible"
    assert plan.selected == []
    assert plan.explanation.infeasibility
    return plan


# ---------------------------------------------------------------- not_selected reasons


def test_reason_excluded_by_user():
    plan = solve_valid(portfolio(mmp("a", 100, excluded=True), mmp("b", 50)))
    assert reasons(plan) == {"a": "excluded by the user"}


def test_reason_window():
    # Takes 2 quarters but is due in Q1.
    plan = solve_valid(portfolio(mmp("a", 100, cost=[0, 0], deadline=Q1), mmp("b", 50), quarters=2))
    assert reasons(plan)["a"].startswith("cannot start and finish inside its window")
    assert "deadline 2027Q1" in reasons(plan)["a"]
    assert "2 quarter" in reasons(plan)["a"]


def test_reason_requires_unselected():
    plan = solve_valid(portfolio(mmp("a", 100, excluded=True), mmp("b", 50, requires=["a"])))
    assert reasons(plan) == {"a": "excluded by the user", "b": "requires a, which is not selected"}


def test_reason_excluded_by_selected():
    plan = solve_valid(portfolio(mmp("a", 100, excludes=["b"]), mmp("b", 50)))
    assert starts(plan) == {"a": Q1}
    assert reasons(plan) == {"b": "excluded by a, which is selected"}


def test_reason_pool_full():
    # One unit: a (100) takes it, b (50) is out.
    plan = solve_valid(portfolio(mmp("a", 100, units=1), mmp("b", 50, units=1), capacity=1))
    assert starts(plan) == {"a": Q1}
    assert reasons(plan)["b"].startswith("pool p is full in 2027Q1 (needs 1, 0 free)")


def test_reason_stream_max_budget():
    # s may get 50: a (cost 40) fits, b (cost 40) would need 80.
    p = portfolio(mmp("a", 100, cost=40), mmp("b", 50, cost=40), budget=1000)
    p["value_streams"] = [{"id": "s", "max_budget": 50}]
    plan = solve_valid(p)
    assert starts(plan) == {"a": Q1}
    assert reasons(plan) == {"b": "value stream s is at its max budget in 2027Q1 (needs 40, 10 left)"}


def test_reason_total_budget():
    # Budget 50: a (cost 40) fits, b (cost 40) does not.
    plan = solve_valid(portfolio(mmp("a", 100, cost=40), mmp("b", 50, cost=40), budget=50))
    assert starts(plan) == {"a": Q1}
    assert reasons(plan) == {"b": "the total budget of 2027Q1 is used up (needs 40 more, 10 unallocated)"}


def test_reason_guardrail_max_share():
    # business may be 50 % of spend: a + b is 20 of 40; adding c makes it 40 of 60.
    plan = solve_valid(
        portfolio(
            mmp("a", 100, cost=20, category="business"),
            mmp("b", 50, cost=20, category="enabler"),
            mmp("c", 40, cost=20, category="business"),
            investment_guardrails=[{"category": "business", "max_share": 0.5}],
        )
    )
    assert starts(plan) == {"a": Q1, "b": Q1}
    assert reasons(plan) == {"c": "adding it would push business above its maximum share of spend (50%)"}


def test_reason_guardrail_min_share():
    # enabler must be 50 % of spend: a + b is 20 of 40; adding c makes it 20 of 60.
    plan = solve_valid(
        portfolio(
            mmp("a", 100, cost=20, category="enabler"),
            mmp("b", 50, cost=20, category="business"),
            mmp("c", 40, cost=20, category="business"),
            investment_guardrails=[{"category": "enabler", "min_share": 0.5}],
        )
    )
    assert starts(plan) == {"a": Q1, "b": Q1}
    assert reasons(plan) == {"c": "adding it would push enabler below its minimum share of spend (50%)"}


def test_reason_names_the_mandatory_mmp_holding_the_pool():
    # b (40) is mandatory and takes the only unit; a (100) is worth more, so the reason must not
    # claim the MMPs holding the pool are worth more: it is out because b is mandatory.
    plan = solve_valid(portfolio(mmp("a", 100, units=1), mmp("b", 40, units=1, mandatory=True), capacity=1))
    assert starts(plan) == {"b": Q1}
    assert "mandatory" in reasons(plan)["a"]
    assert "worth more" not in reasons(plan)["a"]


def test_reason_names_the_change_penalty():
    # Keeping baseline b (80) beats switching to a (100 - 2 * 30 = 40): a is out because of the penalty.
    plan = solve_valid(change_portfolio(30))
    assert starts(plan) == {"b": Q1}
    assert "change penalty" in reasons(plan)["a"]
    assert "worth more" not in reasons(plan)["a"]


def test_reason_names_max_change_not_total_budget():
    # Baseline 40 and max_change 50 % cap s at 60: a (80) cannot run in any plan although the
    # total budget (100) would hold it; the total budget is not what keeps it out.
    plan = solve_valid(baseline_budget_portfolio(40))
    assert starts(plan) == {"c": Q1}
    assert "max_change" in reasons(plan)["a"]
    assert "total budget" not in reasons(plan)["a"]


def test_reason_names_the_budget_for_unaffordable_extra_capacity():
    # Shared pool full; its extra unit (30) plus b (10) needs 40 but only 30 is unallocated.
    plan = solve_valid(extra_capacity_portfolio(1, budget=40, stream=None))
    assert starts(plan) == {"a": Q1}
    assert "budget" in reasons(plan)["b"]
    assert "lower value per unit" not in reasons(plan)["b"]


def test_every_unselected_mmp_has_exactly_one_reason():
    plan = solve_valid(
        portfolio(
            mmp("a", 100, cost=10, units=1, excludes=["b"]),
            mmp("b", 90, cost=10),
            mmp("c", 80, cost=10, units=1),
            mmp("d", 70, excluded=True),
            mmp("e", 60, requires=["d"]),
            mmp("f", 50, cost=[0, 0], deadline=Q1),
            mmp("g", 40, cost=10),
            quarters=2,
            capacity=1,
        )
    )
    selected = {s.mmp for s in plan.selected}
    listed = [n.mmp for n in plan.not_selected]
    assert selected == {"a", "c", "g"}  # a and c share the pool across the two quarters
    assert sorted(listed) == ["b", "d", "e", "f"]
    assert all(n.reason for n in plan.not_selected)


# ---------------------------------------------------------------- binding constraints


def test_binding_names_the_full_pool():
    plan = solve_valid(portfolio(mmp("a", 100, units=1), mmp("b", 50, units=1), capacity=1))
    assert any(b.startswith("pool p is full in 2027Q1") for b in plan.explanation.binding)


def test_binding_silent_about_a_pool_with_room():
    plan = solve_valid(portfolio(mmp("a", 100, units=1), mmp("b", 50, units=1), capacity=3))
    assert not any("pool p" in b for b in plan.explanation.binding)


# ---------------------------------------------------------------- infeasibility


def test_infeasible_mandatory_overload_names_mmps_pool_quarter_and_numbers():
    # alpha, bravo, charlie need 2 units of team-x each (6) in Q1; team-x has 5.
    # delta is mandatory too but on team-y, which has room: not part of the conflict.
    p = portfolio(
        *(mmp(i, 10, units=2, pool="team-x", mandatory=True) for i in ("alpha", "bravo", "charlie")),
        mmp("delta", 10, units=1, pool="team-y", mandatory=True),
    )
    p["pools"] = [
        {"id": "team-x", "value_stream": "s", "capacity": 5},
        {"id": "team-y", "value_stream": "s", "capacity": 5},
    ]
    plan = infeasible(p)
    assert plan.objective is None
    assert {"alpha", "bravo", "charlie", "team-x", "2027Q1", "6", "5"} <= words(plan)
    assert not {"delta", "team-y"} & words(plan)


def test_a_mandatory_demand_that_fits_alone_is_not_blamed_as_the_overload():
    # alpha (mandatory) needs 1 unit of team-x, which has 2; the tech-debt guardrail forces beta in too, which
    # needs 2 more: the conflict is the two together, not alpha's 1 unit.
    p = portfolio(
        mmp("alpha", 10, cost=10, units=1, pool="team-x", mandatory=True, category="business"),
        mmp("beta", 10, cost=10, units=2, pool="team-x", category="tech-debt"),
        investment_guardrails=[{"category": "tech-debt", "min_share": 0.5}],
    )
    p["pools"] = [{"id": "team-x", "value_stream": "s", "capacity": 2}]
    plan = infeasible(p)
    text = " ".join(plan.explanation.infeasibility)
    assert "needs 1 units" not in text, text
    assert "need more units of team-x in 2027Q1 (mandatory MMP alpha needs 1 of them); it has 2" in text, text


def test_infeasible_mandatory_and_excluded():
    plan = infeasible(portfolio(mmp("alpha", 10, mandatory=True, excluded=True), mmp("bravo", 10)))
    assert {"alpha", "mandatory", "excluded"} <= words(plan)
    assert "bravo" not in words(plan)


def test_infeasible_mandatory_mmps_exclude_each_other():
    plan = infeasible(
        portfolio(
            mmp("alpha", 10, mandatory=True, excludes=["bravo"]),
            mmp("bravo", 10, mandatory=True),
            mmp("charlie", 10, mandatory=True),
        )
    )
    assert {"alpha", "bravo", "exclude"} <= words(plan)
    assert "charlie" not in words(plan)


def test_infeasible_mandatory_window_impossible():
    # Takes 2 quarters, due in Q1.
    plan = infeasible(portfolio(mmp("alpha", 10, cost=[0, 0], deadline=Q1, mandatory=True), quarters=2))
    assert {"alpha", "window", "2027Q1"} <= words(plan)


def test_infeasible_run_cost_above_max_budget():
    # claims must pay run cost 60 in Q2 but may get at most 50 there.
    p = portfolio(mmp("alpha", 10), quarters=2)
    p["value_streams"] = [{"id": "s", "run_cost": [0, 60], "max_budget": 50}]
    plan = infeasible(p)
    assert {"s", "60", "50", Q2} <= words(plan)


def test_infeasible_run_cost_above_total_budget():
    # s must pay run cost 150 but the whole budget of Q1 is 100.
    p = portfolio(mmp("alpha", 10), budget=100)
    p["value_streams"] = [{"id": "s", "run_cost": 150}]
    plan = infeasible(p)
    assert {"s", "150", "100", Q1} <= words(plan)


def test_infeasible_mandatory_costs_above_total_budget():
    # alpha (80) and bravo (40) are mandatory in Q1; the budget is 100.
    plan = infeasible(
        portfolio(mmp("alpha", 10, cost=80, mandatory=True), mmp("bravo", 10, cost=40, mandatory=True), budget=100)
    )
    assert {"alpha", "bravo", "100", Q1} <= words(plan)


def test_infeasible_min_budgets_above_total_budget():
    # claims and policy must get 60 each, the budget is 100; billing's 10 is not part of it.
    p = portfolio(mmp("alpha", 10), budget=100)
    p["value_streams"] = [
        {"id": "claims", "min_budget": 60},
        {"id": "policy", "min_budget": 60},
        {"id": "billing", "min_budget": 10},
    ]
    p["mmps"][0]["value_stream"] = "claims"
    plan = infeasible(p)
    assert {"claims", "policy", "60", "100", Q1} <= words(plan)
    assert "billing" not in words(plan)


def test_infeasible_mandatory_requires_cannot_fit_before():
    # portal is mandatory and due in Q1, but requires backend to finish before it starts.
    plan = infeasible(
        portfolio(
            mmp("backend", 10),
            mmp("portal", 10, mandatory=True, deadline=Q1, requires=["backend"]),
            mmp("other", 10, mandatory=True),
            quarters=2,
        )
    )
    assert {"portal", "backend", "mandatory", Q1} <= words(plan)  # Q1: when portal must start
    assert "other" not in words(plan)


def test_infeasible_mandatory_requires_an_excluded_mmp():
    # portal is mandatory and requires backend, which the user excluded: the exclusion is named.
    plan = infeasible(
        portfolio(
            mmp("backend", 10, excluded=True),
            mmp("portal", 10, mandatory=True, requires=["backend"]),
            mmp("other", 10),
            quarters=2,
        )
    )
    assert "MMP backend is excluded by the user" in plan.explanation.infeasibility
    assert {"portal", "mandatory", "requires"} <= words(plan)
    assert "other" not in words(plan)


def test_reasons_write_amounts_as_people_read_them():
    # Sixths of a unit: the reason rounds them to cents, never 66.666666 or a trailing .00.
    plan = solve_valid(portfolio(mmp("a", 100, cost="66.666666"), mmp("b", 50, cost="66.666666"), budget=100))
    assert reasons(plan)["b"] == "the total budget of 2027Q1 is used up (needs 66.67 more, 33.33 unallocated)"


# ---------------------------------------------------------------- amounts in sentences (the CLI's rounding)


def min_budget_portfolio(min_budget: str, cost: str, currency: str = "USD") -> dict:
    """Stream s must get `min_budget` but its one MMP costs `cost`: the min budget binds."""
    data = portfolio(mmp("a", 100, cost=cost), budget=1000, currency=currency)
    data["value_streams"] = [{"id": "s", "min_budget": min_budget}]
    return data


def test_binding_lines_round_amounts_to_the_minor_unit():
    """Never the raw decimals (900.125, 800.0000) the plan's rows hold."""
    plan = solve_valid(min_budget_portfolio("900.125", "800"))
    assert "value stream s gets its min budget in 2027Q1 (900.12) but spends 800" in plan.explanation.binding


def test_an_amount_smaller_than_the_minor_unit_keeps_its_digits():
    """0.0003 is not shown as a misleading 0 (it would read 'spends 0')."""
    plan = solve_valid(min_budget_portfolio("900", "0.0003"))
    assert "value stream s gets its min budget in 2027Q1 (900) but spends 0.0003" in plan.explanation.binding


def test_amounts_in_sentences_follow_the_currency():
    """JPY has no minor unit: no decimals, but half a yen is still not 0."""
    plan = solve_valid(min_budget_portfolio("0.5", "0", currency="JPY"))
    assert "value stream s gets its min budget in 2027Q1 (0.5) but spends 0" in plan.explanation.binding
    data = portfolio(mmp("a", 100, cost="999999999.5"), budget=2_000_000_000, currency="JPY")
    data["value_streams"] = [{"id": "s", "max_budget": "999999999.5"}]
    binding = solve_valid(data).explanation.binding
    assert "value stream s is at its max budget in 2027Q1 (1,000,000,000)" in binding, binding


def test_units_in_sentences_keep_the_digits_they_need():
    plan = solve_valid(portfolio(mmp("a", 100, units="0.0003"), capacity="0.0003"))
    assert "pool p is full in 2027Q1 (0.0003 of 0.0003 units)" in plan.explanation.binding


def test_infeasibility_sentences_keep_an_amount_smaller_than_the_minor_unit():
    """A baseline budget of 0.0001 with max_change 50 %: 'baseline budget 0' would not explain anything."""
    data = baseline_budget_portfolio(0)
    data["value_streams"][0]["baseline_budget"] = "0.0001"
    data["mmps"][0]["mandatory"] = True
    plan = infeasible(data)
    text = " | ".join(plan.explanation.infeasibility)
    assert "(baseline budget 0.0001)" in text, text
