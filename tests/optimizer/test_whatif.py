"""What-if scenarios: each change does exactly what it says, unknown ids are named by path, plans are compared
exactly, and a what-if request on the insurance fixture behaves like budgets should.

Change tests apply one change to a small dict portfolio and compare the whole result with the base dumped and
edited by hand, so a change that touches anything else fails. Every apply also asserts that the base portfolio
is unchanged.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter

from models import Plan, Portfolio, PortfolioError, SolverSettings, load_portfolio
from models.plan import BudgetRow, CapacityRow, Explanation, ReserveRow, SelectedMMP, SolverInfo
from models.portfolio import per_quarter
from models.scenarios import (
    BudgetShift,
    CapacityShift,
    Change,
    Move,
    PlanSummary,
    Scenario,
    ScenarioDiff,
    WhatIfRequest,
)
from optimizer import validate
from optimizer.studies.whatif import WhatIfStudy, apply_changes, diff, scenario_portfolios, summarize
from runtime import InlineExecutor, run_study
from tests.support.paths import FIXTURES
from tests.support.solving import solve_valid
from tests.support.studies import run_study_here

Q1, Q2 = "2027Q1", "2027Q2"
D = Decimal


def base_data() -> dict[str, Any]:
    """Two quarters, streams s and t, a scalar pool p and a per-quarter pool r, four MMPs with references."""
    return {
        "name": "what-if",
        "quarters": [Q1, Q2],
        "budget": 1000,
        "value_streams": [{"id": "s", "max_budget": 800}, {"id": "t"}],
        "pools": [
            {"id": "p", "value_stream": "s", "capacity": 4},
            {"id": "r", "value_stream": "t", "capacity": [2, 3]},
        ],
        "mmps": [
            {
                "id": "a",
                "value_stream": "s",
                "value": 100,
                "cost": [100],
                "demand": {"p": [2]},
                "key_results": {"kr": 1},
            },
            {"id": "b", "value_stream": "s", "value": 90, "cost": [50, 50], "requires": ["a"], "excludes": ["c"]},
            {"id": "c", "value_stream": "t", "value": 80, "cost": [60], "demand": {"r": [1]}, "excludes": ["b"]},
            {"id": "d", "value_stream": "t", "value": 10, "cost": [10], "mandatory": True},
        ],
        "key_results": [{"id": "kr", "target": 5, "value_per_unit": 10}],
        "baseline_plan": {"a": Q1, "b": Q2},
    }


@pytest.fixture
def base() -> Portfolio:
    return load_portfolio(base_data())


def changes(*items: dict) -> list[Change]:
    return TypeAdapter(list[Change]).validate_python(list(items))


def apply(portfolio: Portfolio, *items: dict, path: str = "$.changes") -> dict[str, Any]:
    """Apply the changes, assert the input portfolio is untouched, and return the result as data."""
    before = copy.deepcopy(portfolio.model_dump())
    try:
        result = apply_changes(portfolio, changes(*items), path)
    finally:
        assert portfolio.model_dump() == before, "apply_changes mutated its input"
    assert isinstance(result, Portfolio) and result is not portfolio
    return result.model_dump()


def problems(portfolio: Portfolio, *items: dict, path: str = "$.changes") -> list[tuple[str, str]]:
    with pytest.raises(PortfolioError) as err:
        apply(portfolio, *items, path=path)
    return [(p.path, p.message) for p in err.value.problems]


def mmp_of(data: dict[str, Any], mmp_id: str) -> dict[str, Any]:
    return next(m for m in data["mmps"] if m["id"] == mmp_id)


# ---------------------------------------------------------------- each change does exactly what it says


def test_scale_budget_every_quarter_keeps_a_scalar(base):
    expected = base.model_dump() | {"budget": D(900)}
    assert apply(base, {"op": "scale_budget", "factor": "0.9"}) == expected


def test_scale_budget_one_quarter_expands_a_scalar(base):
    expected = base.model_dump() | {"budget": [D(1000), D(1100)]}
    assert apply(base, {"op": "scale_budget", "factor": "1.1", "quarter": Q2}) == expected


def test_scale_budget_of_a_list_scales_every_entry(base):
    listed = apply(base, {"op": "set_budget", "amount": 500, "quarter": Q1})
    result = apply(load_portfolio(listed), {"op": "scale_budget", "factor": "0.5"})
    assert result == listed | {"budget": [D(250), D(500)]}


def test_set_budget_every_quarter_and_one_quarter(base):
    assert apply(base, {"op": "set_budget", "amount": 700}) == base.model_dump() | {"budget": D(700)}
    one = apply(base, {"op": "set_budget", "amount": 700, "quarter": Q2})
    assert one == base.model_dump() | {"budget": [D(1000), D(700)]}


def test_set_stream_budget_sets_only_the_given_guardrails(base):
    expected = base.model_dump()
    expected["value_streams"][1]["min_budget"] = D(50)
    assert apply(base, {"op": "set_stream_budget", "value_stream": "t", "min_budget": 50}) == expected
    expected["value_streams"][1]["max_budget"] = D(600)
    change = {"op": "set_stream_budget", "value_stream": "t", "min_budget": 50, "max_budget": 600}
    assert apply(base, change) == expected


def test_set_stream_budget_without_a_guardrail_is_a_problem(base):
    assert problems(base, {"op": "set_stream_budget", "value_stream": "s"}) == [
        ("$.changes[0]", "nothing to change: give min_budget, max_budget or both")
    ]


def test_change_capacity_every_quarter(base):
    expected = base.model_dump()
    expected["pools"][0]["capacity"] = D(6)
    expected["pools"][1]["capacity"] = [D(1), D(2)]
    result = apply(
        base, {"op": "change_capacity", "pool": "p", "delta": 2}, {"op": "change_capacity", "pool": "r", "delta": -1}
    )
    assert result == expected


def test_change_capacity_one_quarter_expands_a_scalar(base):
    expected = base.model_dump()
    expected["pools"][0]["capacity"] = [D(4), D("1.5")]
    assert apply(base, {"op": "change_capacity", "pool": "p", "delta": "-2.5", "quarter": Q2}) == expected


def test_change_capacity_below_zero_is_a_problem(base):
    found = problems(base, {"op": "change_capacity", "pool": "r", "delta": -3, "quarter": Q1})
    assert [path for path, _ in found] == ["$.changes[0].delta"]
    assert "'r'" in found[0][1] and "below zero" in found[0][1]
    # Down to exactly zero is fine.
    expected = base.model_dump()
    expected["pools"][1]["capacity"] = [D(0), D(3)]
    assert apply(base, {"op": "change_capacity", "pool": "r", "delta": -2, "quarter": Q1}) == expected


@pytest.mark.parametrize(
    ("mmp", "mode", "mandatory", "excluded"),
    [("a", "in", True, False), ("d", "out", False, True), ("a", "free", False, False)],
)
def test_force_mmp(base, mmp, mode, mandatory, excluded):
    expected = base.model_dump()
    mmp_of(expected, mmp).update(mandatory=mandatory, excluded=excluded)
    assert apply(base, {"op": "force_mmp", "mmp": mmp, "mode": mode}) == expected


def test_force_free_releases_a_mandatory_or_excluded_mmp(base):
    forced = apply_changes(base, changes({"op": "force_mmp", "mmp": "a", "mode": "in"}))
    assert mmp_of(forced.model_dump(), "a")["mandatory"]
    freed = apply_changes(forced, changes({"op": "force_mmp", "mmp": "a", "mode": "free"}))
    assert freed.model_dump() == base.model_dump() | {"mmps": freed.model_dump()["mmps"]}
    assert not mmp_of(freed.model_dump(), "a")["mandatory"] and not mmp_of(freed.model_dump(), "a")["excluded"]


def test_force_in_then_out_ends_out(base):
    result = apply(base, {"op": "force_mmp", "mmp": "c", "mode": "in"}, {"op": "force_mmp", "mmp": "c", "mode": "out"})
    assert (mmp_of(result, "c")["mandatory"], mmp_of(result, "c")["excluded"]) == (False, True)


def test_set_mmp_sets_only_the_given_fields(base):
    expected = base.model_dump()
    mmp_of(expected, "b").update(value=D(95), earliest_start=Q2)
    assert apply(base, {"op": "set_mmp", "mmp": "b", "value": 95, "earliest_start": Q2}) == expected
    mmp_of(expected, "b").update(cost=[D(70)], deadline=Q1, earliest_start=None, value=D(90))
    assert apply(base, {"op": "set_mmp", "mmp": "b", "cost": [70], "deadline": Q1}) == expected


def test_set_mmp_with_nothing_to_set_is_a_problem(base):
    assert problems(base, {"op": "set_mmp", "mmp": "b"}) == [
        ("$.changes[0]", "nothing to change: give value, cost, earliest_start or deadline")
    ]


def test_add_mmp_appends_it(base):
    new = {"id": "e", "value_stream": "t", "value": 40, "cost": [20], "requires": ["c"]}
    expected = base.model_dump()
    expected["mmps"].append(load_portfolio(base_data() | {"mmps": [*base_data()["mmps"], new]}).mmps[-1].model_dump())
    assert apply(base, {"op": "add_mmp", "mmp": new}) == expected


def test_add_mmp_with_an_existing_id_is_a_problem(base):
    found = problems(base, {"op": "add_mmp", "mmp": {"id": "c", "value_stream": "t", "value": 1, "cost": [1]}})
    assert found == [("$.changes[0].mmp.id", "MMP 'c' already exists")]


def test_add_mmp_with_bad_references_fails_the_changed_portfolio_check(base):
    new = {"id": "e", "value_stream": "nope", "value": 1, "cost": [1], "demand": {"zz": [1]}, "requires": ["ghost"]}
    found = problems(base, {"op": "add_mmp", "mmp": new}, path="$.scenarios[3].changes")
    assert [path for path, _ in found] == ["$.mmps[4].value_stream", "$.mmps[4].demand.zz", "$.mmps[4].requires[0]"]
    assert all(message.startswith("after the changes at $.scenarios[3].changes: ") for _, message in found)
    assert found[1][1].endswith("unknown pool 'zz'")


def test_remove_mmp_removes_every_reference(base):
    expected = base.model_dump()
    expected["mmps"] = [m for m in expected["mmps"] if m["id"] != "a"]
    mmp_of(expected, "b")["requires"] = []
    expected["baseline_plan"] = {"b": Q2}
    assert apply(base, {"op": "remove_mmp", "mmp": "a"}) == expected
    expected["mmps"] = [m for m in expected["mmps"] if m["id"] != "c"]
    mmp_of(expected, "b")["excludes"] = []
    assert apply(base, {"op": "remove_mmp", "mmp": "a"}, {"op": "remove_mmp", "mmp": "c"}) == expected


# ---------------------------------------------------------------- changes reach the scenarios (issue 15)


@pytest.fixture
def uncertain(base) -> Portfolio:
    """The base with two budget scenarios, one with its own value of a and capacity of r, a group, a synergy
    and an all-or-none set."""
    data = base.model_dump()
    data["scenarios"] = [
        {"id": "full", "probability": 0.5, "value": {"a": 50}, "capacity": {"r": 3}},
        {"id": "cut", "probability": 0.5, "budget": [100, 50], "cost": {"c": [70]}},
    ]
    data["groups"] = [{"id": "g", "mmps": ["a", "c"], "max": 1}]
    data["synergies"] = [{"id": "ac", "mmps": ["a", "c"], "value": 5}]
    data["together"] = [["a", "d"], ["b", "c", "d"]]
    data["mmps"][1]["requires_any"] = ["a", "d"]
    return load_portfolio(data)


def scenario(data: dict[str, Any], scenario_id: str) -> dict[str, Any]:
    return next(s for s in data["scenarios"] if s["id"] == scenario_id)


def test_scaling_the_budget_scales_a_scenario_s_own_budget(uncertain):
    data = apply(uncertain, {"op": "scale_budget", "factor": 1.5})
    assert scenario(data, "cut")["budget"] == [150, 75]
    assert scenario(data, "full")["budget"] is None  # it has the portfolio's own budget


def test_setting_a_quarter_s_budget_keeps_a_scenario_s_proportion(uncertain):
    old = per_quarter(uncertain.budget, 2)
    data = apply(uncertain, {"op": "set_budget", "amount": old[1] * 2, "quarter": Q2})
    assert scenario(data, "cut")["budget"] == [100, 100]


def test_capacity_added_to_a_pool_is_added_to_a_scenario_s_own_capacity_of_it(uncertain):
    data = apply(uncertain, {"op": "change_capacity", "pool": "r", "delta": 2})
    assert scenario(data, "full")["capacity"] == {"r": 5}
    assert problems(uncertain, {"op": "change_capacity", "pool": "r", "delta": -4})[0][0] == "$.changes[0].delta"


def test_a_value_set_replaces_the_scenarios_own_values_of_that_mmp(uncertain):
    data = apply(uncertain, {"op": "set_mmp", "mmp": "a", "value": 70})
    assert mmp_of(data, "a")["value"] == 70 and scenario(data, "full")["value"] == {}


def test_a_removed_mmp_leaves_no_reference_in_choices_or_scenarios(uncertain):
    data = apply(uncertain, {"op": "remove_mmp", "mmp": "a"}, {"op": "remove_mmp", "mmp": "c"})
    assert data["groups"] == [] and data["synergies"] == []
    assert data["together"] == [["b", "d"]]
    assert mmp_of(data, "b")["requires_any"] == ["d"]
    assert scenario(data, "full")["value"] == {} and scenario(data, "cut")["cost"] == {}


def test_set_key_result_target(base):
    expected = base.model_dump()
    expected["key_results"][0]["target"] = D("2.5")
    assert apply(base, {"op": "set_key_result_target", "key_result": "kr", "target": "2.5"}) == expected


def test_set_key_result_target_zero_fails_the_check(base):
    found = problems(base, {"op": "set_key_result_target", "key_result": "kr", "target": 0})
    assert found == [("$.key_results[0].target", "after the changes at $.changes: target must be greater than zero")]


def test_changes_apply_in_order(base):
    new = {"id": "e", "value_stream": "t", "value": 40, "cost": [20]}
    result = apply(base, {"op": "add_mmp", "mmp": new}, {"op": "force_mmp", "mmp": "e", "mode": "in"})
    assert mmp_of(result, "e")["mandatory"] is True
    with pytest.raises(PortfolioError) as err:
        apply(base, {"op": "force_mmp", "mmp": "e", "mode": "in"}, {"op": "add_mmp", "mmp": new})
    assert [p.path for p in err.value.problems] == ["$.changes[0].mmp"]


def test_no_changes_give_an_equal_new_portfolio(base):
    assert apply(base) == base.model_dump()


# ---------------------------------------------------------------- unknown ids, by path

VALID = {"op": "set_budget", "amount": 900}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"op": "scale_budget", "factor": 2, "quarter": "2030Q1"}, "quarter", "unknown quarter '2030Q1'"),
        ({"op": "set_budget", "amount": 5, "quarter": "Q9"}, "quarter", "unknown quarter 'Q9'"),
        ({"op": "set_stream_budget", "value_stream": "x", "max_budget": 5}, "value_stream", "unknown value stream 'x'"),
        ({"op": "change_capacity", "pool": "x", "delta": 1}, "pool", "unknown pool 'x'"),
        ({"op": "change_capacity", "pool": "p", "delta": 1, "quarter": "Q9"}, "quarter", "unknown quarter 'Q9'"),
        ({"op": "force_mmp", "mmp": "x", "mode": "in"}, "mmp", "unknown MMP 'x'"),
        ({"op": "set_mmp", "mmp": "x", "value": 1}, "mmp", "unknown MMP 'x'"),
        ({"op": "set_mmp", "mmp": "a", "earliest_start": "Q9"}, "earliest_start", "unknown quarter 'Q9'"),
        ({"op": "set_mmp", "mmp": "a", "deadline": "Q9"}, "deadline", "unknown quarter 'Q9'"),
        ({"op": "remove_mmp", "mmp": "x"}, "mmp", "unknown MMP 'x'"),
        ({"op": "set_key_result_target", "key_result": "x", "target": 1}, "key_result", "unknown key result 'x'"),
    ],
)
def test_unknown_id_names_the_change_field(base, change, field, message):
    assert problems(base, VALID, change) == [(f"$.changes[1].{field}", message)]
    assert problems(base, change, path="$.scenarios[2].changes") == [(f"$.scenarios[2].changes[0].{field}", message)]


def test_every_bad_change_is_listed_at_once(base):
    found = problems(base, {"op": "remove_mmp", "mmp": "x"}, VALID, {"op": "change_capacity", "pool": "y", "delta": 1})
    assert found == [("$.changes[0].mmp", "unknown MMP 'x'"), ("$.changes[2].pool", "unknown pool 'y'")]


# ---------------------------------------------------------------- summaries and diffs on hand-made plans


def plan(
    selected: dict[str, str],
    budget: dict[tuple[str, str], Any],
    capacity: dict[tuple[str, str], tuple[Any, Any, Any]],
    objective: Any = None,
    status: str = "optimal",
    reserve: dict[str, Any] | None = None,
) -> Plan:
    """A plan from starts, allocations and (used, available, purchased) capacity; only the compared rows."""
    return Plan(
        status=status,
        objective=objective,
        gap=0.0 if objective is not None else None,
        selected=[SelectedMMP(mmp=m, start=q, finish=q, value=0, cost=0) for m, q in selected.items()],
        budget=[
            BudgetRow(value_stream=v, quarter=q, allocated=a, spent=0, min=0, max=None) for (v, q), a in budget.items()
        ],
        reserve=[ReserveRow(quarter=q, unallocated=u) for q, u in (reserve or {}).items()],
        capacity=[
            CapacityRow(pool=p, quarter=q, used=u, available=a, purchased=b) for (p, q), (u, a, b) in capacity.items()
        ],
        solver=SolverInfo(
            backend="cp-sat", time_s=0, time_limit_s=1, seed=0, relative_gap=0, workers=1, money_resolution=1
        ),
    )


BASE_PLAN = plan(
    {"a": Q1, "b": Q2, "c": Q1, "d": Q1},
    {("s", Q1): 300, ("s", Q2): 200, ("t", Q1): 100, ("t", Q2): 0},
    {("p", Q1): (2, 4, 0), ("p", Q2): (4, 4, 0), ("r", Q1): (1, 2, 0), ("r", Q2): (0, 3, 0)},
    objective=D("1000.5"),
    reserve={Q1: 600, Q2: 800},
)


def test_summarize():
    assert summarize(BASE_PLAN) == PlanSummary(
        status="optimal", objective=D("1000.5"), gap=0.0, selected=4, allocated=D(600), unallocated=D(1400)
    )
    empty = plan({}, {}, {}, status="infeasible")
    empty.explanation = Explanation(infeasibility=["budget: 2027Q1 holds 100 but mandatory a costs 300"])
    assert summarize(empty) == PlanSummary(
        status="infeasible",
        objective=None,
        gap=None,
        selected=0,
        allocated=D(0),
        unallocated=D(0),
        reasons=["budget: 2027Q1 holds 100 but mandatory a costs 300"],
    )


def test_diff_lists_exactly_what_changed():
    other = plan(
        {"a": Q2, "c": Q1, "d": Q1, "e": Q1, "f": Q2},
        {("s", Q1): D("250.25"), ("s", Q2): 200, ("t", Q1): 100, ("t", Q2): 75},
        {("p", Q1): (0, 4, 0), ("p", Q2): (4, 5, 1), ("r", Q1): (1, 2, 0), ("r", Q2): (3, 3, 1)},
        objective=D("900.25"),
    )
    assert diff(BASE_PLAN, other) == ScenarioDiff(
        value_delta=D("-100.25"),
        added=["e", "f"],
        dropped=["b"],
        moved=[Move(mmp="a", from_quarter=Q1, to_quarter=Q2)],
        budget_shifts=[
            BudgetShift(value_stream="s", quarter=Q1, delta=D("-49.75")),
            BudgetShift(value_stream="t", quarter=Q2, delta=D(75)),
        ],
        capacity_shifts=[
            CapacityShift(pool="p", quarter=Q1, free_delta=D(2)),
            CapacityShift(pool="p", quarter=Q2, free_delta=D(2)),
            CapacityShift(pool="r", quarter=Q2, free_delta=D(-2)),
        ],
    )


def test_diff_of_a_plan_with_itself_is_empty():
    assert diff(BASE_PLAN, BASE_PLAN) == ScenarioDiff(
        value_delta=D(0), added=[], dropped=[], moved=[], budget_shifts=[], capacity_shifts=[]
    )


def test_diff_against_a_plan_without_a_solution():
    nothing = plan({}, {}, {}, status="infeasible")
    assert diff(BASE_PLAN, nothing) == ScenarioDiff(
        value_delta=None, added=[], dropped=["a", "b", "c", "d"], moved=[], budget_shifts=[], capacity_shifts=[]
    )
    assert diff(nothing, BASE_PLAN).added == ["a", "b", "c", "d"]


def test_diff_of_small_solves():
    # One quarter, pool p of 2 units; a (100) and b (80) need 2 units each, so only a fits. Three more
    # units fit both and leave one unit free; the least-spend tie-break allocates exactly the spend.
    data = {
        "name": "capacity",
        "quarters": [Q1],
        "budget": 1000,
        "value_streams": [{"id": "s"}],
        "pools": [{"id": "p", "value_stream": "s", "capacity": 2}],
        "mmps": [
            {"id": "a", "value_stream": "s", "value": 100, "cost": [100], "demand": {"p": [2]}},
            {"id": "b", "value_stream": "s", "value": 80, "cost": [150], "demand": {"p": [2]}},
        ],
    }
    before = load_portfolio(data)
    after = apply_changes(before, changes({"op": "change_capacity", "pool": "p", "delta": 3}))
    base_plan, other_plan = solve_valid(before), solve_valid(after)
    assert diff(base_plan, other_plan) == ScenarioDiff(
        value_delta=D(80),
        added=["b"],
        dropped=[],
        moved=[],
        budget_shifts=[BudgetShift(value_stream="s", quarter=Q1, delta=D(150))],
        capacity_shifts=[CapacityShift(pool="p", quarter=Q1, free_delta=D(1))],
    )
    assert summarize(other_plan).allocated == D(250) and summarize(other_plan).unallocated == D(750)


def test_a_scenario_without_a_plan_says_why():
    both = changes({"op": "force_mmp", "mmp": "b", "mode": "in"}, {"op": "force_mmp", "mmp": "c", "mode": "in"})
    request = WhatIfRequest(portfolio=base_data(), scenarios=[Scenario(name="b and c", changes=both)])
    run = run_study_here(WhatIfStudy(), request)
    for portfolio, plan in run.solved():
        assert validate(portfolio, plan) == [], "plan failed the independent validator"
    response = run.response
    assert response.base.status == "optimal" and response.base.reasons == []
    summary = response.scenarios[0].summary
    assert summary.status == "infeasible"
    assert summary.reasons and any("exclude" in reason for reason in summary.reasons), summary.reasons


# ---------------------------------------------------------------- the what-if study on the insurance fixture

SETTINGS = SolverSettings(time_limit_s=20, workers=1, what_it_takes=False)  # as the CLI runs what-ifs
FORCED = "broker-portal-build"  # not in the optimal base plan (its pool is full in 2027Q1)


def insurance_request() -> WhatIfRequest:
    portfolio = json.loads((FIXTURES / "insurance-fy27.json").read_text())
    scenarios = [
        Scenario(name="budget -10%", changes=changes({"op": "scale_budget", "factor": "0.9"})),
        Scenario(name="budget +10%", changes=changes({"op": "scale_budget", "factor": "1.1"})),
        Scenario(name=f"force in {FORCED}", changes=changes({"op": "force_mmp", "mmp": FORCED, "mode": "in"})),
    ]
    return WhatIfRequest(portfolio=portfolio, scenarios=scenarios, settings=SETTINGS)


@pytest.fixture(scope="module")
def insurance() -> tuple[WhatIfRequest, list[Plan], Any]:
    """The request, its plans solved serially (each validated against its own portfolio), and the response."""
    request = insurance_request()
    run = run_study_here(WhatIfStudy(), request)
    for portfolio, p in run.solved():
        assert validate(portfolio, p) == [], "plan failed the independent validator"
    return request, run.plans, run.response


def selected(p: Plan) -> dict[str, str]:
    return {s.mmp: s.start for s in p.selected}


def test_insurance_scenario_portfolios_change_only_what_they_say():
    request = insurance_request()
    base, cut, raised, forced = scenario_portfolios(request)
    assert base == request.portfolio
    assert (cut.budget, raised.budget) == (D(6750000), D(8250000))
    assert next(m for m in forced.mmps if m.id == FORCED).mandatory
    assert cut.model_dump() == base.model_dump() | {"budget": cut.budget}


@pytest.mark.slow
def test_insurance_budget_moves_value_the_right_way(insurance):
    _, plans, response = insurance
    base, cut, raised, forced = plans
    assert base.status == "optimal"
    if cut.status == "optimal":
        assert cut.objective <= base.objective
    if raised.status == "optimal":
        assert raised.objective >= base.objective
    if forced.status == "optimal":
        assert forced.objective <= base.objective
        assert FORCED in selected(forced)
    assert [s.name for s in response.scenarios] == ["budget -10%", "budget +10%", f"force in {FORCED}"]
    assert response.base == summarize(base)


@pytest.mark.slow
def test_insurance_diffs_are_consistent_with_the_plans(insurance):
    _, plans, response = insurance
    base = plans[0]
    for result, other in zip(response.scenarios, plans[1:], strict=True):
        d = result.diff
        assert result.summary == summarize(other)
        assert d.value_delta == other.objective - base.objective
        assert d.added == sorted(selected(other).keys() - selected(base).keys())
        assert d.dropped == sorted(selected(base).keys() - selected(other).keys())
        moved = {(m, q, selected(other)[m]) for m, q in selected(base).items() if selected(other).get(m, q) != q}
        assert {(m.mmp, m.from_quarter, m.to_quarter) for m in d.moved} == moved
        allocated = {(r.value_stream, r.quarter): r.allocated for r in base.budget}
        for row in other.budget:
            shift = next(
                (s.delta for s in d.budget_shifts if (s.value_stream, s.quarter) == (row.value_stream, row.quarter)),
                D(0),
            )
            assert shift == row.allocated - allocated[row.value_stream, row.quarter]
        free = {(r.pool, r.quarter): r.available + r.purchased - r.used for r in base.capacity}
        for row in other.capacity:
            shift = next(
                (s.free_delta for s in d.capacity_shifts if (s.pool, s.quarter) == (row.pool, row.quarter)), D(0)
            )
            assert shift == row.available + row.purchased - row.used - free[row.pool, row.quarter]
        assert all(s.delta != 0 for s in d.budget_shifts) and all(s.free_delta != 0 for s in d.capacity_shifts)
    assert FORCED in response.scenarios[2].diff.added


@pytest.mark.slow
def test_insurance_in_a_process_pool_matches_the_serial_run(insurance):
    request, _, serial = insurance
    parallel = run_study_here(WhatIfStudy(), request, processes=2).response
    pairs = [(parallel.base, serial.base)] + [
        (p.summary, s.summary) for p, s in zip(parallel.scenarios, serial.scenarios)
    ]
    assert [p.name for p in parallel.scenarios] == [s.name for s in serial.scenarios]
    # Where both runs proved their plan optimal (on a loaded machine not every solve does), they agree.
    proven = [(p, s) for p, s in pairs if p.status == s.status == "optimal"]
    assert proven, "no scenario proven optimal in both runs"
    assert all(p.objective == s.objective for p, s in proven)


# ---------------------------------------------------------------- bad requests fail before any solve


class NoSolves(InlineExecutor):
    def submit(self, task):
        raise AssertionError("nothing may be solved for a bad request")


def test_a_bad_scenario_fails_the_request_before_any_solve(base):
    request = WhatIfRequest(
        portfolio=base,
        scenarios=[
            Scenario(name="fine", changes=changes(VALID)),
            Scenario(name="typo", changes=changes(VALID, {"op": "force_mmp", "mmp": "zz", "mode": "out"})),
            Scenario(name="broken", changes=changes({"op": "set_key_result_target", "key_result": "kr", "target": 0})),
        ],
    )
    with pytest.raises(PortfolioError) as err:
        run_study(NoSolves(), WhatIfStudy(), request, SETTINGS)
    assert [(p.path, p.message) for p in err.value.problems] == [
        ("$.scenarios[1].changes[1].mmp", "scenario 'typo': unknown MMP 'zz'"),
        (
            "$.key_results[0].target",
            "scenario 'broken': after the changes at $.scenarios[2].changes: target must be greater than zero",
        ),
    ]


def test_an_unsound_base_portfolio_is_reported_under_portfolio():
    data = base_data()
    data["mmps"][0]["requires"] = ["ghost"]
    request = WhatIfRequest(portfolio=data, scenarios=[Scenario(name="none")])
    with pytest.raises(PortfolioError) as err:
        run_study(NoSolves(), WhatIfStudy(), request, SETTINGS)
    assert [(p.path, p.message) for p in err.value.problems] == [
        ("$.portfolio.mmps[0].requires[0]", "unknown MMP 'ghost'")
    ]


def test_whatif_study_in_this_process_on_a_small_portfolio(base):
    request = WhatIfRequest(
        portfolio=base,
        scenarios=[Scenario(name="drop a", changes=changes({"op": "remove_mmp", "mmp": "a"}))],
        settings=SETTINGS,
    )
    response = run_study_here(WhatIfStudy(), request).response
    plans = [solve_valid(p, time_limit_s=20, workers=1) for p in scenario_portfolios(request)]
    assert response == WhatIfStudy().assemble(request, plans)
    # Without a, b no longer waits for it (it never could within two quarters) and beats c.
    assert selected(plans[0]).keys() == {"a", "c", "d"}
    assert selected(plans[1]) == {"b": Q1, "d": selected(plans[1])["d"]}
    assert (response.scenarios[0].diff.added, response.scenarios[0].diff.dropped) == (["b"], ["a", "c"])
