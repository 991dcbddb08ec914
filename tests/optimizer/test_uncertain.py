"""Decisions over scenarios (issue 15; docs/design.md 3.11, 4.7, 5.9), checked against brute force.

The portfolios here are tiny single-quarter knapsacks (one stream, no pools): every funded set can be
enumerated, so the best plan, the best priority list and every scenario's own optimum are known exactly and
the solver's `objective` must equal them, not merely pass the validator (which it also must, on every solve).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations, permutations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import load_portfolio
from optimizer import validate
from optimizer.backends import cpsat_solver
from optimizer.formulation import build
from optimizer.instance import build_instance
from optimizer.uncertain import measures
from tests.support.builders import mmp, portfolio
from tests.support.generators import stochastic_portfolio
from tests.support.solving import solve_valid

PROBABILITIES = (Fraction(1, 4), Fraction(1, 4), Fraction(1, 2))
IDS = ("a", "b", "c", "d")


# ---------------------------------------------------------------- tiny knapsacks over scenarios


@st.composite
def knapsacks(draw) -> dict:
    """Four one-quarter MMPs (value a multiple of 8, so every figure below is whole), three scenarios with
    their own budget and some values of their own."""
    costs = {i: draw(st.integers(1, 6)) * 10 for i in IDS}
    values = {i: draw(st.integers(-2, 12)) * 8 for i in IDS}
    scenarios = []
    for n, probability in enumerate(PROBABILITIES):
        overrides = draw(st.dictionaries(st.sampled_from(IDS), st.integers(-2, 12).map(lambda v: v * 8), max_size=3))
        budget = draw(st.integers(3, 15)) * 10
        scenarios.append(
            {
                "id": f"w{n}",
                "probability": str(probability.numerator / probability.denominator),
                "budget": budget,
                "value": overrides,
            }
        )
    return portfolio(*(mmp(i, values[i], cost=costs[i]) for i in IDS), budget=100, scenarios=scenarios)


def figures(data: dict) -> list[tuple[Fraction, int, dict[str, int]]]:
    """(probability, budget, MMP values) per scenario."""
    base = {m["id"]: m["value"] for m in data["mmps"]}
    return [(p, w["budget"], {**base, **w["value"]}) for p, w in zip(PROBABILITIES, data["scenarios"], strict=True)]


def cost_of(data: dict, funded) -> int:
    costs = {m["id"]: m["cost"][0] for m in data["mmps"]}
    return sum(costs[i] for i in funded)


def subsets():
    return [set(c) for r in range(len(IDS) + 1) for c in combinations(IDS, r)]


def score(data: dict, values: list[int]) -> Fraction:
    """The risk measure of a plan's value per scenario, straight from its definition (issue 15)."""
    risk = data.get("risk", {})
    dist = [(p, Fraction(v)) for (p, _, _), v in zip(figures(data), values, strict=True)]
    expected = sum((p * v for p, v in dist), Fraction(0))
    if risk.get("measure") != "cvar":
        return expected
    weight, tail = Fraction(risk["weight"]), 1 - Fraction(risk["alpha"])
    left, total = tail, Fraction(0)
    for p, v in sorted(dist, key=lambda pv: pv[1]):  # the worst 1 - alpha of the mass, the last one in part
        take = min(p, left)
        total, left = total + take * v, left - take
    return (1 - weight) * expected + weight * total / tail


def best_plan(data: dict) -> Fraction:
    """One funded set that fits every scenario's budget, best by the measure."""
    worlds = figures(data)
    fitting = [s for s in subsets() if all(cost_of(data, s) <= budget for _, budget, _ in worlds)]
    return max(score(data, [sum(values[i] for i in s) for _, _, values in worlds]) for s in fitting)


def best_priority(data: dict) -> Fraction:
    """A strict order of the MMPs; each scenario funds its best prefix that fits its budget."""

    def prefix_value(order, budget, values) -> int:
        fitting = [order[:k] for k in range(len(order) + 1) if cost_of(data, order[:k]) <= budget]
        return max(sum(values[i] for i in prefix) for prefix in fitting)

    worlds = figures(data)
    return max(score(data, [prefix_value(order, b, v) for _, b, v in worlds]) for order in permutations(IDS))


