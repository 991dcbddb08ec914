"""Every business rule of the formulation, once where it binds and once where it does not.

Each test solves a tiny hand-built portfolio (one value stream `s`, at most one
pool `p`, 1-3 quarters) through `solve_valid`, so the independent validator
checks every plan. The optimum is worked out by hand in the comment above the
assertions; "binds" means the rule changes the optimum (value, selection,
start or allocation) compared with the same portfolio without it.

Money amounts are multiples of 10 so every expected allocation is exact at the
solver's money resolution.
"""

from __future__ import annotations

from decimal import Decimal

from tests.support.builders import (
    Q1,
    Q2,
    Q3,
    baseline_budget_portfolio,
    change_portfolio,
    extra_capacity_portfolio,
    mmp,
    money,
    optimal,
    pool_use,
    portfolio,
    reserve,
    starts,
)

# ---------------------------------------------------------------- start window


def window_portfolio(**a_fields) -> dict:
    # 2 quarters, one unit of capacity each; a (100) and b (60) each need one unit for one quarter.
    return portfolio(
        mmp("a", 100, units=1, **a_fields),
        mmp("b", 60, units=1, earliest_start=Q2),
        quarters=2,
        capacity=1,
    )


def test_earliest_start_binds():
    # a may only start in Q2 like b: one of them fits -> a (100) in Q2; b out. Without it: 160.
    plan = optimal(window_portfolio(earliest_start=Q2))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q2}


def test_earliest_start_not_binding():
    # a may start in Q1 (its earliest): a in Q1, b in Q2 -> 160, the optimum without windows.
    plan = optimal(window_portfolio(earliest_start=Q1))
    assert plan.objective == 160
    assert starts(plan) == {"a": Q1, "b": Q2}


def test_deadline_binds():
    # b is due in Q1 as well, so both compete for the Q1 unit: a (100) wins, b out.
    plan = optimal(
        portfolio(mmp("a", 100, units=1, deadline=Q1), mmp("b", 60, units=1, deadline=Q1), quarters=2, capacity=1)
    )
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}


def test_deadline_not_binding():
    # Only a is due in Q1; b takes Q2 -> 160 (the optimum without deadlines), a pinned to Q1.
    plan = optimal(portfolio(mmp("a", 100, units=1, deadline=Q1), mmp("b", 60, units=1), quarters=2, capacity=1))
    assert plan.objective == 160
    assert starts(plan) == {"a": Q1, "b": Q2}


def horizon_portfolio(a_earliest: str) -> dict:
    # 2 quarters, one unit each. a: 2 quarters, value 100; b: 1 quarter in Q2, value 40.
    return portfolio(
        mmp("a", 100, cost=[0, 0], units=[1, 1], earliest_start=a_earliest),
        mmp("b", 40, units=1, earliest_start=Q2),
        quarters=2,
        capacity=1,
    )


def test_horizon_end_binds():
    # a starting in Q2 would finish in Q3, past the horizon: a is out, b (40) runs in Q2.
    plan = optimal(horizon_portfolio(Q2))
    assert plan.objective == 40
    assert starts(plan) == {"b": Q2}


def test_horizon_end_not_binding():
    # a runs Q1-Q2 and finishes at the horizon end: 100 beats b (40), which would clash in Q2.
    plan = optimal(horizon_portfolio(Q1))
    assert plan.objective == 100
    assert [(s.mmp, s.start, s.finish) for s in plan.selected] == [("a", Q1, Q2)]


# ---------------------------------------------------------------- mandatory / excluded


def test_mandatory_binds():
    # One unit of capacity; b (40) is mandatory, so a (100) cannot run.
    plan = optimal(portfolio(mmp("a", 100, units=1), mmp("b", 40, units=1, mandatory=True), capacity=1))
    assert plan.objective == 40
    assert starts(plan) == {"b": Q1}


def test_mandatory_not_binding():
    # a (100) is mandatory and the best choice anyway.
    plan = optimal(portfolio(mmp("a", 100, units=1, mandatory=True), mmp("b", 40, units=1), capacity=1))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}


def test_excluded_binds():
    # a (100) is excluded by the user: b (40) takes the unit.
    plan = optimal(portfolio(mmp("a", 100, units=1, excluded=True), mmp("b", 40, units=1), capacity=1))
    assert plan.objective == 40
    assert starts(plan) == {"b": Q1}


