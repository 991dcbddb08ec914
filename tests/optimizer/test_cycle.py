"""The planning cycle in the solver core (docs/design.md, section 3.15): as_of, in-flight MMPs (started,
stoppable, salvage_value), done MMPs and actuals, each where it binds and where it does not.

Tiny portfolios from tests.support.builders (one stream `s`, pool `p` of `s`, 2027Q1..Q3); every plan goes
through the independent validator (`solve_valid`), and the optimum is worked out by hand above each assertion.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from models import PortfolioError, load_portfolio
from tests.support.builders import Q1, Q2, Q3, mmp, money, optimal, portfolio, starts
from tests.support.solving import solve_valid

# ---------------------------------------------------------------- as_of


def test_as_of_binds():
    # a could start in Q1 (value 100); as of Q2 it starts in Q2 at the earliest, one quarter late: 100 - 30.
    plan = optimal(portfolio(mmp("a", 100, cost=10, cost_of_delay=30), quarters=2, as_of=Q2))
    assert plan.objective == 70
    assert starts(plan) == {"a": Q2}
    assert plan.as_of == Q2
    assert money(plan, Q1) == (0, 0)  # history: nothing allocated, nothing spent


def test_as_of_not_binding():
    # As of the first quarter nothing is history: a starts in Q1 at its full value.
    plan = optimal(portfolio(mmp("a", 100, cost=10, cost_of_delay=30), quarters=2, as_of=Q1))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}


def test_too_late_as_of_is_the_reason():
    plan = optimal(portfolio(mmp("a", 100, cost=10, deadline=Q1), mmp("b", 10, cost=10), quarters=2, as_of=Q2))
    reason = next(n.reason for n in plan.not_selected if n.mmp == "a")
    assert reason.startswith("as of 2027Q2 it can no longer start and finish by its deadline 2027Q1")


# ---------------------------------------------------------------- in flight


def in_flight_portfolio(stoppable: bool, b_value: int = 100, penalty: int = 0, salvage: int = 0) -> dict[str, Any]:
    # As of Q2: a began in Q1 (2 quarters, one unit of p each, value 100); b (one unit, Q2 only) competes for
    # the single unit of Q2.
    a = mmp("a", 100, cost=[10, 10], units=[1, 1], started=Q1)
    if stoppable:
        a |= {"stoppable": True, "salvage_value": salvage}
    b = mmp("b", b_value, cost=10, units=1, deadline=Q2)
    return portfolio(a, b, quarters=2, capacity=1, as_of=Q2, change_penalty=penalty)


def test_in_flight_binds():
    # a cannot stop: it keeps Q2's unit; b (120) is left out. Objective 100, against 120 if a could stop.
    plan = optimal(in_flight_portfolio(stoppable=False, b_value=120))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}
    assert [(r.mmp, r.decision, r.remaining_cost) for r in plan.in_flight] == [("a", "continue", 10)]
    assert money(plan, Q2) == (10, 10)  # only a's remaining quarter; Q1's cost is sunk
    assert money(plan, Q1) == (0, 0)


def test_in_flight_not_binding():
    # Stoppable, a is stopped for b: 120 > 100 (no salvage, no penalty).
    plan = optimal(in_flight_portfolio(stoppable=True, b_value=120))
    assert plan.objective == 120
    assert starts(plan) == {"b": Q2}
    assert [(r.mmp, r.decision, r.remaining_cost) for r in plan.in_flight] == [("a", "stop", 10)]


def test_stopping_beats_continuing_when_the_freed_capacity_buys_more_than_the_forfeit_and_the_penalty():
    # Stop: b 120 + salvage 20 - penalty 30 = 110 > continue: 100. The stop is a change against the plan.
    plan = optimal(in_flight_portfolio(stoppable=True, b_value=120, penalty=30, salvage=20))
    assert plan.objective == 110
    assert starts(plan) == {"b": Q2}
    assert (plan.value.salvage, plan.value.change_penalty) == (20, 30)
    reason = next(n.reason for n in plan.not_selected if n.mmp == "a")
    assert reason == (
        "stopped (in flight since 2027Q1): continuing would cost 10 from 2027Q2 on and keep its demand, for a value "
        "of 100 against a salvage value of 20; in those quarters its value stream and teams fund b instead"
    )


def test_continuing_beats_stopping_when_the_freed_capacity_buys_less():
    # Stop: b 100 + salvage 20 - penalty 30 = 90 < continue: 100; so a continues and b is left out.
    plan = optimal(in_flight_portfolio(stoppable=True, b_value=100, penalty=30, salvage=20))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}
    assert (plan.value.salvage, plan.value.change_penalty) == (0, 0)


def test_continuing_an_in_flight_mmp_the_baseline_plan_does_not_list_is_no_change():
    # The baseline plan lists only b. Continue a: 100, less b not started in its quarter (one change): 70.
    # Stop a: b 90 in its quarter, less the stop (one change): 60. Counting the continuation as a change too
    # (the validator once did, the model did not) would make stopping win: 60 > 40.
    data = in_flight_portfolio(stoppable=True, b_value=90, penalty=30) | {"baseline_plan": {"b": Q2}}
    plan = optimal(data)
    assert starts(plan) == {"a": Q1}
    assert (plan.objective, plan.value.change_penalty) == (70, 30)


def test_a_new_mmp_requiring_an_in_flight_one_starts_after_it_finishes():
    # a (in flight since Q1, 2 quarters) finishes in Q2; c requires it, so it starts in Q3.
    plan = optimal(
        portfolio(
            mmp("a", 100, cost=[10, 10], started=Q1),
            mmp("c", 50, cost=10, requires=["a"]),
            quarters=3,
            as_of=Q2,
        )
    )
    assert starts(plan) == {"a": Q1, "c": Q3}


def test_in_flight_mmps_that_overload_a_pool_are_named_with_their_figures():
    # a and b both began in Q1 and both need p's one unit in Q2: no plan, and the sentence says why.
    plan = solve_valid(
        portfolio(
            mmp("a", 100, cost=[10, 10], units=[1, 1], started=Q1),
            mmp("b", 100, cost=[10, 10], units=[1, 1], started=Q1),
            quarters=2,
            capacity=1,
            as_of=Q2,
        )
    )
    assert plan.status == "infeasible"
    assert "in-flight MMPs a, b already need 2 of 1 units of p in 2027Q2" in plan.explanation.infeasibility


def test_in_flight_costs_that_overrun_the_budget_are_named():
    # a (in flight since Q1, not stoppable) still costs 80 in Q2, whose total budget is 50.
    plan = solve_valid(portfolio(mmp("a", 100, cost=[10, 80], started=Q1), quarters=2, budget=50, as_of=Q2))
    assert plan.status == "infeasible"
    assert plan.explanation.infeasibility == [
        "the total budget of 2027Q2 is 50 but the value streams need at least 80 in it "
        "(run costs 0, in-flight MMP a 80)"
    ]


def test_in_flight_and_mandatory_over_a_stream_maximum_are_named():
    data = portfolio(
        mmp("a", 100, cost=[10, 40], started=Q1), mmp("m", 10, cost=30, mandatory=True), quarters=2, as_of=Q2
    )
    data["value_streams"] = [{"id": "s", "max_budget": 50}]
    plan = solve_valid(data)
    assert plan.status == "infeasible"
    assert any(
        s.startswith("in-flight MMP a still cost 40 in 2027Q2 and mandatory MMP m cost 30 in 2027Q2 and value stream s")
        for s in plan.explanation.infeasibility
    ), plan.explanation.infeasibility


# ---------------------------------------------------------------- done and achieved progress


def key_result_portfolio(a_done: bool, actual_progress: int | None = None) -> dict[str, Any]:
    # Key result kr: target 10, 10 a unit. a (done or not) contributed 6; b contributes 6 from Q2.
    data = portfolio(
        mmp("a", 0, cost=10, key_results={"kr": 6}, done=a_done),
        mmp("b", 0, cost=10, key_results={"kr": 6}),
        quarters=2,
        as_of=Q2,
        key_results=[{"id": "kr", "target": 10, "value_per_unit": 10}],
    )
    if actual_progress is not None:
        data["actuals"] = [{"quarter": Q1, "key_results": {"kr": actual_progress}}]
    return data


def test_done_binds():
    # a is done: 6 of 10 achieved; b adds only the 4 left: 40.
    plan = optimal(key_result_portfolio(a_done=True))
    assert plan.objective == 40
    assert plan.done == ["a"]
    row = plan.key_results[0]
    assert (row.before_as_of, row.achieved) == (6, 10)


def test_done_not_binding():
    # a is not done (and can still run in Q2): a and b together reach the target: 100.
    plan = optimal(key_result_portfolio(a_done=False))
    assert plan.objective == 100
    assert plan.done == []


def test_actual_progress_binds():
    # Recorded progress (8) replaces the done MMP's contribution: b adds the 2 left: 20.
    plan = optimal(key_result_portfolio(a_done=True, actual_progress=8))
    assert plan.objective == 20
    assert plan.key_results[0].before_as_of == 8


def test_actual_progress_not_binding():
    # Recorded progress 0 (a's outcome did not show): b's 6 count in full: 60.
    plan = optimal(key_result_portfolio(a_done=True, actual_progress=0))
    assert plan.objective == 60


def test_the_alternative_of_a_done_mmp_is_not_funded():
    plan = optimal(
        portfolio(mmp("a", 100, cost=10, done=True), mmp("b", 50, cost=10, excludes=["a"]), quarters=2, as_of=Q2)
    )
    assert starts(plan) == {}
    assert [n.reason for n in plan.not_selected] == ["its alternative a is done"]


def test_a_done_requirement_counts_as_finished():
    plan = optimal(
        portfolio(mmp("a", 100, cost=10, done=True), mmp("b", 50, cost=10, requires=["a"]), quarters=2, as_of=Q2)
    )
    assert starts(plan) == {"b": Q2}


# ---------------------------------------------------------------- actuals: max_change from the last actual quarter


def change_portfolio(spent: int) -> dict[str, Any]:
    # As of Q2, stream s may change by 50 % from what it spent in Q1. a costs 200 in Q2.
    data = portfolio(mmp("a", 100, cost=200), quarters=2, as_of=Q2, actuals=[{"quarter": Q1, "spent": {"s": spent}}])
    data["value_streams"] = [{"id": "s", "max_change": 0.5}]
    return data


def test_max_change_from_actuals_binds():
    # Spent 100 in Q1: Q2 may get at most 150, a does not fit, and s gets the least it may: 50.
    plan = optimal(change_portfolio(100))
    assert starts(plan) == {}
    assert money(plan, Q2) == (50, 0)


def test_max_change_from_actuals_not_binding():
    # Spent 200 in Q1: Q2 may get up to 300, a fits.
    plan = optimal(change_portfolio(200))
    assert starts(plan) == {"a": Q2}
    assert money(plan, Q2) == (200, 200)


# ---------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    ("edit", "path", "words"),
    [
        ({"as_of": "2030Q1"}, "$.as_of", "not a quarter"),
        ({"mmps": [mmp("a", 1, cost=[1, 1], started=Q2)]}, "$.mmps[0].started", "not before as_of"),
        ({"mmps": [mmp("a", 1, cost=1, started=Q1)]}, "$.mmps[0].cost", "mark it done"),
        ({"mmps": [mmp("a", 1, cost=[1, 1], started=Q1, excluded=True)]}, "$.mmps[0].excluded", "stoppable"),
        (
            {"mmps": [mmp("a", 1, cost=[1, 1], started=Q1, excludes=["d"]), mmp("d", 1, cost=1, done=True)]},
            "$.mmps[0].excludes[0]",
            "in-flight MMP a excludes d, which is done",
        ),
        (
            {"mmps": [mmp("a", 1, cost=[1, 1], started=Q1), mmp("d", 1, cost=1, done=True, excludes=["a"])]},
            "$.mmps[1].excludes[0]",
            "done MMP d excludes a, which is in flight",
        ),
        ({"actuals": [{"quarter": Q2}]}, "$.actuals[0].quarter", "actuals are for past quarters"),
        ({"actuals": [{"quarter": Q1, "spent": {"x": 1}}]}, "$.actuals[0].spent.x", "unknown value stream"),
        ({"actuals": [{"quarter": Q1, "mmps": {"zz": {"status": "done"}}}]}, "$.actuals[0].mmps.zz", "unknown MMP"),
    ],
)
def test_cycle_input_problems_are_refused_with_their_path(edit: dict[str, Any], path: str, words: str):
    data = portfolio(mmp("b", 1, cost=1), quarters=3, as_of=Q2) | edit
    with pytest.raises(PortfolioError) as err:
        load_portfolio(data)
    assert any(p.path == path and words in p.message for p in err.value.problems), err.value.problems


def test_negative_actual_spend_is_refused():
    data = portfolio(mmp("b", 1, cost=1), quarters=2, as_of=Q2, actuals=[{"quarter": Q1, "spent": {"s": -1}}])
    with pytest.raises(PortfolioError) as err:
        load_portfolio(data)
    assert [p.path for p in err.value.problems] == ["$.actuals[0].spent.s"]


def test_the_stop_frees_money_and_the_greedy_ranking_keeps_the_rules():
    # The WSJF ranking's plan of an as-of portfolio keeps every rule too (the validator checks it).
    plan = solve_valid(in_flight_portfolio(stoppable=True, b_value=120, salvage=20), backend="wsjf-greedy")
    assert plan.status == "feasible"
    assert all(r.remaining_cost == Decimal(10) for r in plan.in_flight)


# ---------------------------------------------------------------- the as-of portfolio a re-plan solves


def cycle_portfolio() -> dict[str, Any]:
    # 4 quarters, room for all, cost of delay: a (Q1-Q2), b (Q1-Q3, stoppable), c (Q2), d (Q4) at their earliest.
    data = portfolio(
        mmp("a", 100, cost=[10, 10], cost_of_delay=1),
        mmp("b", 100, cost=[10, 10, 10], stoppable=True, salvage_value=5, cost_of_delay=1),
        mmp("c", 100, cost=[10], earliest_start=Q2, cost_of_delay=1),
        mmp("d", 100, cost=[10], earliest_start="2027Q4", cost_of_delay=1),
        quarters=3,
    )
    data["quarters"] = [Q1, Q2, Q3, "2027Q4"]
    return data


def record_of(data: dict[str, Any]):
    plan = optimal(data)
    assert starts(plan) == {"a": Q1, "b": Q1, "c": Q2, "d": "2027Q4"}
    return plan


def test_as_of_portfolio_takes_the_plan_of_record_as_executed_without_actuals():
    from optimizer.studies.cycle import as_of_portfolio

    data = cycle_portfolio()
    p = load_portfolio(data)
    built = load_portfolio(as_of_portfolio(p, record_of(data), [], Q3))
    by_id = {m.id: m for m in built.mmps}
    assert by_id["a"].done and by_id["c"].done  # finished by Q3 as planned
    assert by_id["b"].started == Q1 and not by_id["b"].done  # still running in Q3
    assert built.baseline_plan == {"b": Q1, "d": "2027Q4"}
    plan = optimal(built)
    assert starts(plan) == {"b": Q1, "d": "2027Q4"} and plan.done == ["a", "c"]


def test_as_of_portfolio_reads_the_actuals_and_moves_a_slipped_last_quarter_to_as_of():
    from models.portfolio import QuarterActuals
    from optimizer.studies.cycle import as_of_portfolio

    data = cycle_portfolio()
    p = load_portfolio(data)
    actuals = [
        QuarterActuals(quarter=Q1, mmps={"a": {"status": "running"}, "b": {"status": "running"}}),
        QuarterActuals(quarter=Q2, mmps={"a": {"status": "running"}, "c": {"status": "not_started"}}),
    ]
    built = load_portfolio(as_of_portfolio(p, record_of(data), actuals, Q3, Decimal(7)))
    by_id = {m.id: m for m in built.mmps}
    # a ran Q1-Q2 and is still running: its last quarter moves to Q3; c slipped and is re-planned from Q3.
    assert by_id["a"].started == Q1 and by_id["a"].cost == [10, 0, 10]
    assert by_id["c"].started is None and not by_id["c"].done
    assert built.change_penalty == 7 and [a.quarter for a in built.actuals] == [Q1, Q2]
    plan = optimal(built)
    assert starts(plan)["a"] == Q1 and starts(plan)["c"] == Q3


def test_a_second_cycle_keeps_the_stops_of_the_plan_of_record_and_finishes_what_ran():
    from optimizer.studies.cycle import as_of_portfolio

    data = cycle_portfolio()
    record = record_of(data)
    # News after the plan was committed: b is worth little now, and e (due in Q2) needs the team b holds.
    data["mmps"][1] |= {"value": 10, "demand": {"p": [1, 1, 1]}}
    data["mmps"].append(mmp("e", 100, cost=[10], earliest_start=Q2, deadline=Q2, units=1))
    data["pools"] = [{"id": "p", "value_stream": "s", "capacity": 1}]
    q2 = load_portfolio(as_of_portfolio(load_portfolio(data), record, [], Q2))
    replan = optimal(q2)
    assert [(r.mmp, r.decision) for r in replan.in_flight] == [("a", "continue"), ("b", "stop")]
    # As of Q3, with the Q2 re-plan as the plan of record and nothing recorded: b stays stopped, a is done.
    q3 = load_portfolio(as_of_portfolio(q2, replan, [], Q3))
    by_id = {m.id: m for m in q3.mmps}
    assert by_id["b"].excluded and by_id["b"].started is None
    assert by_id["a"].done and by_id["e"].done
