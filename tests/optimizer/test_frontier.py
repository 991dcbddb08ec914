"""Budget frontier: budget points, budget spreading, marginal values, knee, and real sweeps."""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import pairwise

import pytest

from models import load_portfolio
from models.portfolio import per_quarter
from models.scenarios import FrontierPoint, FrontierRequest
from optimizer import validate
from optimizer.studies.frontier import FrontierStudy, budget_points, knee, marginal_values, with_total_budget
from tests.support import builders
from tests.support.paths import FIXTURES
from tests.support.studies import run_study_here

D = Decimal
SETTINGS = {"time_limit_s": 20, "workers": 1, "what_it_takes": False}  # as the CLI sweeps


@pytest.fixture(scope="module")
def insurance():
    return load_portfolio(json.loads((FIXTURES / "insurance-fy27.json").read_text()))


def _request(portfolio, **source) -> FrontierRequest:
    return FrontierRequest(portfolio=portfolio, settings=SETTINGS, **source)


# --- budget points -------------------------------------------------------------------------


def test_range_gives_evenly_spaced_points_with_both_endpoints(insurance):
    request = _request(insurance, range={"from": 100, "to": 200, "steps": 5})
    assert budget_points(request) == [D("100.00"), D("125.00"), D("150.00"), D("175.00"), D("200.00")]


def test_range_points_are_rounded_to_cents_exactly(insurance):
    request = _request(insurance, range={"from": 0, "to": 1, "steps": 4})
    points = budget_points(request)
    assert points == [D("0.00"), D("0.33"), D("0.67"), D("1.00")]
    assert [p.as_tuple().exponent for p in points] == [-2] * 4


def test_range_points_that_round_to_the_same_cent_are_kept_once(insurance):
    request = _request(insurance, range={"from": 0, "to": "0.01", "steps": 5})
    assert budget_points(request) == [D("0.00"), D("0.01")]


def test_a_descending_range_comes_back_ascending(insurance):
    request = _request(insurance, range={"from": 300, "to": 100, "steps": 3})
    assert budget_points(request) == [D("100.00"), D("200.00"), D("300.00")]


def test_a_list_is_sorted_rounded_and_deduplicated(insurance):
    request = _request(insurance, budgets=[300, 100, "100.001", 200, 300])
    assert budget_points(request) == [D("100.00"), D("200.00"), D("300.00")]


# --- spreading a total over the quarters -----------------------------------------------------


def _with_profile(portfolio, budget):
    return portfolio.model_copy(update={"budget": budget})


def test_total_is_spread_in_proportion_to_the_profile(insurance):
    base = _with_profile(insurance, [D(1), D(2), D(3), D(4)])
    assert with_total_budget(base, D(100)).budget == [D(10), D(20), D(30), D(40)]
    assert base.budget == [D(1), D(2), D(3), D(4)], "the original portfolio must not change"


@pytest.mark.parametrize("total", ["100.01", "1", "0.03", "7", "123456789.99", "0"])
def test_total_is_met_exactly_and_proportions_kept_to_the_cent(insurance, total):
    profile = [D(1), D(2), D(3), D(4)]
    spread = with_total_budget(_with_profile(insurance, profile), D(total)).budget
    assert sum(spread) == D(total)
    assert all(b >= 0 for b in spread)
    for amount, weight in zip(spread, profile):
        # Every quarter is its exact share, less than a cent off (the last takes the leftover cents).
        assert abs(amount - D(total) * weight / 10) < D("0.01") * len(profile)
    assert all(b.as_tuple().exponent >= -2 for b in spread[:-1])


def test_one_number_budget_is_spread_equally(insurance):
    assert insurance.budget == D(7500000)
    assert with_total_budget(insurance, D(10)).budget == [D("2.50")] * 4
    assert with_total_budget(insurance, D(1)).budget == [D("0.25")] * 4
    assert with_total_budget(insurance, D("0.10")).budget == [D("0.02"), D("0.02"), D("0.02"), D("0.04")]


