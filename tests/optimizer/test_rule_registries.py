"""A rule is a unit: every RuleKind is in each of the five registries, keyed by the kind itself.

The five: its formulation function, its infeasibility sentence (or why no core
names it), its words in the explanation, how the WSJF ranking keeps it, and its
check in the independent validator. A rule added to `RuleKind` fails here until
it has all five.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import load_portfolio
from models.rules import RuleKind
from optimizer import explain, formulation, greedy, infeasibility, validator
from optimizer.instance import build_instance
from tests.support.builders import Q1, Q2, mmp, portfolio

REGISTRIES: dict[str, dict[RuleKind, Any]] = {
    "formulation.RULES": formulation.RULES,
    "infeasibility.SENTENCES": infeasibility.SENTENCES,
    "explain.EXPLANATIONS": explain.EXPLANATIONS,
    "greedy.HONOURED_BY": greedy.HONOURED_BY,
    "validator.CHECKS": validator.CHECKS,
}


@pytest.mark.parametrize("name", REGISTRIES)
def test_every_rule_kind_has_an_entry_keyed_by_the_kind(name: str) -> None:
    registry = REGISTRIES[name]
    assert set(registry) == set(RuleKind), f"{name} misses {set(RuleKind) - set(registry)}"
    # A StrEnum equals its string: make sure no entry is keyed by a free string that happens to match.
    assert all(type(kind) is RuleKind for kind in registry)


def test_each_rule_has_exactly_one_formulation_function() -> None:
    functions = list(formulation.RULES.values())
    assert len(set(functions)) == len(functions)
    assert all(f.__name__.startswith("add_") for f in functions)
    assert next(iter(formulation.RULES)) is RuleKind.START_WINDOW  # it makes the start variables


def test_each_rule_is_put_into_words() -> None:
    for kind, words in explain.EXPLANATIONS.items():
        assert words.reason or words.binding, f"{kind} has neither a not-selected reason nor a binding line"


def test_the_ranking_and_the_validator_name_a_function_for_each_rule() -> None:
    assert all(callable(f) for f in greedy.HONOURED_BY.values())
    assert all(callable(f) for f in validator.CHECKS.values())


def every_rule_portfolio() -> dict[str, Any]:
    """Two quarters with every rule of the formulation present at least once (planned as of the second)."""
    data = portfolio(
        mmp("a", 100, cost=10, units=1, mandatory=True, category="run", key_results={"kr": 1}),
        mmp("b", 50, cost=10, units=1, requires=["a"], excludes=["c"], category="grow"),
        mmp("c", 40, cost=10, deadline=Q1),
        mmp("d", 30, cost=10, excluded=True, earliest_start=Q2),
        mmp("e", 20, cost=10, requires_any=["a", "c"]),
        mmp("f", 20, cost=10),
        mmp("flying", 20, cost=[10, 10], units=[1, 1], started=Q1),
        mmp("finished", 20, cost=10, done=True, key_results={"kr": 1}),
        quarters=2,
        as_of=Q2,
        actuals=[{"quarter": Q1, "spent": {"s": 20}, "key_results": {"kr": 0}}],
        budget=100,
        capacity=1,
        investment_guardrails=[{"category": "run", "min_share": 0.1, "max_share": 0.9}],
        key_results=[{"id": "kr", "target": 1, "value_per_unit": 10}],
        groups=[{"id": "g", "mmps": ["e", "f", "c"], "min": 1, "max": 2}],
        together=[["e", "f"]],
    )
    data["value_streams"] = [
        {"id": "s", "min_budget": 10, "max_budget": 90, "max_change": 0.5, "baseline_budget": 20},
    ]
    return data


def test_a_core_can_name_exactly_the_rules_that_have_a_sentence() -> None:
    # Every rule with a sentence is guarded in explain mode; a rule marked never relaxed is not.
    f = formulation.build(build_instance(load_portfolio(every_rule_portfolio())), explain=True)
    guarded = {rule.kind for rule in f.guards.values()}
    never = {kind for kind, s in infeasibility.SENTENCES.items() if isinstance(s, infeasibility.NeverRelaxed)}
    assert guarded == set(RuleKind) - never
    assert all(s.why for kind, s in infeasibility.SENTENCES.items() if kind in never)