def test_excluded_not_binding():
    # b (40) is excluded but would lose to a (100) anyway.
    plan = optimal(portfolio(mmp("a", 100, units=1), mmp("b", 40, units=1, excluded=True), capacity=1))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}


# ---------------------------------------------------------------- stream spend (run cost)


def run_cost_portfolio(budget: int) -> dict:
    # a: cost 60, value 100; b: cost 40, value 50; the stream's run cost is 50 a quarter.
    p = portfolio(mmp("a", 100, cost=60), mmp("b", 50, cost=40), budget=budget)
    p["value_streams"] = [{"id": "s", "run_cost": 50}]
    return p


def test_stream_spend_binds():
    # Budget 100, run cost 50 leaves 50: only b (40) fits -> 50. Without the run cost a + b = 150.
    plan = optimal(run_cost_portfolio(100))
    assert plan.objective == 50
    assert starts(plan) == {"b": Q1}
    assert money(plan) == (90, 90)  # 40 + run cost 50
    assert reserve(plan) == [10]


def test_stream_spend_not_binding():
    # Budget 200: run cost 50 + a 60 + b 40 = 150 fits -> 150; 50 stays in reserve.
    plan = optimal(run_cost_portfolio(200))
    assert plan.objective == 150
    assert starts(plan) == {"a": Q1, "b": Q1}
    assert money(plan) == (150, 150)
    assert reserve(plan) == [50]


# ---------------------------------------------------------------- stream min / max budget


def min_budget_portfolio(t_min: int) -> dict:
    # Budget 100. Stream s: a (cost 50, value 100), b (cost 30, value 30). Stream t has no MMPs.
    p = portfolio(mmp("a", 100, cost=50), mmp("b", 30, cost=30), budget=100)
    p["value_streams"] = [{"id": "s"}, {"id": "t", "min_budget": t_min}]
    return p


def test_min_budget_binds():
    # t must get 60, leaving 40 for s: a (50) no longer fits, b does -> 30.
    # t is allocated exactly its min although it spends nothing; reserve 100 - 30 - 60 = 10.
    plan = optimal(min_budget_portfolio(60))
    assert plan.objective == 30
    assert starts(plan) == {"b": Q1}
    assert money(plan, stream="t") == (60, 0)
    assert money(plan, stream="s") == (30, 30)
    assert reserve(plan) == [10]


def test_min_budget_not_binding():
    # t must get 40, leaving 60: a (50) fits (a + b = 80 does not) -> 100, as without the min.
    # t still gets its 40 (above its spend of 0), so the reserve is 100 - 50 - 40 = 10.
    plan = optimal(min_budget_portfolio(40))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}
    assert money(plan, stream="t") == (40, 0)
    assert money(plan, stream="s") == (50, 50)
    assert reserve(plan) == [10]


def max_budget_portfolio(max_budget: int) -> dict:
    # Budget 120. a: cost 60, value 100; b: cost 40, value 50.
    p = portfolio(mmp("a", 100, cost=60), mmp("b", 50, cost=40), budget=120)
    p["value_streams"] = [{"id": "s", "max_budget": max_budget}]
    return p


def test_max_budget_binds():
    # s may get at most 50: only b (40) fits -> 50 (a + b = 150 without the max); reserve 80.
    plan = optimal(max_budget_portfolio(50))
    assert plan.objective == 50
    assert starts(plan) == {"b": Q1}
    assert money(plan) == (40, 40)
    assert reserve(plan) == [80]


def test_max_budget_not_binding():
    # Max 110 >= a + b = 100 -> 150; reserve 20.
    plan = optimal(max_budget_portfolio(110))
    assert plan.objective == 150
    assert starts(plan) == {"a": Q1, "b": Q1}
    assert money(plan) == (100, 100)
    assert reserve(plan) == [20]


# ---------------------------------------------------------------- total budget per quarter


def total_budget_mmps() -> list[dict]:
    # a: cost 60, value 100; b: cost 40, value 50; c: cost 30, value 40 (one quarter each).
    return [mmp("a", 100, cost=60), mmp("b", 50, cost=40), mmp("c", 40, cost=30)]


def test_total_budget_binds():
    # Budget 50 in Q1, 60 in Q2. a (60) fits only in Q2, alone. Q1 holds b or c, not both (70):
    # b (50) beats c (40). Optimum a@Q2 + b@Q1 = 150 (all three, 190, without the limit).
    plan = optimal(portfolio(*total_budget_mmps(), quarters=2, budget=[50, 60]))
    assert plan.objective == 150
    assert starts(plan) == {"a": Q2, "b": Q1}
    assert money(plan, Q1) == (40, 40)
    assert money(plan, Q2) == (60, 60)
    assert reserve(plan) == [10, 0]