def test_all_zero_profile_splits_equally(insurance):
    base = _with_profile(insurance, [D(0)] * 4)
    assert with_total_budget(base, D(10)).budget == [D("2.50")] * 4
    spread = with_total_budget(base, D(1000)).budget
    assert spread == [D(250)] * 4 and sum(spread) == D(1000)


# --- marginal values and knee on hand-made points -------------------------------------------


def test_marginal_values_per_consecutive_pair():
    points = [(D(100), D(10)), (D(200), D(30)), (D(300), None), (D(400), D(50)), (D(500), D(55))]
    assert marginal_values(points) == [None, 0.2, None, None, 0.05]
    assert marginal_values([]) == []


def test_marginal_values_of_frontier_points():
    points = [_fp(D(0), D(0)), _fp(D(10), D(25))]
    assert marginal_values(points) == [None, 2.5]


def _fp(budget, objective) -> FrontierPoint:
    status = "infeasible" if objective is None else "optimal"
    return FrontierPoint(budget=budget, status=status, objective=objective, gap=None, selected=[], marginal_value=None)


def test_knee_of_a_concave_curve():
    # Chord from (0, 0) to (40, 100) has slope 2.5; heights above it:
    # at 10: 50 - 25 = 25, at 20: 80 - 50 = 30, at 30: 95 - 75 = 20. The knee is at 20.
    points = [(D(0), D(0)), (D(10), D(50)), (D(20), D(80)), (D(30), D(95)), (D(40), D(100))]
    assert knee(points) == D(20)
    assert knee([_fp(b, v) for b, v in points]) == D(20)


def test_knee_ignores_points_without_objective():
    # Infeasible below 10: the chord runs from (10, 50) to (40, 100), slope 5/3;
    # heights at 20: 80 - 200/3 = 13.3, at 30: 95 - 250/3 = 11.7. The knee is at 20.
    points = [(D(0), None), (D(10), D(50)), (D(20), D(80)), (D(30), D(95)), (D(40), D(100))]
    assert knee(points) == D(20)


def test_knee_of_a_curve_that_is_not_concave_everywhere():
    # Marginals 1, 3, 0.5: the chord (0, 0) to (30, 45) has slope 1.5;
    # heights at 10: 10 - 15 = -5, at 20: 40 - 30 = 10. The knee is at 20.
    assert knee([(D(0), D(0)), (D(10), D(10)), (D(20), D(40)), (D(30), D(45))]) == D(20)


def test_a_straight_line_has_no_knee():
    assert knee([(D(b), D(3) * b + 7) for b in range(0, 50, 10)]) is None


def test_a_convex_curve_has_no_knee():
    assert knee([(D(0), D(0)), (D(10), D(10)), (D(20), D(40)), (D(30), D(90))]) is None


def test_fewer_than_three_valued_points_have_no_knee():
    assert knee([(D(0), D(0)), (D(10), D(50))]) is None
    assert knee([(D(0), None), (D(10), D(50)), (D(20), None), (D(30), D(60))]) is None


# --- real sweeps on the insurance fixture ----------------------------------------------------


@pytest.fixture(scope="module")
def sweep(insurance):
    """5 points from 40 % to 140 % of the fixture's total budget, solved in this process,
    with every (portfolio, plan) pair the frontier solved recorded."""
    total = sum(per_quarter(insurance.budget, len(insurance.quarters)))
    request = _request(insurance, range={"from": total * D("0.4"), "to": total * D("1.4"), "steps": 5})
    run = run_study_here(FrontierStudy(), request)
    return request, run.response, run.solved()


def _optimal_runs(points):
    """Maximal runs of consecutive points that are all proven optimal."""
    runs, run = [], []
    for point in points:
        if point.status == "optimal":
            run.append(point)
        else:
            runs, run = [*runs, run] if run else runs, []
    return [*runs, run] if run else runs


