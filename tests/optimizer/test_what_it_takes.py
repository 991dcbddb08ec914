"""What it would take to fund each MMP a plan leaves out (docs/design.md, section 5.10).

Exactness is tested on tiny portfolios with a generous time limit, against figures worked out by hand
and against brute force over every selection; the validator's checks of `needs` against tampered plans.
"""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Plan, SolverSettings, load_portfolio
from models.plan import Needs, NotSelected, ValueNeed
from optimizer import validate
from optimizer.instance import build_instance
from optimizer.what_it_takes import NO_VALUE, NOT_IN_TIME, Known, needs
from tests.support.builders import Q1, Q2, mmp, portfolio
from tests.support.solving import solve_valid


def needs_of(plan: Plan) -> dict[str, Needs | None]:
    return {n.mmp: n.needs for n in plan.not_selected}


def exact(low_high) -> Decimal:
    """The figure of a need proven exact (low == high)."""
    assert low_high is not None
    assert low_high.low == low_high.high, f"not exact: {low_high}"
    return low_high.high


# ---------------------------------------------------------------- by hand


def test_what_it_takes_counts_money_in_the_portfolio_s_currency():
    row = NotSelected(mmp="x", reason="r", needs=Needs(value=ValueNeed(low=Decimal("1234.6"), high=Decimal("1500.25"))))
    assert row.what_it_takes("JPY") == "a value of 1,235 to 1,500"  # no minor unit
    assert row.what_it_takes("USD") == "a value of 1,234.60 to 1,500.25"


def test_the_value_budget_and_capacity_an_mmp_lacks():
    # Budget 100, 3 units: a (100, cost 60, 2 units) is funded; b (70, cost 50, 2 units) does not fit either.
    plan = solve_valid(
        portfolio(mmp("a", 100, cost=60, units=2), mmp("b", 70, cost=50, units=2), capacity=3, budget=100)
    )
    n = needs_of(plan)["b"]
    assert n is not None
    # At 100 a plan with b instead of a is worth as much; below it, less.
    assert exact(n.value) == 100
    assert n.value.changes == {"a": None, "b": Q1}
    # Funding both keeps the plan's value: 10 more budget and 1 more unit, each alone not enough.
    assert n.budget is None  # budget alone cannot: the pool holds one of them
    assert n.capacity is None  # capacity alone cannot: the budget pays for one of them
    assert plan.not_selected[0].what_it_takes() == "a value of 100, in place of a"


def test_budget_alone_is_enough():
    plan = solve_valid(portfolio(mmp("a", 100, cost=60), mmp("b", 70, cost=50), budget=100))
    n = needs_of(plan)["b"]
    assert n is not None
    assert exact(n.budget) == 10
    assert n.budget.quarters == {Q1: 10}
    assert n.budget.changes == {"b": Q1}
    assert plan.not_selected[0].what_it_takes() == "a value of 100, in place of a; or 10 more budget (2027Q1 10)"


def test_capacity_alone_is_enough_and_no_value_is():
    # b needs 5 units of a 3-unit pool: no value is enough, 2 more units are.
    plan = solve_valid(portfolio(mmp("a", 100, units=1), mmp("b", 500, units=5), capacity=3))
    n = needs_of(plan)["b"]
    assert n is not None
    assert n.value is None
    assert NO_VALUE in n.notes
    assert exact(n.capacity) == 2
    assert n.capacity.pools == {"p": {Q1: 2}}
    # The least capacity funds b alone (a too would take one unit more): b is worth more than the plan.
    assert plan.not_selected[0].what_it_takes() == f"{NO_VALUE}; 2 more capacity units (p 2027Q1 2), in place of a"