def test_total_budget_not_binding():
    # Budget 200 covers a + b + c = 130 -> 190; reserve 70.
    plan = optimal(portfolio(*total_budget_mmps(), budget=200))
    assert plan.objective == 190
    assert starts(plan) == {"a": Q1, "b": Q1, "c": Q1}
    assert money(plan) == (130, 130)
    assert reserve(plan) == [70]


# ---------------------------------------------------------------- max_change


def max_change_portfolio(q1_mmp: dict | None, budget: list[int]) -> dict:
    # Q2 offers b (cost 80, value 100) and c (cost 60, value 40); s may change by 50 % a quarter.
    mmps = [mmp("b", 100, cost=80, earliest_start=Q2), mmp("c", 40, cost=60, earliest_start=Q2)]
    p = portfolio(*([q1_mmp] if q1_mmp else []), *mmps, quarters=2, budget=budget)
    p["value_streams"] = [{"id": "s", "max_change": 0.5}]
    return p


def test_max_change_binds():
    # Q1 budget 40 caps b[Q1] <= 40, so b[Q2] <= 1.5 * 40 = 60: b (80) cannot run, c (60) can -> 40.
    # c needs b[Q2] = 60, hence b[Q1] >= 60 / 1.5 = 40: Q1 is allocated 40 with nothing to spend.
    plan = optimal(max_change_portfolio(None, [40, 100]))
    assert plan.objective == 40
    assert starts(plan) == {"c": Q2}
    assert money(plan, Q1) == (40, 0)
    assert money(plan, Q2) == (60, 60)
    assert reserve(plan) == [0, 40]


def test_max_change_not_binding():
    # d (cost 80, value 50) runs in Q1, b (80) in Q2: no change at all -> 50 + 100 = 150.
    d = mmp("d", 50, cost=80, deadline=Q1)
    plan = optimal(max_change_portfolio(d, [100, 100]))
    assert plan.objective == 150
    assert starts(plan) == {"d": Q1, "b": Q2}
    assert money(plan, Q1) == (80, 80)
    assert money(plan, Q2) == (80, 80)


def test_max_change_baseline_binds():
    # Baseline 40: the allocation stays in [20, 60], a (80) cannot run, c (60) can -> 40.
    plan = optimal(baseline_budget_portfolio(40))
    assert plan.objective == 40
    assert starts(plan) == {"c": Q1}
    assert money(plan) == (60, 60)
    assert reserve(plan) == [40]


def test_max_change_baseline_not_binding():
    # Baseline 80: the allocation may be 40..120; a (80) runs (a + c = 140 > budget) -> 100.
    plan = optimal(baseline_budget_portfolio(80))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}
    assert money(plan) == (80, 80)
    assert reserve(plan) == [20]


def test_max_change_baseline_floor_binds():
    # Baseline 100, max_change 50 %: the allocation may not drop below 50 although c spends 20.
    p = portfolio(mmp("c", 30, cost=20), budget=100)
    p["value_streams"] = [{"id": "s", "max_change": 0.5, "baseline_budget": 100}]
    plan = optimal(p)
    assert plan.objective == 30
    assert money(plan) == (50, 20)
    assert reserve(plan) == [50]


# ---------------------------------------------------------------- capacity


def capacity_portfolio(capacity: int) -> dict:
    # a: 2 units, value 100; b: 1 unit, value 60; c: 1 unit, value 50.
    return portfolio(mmp("a", 100, units=2), mmp("b", 60, units=1), mmp("c", 50, units=1), capacity=capacity)


def test_capacity_binds():
    # 2 units: b + c = 110 beats a = 100 (all three, 210, need 4).
    plan = optimal(capacity_portfolio(2))
    assert plan.objective == 110
    assert starts(plan) == {"b": Q1, "c": Q1}
    assert pool_use(plan) == (2, 2, 0)


def test_capacity_not_binding():
    # 5 units hold all three (4) -> 210.
    plan = optimal(capacity_portfolio(5))
    assert plan.objective == 210
    assert starts(plan) == {"a": Q1, "b": Q1, "c": Q1}
    assert pool_use(plan) == (4, 5, 0)


# ---------------------------------------------------------------- extra capacity