@pytest.mark.slow
def test_sweep_has_the_requested_points(sweep):
    _, response, solved = sweep
    assert [p.budget for p in response.points] == [
        D("12000000.00"),
        D("19500000.00"),
        D("27000000.00"),
        D("34500000.00"),
        D("42000000.00"),
    ]
    assert len(solved) == 5
    for point, (portfolio, plan) in zip(response.points, solved, strict=True):
        assert sum(portfolio.budget) == point.budget
        assert point.status == plan.status and point.objective == plan.objective
        assert point.selected == sorted(s.mmp for s in plan.selected)
    # At 40 % the mandatory MMPs, run costs and stream minimums do not fit; the rest is solvable.
    assert response.points[0].status == "infeasible" and response.points[0].objective is None
    assert sum(p.status == "optimal" for p in response.points) >= 3, "too few proven points to check anything"


@pytest.mark.slow
def test_every_plan_passes_the_validator_against_its_own_portfolio(sweep):
    _, _, solved = sweep
    for portfolio, plan in solved:
        assert validate(portfolio, plan) == []


@pytest.mark.slow
def test_objectives_do_not_decrease_with_budget(sweep):
    # Must hold: each quarter's budget grows with the total, so every plan at a smaller
    # budget stays feasible at a larger one, and an optimal value cannot go down.
    _, response, _ = sweep
    for run in _optimal_runs(response.points):
        objectives = [p.objective for p in run]
        assert objectives == sorted(objectives)


@pytest.mark.slow
def test_marginal_values_do_not_increase_where_optimal(sweep):
    # Diminishing returns are NOT a theorem for an integer program: its optimal value is
    # not concave in the budget. On this fixture a finer grid breaks it (all proven optimal):
    # 24M -> 45.32M, 27M -> 51.82M, 30M -> 58.52M, i.e. +6.50M then +6.70M per 3M.
    # On this 5-point grid it holds, and the test pins that observed behaviour.
    _, response, _ = sweep
    for run in _optimal_runs(response.points):
        marginals = [p.marginal_value for p in run[1:]]
        assert all(m is not None for m in marginals)
        assert all(later <= earlier for earlier, later in pairwise(marginals))


@pytest.mark.slow
def test_marginal_values_and_knee_match_the_points(sweep):
    _, response, _ = sweep
    pairs = [(p.budget, p.objective) for p in response.points]
    assert [p.marginal_value for p in response.points] == marginal_values(pairs)
    assert response.points[0].marginal_value is None and response.points[1].marginal_value is None
    assert response.knee == knee(pairs)
    assert response.knee in {p.budget for p in response.points[2:-1]}


@pytest.mark.slow
def test_a_local_pool_gives_the_same_frontier(sweep):
    request, sequential, _ = sweep
    parallel = run_study_here(FrontierStudy(), request, processes=2).response
    assert [p.budget for p in parallel.points] == [p.budget for p in sequential.points]
    both = [(a, b) for a, b in zip(sequential.points, parallel.points) if a.status == b.status == "optimal"]
    assert len(both) >= 3, "too few points proven optimal in both runs to compare"
    assert all(a.objective == b.objective for a, b in both)
    assert parallel.points[0].status == "infeasible"


def test_a_scenario_s_own_budget_moves_with_the_frontier_s_total():
    p = load_portfolio(
        builders.portfolio(
            builders.mmp("a", 10, cost=[50, 50]),
            quarters=2,
            budget=[100, 100],
            scenarios=[{"id": "cut", "probability": 0.5, "budget": [80, 60]}, {"id": "full", "probability": 0.5}],
        )
    )
    doubled = with_total_budget(p, Decimal(400))
    assert doubled.budget == [200, 200]
    assert doubled.scenarios[0].budget == [160, 120] and doubled.scenarios[1].budget is None
