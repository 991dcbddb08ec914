"""The bundled fixtures and the README example load, solve and pass the validator."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from models import load_portfolio
from tests.support.paths import FIXTURES, README
from tests.support.solving import solve_valid


def _load(name: str):
    return load_portfolio(json.loads((FIXTURES / name).read_text()))


@pytest.mark.slow
def test_insurance_fy27_is_proven_optimal():
    portfolio = _load("insurance-fy27.json")
    plan = solve_valid(portfolio, time_limit_s=60)
    assert plan.status == "optimal"
    assert plan.gap == 0
    mandatory = {m.id for m in portfolio.mmps if m.mandatory}
    assert mandatory <= {s.mmp for s in plan.selected}
    # The budget binds: the plan cannot fund everything.
    assert 0 < len(plan.selected) < len(portfolio.mmps)


def test_insurance_fy27_has_the_shape_the_readme_promises():
    p = _load("insurance-fy27.json")
    assert len(p.value_streams) >= 6 and len(p.mmps) >= 40 and len(p.pools) >= 12 and len(p.quarters) == 4
    assert {m.category for m in p.mmps} == {"business", "enabler", "tech-debt"}
    assert any(m.mandatory for m in p.mmps) and any(m.requires for m in p.mmps)
    assert p.investment_guardrails and p.key_results


def test_wsjf_backlog_is_valued_from_wsjf_scores():
    portfolio = _load("wsjf-backlog.json")
    assert all(m.value is None and m.wsjf is not None for m in portfolio.mmps)
    plan = solve_valid(portfolio)
    assert plan.status == "optimal"
    by_id = {m.id: m for m in portfolio.mmps}
    assert plan.value.mmps == sum(by_id[s.mmp].wsjf.cost_of_delay for s in plan.selected)


def test_infeasible_mandatory_is_explained():
    plan = solve_valid(_load("infeasible-mandatory.json"))
    assert plan.status == "infeasible"
    assert plan.selected == []
    assert any("mandatory" in line for line in plan.explanation.infeasibility)


def test_readme_example_solves():
    example = json.loads(README.read_text().split("```json\n")[1].split("```")[0])
    plan = solve_valid(example)
    assert plan.status == "optimal"
    assert {s.mmp for s in plan.selected} == {"claims-api", "fnol-app"}


@pytest.mark.slow  # 60 scenarios: the search uses its whole time limit
def test_insurance_fy27_risk_weighs_uncertain_values_and_budget_cuts():
    portfolio = _load("insurance-fy27-risk.json")
    ranged = [m for m in portfolio.mmps if m.value_range]
    assert len(ranged) >= 5 and portfolio.risk.measure == "cvar" and portfolio.risk.weight == Decimal("0.3")
    cuts = sorted(s.budget / portfolio.budget for s in portfolio.scenarios if s.budget is not None)
    assert cuts == [Decimal("0.8"), Decimal("0.9")]  # the budget may be cut by 20 % or 10 %
    plan = solve_valid(portfolio, time_limit_s=10)
    assert plan.status in ("optimal", "feasible")
    r = plan.risk
    assert len(plan.scenarios) == len(portfolio.scenarios) * portfolio.scenario_count
    assert r.cvar <= r.var <= r.p50 <= r.p90 and r.p10 <= r.p50 and r.cvar <= r.expected
    # The objective is the maximized quantity: 0.7 E + 0.3 CVaR.
    assert abs(plan.objective - (Decimal("0.7") * r.expected + Decimal("0.3") * r.cvar)) <= Decimal("0.01")
    # One plan keeps the rules in every scenario: it fits the deepest cut.
    assert len({frozenset(o.funded.items()) for o in plan.scenarios}) == 1


def test_multiple_choice_funds_one_alternative_per_initiative_and_the_compliance_work():
    portfolio = _load("multiple-choice.json")
    plan = solve_valid(portfolio)
    funded = {s.mmp for s in plan.selected}
    for group in portfolio.groups:
        assert group.min <= len(funded & set(group.mmps)) <= group.max
    compliance = {m.id for m in portfolio.mmps if m.value is not None and m.value < 0}
    assert compliance and all(m.mandatory for m in portfolio.mmps if m.id in compliance)
    assert compliance <= funded, "negative-value regulatory work is funded because it is mandatory"
    assert plan.value.mmps < sum(m.value for m in portfolio.mmps if m.id in funded - compliance)


def test_insurance_q3_replan_is_proven_optimal_and_pivots_where_it_pays():
    # As of 2027Q3: eleven MMPs done, four in flight. fnol-app (now worth 400,000 after its delay, salvage
    # 300,000, 700,000 still to spend; photo-damage-ai, which needed it, was bought instead) is stopped; the
    # in-house pricing engine (6,000,000, 900,000 to go) continues on its 2027Q1 start.
    portfolio = _load("insurance-fy27-q3-replan.json")
    plan = solve_valid(portfolio, time_limit_s=60)
    assert plan.status == "optimal"
    decisions = {r.mmp: r.decision for r in plan.in_flight}
    assert decisions == {
        "fnol-app": "stop",
        "policy-api": "continue",
        "pricing-engine-inhouse": "continue",
        "solvency2-qrt": "continue",
    }
    starts = {s.mmp: portfolio.quarters.index(s.start) for s in plan.selected}
    assert all(q >= 2 for m, q in starts.items() if m not in decisions)
    assert len(plan.done) == 11 and plan.value.salvage == 300_000
    kr = {k.id: k.before_as_of for k in plan.key_results}
    assert kr == {"kr-claims-cycle": 10, "kr-nps": 3, "kr-digital-sales": 8}