def test_extra_capacity_binds():
    # 1 unit of capacity: buying the extra unit (30) lets b in too -> 150.
    # Paid from s: allocated = spent = 10 + 10 + 30 = 50; reserve 50.
    plan = optimal(extra_capacity_portfolio(1))
    assert plan.objective == 150
    assert starts(plan) == {"a": Q1, "b": Q1}
    assert pool_use(plan) == (2, 1, 1)
    assert money(plan) == (50, 50)
    assert reserve(plan) == [50]


def test_extra_capacity_not_binding():
    # 2 units of capacity already hold a + b -> 150; nothing is bought (least spend), allocated 20.
    plan = optimal(extra_capacity_portfolio(2))
    assert plan.objective == 150
    assert pool_use(plan) == (2, 2, 0)
    assert money(plan) == (20, 20)
    assert reserve(plan) == [80]


def test_extra_capacity_binds_with_fractional_units():
    # Capacity 0.5 + 0.5 extra at 20 a unit; a (100) and b (50) need 0.5 each and cost 10.
    # Buying 0.5 units costs 10: a + b + 10 = 30 fits the budget of 30 -> 150, reserve 0.
    p = portfolio(mmp("a", 100, cost=10, units=0.5), mmp("b", 50, cost=10, units=0.5), budget=30)
    p["pools"] = [{"id": "p", "value_stream": "s", "capacity": 0.5, "extra_capacity": 0.5, "extra_cost": 20}]
    plan = optimal(p)
    assert plan.objective == 150
    assert starts(plan) == {"a": Q1, "b": Q1}
    assert pool_use(plan) == (1, Decimal("0.5"), Decimal("0.5"))
    assert money(plan) == (30, 30)
    assert reserve(plan) == [0]


def test_shared_pool_purchase_binds():
    # Shared pool (no stream): the extra unit (30) comes straight from the total budget.
    # s is allocated a + b = 20; reserve 100 - 20 - 30 = 50.
    plan = optimal(extra_capacity_portfolio(1, stream=None))
    assert plan.objective == 150
    assert starts(plan) == {"a": Q1, "b": Q1}
    assert pool_use(plan) == (2, 1, 1)
    assert money(plan) == (20, 20)
    assert reserve(plan) == [50]


def test_shared_pool_purchase_not_binding():
    # Budget 40 cannot pay a + b + the unit (50): nothing is bought, a alone -> 100, reserve 30.
    plan = optimal(extra_capacity_portfolio(1, budget=40, stream=None))
    assert plan.objective == 100
    assert starts(plan) == {"a": Q1}
    assert pool_use(plan) == (1, 1, 0)
    assert money(plan) == (10, 10)
    assert reserve(plan) == [30]


# ---------------------------------------------------------------- requires


def requires_portfolio(a_value: int) -> dict:
    # 3 quarters, one unit each. a takes 2 quarters; b (100) requires a; c (50) is free.
    return portfolio(
        mmp("a", a_value, cost=[0, 0], units=[1, 1]),
        mmp("b", 100, units=1, requires=["a"]),
        mmp("c", 50, units=1),
        quarters=3,
        capacity=1,
    )


def test_requires_binds():
    # a worth 10: without requires b + c = 150. With it b needs a finished first: a Q1-Q2, b Q3
    # -> 110 (> c + a = 60); c out.
    plan = optimal(requires_portfolio(10))
    assert plan.objective == 110
    assert starts(plan) == {"a": Q1, "b": Q3}


def test_requires_not_binding():
    # a worth 60: a + b = 160 is the best even without requires; b still starts after a finishes.
    plan = optimal(requires_portfolio(60))
    assert plan.objective == 160
    assert starts(plan) == {"a": Q1, "b": Q3}
    finish = {s.mmp: s.finish for s in plan.selected}
    assert finish["a"] == Q2


# ---------------------------------------------------------------- excludes


def excludes_portfolio(excluded: str) -> dict:
    # 2 units of capacity; a (100), b (60), c (30) need one each; a excludes `excluded`.
    return portfolio(
        mmp("a", 100, units=1, excludes=[excluded]), mmp("b", 60, units=1), mmp("c", 30, units=1), capacity=2
    )


def test_excludes_binds():
    # a excludes b: a + c = 130 (a + b = 160 without it).
    plan = optimal(excludes_portfolio("b"))
    assert plan.objective == 130
    assert starts(plan) == {"a": Q1, "c": Q1}


def test_excludes_not_binding():
    # a excludes c, which loses to b anyway: a + b = 160.
    plan = optimal(excludes_portfolio("c"))
    assert plan.objective == 160
    assert starts(plan) == {"a": Q1, "b": Q1}


