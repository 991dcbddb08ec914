"""The bundled fixtures and the README example load, solve and pass the validator."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FIXTURES, solve_valid

from models import load_portfolio

README = Path(__file__).resolve().parent.parent / "README.md"


def _load(name: str):
    return load_portfolio(json.loads((FIXTURES / name).read_text()))


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
