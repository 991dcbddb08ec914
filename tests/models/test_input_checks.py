"""Input checks: every malformed portfolio is rejected with a JSON path and a reason.

docs/design.md, section 3: every reference must resolve, `requires` must be acyclic,
and a broken portfolio is rejected before any solver runs, with every problem
listed by JSON path and reason.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from models import (
    Portfolio,
    PortfolioError,
    Problem,
    SolverSettings,
    check_portfolio,
    check_solvable,
    json_path,
    load_portfolio,
    units,
)

NAN = float("nan")
INF = float("inf")


def base_portfolio() -> dict[str, Any]:
    """A small portfolio that is valid and touches every kind of reference."""
    return {
        "name": "Acme Insurance FY27",
        "currency": "USD",
        "quarters": ["2027Q1", "2027Q2"],
        "budget": [15000000, 15000000],
        "value_streams": [
            {
                "id": "claims",
                "name": "Claims",
                "min_budget": 2000000,
                "max_budget": 9000000,
                "run_cost": [500000, 500000],
                "baseline_budget": 6000000,
                "max_change": 0.25,
            },
            {"id": "policy", "name": "Policy", "min_budget": [1000000, 1000000], "max_budget": 8000000},
        ],
        "pools": [
            {
                "id": "claims-team",
                "value_stream": "claims",
                "capacity": [6, 6],
                "extra_capacity": [0, 2],
                "extra_cost": 150000,
            },
            {"id": "platform", "capacity": 4},  # shared pool
        ],
        "mmps": [
            {
                "id": "claims-api",
                "value_stream": "claims",
                "value": 500000,
                "cost": [300000],
                "demand": {"platform": [2]},
                "category": "enabler",
            },
            {
                "id": "fnol-app",
                "name": "First notice of loss app",
                "value_stream": "claims",
                "value": 2400000,
                "cost": [800000, 400000],
                "demand": {"claims-team": [4, 2]},
                "earliest_start": "2027Q1",
                "deadline": "2027Q2",
                "cost_of_delay": 200000,
                "requires": ["claims-api"],
                "excludes": ["fnol-vendor"],
                "category": "business",
                "key_results": {"kr-nps": 3.0},
            },
            {
                "id": "fnol-vendor",
                "value_stream": "claims",
                "cost": [1000000],
                "demand": {"claims-team": [1]},
                "excludes": ["fnol-app"],
                "category": "business",
                "wsjf": {"business_value": 8, "time_criticality": 5, "risk_reduction": 3, "job_size": 5},
            },
            {
                "id": "policy-portal",
                "value_stream": "policy",
                "value": 1500000,
                "cost": [600000],
                "demand": {"platform": [2]},
                "category": "business",
                "key_results": {"kr-nps": 2},
            },
        ],
        "investment_guardrails": [{"category": "enabler", "min_share": 0.1, "max_share": 0.5}],
        "key_results": [{"id": "kr-nps", "name": "NPS +10", "target": 10, "value_per_unit": 100000}],
        "baseline_plan": {"fnol-app": "2027Q1"},
        "change_penalty": 50000,
    }


# --- mutations, addressed by the same JSON paths the checks report ------------------------------

Mutation = Callable[[dict[str, Any]], None]

_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _locate(data: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """The container holding the last step of `path` ('$.mmps[1].cost[0]'), and that step."""
    steps: list[str | int] = []
    rest = path.removeprefix("$")
    while rest:
        match = _TOKEN.match(rest)
        assert match, f"bad test path {path!r}"
        steps.append(match[1] if match[1] is not None else int(match[2]))
        rest = rest[match.end() :]
    node: Any = data
    for step in steps[:-1]:
        node = node[step]
    return node, steps[-1]


def put(path: str, value: Any) -> Mutation:
    """Set the field at `path` (an index one past the end of a list appends)."""

    def mutate(data: dict[str, Any]) -> None:
        parent, key = _locate(data, path)
        if isinstance(parent, list) and key == len(parent):
            parent.append(copy.deepcopy(value))
        else:
            parent[key] = copy.deepcopy(value)

    return mutate


def drop(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        parent, key = _locate(data, path)
        del parent[key]

    return mutate


def all_of(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for m in mutations:
            m(data)

    return mutate


def problems_of(data: dict[str, Any]) -> list[Problem]:
    with pytest.raises(PortfolioError) as excinfo:
        load_portfolio(data)
    problems = excinfo.value.problems
    assert problems, "PortfolioError raised without any problem"
    assert all(isinstance(p, Problem) for p in problems)
    return problems


def case(mutation: Mutation, path: str, *words: str, id: str, alone: bool = True) -> Any:
    """One rejection: the mutation must yield a problem at `path` whose message has `words`.

    `alone`: every problem reported is at `path` and gives that reason (no collateral noise,
    e.g. a scalar budget must not also be told it "should be a valid list").
    """
    return pytest.param(mutation, path, words, alone, id=id)


# --- the valid base -----------------------------------------------------------------------------


def test_base_portfolio_loads() -> None:
    portfolio = load_portfolio(base_portfolio())
    assert check_portfolio(portfolio) == []
    assert portfolio.quarters == ["2027Q1", "2027Q2"]
    assert [m.id for m in portfolio.mmps] == ["claims-api", "fnol-app", "fnol-vendor", "policy-portal"]
    assert portfolio.mmps[1].duration == 2
    # No value given: the WSJF cost of delay is the value.
    assert portfolio.mmps[2].outcome_value == Decimal(8 + 5 + 3)
    assert portfolio.pools[1].value_stream is None


def test_requires_any_with_one_option_that_does_not_lead_back_is_sound() -> None:
    data = base_portfolio()
    data["mmps"][0]["requires_any"] = ["fnol-app", "policy-portal"]  # fnol-app leads back, policy-portal not
    assert check_portfolio(load_portfolio(data)) == []


def test_only_the_mmps_whose_options_lead_back_are_named_not_those_that_wait_on_them() -> None:
    data = base_portfolio()
    claims_api, fnol_app, fnol_vendor, policy_portal = data["mmps"]
    fnol_vendor["requires_any"], policy_portal["requires_any"] = ["policy-portal"], ["fnol-vendor"]  # each other
    fnol_app["requires"], fnol_app["excludes"], fnol_vendor["excludes"] = [], [], []
    claims_api["requires"], claims_api["requires_any"] = ["policy-portal"], ["fnol-app"]  # waits; its option is fine
    assert [p.path for p in problems_of(data)] == ["$.mmps[2].requires_any", "$.mmps[3].requires_any"]


def test_base_portfolio_is_fresh_each_time() -> None:
    first = base_portfolio()
    first["mmps"].clear()
    assert len(base_portfolio()["mmps"]) == 4


# --- one rejection per case ---------------------------------------------------------------------

UNKNOWN_REFERENCES = [
    case(
        put("$.mmps[0].value_stream", "billing"),
        "$.mmps[0].value_stream",
        "unknown value stream",
        "'billing'",
        id="mmp-value-stream",
    ),
    case(
        put("$.pools[0].value_stream", "billing"),
        "$.pools[0].value_stream",
        "unknown value stream",
        "'billing'",
        id="pool-value-stream",
    ),
    case(
        put("$.mmps[1].demand", {"claims-tema": [4, 2]}),
        "$.mmps[1].demand.claims-tema",
        "unknown pool",
        "'claims-tema'",
        id="demand-pool",
    ),
    case(
        put("$.mmps[1].requires", ["claims-apy"]),
        "$.mmps[1].requires[0]",
        "unknown MMP",
        "'claims-apy'",
        id="requires-mmp",
    ),
    case(
        put("$.mmps[1].excludes", ["fnol-vendor", "fnol-diy"]),
        "$.mmps[1].excludes[1]",
        "unknown MMP",
        "'fnol-diy'",
        id="excludes-mmp",
    ),
    case(
        put("$.mmps[1].key_results", {"kr-csat": 1}),
        "$.mmps[1].key_results.kr-csat",
        "unknown key result",
        "'kr-csat'",
        id="mmp-key-result",
    ),
    case(
        put("$.mmps[1].earliest_start", "2026Q4"),
        "$.mmps[1].earliest_start",
        "'2026Q4'",
        "not a quarter of the horizon",
        id="earliest-start-quarter",
    ),
    case(
        put("$.mmps[1].deadline", "2027Q3"),
        "$.mmps[1].deadline",
        "'2027Q3'",
        "not a quarter of the horizon",
        id="deadline-quarter",
    ),
    case(
        put("$.baseline_plan", {"fnol-ap": "2027Q1"}),
        "$.baseline_plan.fnol-ap",
        "unknown MMP",
        "'fnol-ap'",
        id="baseline-mmp",
    ),
    case(
        put("$.baseline_plan.fnol-app", "2028Q1"),
        "$.baseline_plan.fnol-app",
        "'2028Q1'",
        "not a quarter of the horizon",
        id="baseline-quarter",
    ),
    case(
        put("$.investment_guardrails[0].category", "tech-debt"),
        "$.investment_guardrails[0].category",
        "no MMP has category",
        "'tech-debt'",
        id="guardrail-category",
    ),
]

REQUIRES_GRAPH = [
    case(
        put("$.mmps[0].requires", ["fnol-app"]),
        "$.mmps[0].requires",
        "cycle",
        "claims-api -> fnol-app -> claims-api",
        id="requires-2-cycle",
    ),
    case(
        all_of(put("$.mmps[0].requires", ["policy-portal"]), put("$.mmps[3].requires", ["fnol-app"])),
        "$.mmps[0].requires",
        "cycle",
        "claims-api -> policy-portal -> fnol-app -> claims-api",
        "can ever start",
        id="requires-3-cycle",
    ),
    # Through requires_any: claims-api's only option (fnol-app) requires claims-api.
    case(
        put("$.mmps[0].requires_any", ["fnol-app"]),
        "$.mmps[0].requires_any",
        "'claims-api' can never start",
        "(fnol-app)",
        id="requires-any-leads-back",
    ),
    case(
        all_of(put("$.mmps[0].requires_any", ["fnol-app", "policy-portal"]), put("$.mmps[3].requires", ["fnol-app"])),
        "$.mmps[0].requires_any",
        "can never start",
        id="requires-any-every-option-leads-back",
    ),
    # A cycle reached from outside it names only the cycle, at its first MMP.
    case(
        all_of(put("$.mmps[0].requires", ["fnol-vendor"]), put("$.mmps[2].requires", ["fnol-app"])),
        "$.mmps[0].requires",
        "claims-api -> fnol-vendor -> fnol-app -> claims-api",
        id="requires-cycle-via-vendor",
    ),
    case(
        all_of(
            put("$.mmps[1].requires", []),
            put("$.mmps[2].requires", ["policy-portal"]),
            put("$.mmps[3].requires", ["fnol-vendor"]),
        ),
        "$.mmps[2].requires",
        "fnol-vendor -> policy-portal -> fnol-vendor",
        id="requires-2-cycle-later-mmps",
    ),
    case(
        put("$.mmps[0].requires", ["claims-api"]),
        "$.mmps[0].requires[0]",
        "claims-api",
        "names itself",
        id="requires-self",
    ),
    case(
        put("$.mmps[2].excludes", ["fnol-app", "fnol-vendor"]),
        "$.mmps[2].excludes[1]",
        "fnol-vendor",
        "names itself",
        id="excludes-self",
    ),
]

PROFILE_LENGTHS = [
    case(
        put("$.budget", [1, 2, 3]),
        "$.budget",
        "total budget",
        "lists 3 quarters",
        "horizon has 2",
        id="budget",
    ),
    case(
        put("$.value_streams[1].min_budget", [1000000]),
        "$.value_streams[1].min_budget",
        "min_budget of policy",
        "lists 1 quarters",
        "horizon has 2",
        id="min-budget",
    ),
    case(
        put("$.value_streams[0].max_budget", [1, 2, 3]),
        "$.value_streams[0].max_budget",
        "max_budget of claims",
        "lists 3 quarters",
        "horizon has 2",
        id="max-budget",
    ),
    case(
        put("$.value_streams[0].run_cost", [500000]),
        "$.value_streams[0].run_cost",
        "run_cost of claims",
        "lists 1 quarters",
        "horizon has 2",
        id="run-cost",
    ),
    case(
        put("$.pools[0].capacity", [6]),
        "$.pools[0].capacity",
        "capacity of claims-team",
        "lists 1 quarters",
        "horizon has 2",
        id="capacity",
    ),
    case(
        put("$.pools[0].extra_capacity", [0, 2, 2]),
        "$.pools[0].extra_capacity",
        "extra_capacity of claims-team",
        "lists 3 quarters",
        "horizon has 2",
        id="extra-capacity",
    ),
    case(
        put("$.mmps[1].demand.claims-team", [4]),
        "$.mmps[1].demand.claims-team",
        "demand lists 1",
        "cost lists 2",
        "same length",
        id="demand-shorter-than-cost",
    ),
    case(
        put("$.mmps[0].cost", [100000, 200000]),
        "$.mmps[0].demand.platform",
        "demand lists 1",
        "cost lists 2",
        "same length",
        id="cost-longer-than-demand",
    ),
    case(put("$.mmps[0].cost", []), "$.mmps[0].cost", "at least 1", id="cost-empty"),
]

NEGATIVE = "greater than or equal to 0"
FINITE = "finite number"
BAD_NUMBERS = [
    # cost
    case(put("$.mmps[1].cost[0]", -1), "$.mmps[1].cost[0]", NEGATIVE, id="cost-negative"),
    case(put("$.mmps[1].cost[1]", NAN), "$.mmps[1].cost[1]", FINITE, id="cost-nan"),
    case(put("$.mmps[1].cost[0]", INF), "$.mmps[1].cost[0]", FINITE, id="cost-inf"),
    case(put("$.mmps[1].cost[0]", -INF), "$.mmps[1].cost[0]", FINITE, id="cost-minus-inf"),
    # value
    # a negative value is allowed (compliance work); beyond a quadrillion of either sign it is not
    case(put("$.mmps[0].value", -(10**16)), "$.mmps[0].value", "greater than or equal to -1", id="value-too-negative"),
    case(put("$.mmps[0].value", NAN), "$.mmps[0].value", FINITE, id="value-nan"),
    case(put("$.mmps[0].value", INF), "$.mmps[0].value", FINITE, id="value-inf"),
    case(put("$.mmps[1].cost_of_delay", -1), "$.mmps[1].cost_of_delay", NEGATIVE, id="cost-of-delay-negative"),
    # budget, scalar and per quarter (a scalar must not also be told it "should be a valid list")
    case(put("$.budget", -1), "$.budget", NEGATIVE, id="budget-negative"),
    case(put("$.budget", NAN), "$.budget", FINITE, id="budget-nan"),
    case(put("$.budget", INF), "$.budget", FINITE, id="budget-inf"),
    case(put("$.budget[1]", -1), "$.budget[1]", NEGATIVE, id="budget-list-negative"),
    case(put("$.budget[0]", NAN), "$.budget[0]", FINITE, id="budget-list-nan"),
    case(put("$.budget[1]", INF), "$.budget[1]", FINITE, id="budget-list-inf"),
    case(
        put("$.value_streams[0].min_budget", -1),
        "$.value_streams[0].min_budget",
        NEGATIVE,
        id="min-budget-negative",
    ),
    case(
        put("$.value_streams[0].max_budget", INF),
        "$.value_streams[0].max_budget",
        FINITE,
        id="max-budget-inf",
    ),
    case(
        put("$.value_streams[0].run_cost[1]", NAN),
        "$.value_streams[0].run_cost[1]",
        FINITE,
        id="run-cost-list-nan",
    ),
    case(
        put("$.value_streams[0].max_change", -0.1),
        "$.value_streams[0].max_change",
        NEGATIVE,
        id="max-change-negative",
    ),
    # capacity
    case(put("$.pools[1].capacity", -1), "$.pools[1].capacity", NEGATIVE, id="capacity-negative"),
    case(put("$.pools[1].capacity", NAN), "$.pools[1].capacity", FINITE, id="capacity-nan"),
    case(put("$.pools[0].capacity[1]", INF), "$.pools[0].capacity[1]", FINITE, id="capacity-list-inf"),
    case(
        put("$.pools[0].extra_capacity[0]", -1),
        "$.pools[0].extra_capacity[0]",
        NEGATIVE,
        id="extra-capacity-negative",
    ),
    case(put("$.pools[0].extra_cost", NAN), "$.pools[0].extra_cost", FINITE, id="extra-cost-nan"),
    # demand
    case(
        put("$.mmps[1].demand.claims-team[1]", -1),
        "$.mmps[1].demand.claims-team[1]",
        NEGATIVE,
        id="demand-negative",
    ),
    case(
        put("$.mmps[1].demand.claims-team[0]", NAN),
        "$.mmps[1].demand.claims-team[0]",
        FINITE,
        id="demand-nan",
    ),
    case(put("$.mmps[0].demand.platform[0]", INF), "$.mmps[0].demand.platform[0]", FINITE, id="demand-inf"),
    # shares, key results, WSJF
    case(
        put("$.investment_guardrails[0].min_share", 1.5),
        "$.investment_guardrails[0].min_share",
        "less than or equal to 1",
        id="min-share-above-1",
    ),
    case(
        put("$.investment_guardrails[0].max_share", -0.1),
        "$.investment_guardrails[0].max_share",
        NEGATIVE,
        id="max-share-negative",
    ),
    case(
        put("$.investment_guardrails[0].min_share", NAN),
        "$.investment_guardrails[0].min_share",
        FINITE,
        id="min-share-nan",
    ),
    case(
        put("$.key_results[0].value_per_unit", -1),
        "$.key_results[0].value_per_unit",
        NEGATIVE,
        id="kr-value-per-unit-negative",
    ),
    case(put("$.key_results[0].target", INF), "$.key_results[0].target", FINITE, id="kr-target-inf"),
    case(
        put("$.mmps[1].key_results.kr-nps", -1),
        "$.mmps[1].key_results.kr-nps",
        NEGATIVE,
        id="mmp-kr-contribution-negative",
    ),
    case(
        put("$.mmps[2].wsjf.business_value", -1),
        "$.mmps[2].wsjf.business_value",
        NEGATIVE,
        id="wsjf-negative",
    ),
    case(
        put("$.mmps[2].wsjf.job_size", 0),
        "$.mmps[2].wsjf.job_size",
        "greater than 0",
        id="wsjf-job-size-zero",
    ),
    case(put("$.change_penalty", -1), "$.change_penalty", NEGATIVE, id="change-penalty-negative"),
]

NOT_NUMBERS = [
    case(put("$.budget", "lots"), "$.budget", "valid decimal", id="budget-string"),
    case(put("$.budget[0]", "15M"), "$.budget[0]", "valid decimal", id="budget-list-string"),
    case(put("$.mmps[0].value", "high"), "$.mmps[0].value", "valid decimal", id="value-string"),
    case(put("$.mmps[1].cost[0]", "800k"), "$.mmps[1].cost[0]", "valid decimal", id="cost-string"),
    case(put("$.pools[0].capacity[0]", "six"), "$.pools[0].capacity[0]", "valid decimal", id="capacity-string"),
    case(
        put("$.mmps[1].demand.claims-team[0]", "four"),
        "$.mmps[1].demand.claims-team[0]",
        "valid decimal",
        id="demand-string",
    ),
    case(
        put("$.value_streams[0].max_budget", "none"),
        "$.value_streams[0].max_budget",
        "valid decimal",
        id="max-budget-string",
    ),
    case(
        put("$.investment_guardrails[0].min_share", "ten percent"),
        "$.investment_guardrails[0].min_share",
        "valid decimal",
        id="share-string",
    ),
    case(put("$.mmps[1].cost", 800000), "$.mmps[1].cost", "valid list", id="cost-not-a-list"),
]

BOUNDS_AND_SHAPES = [
    case(
        put("$.value_streams[0].min_budget", 10000000),
        "$.value_streams[0].min_budget",
        "min_budget 10000000 of claims exceeds its max_budget 9000000",
        id="min-above-max",
    ),
    case(
        put("$.value_streams[1].max_budget", [8000000, 500000]),
        "$.value_streams[1].min_budget",
        "exceeds its max_budget 500000 in 2027Q2",
        id="min-above-max-one-quarter",
    ),
    case(
        put("$.quarters", []),
        "$.quarters",
        "horizon is empty",
        "at least one quarter",
        id="empty-horizon",
        alone=False,
    ),
    case(
        put("$.value_streams", []),
        "$.value_streams",
        "at least one value stream",
        id="no-value-streams",
        alone=False,
    ),
    case(
        put("$.quarters", ["2027Q1", "2027Q1"]),
        "$.quarters[1]",
        "'2027Q1'",
        "listed twice",
        id="duplicate-quarter",
        alone=False,
    ),
    case(
        put("$.value_streams[1].id", "claims"),
        "$.value_streams[1].id",
        "'claims'",
        "more than once",
        id="duplicate-value-stream",
        alone=False,
    ),
    case(
        put("$.pools[1].id", "claims-team"),
        "$.pools[1].id",
        "'claims-team'",
        "more than once",
        id="duplicate-pool",
        alone=False,
    ),
    case(put("$.mmps[3].id", "fnol-app"), "$.mmps[3].id", "'fnol-app'", "more than once", id="duplicate-mmp"),
    case(
        put("$.key_results[1]", {"id": "kr-nps", "target": 5, "value_per_unit": 1}),
        "$.key_results[1].id",
        "'kr-nps'",
        "more than once",
        id="duplicate-key-result",
    ),
    case(
        drop("$.mmps[0].value"),
        "$.mmps[0].value",
        "claims-api",
        "needs a value, a value range or WSJF",
        id="mmp-without-value-or-wsjf",
    ),
    case(
        put("$.investment_guardrails[0]", {"category": "enabler"}),
        "$.investment_guardrails[0]",
        "give min_share, max_share or both",
        id="guardrail-without-share",
    ),
    case(
        all_of(put("$.investment_guardrails[0].min_share", 0.6), put("$.investment_guardrails[0].max_share", 0.2)),
        "$.investment_guardrails[0].min_share",
        "min_share 0.6 exceeds max_share 0.2",
        id="guardrail-min-above-max",
    ),
    case(
        put("$.investment_guardrails[1]", {"category": "enabler", "max_share": 0.9}),
        "$.investment_guardrails[1].category",
        "'enabler'",
        "two guardrails",
        id="guardrail-twice",
    ),
    case(put("$.key_results[0].target", 0), "$.key_results[0].target", "greater than zero", id="kr-target-zero"),
    case(put("$.mmps[0].id", ""), "$.mmps[0].id", "at least 1 character", id="empty-id"),
]

TWO_SCENARIOS = [{"id": "base", "probability": 0.5}, {"id": "cut", "probability": 0.5, "budget": 12000000}]

UNCERTAINTY = [
    case(
        put("$.scenarios", [{"id": "base", "probability": 0.5}, {"id": "cut", "probability": 0.4}]),
        "$.scenarios",
        "sum to 0.9, not 1",
        id="probabilities-not-one",
    ),
    case(
        put("$.scenarios", [{"id": "w", "probability": 0.5}, {"id": "w", "probability": 0.5}]),
        "$.scenarios[1].id",
        "'w'",
        "more than once",
        id="scenario-id-twice",
    ),
    case(
        put("$.scenarios", [{"id": "w", "probability": 1, "value": {"ghost": 5}}]),
        "$.scenarios[0].value.ghost",
        "unknown MMP 'ghost'",
        id="scenario-unknown-mmp",
    ),
    case(
        put("$.scenarios", [{"id": "w", "probability": 1, "capacity": {"ghost": 5}}]),
        "$.scenarios[0].capacity.ghost",
        "unknown pool 'ghost'",
        id="scenario-unknown-pool",
    ),
    case(
        put("$.scenarios", [{"id": "w", "probability": 1, "budget": [1, 2, 3]}]),
        "$.scenarios[0].budget",
        "lists 3 quarters but the horizon has 2",
        id="scenario-budget-length",
    ),
    case(
        put("$.scenarios", [{"id": "w", "probability": 1, "cost": {"claims-api": [1, 2, 3, 4, 5]}}]),
        "$.scenarios[0].cost.claims-api",
        "lists 5 quarters",
        id="scenario-cost-length",
    ),
    case(
        put("$.mmps[0].value_range", {"low": 10, "likely": 5, "high": 20}),
        "$.mmps[0].value_range",
        "low <= likely <= high",
        id="value-range-out-of-order",
    ),
    case(
        all_of(put("$.scenarios", TWO_SCENARIOS), put("$.risk", {"measure": "wasserstein", "distances": [[0, 1]]})),
        "$.risk.distances",
        "1 rows",
        "one per scenario (2)",
        id="distances-rows",
    ),
    case(
        all_of(
            put("$.scenarios", TWO_SCENARIOS), put("$.risk", {"measure": "wasserstein", "distances": [[1, 1], [1, 0]]})
        ),
        "$.risk.distances[0][0]",
        "distance to itself is 0",
        id="distance-to-itself",
    ),
    case(put("$.risk", {"measure": "cvar", "weight": 1.5}), "$.risk.weight", "less than or equal to 1", id="weight"),
    case(put("$.risk", {"measure": "cvar", "alpha": 1}), "$.risk.alpha", "less than 1", id="alpha-one"),
    case(put("$.risk", {"measure": "var"}), "$.risk.measure", "expectation", id="unknown-measure"),
    case(
        all_of(
            put("$.decision", "priority"),
            put(
                "$.groups",
                [
                    {"id": "g1", "mmps": ["claims-api", "fnol-app"]},
                    {"id": "g2", "mmps": ["claims-api", "policy-portal"]},
                ],
            ),
        ),
        "$.groups[1].mmps[0]",
        "already an alternative in group g1",
        id="priority-mmp-in-two-groups",
    ),
]

MISSING_FIELDS = [
    case(drop(path), path, "this field is required", id=f"missing-{path}")
    for path in (
        "$.name",
        "$.quarters",
        "$.budget",
        "$.value_streams",
        "$.mmps",
        "$.value_streams[0].id",
        "$.pools[0].id",
        "$.pools[1].capacity",
        "$.mmps[0].id",
        "$.mmps[1].value_stream",
        "$.mmps[0].cost",
        "$.investment_guardrails[0].category",
        "$.key_results[0].target",
        "$.key_results[0].value_per_unit",
    )
]

UNKNOWN_FIELDS = [
    case(put(path, 1), path, "unknown field", "spelling", id=f"unknown-{path}")
    for path in (
        "$.budgte",
        "$.value_streams[0].min_budgte",
        "$.pools[0].capacty",
        "$.mmps[0].vlaue",
        "$.mmps[2].wsjf.business_vaule",
        "$.investment_guardrails[0].min_shar",
        "$.key_results[0].traget",
    )
]


@pytest.mark.parametrize(
    ("mutation", "path", "words", "alone"),
    UNKNOWN_REFERENCES
    + REQUIRES_GRAPH
    + PROFILE_LENGTHS
    + BAD_NUMBERS
    + NOT_NUMBERS
    + BOUNDS_AND_SHAPES
    + MISSING_FIELDS
    + UNKNOWN_FIELDS
    + UNCERTAINTY,
)
def test_rejected_with_path_and_reason(mutation: Mutation, path: str, words: tuple[str, ...], alone: bool) -> None:
    data = base_portfolio()
    mutation(data)
    problems = problems_of(data)
    at_path = [p for p in problems if p.path == path]
    assert at_path, f"no problem at {path}; got {[str(p) for p in problems]}"
    assert any(all(w.lower() in p.message.lower() for w in words) for p in at_path), (
        f"no message at {path} mentions {words}; got {[p.message for p in at_path]}"
    )
    if alone:
        assert all(p.path == path and all(w.lower() in p.message.lower() for w in words) for p in problems), [
            str(p) for p in problems
        ]


# --- several problems at once -------------------------------------------------------------------


def test_every_cross_field_problem_is_reported_together() -> None:
    data = base_portfolio()
    data["mmps"][0]["value_stream"] = "billing"
    data["budget"] = [1, 2, 3]
    data["investment_guardrails"][0]["category"] = "tech-debt"
    data["key_results"][0]["target"] = 0
    data["mmps"][1]["requires"] = ["claims-api", "ghost"]
    problems = problems_of(data)
    paths = [p.path for p in problems]
    assert len(problems) >= 3
    assert len(set(paths)) == len(paths), paths
    assert set(paths) >= {
        "$.mmps[0].value_stream",
        "$.budget",
        "$.investment_guardrails[0].category",
        "$.key_results[0].target",
        "$.mmps[1].requires[1]",
    }


def test_every_field_problem_is_reported_together() -> None:
    data = base_portfolio()
    data["mmps"][0]["vlaue"] = data["mmps"][0].pop("value")
    data["mmps"][1]["cost"][0] = -1
    data["pools"][0]["capacity"] = [6, NAN]
    del data["name"]
    problems = problems_of(data)
    paths = [p.path for p in problems]
    assert len(problems) >= 3
    assert len(set(paths)) == len(paths), paths
    assert set(paths) == {"$.mmps[0].vlaue", "$.mmps[1].cost[0]", "$.pools[0].capacity[1]", "$.name"}


def test_min_above_max_is_checked_for_every_stream() -> None:
    # A profile problem on one value stream must not hide min > max on the next.
    data = base_portfolio()
    data["value_streams"][0]["run_cost"] = [500000]
    data["value_streams"][1]["min_budget"] = 9000000
    paths = {p.path for p in problems_of(data)}
    assert paths == {"$.value_streams[0].run_cost", "$.value_streams[1].min_budget"}


def test_error_text_lists_every_problem() -> None:
    data = base_portfolio()
    data["mmps"][0]["value_stream"] = "billing"
    data["key_results"][0]["target"] = 0
    with pytest.raises(PortfolioError) as excinfo:
        load_portfolio(data)
    text = str(excinfo.value)
    assert "$.mmps[0].value_stream: unknown value stream 'billing'" in text
    assert "$.key_results[0].target: target must be greater than zero" in text
    assert isinstance(excinfo.value, ValueError)


# --- JSON path formatting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        ((), "$"),
        (("name",), "$.name"),
        (("mmps", 3, "cost", 0), "$.mmps[3].cost[0]"),
        (["value_streams", 1, "min_budget"], "$.value_streams[1].min_budget"),
        (("mmps", 0, "demand", "claims-team", 1), "$.mmps[0].demand.claims-team[1]"),
        (("baseline_plan", "fnol-app"), "$.baseline_plan.fnol-app"),
    ],
)
def test_json_path(loc: tuple[Any, ...], expected: str) -> None:
    assert json_path(loc) == expected


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        # cross-field check on a nested list item
        pytest.param(put("$.value_streams[1].min_budget", [1]), "$.value_streams[1].min_budget", id="cross-field"),
        # pydantic error inside a per-quarter union: the union's member tag must not leak into the path
        pytest.param(
            put("$.value_streams[1].min_budget", [0, -5]),
            "$.value_streams[1].min_budget[1]",
            id="union-list-item",
        ),
        pytest.param(put("$.value_streams[1].max_budget", -5), "$.value_streams[1].max_budget", id="union-scalar"),
        # dict keys inside a list item, then a list index
        pytest.param(put("$.mmps[3].demand.platform", [NAN]), "$.mmps[3].demand.platform[0]", id="dict-key-then-index"),
        # a model nested in a model nested in a list
        pytest.param(
            put("$.mmps[2].wsjf.time_criticality", "soon"),
            "$.mmps[2].wsjf.time_criticality",
            id="nested-model",
        ),
    ],
)
def test_nested_error_paths(mutation: Mutation, expected: str) -> None:
    data = base_portfolio()
    mutation(data)
    assert [p.path for p in problems_of(data)] == [expected]


# --- JSON text and exact decimals ---------------------------------------------------------------


def test_round_trips_through_json_text() -> None:
    data = base_portfolio()
    text = json.dumps(data)
    from_text = load_portfolio(json.loads(text))
    assert from_text == load_portfolio(data)
    assert from_text.mmps[1].cost == [Decimal(800000), Decimal(400000)]
    # The parsed model dumps back to JSON that loads to the same portfolio.
    again = load_portfolio(json.loads(from_text.model_dump_json(exclude_unset=True)))
    assert again == from_text


def test_decimals_load_exactly() -> None:
    data = base_portfolio()
    data["budget"] = 0.1
    data["mmps"][0]["cost"] = [0.1]
    data["mmps"][1]["cost"] = [0.1, 0.2]
    data["mmps"][1]["key_results"] = {"kr-nps": 0.3}
    data["value_streams"][0]["max_change"] = 0.1
    data["value_streams"][0]["min_budget"] = 0
    data["value_streams"][1]["min_budget"] = 0
    for portfolio in (load_portfolio(data), load_portfolio(json.loads(json.dumps(data)))):
        assert portfolio.budget == Decimal("0.1")
        assert portfolio.investment_guardrails[0].min_share == Decimal("0.1")
        assert portfolio.value_streams[0].max_change == Decimal("0.1")
        assert portfolio.mmps[1].key_results["kr-nps"] == Decimal("0.3")
        # Exact arithmetic: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
        assert sum(portfolio.mmps[1].cost, Decimal(0)) == Decimal("0.3")
        assert portfolio.mmps[0].cost[0] + portfolio.mmps[1].cost[0] == Decimal("0.2")
        assert all(isinstance(c, Decimal) for c in portfolio.mmps[1].cost)


def test_numeric_strings_are_numbers() -> None:
    # JSON producers that quote decimals to keep them exact are accepted.
    data = base_portfolio()
    data["budget"] = ["15000000.10", "15000000"]
    data["mmps"][0]["value"] = "500000.5"
    portfolio = load_portfolio(data)
    assert portfolio.budget == [Decimal("15000000.10"), Decimal(15000000)]
    assert portfolio.mmps[0].value == Decimal("500000.5")


# --- amounts the solver cannot count exactly (models.units) ---------------------------------------


def large_budget(baseline: int | Decimal, cost: int = 1000000) -> dict[str, Any]:
    """A total budget of 10^15 beside a stream held to its baseline budget (max_change 0)."""
    return {
        "name": "large budget",
        "quarters": ["2027Q1"],
        "budget": 10**15,
        "value_streams": [{"id": "s", "baseline_budget": baseline, "max_change": 0}],
        "mmps": [{"id": "a", "value_stream": "s", "value": cost, "cost": [cost]}],
    }


def test_money_is_counted_exactly_in_the_portfolios_own_unit() -> None:
    # A change penalty of 0.0001 beside a budget of 15,000,000: counted in units of 0.0001, exactly.
    data = base_portfolio()
    data["change_penalty"] = 0.0001
    portfolio = load_portfolio(data)
    c = units.counting(portfolio)
    assert c.money == Decimal("0.0001") and units.is_exact(portfolio, c)


def test_only_amounts_64_bit_integers_cannot_hold_are_counted_in_a_coarser_unit() -> None:
    # A budget of 10^15 beside a change penalty of 0.0001 would be 10^19 units: the unit is made coarser
    # (the plan says the figures were rounded) rather than the portfolio refused.
    data = large_budget(20000000)
    data["change_penalty"] = 0.0001
    portfolio = load_portfolio(data)
    assert check_portfolio(portfolio) == []
    c = units.counting(portfolio)
    assert c.money > Decimal("0.0001") and not units.too_large(portfolio, c)
    assert not units.is_exact(portfolio, c)


def test_a_baseline_beside_a_huge_budget_with_no_change_allowed_is_accepted() -> None:
    # Once refused (the weighted objective forced units of 10,000,000, and 15,000,000 was 1.5 units).
    assert check_portfolio(load_portfolio(large_budget(15000000, cost=10000000))) == []


def test_check_solvable_blames_an_explicit_money_resolution() -> None:
    portfolio = load_portfolio(large_budget(20000000))
    assert check_solvable(portfolio) == check_solvable(portfolio, SolverSettings()) == []
    [problem] = check_solvable(portfolio, SolverSettings(money_resolution=Decimal("0.0001")))
    assert problem.path == "$.settings.money_resolution"
    assert "too many digits" in problem.message and "units of 0.0001" in problem.message


def test_a_baseline_budget_no_allocation_can_hold_is_refused_at_its_path() -> None:
    # Beside a budget of 10^15, cents would be 10^17 units: money is counted in units of 0.1, and a baseline of
    # 15,000,000.05 held with max_change 0 is then off the counting grid (no allocation can equal it).
    [problem] = problems_of(large_budget(Decimal("15000000.05")))
    assert problem.path == "$.value_streams[0].baseline_budget"
    assert all(w in problem.message for w in ("max_change 0", "15000000.05", "counting unit"))


def test_check_solvable_blames_an_explicit_money_resolution_for_an_off_grid_baseline() -> None:
    portfolio = Portfolio.model_validate(large_budget(Decimal("15000000.05")))
    [problem] = check_solvable(portfolio, SolverSettings(money_resolution=Decimal(10000000)))
    assert problem.path == "$.settings.money_resolution"
    assert "s's first-quarter budget" in problem.message and "finer money_resolution" in problem.message


def test_a_portfolio_with_scenarios_is_not_re_planned_mid_year_yet() -> None:
    data = base_portfolio()
    data["scenarios"] = [{"id": "a", "probability": 0.5}, {"id": "b", "probability": 0.5, "budget": 1}]
    data["as_of"] = "2027Q2"
    data["mmps"][0]["started"] = "2027Q1"
    paths = {p.path for p in problems_of(data)}
    assert {"$.as_of", "$.mmps[0].started"} <= paths