# ---------------------------------------------------------------- investment guardrails


def min_share_portfolio(b_value: int) -> dict:
    # Budget 100. a: business, cost 80, value 100; b: enabler, cost 20; c: business, cost 20, value 40.
    return portfolio(
        mmp("a", 100, cost=80, category="business"),
        mmp("b", b_value, cost=20, category="enabler"),
        mmp("c", 40, cost=20, category="business"),
        budget=100,
        investment_guardrails=[{"category": "enabler", "min_share": 0.2}],
    )


def test_min_share_binds():
    # b worth 30: a + c = 140 has no enabler spend; a + b has 20 / 100 = 20 % -> 130.
    plan = optimal(min_share_portfolio(30))
    assert plan.objective == 130
    assert starts(plan) == {"a": Q1, "b": Q1}


def test_min_share_not_binding():
    # b worth 50: a + b = 150 is best anyway and meets the 20 %.
    plan = optimal(min_share_portfolio(50))
    assert plan.objective == 150
    assert starts(plan) == {"a": Q1, "b": Q1}


def max_share_portfolio(max_share: float) -> dict:
    # a: tech-debt, cost 80, value 100; b: business, cost 20, value 30.
    return portfolio(
        mmp("a", 100, cost=80, category="tech-debt"),
        mmp("b", 30, cost=20, category="business"),
        investment_guardrails=[{"category": "tech-debt", "max_share": max_share}],
    )


def test_max_share_binds():
    # Max 50 %: a + b is 80 % tech-debt, a alone 100 %: only b -> 30.
    plan = optimal(max_share_portfolio(0.5))
    assert plan.objective == 30
    assert starts(plan) == {"b": Q1}


def test_max_share_not_binding():
    # Max 90 %: a + b at 80 % -> 130.
    plan = optimal(max_share_portfolio(0.9))
    assert plan.objective == 130
    assert starts(plan) == {"a": Q1, "b": Q1}


# ---------------------------------------------------------------- key results


def key_result_portfolio(target: int) -> dict:
    # 2 units of capacity. a: +10 on kr (value 0), b: +6 on kr (value 0), c: value 30. 10 per kr unit.
    return portfolio(
        mmp("a", 0, units=1, key_results={"kr": 10}),
        mmp("b", 0, units=1, key_results={"kr": 6}),
        mmp("c", 30, units=1),
        capacity=2,
        key_results=[{"id": "kr", "target": target, "value_per_unit": 10}],
    )


def test_key_results_binds():
    # Target 10: a + b reach 16 but earn only 10 * 10 = 100; a + c = 100 + 30 = 130 wins
    # (a + b = 160 if credit were not capped).
    plan = optimal(key_result_portfolio(10))
    assert plan.objective == 130
    assert starts(plan) == {"a": Q1, "c": Q1}
    assert (plan.value.mmps, plan.value.key_results) == (30, 100)
    assert [(k.achieved, k.target) for k in plan.key_results] == [(10, 10)]


def test_key_results_not_binding():
    # Target 20: a + b earn 16 * 10 = 160 > a + c = 130.
    plan = optimal(key_result_portfolio(20))
    assert plan.objective == 160
    assert starts(plan) == {"a": Q1, "b": Q1}
    assert (plan.value.mmps, plan.value.key_results) == (0, 160)
    assert [(k.achieved, k.target) for k in plan.key_results] == [(16, 20)]


def test_key_results_binds_with_fractional_credit():
    # a contributes 2.5 units at 100000 each: 100000 + 250000 = 350000 beats b (300000) for the one unit.
    # (Credit finer than the money amounts must not be rounded away.)
    plan = optimal(
        portfolio(
            mmp("a", 100000, cost=100000, units=1, key_results={"kr": 2.5}),
            mmp("b", 300000, units=1),
            capacity=1,
            budget=1000000,
            key_results=[{"id": "kr", "target": 10, "value_per_unit": 100000}],
        )
    )
    assert plan.objective == 350000
    assert starts(plan) == {"a": Q1}
    assert plan.value.key_results == 250000


# ---------------------------------------------------------------- cost of delay


def delay_portfolio(b_delay: int) -> dict:
    # 2 quarters, one unit each. a: value 100, loses 30 a quarter late; b: value 80.
    return portfolio(
        mmp("a", 100, units=1, cost_of_delay=30),
        mmp("b", 80, units=1, cost_of_delay=b_delay),
        quarters=2,
        capacity=1,
    )