def test_cost_of_delay_counts_in_the_value_it_would_take():
    # One unit a quarter over two quarters: mandatory a holds Q1, c (90) holds Q2. b (cost of delay 30 a
    # quarter from Q1) can only take Q2, in place of c, where it earns its value less 30: it needs 120.
    plan = solve_valid(
        portfolio(
            mmp("a", 100, units=1, deadline=Q1, mandatory=True),
            mmp("b", 50, units=1, earliest_start=Q1, cost_of_delay=30),
            mmp("c", 90, units=1, earliest_start=Q2),
            quarters=2,
            capacity=1,
        )
    )
    assert {s.mmp for s in plan.selected} == {"a", "c"}
    n = needs_of(plan)["b"]
    assert n is not None
    assert exact(n.value) == 120
    assert n.value.changes == {"b": Q2, "c": None}


def test_nothing_to_work_out_for_excluded_mmps_or_when_turned_off():
    data = portfolio(mmp("a", 100, cost=60), mmp("b", 70, cost=50), mmp("x", 10, excluded=True), budget=100)
    assert needs_of(solve_valid(data))["x"] is None
    off = solve_valid(data, what_it_takes=False)
    assert needs_of(off) == {"b": None, "x": None}
    assert solve_valid(data, backend="wsjf-greedy").not_selected[0].needs is None


def test_out_of_time_is_said_not_guessed():
    p = load_portfolio(portfolio(mmp("a", 100, cost=60), mmp("b", 70, cost=50), budget=100))
    inst = build_instance(p)
    found = needs(p, inst, Known({0: 0}, 100, 100), SolverSettings(), deadline=time.monotonic() - 1)
    assert found["b"] == Needs(notes=[f"value and budget {NOT_IN_TIME}"])


# ---------------------------------------------------------------- against brute force

SMALL = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def knapsacks(draw):
    """One quarter, one stream, one pool without extra capacity: 2 to 5 MMPs with value, cost and units."""
    n = draw(st.integers(2, 5))
    items = [(draw(st.integers(0, 100)), draw(st.integers(0, 50)), draw(st.integers(0, 5))) for _ in range(n)]
    return items, draw(st.integers(0, 120)), draw(st.integers(0, 10))


@SMALL
@given(knapsacks())
def test_needs_match_brute_force(case):
    items, budget, capacity = case
    data = portfolio(
        *(mmp(f"m{i}", v, cost=c, units=u) for i, (v, c, u) in enumerate(items)), budget=budget, capacity=capacity
    )
    plan = solve_valid(data, time_limit_s=60, workers=1)
    assert plan.status == "optimal"
    best = plan.objective
    subsets = [set(s) for r in range(len(items) + 1) for s in itertools.combinations(range(len(items)), r)]

    def worth(s):
        return sum(items[i][0] for i in s)

    def cost(s):
        return sum(items[i][1] for i in s)

    def used(s):
        return sum(items[i][2] for i in s)

    for row in plan.not_selected:
        m = int(row.mmp[1:])
        n = row.needs
        assert n is not None
        with_m = [s for s in subsets if m in s]
        fits = [s for s in with_m if cost(s) <= budget and used(s) <= capacity]
        if fits:
            assert exact(n.value) == best - max(worth(s - {m}) for s in fits)
        else:
            assert n.value is None and NO_VALUE in n.notes
        keep = [s for s in with_m if worth(s) >= best]
        by_budget = [max(0, cost(s) - budget) for s in keep if used(s) <= capacity]
        if not any(c for _, c, _ in items):  # nothing costs money: budget is never what it lacks
            by_budget = []
        assert (n.budget and exact(n.budget)) == (min(by_budget) if by_budget else None)
        by_capacity = [max(0, used(s) - capacity) for s in keep if cost(s) <= budget]
        assert (n.capacity and exact(n.capacity)) == (min(by_capacity) if by_capacity else None)


@st.composite
def delayed(draw):
    """Two quarters, one stream, one pool: 2 to 4 one-quarter MMPs with value, cost of delay, cost and units."""
    n = draw(st.integers(2, 4))
    items = [
        (draw(st.integers(0, 100)), draw(st.integers(0, 60)), draw(st.integers(0, 50)), draw(st.integers(0, 4)))
        for _ in range(n)
    ]
    return items, draw(st.integers(0, 80)), draw(st.integers(0, 6))