def own_optima(data: dict) -> list[int]:
    return [max(sum(v[i] for i in s) for s in subsets() if cost_of(data, s) <= b) for _, b, v in figures(data)]


MEASURES = [{"measure": "expectation"}, {"measure": "cvar", "weight": 0.5, "alpha": 0.5}]


@pytest.mark.parametrize("risk", MEASURES, ids=lambda r: r["measure"])
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=knapsacks())
def test_one_plan_over_scenarios_is_the_best_funded_set(data, risk):
    data["risk"] = risk
    plan = solve_valid(data)
    assert plan.objective == best_plan(data)
    assert len({frozenset(o.funded) for o in plan.scenarios}) == 1, "one plan funds the same MMPs everywhere"


@pytest.mark.parametrize("risk", MEASURES, ids=lambda r: r["measure"])
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=knapsacks())
def test_a_priority_list_is_the_best_order_with_a_prefix_per_scenario(data, risk):
    data.update(risk=risk, decision="priority")
    plan = solve_valid(data)
    assert plan.objective == best_priority(data)
    assert sorted(plan.priority) == sorted(IDS)
    for outcome in plan.scenarios:  # every scenario funds a prefix of the reported order
        assert set(outcome.funded) == set(plan.priority[: len(outcome.funded)]), (plan.priority, outcome.funded)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=knapsacks())
def test_wait_and_see_is_every_scenario_s_own_optimum(data):
    data["decision"] = "per_scenario"
    plan = solve_valid(data)
    optima = own_optima(data)
    assert [o.value for o in plan.scenarios] == optima
    assert plan.objective == score(data, optima)
    # The value of information: what the best single plan leaves on the table.
    assert plan.risk.wait_and_see == score(data, optima)
    if plan.risk.value_of_information is not None:
        assert plan.risk.value_of_information == score(data, optima) - best_plan(data)


def test_priority_lists_can_beat_one_plan_and_never_lose_to_it():
    """Budget 100 or 50: one plan must fit 50 (a alone), while a priority list funds a first, then b when the
    budget allows."""
    data = portfolio(
        mmp("a", 40, cost=50),
        mmp("b", 30, cost=50),
        budget=100,
        scenarios=[{"id": "full", "probability": 0.5}, {"id": "cut", "probability": 0.5, "budget": 50}],
    )
    single = solve_valid(data)
    ranked = solve_valid({**data, "decision": "priority"})
    assert single.objective == 40
    assert ranked.objective == Fraction(1, 2) * 70 + Fraction(1, 2) * 40
    assert ranked.priority == ["a", "b"]
    assert {o.id: set(o.funded) for o in ranked.scenarios} == {"full": {"a", "b"}, "cut": {"a"}}


# ---------------------------------------------------------------- risk aversion changes the choice


def steady_or_bold(risk: dict) -> dict:
    """Budget for one MMP: `steady` is worth 50 everywhere; `bold` 120 or 0 (expected 60)."""
    return portfolio(
        mmp("steady", 50, cost=100),
        mmp("bold", 60, cost=100),
        budget=100,
        scenarios=[
            {"id": "boom", "probability": 0.5, "value": {"bold": 120}},
            {"id": "bust", "probability": 0.5, "value": {"bold": 0}},
        ],
        risk=risk,
    )


def test_expectation_takes_the_bold_bet():
    plan = solve_valid(steady_or_bold({"measure": "expectation"}))
    assert {s.mmp for s in plan.selected} == {"bold"}
    assert plan.objective == 60
    assert (plan.risk.expected, plan.risk.var, plan.risk.cvar) == (60, 0, 0)


def test_cvar_weight_makes_the_steady_choice():
    # (1 - w) 60 + w * 0 against 50: the steady MMP wins above w = 1/6.
    plan = solve_valid(steady_or_bold({"measure": "cvar", "weight": 0.3, "alpha": 0.5}))
    assert {s.mmp for s in plan.selected} == {"steady"}
    assert plan.objective == 50