def test_cost_of_delay_binds():
    # b loses 50 a quarter: a first = 100 + 30 = 130, b first = 80 + 70 = 150 -> b first; a is worth 70.
    plan = optimal(delay_portfolio(50))
    assert plan.objective == 150
    assert starts(plan) == {"b": Q1, "a": Q2}
    assert {s.mmp: s.value for s in plan.selected} == {"a": 70, "b": 80}


def test_cost_of_delay_not_binding():
    # b loses nothing: a starts earliest (100), b in Q2 (80) -> 180, nothing lost.
    plan = optimal(delay_portfolio(0))
    assert plan.objective == 180
    assert starts(plan) == {"a": Q1, "b": Q2}
    assert {s.mmp: s.value for s in plan.selected} == {"a": 100, "b": 80}


# ---------------------------------------------------------------- change penalty


def test_change_penalty_binds():
    # Switching to a changes two MMPs (b dropped, a added): 100 - 2 * 30 = 40 < 80 -> keep b.
    plan = optimal(change_portfolio(30))
    assert plan.objective == 80
    assert starts(plan) == {"b": Q1}
    assert plan.value.change_penalty == 0


def test_change_penalty_not_binding():
    # Penalty 5: 100 - 2 * 5 = 90 > 80 -> switch to a.
    plan = optimal(change_portfolio(5))
    assert plan.objective == 90
    assert starts(plan) == {"a": Q1}
    assert (plan.value.mmps, plan.value.change_penalty) == (100, 10)


# ---------------------------------------------------------------- least-spend tie-break


def tie_portfolio(a_value: int, min_budget: int = 0) -> dict:
    # One unit of capacity, budget 100. a: cost 40; b: cost 20, value 50.
    p = portfolio(mmp("a", a_value, cost=40, units=1), mmp("b", 50, cost=20, units=1), capacity=1, budget=100)
    p["value_streams"] = [{"id": "s", "min_budget": min_budget}]
    return p


def test_least_spend_binds():
    # a and b are both worth 50: the cheaper b wins; allocated = spent = 20, reserve 80.
    plan = optimal(tie_portfolio(50))
    assert plan.objective == 50
    assert starts(plan) == {"b": Q1}
    assert money(plan) == (20, 20)
    assert reserve(plan) == [80]


def test_least_spend_binds_at_min_budget():
    # Same tie with min_budget 30: b wins, allocated = min 30 (not more), reserve 70.
    plan = optimal(tie_portfolio(50, min_budget=30))
    assert plan.objective == 50
    assert starts(plan) == {"b": Q1}
    assert money(plan) == (30, 20)
    assert reserve(plan) == [70]


def test_least_spend_not_binding():
    # a worth 60 > 50: value first, so a wins although it costs more; allocated = spent = 40.
    plan = optimal(tie_portfolio(60))
    assert plan.objective == 60
    assert starts(plan) == {"a": Q1}
    assert money(plan) == (40, 40)
    assert reserve(plan) == [60]


# ---------------------------------------------------------------- WSJF-only MMPs


def wsjf(bv: int, tc: int, rr: int, size: int) -> dict:
    return {"business_value": bv, "time_criticality": tc, "risk_reduction": rr, "job_size": size}


def wsjf_portfolio(a_value: int | None) -> dict:
    # 5 units of team capacity; demand = job size.
    # a: CoD 8+5+3 = 16, size 5 (WSJF 3.2); b: CoD 3+3+3 = 9, size 1 (WSJF 9); c: CoD 6, size 4 (1.5).
    return portfolio(
        mmp("a", a_value, units=5, wsjf=wsjf(8, 5, 3, 5)),
        mmp("b", None, units=1, wsjf=wsjf(3, 3, 3, 1)),
        mmp("c", None, units=4, wsjf=wsjf(2, 2, 2, 4)),
        capacity=5,
    )


def test_wsjf_value_binds():
    # Value = WSJF cost of delay: a = 16 beats b + c = 15 (greedy WSJF would fund b, then c: 15).
    plan = optimal(wsjf_portfolio(None))
    assert plan.objective == 16
    assert starts(plan) == {"a": Q1}


def test_wsjf_value_not_binding():
    # a states value 10, which wins over its WSJF cost of delay: b + c = 15 > 10.
    plan = optimal(wsjf_portfolio(10))
    assert plan.objective == 15
    assert starts(plan) == {"b": Q1, "c": Q1}
