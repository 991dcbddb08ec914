"""Richer choices: groups of alternatives, values that cost, synergies, all-or-none sets, requires-any.

Each rule once where it binds and once where it does not (the optimum worked out by hand in the
comment), solved by every backend through `solve_valid`, so the independent validator checks each plan.
"""

from __future__ import annotations

import pytest

from tests.support.builders import Q1, Q2, mmp, portfolio, starts
from tests.support.solving import solve_valid

BACKENDS = ("cp-sat", "cbc", "auto")
PROVEN = {"time_limit_s": 600}  # these prove in milliseconds; no limit load could cut short


def solved(data: dict, backend: str):
    plan = solve_valid(data, backend=backend, **PROVEN)
    assert plan.status == "optimal", plan.status
    return plan


# ---------------------------------------------------------------- groups


def alternatives(**group) -> dict:
    # Plan A (100, cost 60) and plan B (80, cost 30) of one initiative, and c (50, cost 40); budget 100.
    return portfolio(
        mmp("a", 100, cost=60),
        mmp("b", 80, cost=30),
        mmp("c", 50, cost=40),
        budget=100,
        groups=[{"id": "initiative", "mmps": ["a", "b"], **group}],
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_group_max_binds(backend):
    # At most one of a and b: a + b (180, cost 90) is out; the best is a + c (150, cost 100).
    plan = solved(alternatives(max=1), backend)
    assert plan.objective == 150 and set(starts(plan)) == {"a", "c"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_group_max_not_binding(backend):
    # Both may be funded: a + b (180, cost 90) beats a + c (150).
    plan = solved(alternatives(max=2), backend)
    assert plan.objective == 180 and set(starts(plan)) == {"a", "b"}


def low_value_group(**group) -> dict:
    # One option of a group must be funded even though c alone (value 90, cost 100) is worth more.
    return portfolio(
        mmp("a", 10, cost=60),
        mmp("b", 5, cost=30),
        mmp("c", 90, cost=100),
        budget=100,
        groups=[{"id": "initiative", "mmps": ["a", "b"], **group}],
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_group_min_binds(backend):
    # min 1: c (cost 100) leaves no room for an option; a (10) is the best option and leaves no room for c.
    plan = solved(low_value_group(min=1), backend)
    assert plan.objective == 10 and set(starts(plan)) == {"a"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_group_min_not_binding(backend):
    plan = solved(low_value_group(min=0), backend)
    assert plan.objective == 90 and set(starts(plan)) == {"c"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_doing_nothing_has_a_value(backend):
    # Doing nothing about the initiative is worth 120: more than any option, so none is funded.
    plan = solved(alternatives(max=1, none_value=120), backend)
    assert set(starts(plan)) == {"c"} and plan.objective == 50 + 120
    assert plan.value.groups == 120


@pytest.mark.parametrize("backend", BACKENDS)
def test_doing_nothing_can_cost(backend):
    # Doing nothing costs 200 (a negative none_value): an option is funded even at a loss elsewhere.
    data = low_value_group(max=1, none_value=-200)
    plan = solved(data, backend)
    assert set(starts(plan)) == {"a"} and plan.objective == 10 and plan.value.groups == 0


# ---------------------------------------------------------------- values that cost


def compliance(mandatory: bool) -> dict:
    # A compliance MMP worth -40 (cost of doing it beyond its cost), and b (100); delay lowers it further.
    return portfolio(
        mmp("reg", -40, cost=10, mandatory=mandatory, cost_of_delay=30),
        mmp("b", 100, cost=10),
        quarters=2,
        budget=10,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_mandatory_negative_value_is_paid_as_early_as_possible(backend):
    # reg in Q1 is worth -40, in Q2 -70: it starts in Q1 (budget 10 a quarter), b in Q2.
    plan = solved(compliance(mandatory=True), backend)
    assert starts(plan) == {"reg": Q1, "b": Q1} or starts(plan) == {"reg": Q1, "b": Q2}
    assert starts(plan)["reg"] == Q1 and plan.objective == 100 - 40


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_optional_negative_value_is_left_out(backend):
    plan = solved(compliance(mandatory=False), backend)
    assert set(starts(plan)) == {"b"} and plan.objective == 100


# ---------------------------------------------------------------- synergies


def paired(value: int) -> dict:
    # a (60) and b (50), each cost 10, and c (100, cost 10); budget 20: two of three.
    return portfolio(
        mmp("a", 60, cost=10),
        mmp("b", 50, cost=10),
        mmp("c", 100, cost=10),
        budget=20,
        synergies=[{"id": "ab", "mmps": ["a", "b"], "value": value}],
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_synergy_binds(backend):
    # a + b with the synergy 70: 180 beats c + a (160).
    plan = solved(paired(70), backend)
    assert set(starts(plan)) == {"a", "b"} and plan.objective == 180 and plan.value.synergies == 70


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_synergy_not_binding(backend):
    # A synergy of 30 (140) does not beat c + a (160).
    plan = solved(paired(30), backend)
    assert set(starts(plan)) == {"a", "c"} and plan.objective == 160 and plan.value.synergies == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_negative_synergy_counts_when_both_are_funded(backend):
    # Budget 30: all three, less 45 for a and b together (165), beats c + a (160).
    data = paired(-45)
    data["budget"] = 30
    plan = solved(data, backend)
    assert set(starts(plan)) == {"a", "b", "c"} and plan.objective == 165 and plan.value.synergies == -45


# ---------------------------------------------------------------- together


def bundle(together: bool) -> dict:
    # a (100, cost 10) needs b (5, cost 30) with it when bundled; c (60, cost 20); budget 40.
    return portfolio(
        mmp("a", 100, cost=10),
        mmp("b", 5, cost=30),
        mmp("c", 60, cost=20),
        budget=40,
        together=[["a", "b"]] if together else [],
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_together_binds(backend):
    # All or none: a + b (105, cost 40) beats c alone (60).
    plan = solved(bundle(True), backend)
    assert set(starts(plan)) == {"a", "b"} and plan.objective == 105


@pytest.mark.parametrize("backend", BACKENDS)
def test_together_not_binding(backend):
    plan = solved(bundle(False), backend)
    assert set(starts(plan)) == {"a", "c"} and plan.objective == 160


# ---------------------------------------------------------------- requires any


def either_platform(requires_any: list[str]) -> dict:
    # c (100) needs a finished platform: a (cost 30) or b (cost 10); budget 40 in each of two quarters.
    return portfolio(
        mmp("a", 5, cost=30),
        mmp("b", 1, cost=10),
        mmp("c", 100, cost=30, requires_any=requires_any),
        quarters=2,
        budget=40,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_requires_any_binds(backend):
    # c waits for b (the cheaper platform) in Q1: b Q1, c Q2; a fits beside b in Q1 (40).
    plan = solved(either_platform(["a", "b"]), backend)
    assert starts(plan)["c"] == Q2 and (starts(plan).get("b") == Q1 or starts(plan).get("a") == Q1)
    assert plan.objective == 106


@pytest.mark.parametrize("backend", BACKENDS)
def test_requires_any_not_binding(backend):
    # Without it c may start in Q1; everything is funded.
    plan = solved(either_platform([]), backend)
    assert set(starts(plan)) == {"a", "b", "c"} and plan.objective == 106


def test_the_ranking_keeps_every_choice_rule():
    data = portfolio(
        mmp("a", 100, cost=10),
        mmp("b", 80, cost=10),
        mmp("c", 60, cost=10, requires_any=["a", "b"]),
        mmp("d", 50, cost=10),
        mmp("e", 40, cost=10),
        mmp("reg", -20, cost=10, mandatory=True),
        mmp("opt", -5, cost=10),
        quarters=2,
        budget=40,
        groups=[{"id": "g", "mmps": ["a", "b"], "max": 1, "min": 1}],
        together=[["d", "e"]],
        synergies=[{"id": "de", "mmps": ["d", "e"], "value": 15}],
    )
    plan = solve_valid(data, backend="wsjf-greedy")
    funded = set(starts(plan))
    assert "reg" in funded and "opt" not in funded
    assert len(funded & {"a", "b"}) == 1
    assert ("d" in funded) == ("e" in funded)