def test_a_small_cvar_weight_keeps_the_bold_bet():
    plan = solve_valid(steady_or_bold({"measure": "cvar", "weight": 0.1, "alpha": 0.5}))
    assert {s.mmp for s in plan.selected} == {"bold"}
    assert plan.objective == Fraction(9, 10) * 60


@pytest.mark.parametrize(("radius", "chosen"), [(0, "bold"), (5, "bold"), (60, "steady")])
def test_a_wasserstein_radius_moves_mass_to_the_bad_scenario(radius, chosen):
    """Two scenarios at distance d = 120 (only bold's value differs): the worst case moves min(p_boom, r / d) of
    probability to `bust`, so bold is worth 60 - min(1/2, r / 120) * 120 and steady 50."""
    plan = solve_valid(steady_or_bold({"measure": "wasserstein", "radius": radius}))
    bold = 60 - min(Fraction(1, 2), Fraction(radius, 120)) * 120
    assert {s.mmp for s in plan.selected} == {chosen}
    assert plan.objective == max(bold, 50)
    assert plan.risk.worst_case == plan.objective


def test_wasserstein_distances_given_replace_the_euclidean_ones():
    risk = {"measure": "wasserstein", "radius": 10, "distances": [[0, 20], [20, 0]]}
    plan = solve_valid(steady_or_bold(risk))
    # d = 20: min(1/2, 10/20) = 1/2 of the mass moves; bold falls to 0, steady keeps 50.
    assert {s.mmp for s in plan.selected} == {"steady"}
    assert plan.objective == 50


def test_the_closed_form_of_two_scenarios_matches_the_dual():
    d = [(Fraction(1, 2), Fraction(120)), (Fraction(1, 2), Fraction(0))]
    for radius in (0, 5, 30, 60, 200):
        worst = measures.worst_case(d, [[Fraction(0), Fraction(120)], [Fraction(120), Fraction(0)]], Fraction(radius))
        assert worst.value == 60 - min(Fraction(1, 2), Fraction(radius, 120)) * 120


def _dual(d, distances, radius: Fraction, gamma: Fraction) -> Fraction:
    """The Wasserstein dual at gamma, term by term in fractions (as the definition reads)."""
    inner = sum(p * min(v + gamma * x for (_, v), x in zip(d, row)) for (p, _), row in zip(d, distances))
    return inner - radius * gamma


fractions = st.builds(Fraction, st.integers(-500, 500), st.sampled_from([1, 2, 3, 7, 100]))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(1, 7), radius=st.builds(Fraction, st.integers(0, 60), st.sampled_from([1, 3])))
def test_the_worst_case_is_the_dual_at_its_best_multiplier(data, n, radius):
    """The envelopes are built in whole numbers: their answer is the dual's maximum, computed plainly."""
    weights = data.draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    d = [(Fraction(w, sum(weights)), data.draw(fractions)) for w in weights]
    distances = [[abs(data.draw(fractions)) if i != j else Fraction(0) for j in range(n)] for i in range(n)]
    worst = measures.worst_case(d, distances, radius)
    assert worst.multiplier >= 0
    assert worst.value == _dual(d, distances, radius, worst.multiplier)
    for probe in (Fraction(1, 1000), Fraction(1, 10), Fraction(1), Fraction(50)):  # concave: no higher point
        assert _dual(d, distances, radius, worst.multiplier + probe) <= worst.value
        assert _dual(d, distances, radius, max(Fraction(0), worst.multiplier - probe)) <= worst.value


# ---------------------------------------------------------------- value ranges, sampled


def ranged(count: int = 40) -> dict:
    return portfolio(
        mmp("a", None, cost=60, value_range={"low": 10, "likely": 50, "high": 200}),
        mmp("b", None, cost=60, value_range={"low": 40, "likely": 60, "high": 80, "shape": "triangular"}),
        mmp("c", 30, cost=40),
        budget=100,
        scenario_count=count,
    )


