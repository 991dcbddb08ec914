"""Every business rule verified on its own, against the formulation and the validator alike.

Beside the end-to-end pairs of test_rules.py (a rule binds or not in a solved
plan), each case here is a tiny portfolio and two fixed decisions (who starts
when, allocations, capacity bought, key-result credit): one the rule accepts,
one it rejects. The rejected decision breaks that rule and nothing else, so:

* formulation: the model holds the accepted decision; the model with only that
  rule refuses the rejected one, and the model with every other rule holds it;
* validator: the accepted plan is valid; the rejected plan's only violations
  are that rule's.

Builders from tests.support (one value stream `s`, pool `p` of `s` when
`capacity` is given; quarters 2027Q1..Q3). Money amounts are multiples of 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from models import load_portfolio
from models.rules import RuleKind
from optimizer.validator import validate, validate_rule
from tests.support.builders import Q1, Q2, Q3, mmp, portfolio
from tests.support.rule_verifier import ALL_RULES, Decision, model_accepts, plan_of


@dataclass(frozen=True)
class Case:
    kind: RuleKind
    name: str
    portfolio: dict[str, Any]
    accepted: Decision
    rejected: Decision


def with_streams(data: dict[str, Any], *streams: dict[str, Any]) -> dict[str, Any]:
    data["value_streams"] = list(streams)
    return data


def with_pool(data: dict[str, Any], **pool: Any) -> dict[str, Any]:
    data["pools"] = [{"id": "p", "capacity": 1, **pool}]
    return data


def starts(*pairs: tuple[str, str], **fields: Any) -> Decision:
    return Decision(starts=dict(pairs), **fields)


CASES = [
    Case(
        RuleKind.START_WINDOW,
        "earliest start",
        portfolio(mmp("a", 100, cost=10, earliest_start=Q2), quarters=2),
        accepted=starts(("a", Q2)),
        rejected=starts(("a", Q1)),
    ),
    Case(
        RuleKind.START_WINDOW,
        "deadline",
        portfolio(mmp("a", 100, cost=[10, 10], deadline=Q2), quarters=3),
        accepted=starts(("a", Q1)),
        rejected=starts(("a", Q2)),  # finishes in Q3
    ),
    Case(
        RuleKind.MANDATORY,
        "mandatory",
        portfolio(mmp("a", 100, cost=10, mandatory=True), mmp("b", 50, cost=10)),
        accepted=starts(("a", Q1)),
        rejected=starts(("b", Q1)),
    ),
    Case(
        RuleKind.EXCLUDED,
        "excluded",
        portfolio(mmp("a", 100, cost=10, excluded=True), mmp("b", 50, cost=10)),
        accepted=starts(("b", Q1)),
        rejected=starts(("a", Q1)),
    ),
    Case(
        RuleKind.STREAM_SPEND,
        "MMP cost and run cost",
        with_streams(portfolio(mmp("a", 100, cost=60)), {"id": "s", "run_cost": 20}),
        accepted=starts(("a", Q1), allocated={("s", Q1): 80}),
        rejected=starts(("a", Q1), allocated={("s", Q1): 70}),
    ),
    Case(
        RuleKind.STREAM_SPEND,
        "purchased capacity",
        # a needs 2 units of p, which has 1 and sells 1 more at 20: s spends 40 + 20.
        with_pool(portfolio(mmp("a", 100, cost=40, units=2)), value_stream="s", extra_capacity=1, extra_cost=20),
        accepted=starts(("a", Q1), purchased={("p", Q1): 1}, allocated={("s", Q1): 60}),
        rejected=starts(("a", Q1), purchased={("p", Q1): 1}, allocated={("s", Q1): 40}),
    ),
    Case(
        RuleKind.STREAM_MIN,
        "min budget",
        with_streams(portfolio(mmp("a", 100, cost=20)), {"id": "s", "min_budget": 50}),
        accepted=starts(("a", Q1), allocated={("s", Q1): 50}),
        rejected=starts(("a", Q1), allocated={("s", Q1): 20}),
    ),
    Case(
        RuleKind.STREAM_MAX,
        "max budget",
        with_streams(portfolio(mmp("a", 100, cost=40)), {"id": "s", "max_budget": 50}),
        accepted=starts(("a", Q1), allocated={("s", Q1): 50}),
        rejected=starts(("a", Q1), allocated={("s", Q1): 60}),
    ),
    Case(
        RuleKind.TOTAL_BUDGET,
        "allocations",
        with_streams(
            portfolio(mmp("a", 100, cost=60), {**mmp("b", 50, cost=60), "value_stream": "t"}, budget=100),
            {"id": "s"},
            {"id": "t"},
        ),
        accepted=starts(("a", Q1)),
        rejected=starts(("a", Q1), ("b", Q1)),  # 60 + 60
    ),
    Case(
        RuleKind.TOTAL_BUDGET,
        "shared capacity bought",
        # p is shared: its extra unit (30) is paid from the total budget beside s's 60 + 20.
        with_pool(
            portfolio(mmp("a", 100, cost=60, units=1), mmp("b", 50, cost=20, units=1), budget=100),
            extra_capacity=1,
            extra_cost=30,
        ),
        accepted=starts(("a", Q1)),
        rejected=starts(("a", Q1), ("b", Q1), purchased={("p", Q1): 1}),
    ),
    Case(
        RuleKind.MAX_CHANGE,
        "between quarters",
        # s may change by 50 % a quarter: 60 -> 80 holds, 40 -> 80 does not.
        with_streams(
            portfolio(mmp("a", 50, cost=40, deadline=Q1), mmp("b", 100, cost=80, earliest_start=Q2), quarters=2),
            {"id": "s", "max_change": 0.5},
        ),
        accepted=starts(("a", Q1), ("b", Q2), allocated={("s", Q1): 60}),
        rejected=starts(("a", Q1), ("b", Q2)),
    ),
    Case(
        RuleKind.MAX_CHANGE,
        "against the baseline budget",
        # Baseline 100, max_change 50 %: the first quarter gets at least 50 although a spends 20.
        with_streams(portfolio(mmp("a", 30, cost=20)), {"id": "s", "max_change": 0.5, "baseline_budget": 100}),
        accepted=starts(("a", Q1), allocated={("s", Q1): 50}),
        rejected=starts(("a", Q1)),
    ),
    Case(
        RuleKind.CAPACITY,
        "capacity",
        portfolio(mmp("a", 100, units=1), mmp("b", 50, units=1), capacity=1),
        accepted=starts(("a", Q1)),
        rejected=starts(("a", Q1), ("b", Q1)),
    ),
    Case(
        RuleKind.CAPACITY,
        "capacity bought",
        # p has 1 unit and sells 1 more: a and b fit only when it is bought.
        with_pool(
            portfolio(mmp("a", 100, units=1), mmp("b", 50, units=1)), value_stream="s", extra_capacity=1, extra_cost=10
        ),
        accepted=starts(("a", Q1), ("b", Q1), purchased={("p", Q1): 1}),
        rejected=starts(("a", Q1), ("b", Q1)),
    ),
    Case(
        RuleKind.REQUIRES,
        "finished before",
        portfolio(mmp("a", 50, cost=10), mmp("b", 100, cost=10, requires=["a"]), quarters=2),
        accepted=starts(("a", Q1), ("b", Q2)),
        rejected=starts(("a", Q1), ("b", Q1)),
    ),
    Case(
        RuleKind.REQUIRES,
        "selected",
        portfolio(mmp("a", 50, cost=10), mmp("b", 100, cost=10, requires=["a"]), quarters=2),
        accepted=starts(),
        rejected=starts(("b", Q2)),
    ),
    Case(
        RuleKind.EXCLUDES,
        "excludes",
        portfolio(mmp("a", 100, cost=10, excludes=["b"]), mmp("b", 50, cost=10)),
        accepted=starts(("a", Q1)),
        rejected=starts(("a", Q1), ("b", Q1)),
    ),
    Case(
        RuleKind.GUARDRAIL_MIN,
        "min share",
        # enabler must be half the spend: 20 of 40 holds, 20 of 60 does not.
        portfolio(
            mmp("a", 100, cost=20, category="business"),
            mmp("b", 50, cost=20, category="enabler"),
            mmp("c", 40, cost=20, category="business"),
            investment_guardrails=[{"category": "enabler", "min_share": 0.5}],
        ),
        accepted=starts(("a", Q1), ("b", Q1)),
        rejected=starts(("a", Q1), ("b", Q1), ("c", Q1)),
    ),
    Case(
        RuleKind.GUARDRAIL_MAX,
        "max share",
        # business may be half the spend: 20 of 40 holds, 40 of 40 does not.
        portfolio(
            mmp("a", 100, cost=20, category="business"),
            mmp("b", 50, cost=20, category="enabler"),
            mmp("c", 40, cost=20, category="business"),
            investment_guardrails=[{"category": "business", "max_share": 0.5}],
        ),
        accepted=starts(("a", Q1), ("b", Q1)),
        rejected=starts(("a", Q1), ("c", Q1)),
    ),
    Case(
        RuleKind.KEY_RESULT,
        "credit up to the contributions",
        # a and b contribute 6 each to kr (target 10): a alone earns credit for 6, not 10.
        portfolio(
            mmp("a", 0, cost=10, key_results={"kr": 6}),
            mmp("b", 0, cost=10, key_results={"kr": 6}),
            key_results=[{"id": "kr", "target": 10, "value_per_unit": 10}],
        ),
        accepted=starts(("a", Q1), ("b", Q1), credit={"kr": 10}),
        rejected=starts(("a", Q1), credit={"kr": 10}),
    ),
    Case(
        RuleKind.KEY_RESULT,
        "credit up to the target",
        portfolio(
            mmp("a", 0, cost=10, key_results={"kr": 6}),
            mmp("b", 0, cost=10, key_results={"kr": 6}),
            key_results=[{"id": "kr", "target": 10, "value_per_unit": 10}],
        ),
        accepted=starts(("a", Q1), credit={"kr": 6}),
        rejected=starts(("a", Q1), ("b", Q1), credit={"kr": 12}),
    ),
    Case(
        RuleKind.GROUP_MIN,
        "at least one option",
        portfolio(mmp("a", 100, cost=10), mmp("b", 50, cost=10), groups=[{"id": "g", "mmps": ["a", "b"], "min": 1}]),
        accepted=starts(("b", Q1)),
        rejected=starts(),
    ),
    Case(
        RuleKind.GROUP_MAX,
        "at most one option",
        portfolio(mmp("a", 100, cost=10), mmp("b", 50, cost=10), groups=[{"id": "g", "mmps": ["a", "b"], "max": 1}]),
        accepted=starts(("a", Q1)),
        rejected=starts(("a", Q1), ("b", Q1)),
    ),
    Case(
        RuleKind.TOGETHER,
        "all or none",
        portfolio(mmp("a", 100, cost=10), mmp("b", 50, cost=10), mmp("c", 10, cost=10), together=[["a", "b"]]),
        accepted=starts(("a", Q1), ("b", Q1)),
        rejected=starts(("a", Q1), ("c", Q1)),
    ),
    Case(
        RuleKind.REQUIRES_ANY,
        "one option finished first",
        portfolio(
            mmp("a", 50, cost=10), mmp("b", 40, cost=10), mmp("c", 100, cost=10, requires_any=["a", "b"]), quarters=2
        ),
        accepted=starts(("b", Q1), ("c", Q2)),
        rejected=starts(("b", Q1), ("c", Q1)),
    ),
    Case(
        RuleKind.AS_OF,
        "history quarters allocate nothing",
        portfolio(mmp("a", 100, cost=10), quarters=2, as_of=Q2),
        accepted=starts(("a", Q2)),
        rejected=Decision(starts={"a": Q2}, allocated={("s", Q1): 10}),
    ),
    Case(
        RuleKind.IN_FLIGHT,
        "an in-flight MMP continues",
        portfolio(mmp("a", 100, cost=[10, 10], started=Q1), mmp("b", 50, cost=10), quarters=2, as_of=Q2),
        accepted=starts(("a", Q1), ("b", Q2)),
        rejected=starts(("b", Q2)),
    ),
    Case(
        RuleKind.DONE,
        "the alternative of a done MMP",
        portfolio(
            mmp("a", 100, cost=10, done=True),
            mmp("b", 50, cost=10, excludes=["a"]),
            mmp("c", 20, cost=10),
            quarters=2,
            as_of=Q2,
        ),
        accepted=starts(("c", Q2)),
        rejected=starts(("b", Q2)),
    ),
]


def test_every_rule_kind_has_a_case() -> None:
    assert {case.kind for case in CASES} == set(RuleKind)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.kind}: {case.name}")
def test_the_formulation_holds_the_accepted_decision_and_the_rule_refuses_the_other(case: Case) -> None:
    p = load_portfolio(case.portfolio)
    assert model_accepts(p, case.accepted), "the whole model refuses the accepted decision"
    assert not model_accepts(p, case.rejected, {case.kind}), f"{case.kind} alone holds the rejected decision"
    if case.kind is not RuleKind.START_WINDOW:  # always in the model: it makes the start variables
        assert model_accepts(p, case.rejected, ALL_RULES - {case.kind}), "another rule refuses it too"


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.kind}: {case.name}")
def test_the_validator_reports_the_rule_for_the_rejected_decision_only(case: Case) -> None:
    p = load_portfolio(case.portfolio)
    accepted, rejected = plan_of(p, case.accepted), plan_of(p, case.rejected)
    assert validate(p, accepted) == []
    violations = validate_rule(p, rejected, case.kind)
    assert violations, f"the validator does not see {case.kind} broken"
    assert validate(p, rejected) == violations, "the rejected plan breaks more than its rule"


def test_a_start_outside_the_window_has_no_model_variable() -> None:
    # Why the start window cannot be left out of a model: its rejected starts are not variables at all.
    p = load_portfolio(portfolio(mmp("a", 100, cost=10, earliest_start=Q2), mmp("b", 10, cost=10), quarters=3))
    assert model_accepts(p, starts(("a", Q3), ("b", Q1)), set())
    assert not model_accepts(p, starts(("a", Q1)), set())