@SMALL
@given(delayed())
def test_the_value_it_would_take_matches_brute_force_with_cost_of_delay(case):
    items, budget, capacity = case
    mmps = [mmp(f"m{i}", v, cost=c, units=u, cost_of_delay=d) for i, (v, d, c, u) in enumerate(items)]
    plan = solve_valid(portfolio(*mmps, quarters=2, budget=budget, capacity=capacity), time_limit_s=60, workers=1)
    assert plan.status == "optimal"

    def fits(plan_starts):
        return all(
            sum(items[i][2] for i, s in plan_starts.items() if s == q) <= budget
            and sum(items[i][3] for i, s in plan_starts.items() if s == q) <= capacity
            for q in (0, 1)
        )

    plans = [
        {i: s for i, s in enumerate(choice) if s is not None}
        for choice in itertools.product((None, 0, 1), repeat=len(items))
    ]
    plans = [x for x in plans if fits(x)]

    def earned(i, s):  # value less cost of delay, never below zero
        return max(0, items[i][0] - items[i][1] * s)

    assert plan.objective == max(sum(earned(i, s) for i, s in x.items()) for x in plans)
    for row in plan.not_selected:
        m = int(row.mmp[1:])
        with_m = [x for x in plans if m in x]
        assert row.needs is not None
        if not with_m:
            assert row.needs.value is None
            continue
        # The value counted linearly (docs/design.md, 5.10): value - cost_of_delay * lateness, not floored.
        best = max(sum(earned(i, s) for i, s in x.items() if i != m) - items[m][1] * x[m] for x in with_m)
        assert exact(row.needs.value) == plan.objective - best


# ---------------------------------------------------------------- the validator checks what it can


def tampered(plan: Plan, **need) -> Plan:
    copy = plan.model_copy(deep=True)
    row = copy.not_selected[0]
    assert row.needs is not None
    row.needs = row.needs.model_copy(update=need)
    return copy


def test_the_validator_checks_the_value_threshold():
    data = portfolio(mmp("a", 100, cost=60), mmp("b", 70, cost=50), budget=100)
    p = load_portfolio(data)
    plan = solve_valid(data)
    assert validate(p, plan) == []
    # At 90 the plan with b instead of a is worth 90, less than this plan's 100: no re-solve funds it there.
    low = tampered(plan, value=ValueNeed(low=90, high=90, changes={"a": None, "b": Q1}))
    assert any("worth 90, less than this plan's 100" in v for v in validate(p, low))
    crossed = tampered(plan, value=ValueNeed(low=120, high=110, changes={"a": None, "b": Q1}))
    assert any("value low 120 is above high 110" in v for v in validate(p, crossed))
    # A plan with both a and b breaks the budget, and one without b does not fund it.
    both = tampered(plan, value=ValueNeed(low=100, high=100, changes={"b": Q1}))
    assert any("more than its budget 100" in v for v in validate(p, both))
    without = tampered(plan, value=ValueNeed(low=100, high=100, changes={"a": None}))
    assert any("does not fund it" in v for v in validate(p, without))


def test_the_validator_checks_the_budget_need():
    data = portfolio(mmp("a", 100, cost=60), mmp("b", 70, cost=50), budget=100)
    p = load_portfolio(data)
    plan = solve_valid(data)
    budget = plan.not_selected[0].needs.budget
    short = budget.model_copy(update={"high": Decimal(5), "low": Decimal(5), "quarters": {Q1: Decimal(5)}})
    assert any("more than its budget 105" in v for v in validate(p, tampered(plan, budget=short)))
    wrong_sum = budget.model_copy(update={"quarters": {Q1: Decimal(7)}})
    assert any("adds up to 7, not 10" in v for v in validate(p, tampered(plan, budget=wrong_sum)))