def test_sampled_values_lie_in_their_range_and_repeat_with_the_seed():
    first = solve_valid(ranged(), seed=7)
    again = solve_valid(ranged(), seed=7)
    other = solve_valid(ranged(), seed=8)
    assert len(first.scenarios) == 40
    assert [o.values for o in first.scenarios] == [o.values for o in again.scenarios]
    assert [o.values for o in first.scenarios] != [o.values for o in other.scenarios]
    for o in first.scenarios:
        assert 10 <= o.values["a"] <= 200 and 40 <= o.values["b"] <= 80
        assert "c" not in o.values, "a point value is not sampled"
    assert sum(o.probability for o in first.scenarios) == 1


@pytest.mark.slow
def test_sampled_means_follow_the_estimate():
    """PERT's mean is (low + 4 likely + high) / 6, the triangular's (low + likely + high) / 3."""
    plan = solve_valid(ranged(1000), seed=3, time_limit_s=30)
    mean_a = float(sum(o.values["a"] for o in plan.scenarios)) / 1000
    mean_b = float(sum(o.values["b"] for o in plan.scenarios)) / 1000
    assert abs(mean_a - (10 + 4 * 50 + 200) / 6) < 6  # sd of this PERT is about 35: 6 is over 5 standard errors
    assert abs(mean_b - (40 + 60 + 80) / 3) < 2.5


def test_robustness_labels_say_which_choices_depend_on_the_estimates():
    plan = solve_valid(steady_or_bold({"measure": "expectation"}))
    labels = {r.mmp: (r.label, r.share) for r in plan.robustness}
    # boom: bold (120) is the own optimum; bust: steady (50).
    assert labels == {"steady": ("borderline", Fraction(1, 2)), "bold": ("borderline", Fraction(1, 2))}


# ---------------------------------------------------------------- the validator catches what is wrong


def test_the_validator_refuses_tampered_plans_over_scenarios():
    data = {**steady_or_bold({"measure": "cvar", "weight": 0.3, "alpha": 0.5}), "decision": "priority"}
    p = load_portfolio(data)
    plan = solve_valid(p)
    tampered = [
        plan.model_copy(update={"objective": plan.objective + 1}),
        plan.model_copy(
            update={"scenarios": [plan.scenarios[0].model_copy(update={"value": 999}), *plan.scenarios[1:]]}
        ),
        plan.model_copy(update={"risk": plan.risk.model_copy(update={"cvar": plan.risk.cvar + 1})}),
        plan.model_copy(update={"priority": list(reversed(plan.priority))}),
    ]
    for bad in tampered:
        assert validate(p, bad) != []


def test_the_validator_refuses_a_single_plan_that_differs_between_scenarios():
    data = steady_or_bold({"measure": "expectation"})
    p = load_portfolio(data)
    plan = solve_valid(p)
    first, second = plan.scenarios
    swapped = "steady" if "bold" in first.funded else "bold"
    bad = plan.model_copy(update={"scenarios": [first, second.model_copy(update={"funded": {swapped: "2027Q1"}})]})
    assert validate(p, bad) != []


def test_one_plan_over_scenarios_counts_its_shared_start_variables_once(monkeypatch):
    """CP-SAT's parameters depend on the number of start variables (optimizer.backends): one plan scored over
    several scenarios has one set of starts, not one per scenario, so a small portfolio keeps the small-model
    parameters."""
    import optimizer.uncertain.search as search

    counted = []

    def counting(settings, time_s, optimizing=True, starts=0):
        counted.append(starts)
        return cpsat_solver(settings, time_s, optimizing, starts)

    monkeypatch.setattr(search, "cpsat_solver", counting)
    data = stochastic_portfolio(0)  # seed 0: decision "plan"
    assert data["decision"] == "plan" and len(data["scenarios"]) >= 2
    p = load_portfolio(data)
    solve_valid(p, workers=1, time_limit_s=20)
    single = len(build(build_instance(p)).x)
    assert counted and set(counted) == {single}
