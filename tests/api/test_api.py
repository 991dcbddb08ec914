"""The HTTP API through FastAPI's TestClient: routes, the error envelope, body limits, capped time limits,
what-if and frontier answers, back-pressure (503) and liveness under load.

One module-scoped client (a pool of two solver processes) serves most tests; tests that need special server
settings get their own small app. Every plan a route returns is validated against the portfolio it solved.
Hostile bodies must always come back as the JSON error envelope with 400, 413 or 422 — never a 500.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction
from functools import cache
from itertools import pairwise
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from bench.generator import random_portfolio
from models import Plan, Portfolio, SolverSettings, load_portfolio
from models.scenarios import ScaleBudget
from optimizer import solve, validate
from optimizer.studies.whatif import apply_changes, diff, summarize
from tests.support.auth import keyed, new_key
from tests.support.paths import FIXTURES
from tests.support.waiting import wait_for

INSURANCE = "insurance-fy27.json"
WSJF = "wsjf-backlog.json"
INFEASIBLE = "infeasible-mandatory.json"
FIXTURE_NAMES = (INSURANCE, WSJF, INFEASIBLE)
ROUTES = ("/v1/solve", "/v1/check", "/v1/whatif", "/v1/frontier")
LONE_SOLVE_THREADS = min(SolverSettings().workers, len(os.sched_getaffinity(0)))
TIME_LIMIT = 20  # generous: the insurance fixture is proven optimal in about 2 s with one thread
ERROR_STATUSES = {400, 413, 422}


# ---------------------------------------------------------------- helpers


@cache
def _fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of a fixture portfolio as plain JSON data."""
    return json.loads(_fixture_text(name))


@cache
def fixture_portfolio(name: str) -> Portfolio:
    return load_portfolio(fixture(name))


@cache
def reference_plan(name: str, factor: str | None = None) -> Plan:
    """The fixture solved in this process with one thread, like a pool worker. With `factor`, the fixture's
    budget scaled by it, warm-started from the base plan as `run_whatif` does (the hint only picks among
    equally good plans, but it does pick, so the comparison must use it)."""
    portfolio, warm = fixture_portfolio(name), None
    if factor is not None:
        portfolio = apply_changes(portfolio, [ScaleBudget(op="scale_budget", factor=Decimal(factor))])
        warm = {s.mmp: s.start for s in reference_plan(name).selected}
    plan = solve(portfolio, SolverSettings(time_limit_s=TIME_LIMIT, workers=1), warm)
    assert validate(portfolio, plan) == []
    return plan


def exact(response) -> Any:
    """The response body with every non-integer number as an exact Decimal."""
    return json.loads(response.text, parse_float=Decimal)


def post_raw(client: TestClient, route: str, body: bytes | str, content_type: str = "application/json"):
    return client.post(route, content=body, headers={"content-type": content_type})


def assert_envelope(response, status: int | set[int], code: str | None = None) -> dict[str, Any]:
    """The one error envelope: {"error": {"code", "message", "details": [{"path", "message"}]}}."""
    statuses = {status} if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:2000])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "Traceback" not in response.text
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert set(detail) == {"path", "message"}, detail
        assert detail["path"].startswith("$"), detail
        assert isinstance(detail["message"], str) and detail["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def paths(response) -> list[str]:
    return [d["path"] for d in response.json()["error"]["details"]]


def plan_of(response, portfolio: Portfolio) -> Plan:
    """The plan in a 200 response, checked by the independent validator against `portfolio`."""
    assert response.status_code == 200, response.text[:2000]
    plan = Plan.model_validate(response.json())
    assert validate(portfolio, plan) == [], "plan failed the independent validator"
    return plan


def in_flight(client: TestClient) -> int:
    return client.get("/readyz").json()["in_flight"]


@cache
def slow_body() -> str:
    """A generated 300-MMP portfolio that CP-SAT cannot finish in 3 s: keeps one solver busy for ~3 s."""
    return json.dumps({"portfolio": random_portfolio(5, 300, 8, 30), "settings": {"time_limit_s": 3}})


def start_in_background(client: TestClient, route: str, body: str) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        result["response"] = post_raw(client, route, body)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def new_client(**settings: Any) -> TestClient:
    return keyed(TestClient(create_app(ApiSettings(**settings)), raise_server_exceptions=False))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with new_client(pool_size=2) as c:
        yield c


# ---------------------------------------------------------------- health, docs, OpenAPI


@pytest.mark.slow
def test_healthz_and_readyz(client):
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["pool_size"] == 2


def test_readyz_is_503_before_the_pool_starts():
    # Without the lifespan (no `with`), the solver pool never starts.
    response = new_client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"


def _examples(spec: dict[str, Any], route: str) -> dict[str, Any]:
    return spec["paths"][route]["post"]["requestBody"]["content"]["application/json"]["examples"]


@pytest.mark.slow
def test_openapi_has_fixture_examples(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    solve_examples = _examples(spec, "/v1/solve")
    assert set(solve_examples) == {"insurance-fy27", "wsjf-backlog", "infeasible-mandatory"}
    for name in FIXTURE_NAMES:
        assert solve_examples[name.removesuffix(".json")]["value"]["portfolio"] == fixture(name)
    whatif = _examples(spec, "/v1/whatif")
    assert whatif and all(e["value"]["scenarios"] and e["value"]["portfolio"] for e in whatif.values())
    frontier = _examples(spec, "/v1/frontier")
    assert frontier and all(e["value"]["portfolio"] and e["value"]["range"] for e in frontier.values())
    assert {"/healthz", "/readyz", "/v1/solve", "/v1/check", "/v1/whatif", "/v1/frontier"} <= set(spec["paths"])


def test_docs_page(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "openapi.json" in response.text


# ---------------------------------------------------------------- /v1/solve


@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_solve_fixture(client, name):
    portfolio = fixture_portfolio(name)
    response = client.post("/v1/solve", json={"portfolio": fixture(name), "settings": {"time_limit_s": TIME_LIMIT}})
    plan = plan_of(response, portfolio)
    reference = reference_plan(name)
    assert plan.status == reference.status
    assert plan.objective == reference.objective
    assert plan.solver.time_limit_s == TIME_LIMIT
    assert plan.solver.workers == LONE_SOLVE_THREADS  # a lone solve on an idle service gets every core it asks for
    if name == INFEASIBLE:
        assert response.status_code == 200
        assert plan.status == "infeasible"
        assert plan.objective is None and plan.selected == []
        assert plan.explanation.infeasibility
        assert any("mandatory" in line for line in plan.explanation.infeasibility)
    else:
        assert plan.status == "optimal" and plan.gap == 0
        assert {m.id for m in portfolio.mmps if m.mandatory} <= {s.mmp for s in plan.selected}


def test_solve_applies_default_settings(client):
    plan = plan_of(client.post("/v1/solve", json={"portfolio": fixture(WSJF)}), fixture_portfolio(WSJF))
    assert plan.status in ("optimal", "feasible")  # a proof within the default limit is up to the machine's load
    assert plan.solver.time_limit_s == SolverSettings().time_limit_s
    assert plan.solver.backend == "auto"


@pytest.mark.parametrize("backend", ["cbc", "wsjf-greedy"])
def test_solve_other_backends(client, backend):
    body = {"portfolio": fixture(WSJF), "settings": {"backend": backend, "time_limit_s": 10}}
    plan = plan_of(client.post("/v1/solve", json=body), fixture_portfolio(WSJF))
    assert plan.solver.backend == backend
    assert plan.status in ("optimal", "feasible")


@pytest.fixture(scope="module")
def capped_client() -> Iterator[TestClient]:
    with new_client(pool_size=1, max_time_limit_s=2, solver_workers=1) as c:
        yield c


@pytest.mark.slow
def test_time_limit_is_capped_by_the_server(capped_client):
    body = {"portfolio": fixture(INSURANCE), "settings": {"time_limit_s": 1000, "workers": 8}}
    started = time.monotonic()
    plan = plan_of(capped_client.post("/v1/solve", json=body), fixture_portfolio(INSURANCE))
    assert plan.solver.time_limit_s == 2
    assert plan.solver.workers == 1
    assert plan.status in ("optimal", "feasible")
    assert time.monotonic() - started < 30  # 2 s of search plus reporting, never 1000 s


def test_time_limit_below_the_cap_is_kept(capped_client):
    body = {"portfolio": fixture(WSJF), "settings": {"time_limit_s": 1.5}}
    plan = plan_of(capped_client.post("/v1/solve", json=body), fixture_portfolio(WSJF))
    assert plan.solver.time_limit_s == 1.5


def test_every_solve_runs_in_the_solver_pool(client, monkeypatch):
    """Solves run in the bounded process pool, never in the web process: a solve in the web process is not
    bounded by VMO_POOL_SIZE (it oversubscribes the cores) and a crash in OR-Tools would take the server
    down. `solve` is patched in this (the web) process only; pool workers import their own copy."""
    import runtime.tasks

    in_web_process: list[str] = []
    real_solve = runtime.tasks.solve

    def recording_solve(portfolio, *args, **kwargs):
        in_web_process.append(portfolio.name)
        return real_solve(portfolio, *args, **kwargs)

    monkeypatch.setattr(runtime.tasks, "solve", recording_solve)
    settings = {"time_limit_s": 5}
    requests = [
        ("/v1/solve", {"portfolio": fixture(WSJF), "settings": settings}),
        (
            "/v1/whatif",
            {"portfolio": fixture(WSJF), "scenarios": [{"name": "same", "changes": []}], "settings": settings},
        ),
        ("/v1/frontier", {"portfolio": fixture(WSJF), "budgets": [0, 1], "settings": settings}),
        ("/v1/frontier", {"portfolio": fixture(WSJF), "budgets": [1, 1.001], "settings": settings}),  # one point
    ]
    solved_here = {}
    for i, (route, body) in enumerate(requests):
        in_web_process.clear()
        response = client.post(route, json=body)
        assert response.status_code == 200, response.text[:2000]
        solved_here[f"{i}:{route}"] = len(in_web_process)
    assert solved_here == {f"{i}:{route}": 0 for i, (route, _) in enumerate(requests)}, "solves in the web process"


# ---------------------------------------------------------------- /v1/check


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_check_ok(client, name):
    response = client.post("/v1/check", json={"portfolio": fixture(name)})
    assert response.status_code == 200, response.text
    p = fixture_portfolio(name)
    assert response.json() == {
        "ok": True,
        "mmps": len(p.mmps),
        "value_streams": len(p.value_streams),
        "pools": len(p.pools),
        "quarters": len(p.quarters),
    }


def test_check_reports_every_cross_field_problem_with_request_paths(client):
    data = fixture(INSURANCE)
    data["mmps"][3]["requires"] = ["claims-apii"]
    data["mmps"][5]["value_stream"] = "nowhere"
    data["pools"][0]["capacity"] = [1, 2]
    response = client.post("/v1/check", json={"portfolio": data})
    error = assert_envelope(response, 422, "invalid_input")
    found = {d["path"]: d["message"] for d in error["details"]}
    assert set(found) == {
        "$.portfolio.mmps[3].requires[0]",
        "$.portfolio.mmps[5].value_stream",
        "$.portfolio.pools[0].capacity",
    }
    assert "claims-apii" in found["$.portfolio.mmps[3].requires[0]"]
    assert "nowhere" in found["$.portfolio.mmps[5].value_stream"]


def test_check_reports_every_field_problem_with_request_paths(client):
    data = fixture(INSURANCE)
    data["budget"] = -1
    data["mmps"][2]["cost"] = ["lots"]
    data["mmps"][4]["valeu"] = 3
    del data["value_streams"][1]["id"]
    response = client.post("/v1/check", json={"portfolio": data})
    assert_envelope(response, 422, "invalid_input")
    assert sorted(paths(response)) == sorted(
        [
            "$.portfolio.budget",
            "$.portfolio.mmps[2].cost[0]",
            "$.portfolio.mmps[4].valeu",
            "$.portfolio.value_streams[1].id",
        ]
    )


def test_check_rejects_settings(client):
    # /v1/check takes only a portfolio; anything else is an unknown field.
    response = client.post("/v1/check", json={"portfolio": fixture(WSJF), "settings": {}})
    assert_envelope(response, 422, "invalid_input")
    assert paths(response) == ["$.settings"]


def test_solve_cross_field_problems_are_422_before_any_solver_runs(client):
    data = fixture(INSURANCE)
    data["mmps"][0]["requires"] = [data["mmps"][0]["id"]]
    response = client.post("/v1/solve", json={"portfolio": data})
    assert_envelope(response, 422, "invalid_input")
    assert paths(response) == ["$.portfolio.mmps[0].requires[0]"]


# ---------------------------------------------------------------- /v1/whatif


@pytest.fixture(scope="module")
def whatif_response(client) -> dict[str, Any]:
    body = {
        "portfolio": fixture(INSURANCE),
        "scenarios": [
            {"name": "budget -10%", "changes": [{"op": "scale_budget", "factor": 0.9}]},
            {"name": "budget +10%", "changes": [{"op": "scale_budget", "factor": 1.1}]},
        ],
        # One thread per solve, as the reference solves here: single-threaded CP-SAT is deterministic.
        "settings": {"time_limit_s": TIME_LIMIT, "workers": 1},
    }
    response = client.post("/v1/whatif", json=body)
    assert response.status_code == 200, response.text[:2000]
    return exact(response)


@pytest.mark.slow
def test_whatif_budget_moves_value_the_right_way(whatif_response):
    base = whatif_response["base"]
    cut, raised = whatif_response["scenarios"]
    assert [cut["name"], raised["name"]] == ["budget -10%", "budget +10%"]
    assert base["status"] == "optimal"
    assert base["objective"] == reference_plan(INSURANCE).objective
    for scenario in (cut, raised):
        assert scenario["summary"]["status"] == "optimal"
        assert scenario["diff"]["value_delta"] == scenario["summary"]["objective"] - base["objective"]
    assert cut["diff"]["value_delta"] <= 0  # a smaller budget never increases value
    assert raised["diff"]["value_delta"] >= 0
    assert cut["summary"]["objective"] <= base["objective"] <= raised["summary"]["objective"]


@pytest.mark.slow  # three solves of the insurance fixture
def test_whatif_summaries_add_up_to_the_scaled_budget(whatif_response):
    budget = Decimal(fixture(INSURANCE)["budget"]) * len(fixture(INSURANCE)["quarters"])
    summaries = [whatif_response["base"], *(s["summary"] for s in whatif_response["scenarios"])]
    for summary, factor in zip(summaries, (Decimal(1), Decimal("0.9"), Decimal("1.1")), strict=True):
        assert summary["allocated"] + summary["unallocated"] == budget * factor


@pytest.mark.slow  # three solves of the insurance fixture
def test_whatif_diffs_are_internally_consistent(whatif_response):
    base = whatif_response["base"]
    for scenario in whatif_response["scenarios"]:
        d, summary = scenario["diff"], scenario["summary"]
        assert d["added"] == sorted(d["added"]) and d["dropped"] == sorted(d["dropped"])
        assert not set(d["added"]) & set(d["dropped"])
        assert base["selected"] + len(d["added"]) - len(d["dropped"]) == summary["selected"]
        moved = [m["mmp"] for m in d["moved"]]
        assert not set(moved) & (set(d["added"]) | set(d["dropped"]))
        assert all(m["from_quarter"] != m["to_quarter"] for m in d["moved"])
        assert all(s["delta"] != 0 for s in d["budget_shifts"])
        assert sum(s["delta"] for s in d["budget_shifts"]) == summary["allocated"] - base["allocated"]
        assert all(s["free_delta"] != 0 for s in d["capacity_shifts"])


@pytest.mark.slow
def test_whatif_matches_solving_the_scenarios_here(whatif_response):
    """The API's answer equals what apply_changes + solve (one thread, seed 0, the base plan as warm start,
    like the pool) give here. Every solve is proven optimal well within the limit and single-threaded
    CP-SAT is deterministic, so the selections (hence added/dropped/moved and the shifts) coincide."""
    base = reference_plan(INSURANCE)
    assert whatif_response["base"] == exact_model(summarize(base))
    for scenario, factor in zip(whatif_response["scenarios"], ("0.9", "1.1"), strict=True):
        other = reference_plan(INSURANCE, factor)
        assert scenario["summary"] == exact_model(summarize(other))
        assert scenario["diff"] == exact_model(diff(base, other))


def exact_model(model) -> Any:
    return json.loads(model.model_dump_json(), parse_float=Decimal)


def whatif_body(*scenarios: dict[str, Any]) -> dict[str, Any]:
    return {"portfolio": fixture(INSURANCE), "scenarios": list(scenarios), "settings": {"time_limit_s": 5}}


def test_whatif_unknown_ids_are_named_by_path(client):
    body = whatif_body(
        {"name": "fine", "changes": [{"op": "scale_budget", "factor": 0.9}]},
        {
            "name": "broken",
            "changes": [
                {"op": "scale_budget", "factor": 1.0, "quarter": "2031Q9"},
                {"op": "change_capacity", "pool": "no-such-team", "delta": 2},
                {"op": "force_mmp", "mmp": "no-such-mmp", "mode": "in"},
            ],
        },
        {"name": "also broken", "changes": [{"op": "set_stream_budget", "value_stream": "nope", "max_budget": 1}]},
    )
    response = client.post("/v1/whatif", json=body)
    error = assert_envelope(response, 422, "invalid_input")
    found = {d["path"]: d["message"] for d in error["details"]}
    assert set(found) == {
        "$.scenarios[1].changes[0].quarter",
        "$.scenarios[1].changes[1].pool",
        "$.scenarios[1].changes[2].mmp",
        "$.scenarios[2].changes[0].value_stream",
    }
    assert "no-such-team" in found["$.scenarios[1].changes[1].pool"]
    assert "no-such-mmp" in found["$.scenarios[1].changes[2].mmp"]
    assert "broken" in found["$.scenarios[1].changes[1].pool"]


def test_whatif_change_field_errors_are_named_by_path(client):
    """Paths of a change's own fields must not carry the union tag (`scale_budget`, `set_mmp`)."""
    body = whatif_body(
        {
            "name": "typos",
            "changes": [
                {"op": "scale_budget", "factr": 0.9},
                {"op": "set_mmp", "mmp": "claims-api", "value": -1},
            ],
        }
    )
    response = client.post("/v1/whatif", json=body)
    assert_envelope(response, 422, "invalid_input")
    assert sorted(paths(response)) == [
        "$.scenarios[0].changes[0].factor",
        "$.scenarios[0].changes[0].factr",
        "$.scenarios[0].changes[1].value",
    ]


def test_whatif_unknown_op_and_bad_scenarios(client):
    response = client.post("/v1/whatif", json=whatif_body({"name": "x", "changes": [{"op": "double_everything"}]}))
    assert_envelope(response, 422, "invalid_input")
    assert paths(response) == ["$.scenarios[0].changes[0]"]
    response = client.post("/v1/whatif", json={"portfolio": fixture(INSURANCE), "scenarios": []})
    assert_envelope(response, 422, "invalid_input")
    assert paths(response) == ["$.scenarios"]
    response = client.post("/v1/whatif", json={"portfolio": fixture(INSURANCE)})
    assert_envelope(response, 422, "invalid_input")
    assert paths(response) == ["$.scenarios"]


# ---------------------------------------------------------------- /v1/frontier


def frontier(client: TestClient, **source: Any) -> dict[str, Any]:
    body = {"portfolio": fixture(INSURANCE), "settings": {"time_limit_s": TIME_LIMIT}, **source}
    response = client.post("/v1/frontier", json=body)
    assert response.status_code == 200, response.text[:2000]
    return exact(response)


def chord_knee(points: list[dict[str, Any]]) -> Any:
    """The knee recomputed from the response: the point furthest above the first-to-last chord."""
    valued = [
        (Fraction(p["budget"]), Fraction(p["objective"]), p["budget"]) for p in points if p["objective"] is not None
    ]
    (x0, y0, _), (x1, y1, _) = valued[0], valued[-1]
    heights = [(y - (y0 + (y1 - y0) / (x1 - x0) * (x - x0)), budget) for x, y, budget in valued[1:-1]]
    height, budget = max(heights, key=lambda h: h[0])
    return budget if height > 0 else None


def assert_frontier_consistent(points: list[dict[str, Any]]) -> None:
    assert points[0]["marginal_value"] is None
    for prev, point in pairwise(points):
        assert prev["budget"] < point["budget"]
        if prev["objective"] is None or point["objective"] is None:
            assert point["marginal_value"] is None
            continue
        expected = (point["objective"] - prev["objective"]) / (point["budget"] - prev["budget"])
        assert float(point["marginal_value"]) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)
        if prev["status"] == point["status"] == "optimal":
            assert point["objective"] >= prev["objective"]  # more money never buys less
            assert point["marginal_value"] >= 0
    for point in points:
        assert point["selected"] == sorted(point["selected"])
        assert (point["objective"] is None) == (point["status"] in ("infeasible", "no_solution_in_time"))


@pytest.mark.slow
def test_frontier_range(client):
    answer = frontier(client, range={"from": 20_000_000, "to": 40_000_000, "steps": 5})
    points = answer["points"]
    assert [p["budget"] for p in points] == [20_000_000, 25_000_000, 30_000_000, 35_000_000, 40_000_000]
    # Every point has a plan whatever the load; how many are proven within the limit depends on the load.
    assert all(p["status"] in ("optimal", "feasible") for p in points)
    assert all(0 <= p["gap"] <= 1 for p in points)
    assert_frontier_consistent(points)
    # 30M over four quarters is the fixture's own budget: never more than its optimum, equal when proven.
    reference = reference_plan(INSURANCE)
    assert points[2]["objective"] <= reference.bound
    if points[2]["status"] == reference.status == "optimal":
        assert points[2]["objective"] == reference.objective
    assert answer["knee"] == chord_knee(points)


@pytest.mark.slow
def test_frontier_budget_list_is_sorted_and_deduplicated(client):
    answer = frontier(client, budgets=[36_000_000, 1_000_000, 30_000_000, 24_000_000, 30_000_000])
    points = answer["points"]
    assert [p["budget"] for p in points] == [1_000_000, 24_000_000, 30_000_000, 36_000_000]
    # 1M cannot even fund the mandatory work.
    assert points[0]["status"] == "infeasible" and points[0]["objective"] is None and points[0]["selected"] == []
    assert points[1]["marginal_value"] is None
    assert all(p["status"] == "optimal" for p in points[1:])
    assert_frontier_consistent(points)
    assert points[2]["objective"] == reference_plan(INSURANCE).objective
    assert answer["knee"] == chord_knee(points)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({}, "$"),
        ({"budgets": [1, 2], "range": {"from": 1, "to": 2}}, "$"),
        ({"budgets": [1]}, "$.budgets"),
        ({"budgets": [1, -2]}, "$.budgets[1]"),
        ({"range": {"from": 1, "to": 2, "steps": 1}}, "$.range.steps"),
        ({"range": {"from": 1, "to": 2, "steps": 1000}}, "$.range.steps"),
        ({"range": {"from": -1, "to": 2}}, "$.range.from"),
        ({"range": {"start": 1, "to": 2}}, "$.range.start"),
    ],
)
def test_frontier_bad_sources(client, source, expected):
    response = client.post("/v1/frontier", json={"portfolio": fixture(WSJF), **source})
    assert_envelope(response, 422, "invalid_input")
    assert expected in paths(response), paths(response)


# ---------------------------------------------------------------- the error envelope


def test_malformed_json_is_400(client):
    for route in ROUTES:
        response = post_raw(client, route, '{"portfolio": {"name": "x",}')
        assert_envelope(response, 400, "malformed_json")


def test_unknown_route_is_404(client):
    for method in ("get", "post", "delete"):
        assert_envelope(getattr(client, method)("/v1/nope"), 404, "not_found")
    assert_envelope(client.get("/"), 404, "not_found")


def test_wrong_method_is_405(client):
    for route in ROUTES:
        response = client.get(route)
        assert_envelope(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "POST"
    assert_envelope(client.post("/healthz"), 405, "method_not_allowed")
    assert_envelope(client.put("/readyz"), 405, "method_not_allowed")


def test_unknown_fields_are_named(client):
    data = fixture(WSJF)
    data["mmps"][7]["wsjf"]["buisness_value"] = 3
    body = {"portfolio": data, "settings": {"time_limit": 5}, "verbose": True}
    response = client.post("/v1/solve", json=body)
    error = assert_envelope(response, 422, "invalid_input")
    assert sorted(paths(response)) == ["$.portfolio.mmps[7].wsjf.buisness_value", "$.settings.time_limit", "$.verbose"]
    assert all("unknown field" in d["message"] for d in error["details"])


def test_wrong_types_are_named(client):
    data = fixture(INSURANCE)
    data["budget"] = "lots"
    data["quarters"] = "2027Q1"
    data["mmps"][1]["cost"] = 5
    data["mmps"][2]["mandatory"] = "perhaps"
    data["mmps"] = data["mmps"][:3]
    body = {"portfolio": data, "settings": {"seed": "x", "backend": "nonsense", "time_limit_s": [1]}}
    response = client.post("/v1/solve", json=body)
    assert_envelope(response, 422, "invalid_input")
    assert sorted(paths(response)) == sorted(
        [
            "$.portfolio.budget",
            "$.portfolio.quarters",
            "$.portfolio.mmps[1].cost",
            "$.portfolio.mmps[2].mandatory",
            "$.settings.seed",
            "$.settings.backend",
            "$.settings.time_limit_s",
        ]
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(client, literal):
    text = json.dumps({"portfolio": fixture(WSJF), "settings": {"time_limit_s": 5}})
    text = text.replace('"budget": 0', f'"budget": {literal}', 1).replace(
        '"time_limit_s": 5', f'"time_limit_s": {literal}'
    )
    for route in ("/v1/solve", "/v1/frontier"):
        body = text if route == "/v1/solve" else text[:-1] + ', "budgets": [1, ' + literal + "]}"
        response = post_raw(client, route, body)
        assert_envelope(response, 422, "invalid_input")
        assert {"$.portfolio.budget", "$.settings.time_limit_s"} <= set(paths(response)), paths(response)


def test_ids_with_newlines_and_markup_are_quoted_in_paths(client):
    data = fixture(INSURANCE)
    hostile = 'team\n<script>alert("x")</script>'
    data["mmps"][0]["demand"] = {hostile: [1] * len(data["mmps"][0]["cost"])}
    data["mmps"][1]["requires"] = ["<img src=x onerror=alert(1)>\r\n"]
    response = client.post("/v1/check", json={"portfolio": data})
    error = assert_envelope(response, 422, "invalid_input")
    found = {d["path"]: d["message"] for d in error["details"]}
    assert set(found) == {f"$.portfolio.mmps[0].demand[{json.dumps(hostile)}]", "$.portfolio.mmps[1].requires[0]"}
    assert all("\n" not in path for path in found)


def test_field_paths_keep_keys_that_look_like_type_tags(client):
    """A map key such as `team[1]` or `list` is user data and must stay in the path."""
    data = fixture(INSURANCE)
    data["mmps"][0]["demand"] = {"team[1]": ["x"], "list": [-1]}
    response = client.post("/v1/check", json={"portfolio": data})
    assert_envelope(response, 422, "invalid_input")
    assert sorted(paths(response)) == ["$.portfolio.mmps[0].demand.list[0]", '$.portfolio.mmps[0].demand["team[1]"][0]']


# ---------------------------------------------------------------- hostile bodies: never a 500


def _with(**changes: Any) -> str:
    """The WSJF fixture with top-level portfolio fields replaced, as a solve body."""
    return json.dumps({"portfolio": {**fixture(WSJF), **changes}})


def _mmps(count: int, make: Callable[[int], Any]) -> str:
    return json.dumps({"portfolio": {**fixture(WSJF), "mmps": [make(i) for i in range(count)]}})


def _hostile_bodies() -> list[tuple[str, bytes | str]]:
    wsjf = fixture(WSJF)
    valid = json.dumps({"portfolio": wsjf})
    digits = "9" * 4301
    return [
        ("empty", b""),
        ("whitespace", b"   \n\t "),
        ("null", b"null"),
        ("list", b"[]"),
        ("string", b'"x"'),
        ("number", b"123"),
        ("true", b"true"),
        ("truncated", valid[: len(valid) // 2]),
        ("trailing-garbage", valid + " xyz"),
        ("two-documents", valid + valid),
        ("single-quotes", "{'portfolio': null}"),
        ("comment", '{"portfolio": null /* hi */}'),
        ("nested-arrays-10000", "[" * 10_000 + "]" * 10_000),
        ("nested-objects-10000", '{"a":' * 10_000 + "1" + "}" * 10_000),
        ("nested-in-portfolio-10000", '{"portfolio": {"quarters": ' + "[" * 10_000 + "]" * 10_000 + "}}"),
        ("nested-in-portfolio-500", '{"portfolio": {"quarters": ' + "[" * 500 + "]" * 500 + "}}"),
        ("nested-in-settings-500", '{"portfolio": null, "settings": ' + "[" * 500 + "]" * 500 + "}"),
        ("int-4301-digits-top", digits),
        ("int-4301-digits-budget", _with(budget=0).replace('"budget": 0', f'"budget": {digits}')),
        ("int-4300-digits-budget", _with(budget=0).replace('"budget": 0', f'"budget": {digits[:4300]}')),
        ("float-1e400", _with(budget=0).replace('"budget": 0', '"budget": 1e400')),
        ("nan-name", _with(name=0).replace('"name": 0', '"name": NaN')),
        ("amount-1e30", _with(budget=10**30)),
        ("amount-1e30-value", _mmps(1, lambda i: {**wsjf["mmps"][0], "value": 10**30})),
        ("amount-negative", _with(budget=-(10**30))),
        ("amount-string-1e30", _with(budget="1e30")),
        ("mmps-20000-bad", _mmps(20_000, lambda i: {"id": i, "cost": "x", "demand": [], "mandatory": "maybe"})),
        ("mmps-5000-bad-refs", _mmps(5000, lambda i: {**wsjf["mmps"][0], "id": f"m{i}", "requires": ["ghost"]})),
        ("mmps-5000-duplicate-ids", _mmps(5000, lambda i: wsjf["mmps"][0])),
        (
            "mmps-3000-cycle",
            _mmps(3000, lambda i: {**wsjf["mmps"][0], "id": f"m{i}", "requires": [f"m{(i + 1) % 3000}"]}),
        ),
        ("mmps-not-a-list", _with(mmps={"a": 1})),
        ("invalid-utf8", b'{"portfolio": {"name": "\xff\xfe\xfd"}}'),
        ("utf16", '{"portfolio": null}'.encode("utf-16")),
        ("lone-surrogate-id", _mmps(1, lambda i: {**wsjf["mmps"][0], "id": "\ud800"})),
        ("lone-surrogate-key", _mmps(1, lambda i: {**wsjf["mmps"][0], "demand": {"\udfff": [1]}})),
        ("control-chars", _mmps(1, lambda i: {**wsjf["mmps"][0], "id": "\x00\x1b[31m\u202e", "requires": ["\x00"]})),
        ("emoji-zwj", _mmps(1, lambda i: {**wsjf["mmps"][0], "requires": ["👩‍👩‍👧‍👦\u200b"]})),
        ("id-too-long", _mmps(1, lambda i: {**wsjf["mmps"][0], "id": "x" * 100_000})),
        ("newline-markup-ids", _mmps(2, lambda i: {**wsjf["mmps"][i], "requires": ["</td>\n<script>"]})),
        ("portfolio-null", '{"portfolio": null}'),
        ("portfolio-list", '{"portfolio": []}'),
        ("portfolio-missing", '{"settings": {}}'),
        ("extra-top-level", json.dumps({"portfolio": wsjf, "extra": 1, "__proto__": {"admin": True}})),
        ("settings-null", json.dumps({"portfolio": wsjf, "settings": None})),
        ("settings-negative-time", json.dumps({"portfolio": wsjf, "settings": {"time_limit_s": -1}})),
        ("settings-zero-time", json.dumps({"portfolio": wsjf, "settings": {"time_limit_s": 0}})),
        ("settings-huge-time", json.dumps({"portfolio": wsjf, "settings": {"time_limit_s": 1e308}})),
        ("settings-nan-time", valid[:-1] + ', "settings": {"time_limit_s": NaN}}'),
        ("settings-inf-gap", valid[:-1] + ', "settings": {"relative_gap": Infinity}}'),
        ("settings-huge-seed", json.dumps({"portfolio": wsjf, "settings": {"seed": 2**64}})),
        ("settings-zero-workers", json.dumps({"portfolio": wsjf, "settings": {"workers": 0}})),
        ("settings-zero-resolution", json.dumps({"portfolio": wsjf, "settings": {"money_resolution": 0}})),
        ("backend-nonsense", json.dumps({"portfolio": wsjf, "settings": {"backend": "nonsense"}})),
        ("duplicate-keys", valid[:-1] + ', "portfolio": null}'),
        ("duplicate-keys-settings", valid[:-1] + ', "settings": {"time_limit_s": 5, "time_limit_s": -5}}'),
        ("scenarios-garbage", json.dumps({"portfolio": None, "scenarios": [{"name": "", "changes": "x"}]})),
    ]


SLOW_BODIES = {"mmps-20000-bad"}  # seconds per route to parse and report
HOSTILE = [
    pytest.param(label, body, id=label, marks=[pytest.mark.slow] if label in SLOW_BODIES else [])
    for label, body in _hostile_bodies()
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("label", "body"), HOSTILE)
def test_hostile_bodies_get_the_envelope(client, route, label, body):
    response = post_raw(client, route, body)
    assert_envelope(response, ERROR_STATUSES)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_non_json_content_types_get_the_envelope(client, route, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post(route, content=json.dumps({"portfolio": fixture(WSJF)}), headers=headers)
    assert_envelope(response, ERROR_STATUSES)


def _scenario_bodies() -> list[tuple[str, dict[str, Any]]]:
    change = {"op": "scale_budget", "factor": 0.9}
    return [
        ("factor-negative", {"scenarios": [{"name": "x", "changes": [{**change, "factor": -1}]}]}),
        ("factor-huge", {"scenarios": [{"name": "x", "changes": [{**change, "factor": 10**30}]}]}),
        (
            "capacity-below-zero",
            {"scenarios": [{"name": "x", "changes": [{"op": "change_capacity", "pool": "team", "delta": -(10**9)}]}]},
        ),
        (
            "capacity-huge",
            {"scenarios": [{"name": "x", "changes": [{"op": "change_capacity", "pool": "team", "delta": 10**30}]}]},
        ),
        ("op-missing", {"scenarios": [{"name": "x", "changes": [{"factor": 0.9}]}]}),
        ("op-number", {"scenarios": [{"name": "x", "changes": [{"op": 7}]}]}),
        ("changes-not-list", {"scenarios": [{"name": "x", "changes": {"op": "scale_budget"}}]}),
        ("name-empty", {"scenarios": [{"name": "", "changes": []}]}),
        ("name-huge", {"scenarios": [{"name": "x" * 10_000, "changes": []}]}),
        ("too-many", {"scenarios": [{"name": f"s{i}", "changes": []} for i in range(51)]}),
        (
            "add-duplicate",
            {"scenarios": [{"name": "x", "changes": [{"op": "add_mmp", "mmp": fixture(WSJF)["mmps"][0]}]}]},
        ),
        (
            "add-bad-ref",
            {
                "scenarios": [
                    {
                        "name": "x",
                        "changes": [
                            {"op": "add_mmp", "mmp": {**fixture(WSJF)["mmps"][0], "id": "new", "value_stream": "ghost"}}
                        ],
                    }
                ]
            },
        ),
        (
            "set-mmp-nothing",
            {"scenarios": [{"name": "x", "changes": [{"op": "set_mmp", "mmp": fixture(WSJF)["mmps"][0]["id"]}]}]},
        ),
        (
            "set-mmp-bad-quarter",
            {
                "scenarios": [
                    {
                        "name": "x",
                        "changes": [{"op": "set_mmp", "mmp": fixture(WSJF)["mmps"][0]["id"], "deadline": "1999Q1"}],
                    }
                ]
            },
        ),
        (
            "kr-unknown",
            {
                "scenarios": [
                    {"name": "x", "changes": [{"op": "set_key_result_target", "key_result": "nope", "target": 1}]}
                ]
            },
        ),
        ("range-huge", {"range": {"from": 0, "to": 10**30}}),
        ("range-nan", {"range": {"from": 0, "to": "NaN"}}),
        ("budgets-many", {"budgets": list(range(51))}),
        ("budgets-strings", {"budgets": ["a", "b"]}),
    ]


SCENARIO_BODIES = _scenario_bodies()


@pytest.mark.parametrize("route", ["/v1/whatif", "/v1/frontier"])
@pytest.mark.parametrize(("label", "extra"), SCENARIO_BODIES, ids=[label for label, _ in SCENARIO_BODIES])
def test_hostile_scenario_and_frontier_bodies_get_the_envelope(client, route, label, extra):
    response = client.post(route, json={"portfolio": fixture(WSJF), "settings": {"time_limit_s": 2}, **extra})
    assert_envelope(response, ERROR_STATUSES)


# Amounts within the schema's limits (at most 10**15 each) whose products overflow the solver's arithmetic.
EXTREME = {
    "key result worth 10**30": {
        "key_results": [{"id": "kr", "target": 10**15, "value_per_unit": 10**15}],
        "mmp": {"key_results": {"kr": 10**15}},
    },
    "extra capacity costing 10**30": {
        "pools": [{"id": "p", "capacity": 0, "extra_capacity": 10**15, "extra_cost": 10**15}],
        "mmp": {},
    },
}


@pytest.mark.parametrize("case", sorted(EXTREME))
def test_extreme_amounts_within_the_schema_never_500(client, case):
    extra = EXTREME[case]
    data = {
        "name": "extreme",
        "quarters": ["2027Q1"],
        "budget": 10**15,
        "value_streams": [{"id": "s"}],
        "pools": extra.get("pools", [{"id": "p", "capacity": 10}]),
        "mmps": [{"id": "m", "value_stream": "s", "value": 50, "cost": [10], "demand": {"p": [1]}, **extra["mmp"]}],
        "key_results": extra.get("key_results", []),
    }
    response = client.post("/v1/solve", json={"portfolio": data, "settings": {"time_limit_s": 5}})
    if response.status_code == 200:
        plan_of(response, load_portfolio(data))
    else:
        assert_envelope(response, 422, "invalid_input")


# ---------------------------------------------------------------- body size limit (413)


@pytest.fixture(scope="module")
def small_body_client() -> Iterator[TestClient]:
    with new_client(pool_size=1, max_body_bytes=65_536) as c:
        yield c


def padded(size: int) -> bytes:
    """A JSON body of exactly `size` bytes (a null portfolio padded with spaces)."""
    head, tail = b'{"portfolio": ', b"null}"
    return head + b" " * (size - len(head) - len(tail)) + tail


@pytest.mark.slow
def test_body_over_the_limit_with_content_length_is_413(small_body_client):
    for route in ROUTES:
        response = small_body_client.post(route, content=padded(65_537), headers={"content-type": "application/json"})
        assert response.request.headers["content-length"] == "65537"
        assert_envelope(response, 413, "too_large")


def test_body_at_the_limit_is_read(small_body_client):
    response = small_body_client.post("/v1/check", content=padded(65_536), headers={"content-type": "application/json"})
    assert_envelope(response, 422, "invalid_input")
    assert paths(response) == ["$.portfolio"]


def test_streamed_body_without_content_length_is_counted(small_body_client):
    def chunks(size: int) -> Iterator[bytes]:
        body = padded(size)
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    for size, status in ((65_537, 413), (200_000, 413), (65_536, 422)):
        response = small_body_client.post(
            "/v1/check", content=chunks(size), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert_envelope(response, status)


def test_body_over_the_default_limit_is_413(client):
    response = client.post(
        "/v1/solve", content=padded(8 * 1024 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert_envelope(response, 413, "too_large")


@pytest.mark.slow
def test_streamed_body_over_many_asgi_messages_is_413():
    """TestClient hands the app one message; drive the ASGI app directly with many small ones."""
    app = create_app(ApiSettings(max_body_bytes=2048))
    key = new_key(app)

    async def send_chunks(body: bytes, size: int) -> tuple[int, dict[str, Any]]:
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if pieces:
                return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/check",
            "raw_path": b"/v1/check",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"content-type", b"application/json"),
                (b"transfer-encoding", b"chunked"),
                (b"authorization", f"Bearer {key}".encode()),
            ],
            "client": ("127.0.0.1", 12345),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], json.loads(payload)

    status, body = anyio.run(send_chunks, padded(5000), 100)
    assert status == 413 and body["error"]["code"] == "too_large"
    status, body = anyio.run(send_chunks, padded(2048), 100)
    assert status == 422 and body["error"]["details"][0]["path"] == "$.portfolio"


# ---------------------------------------------------------------- back-pressure and liveness


@pytest.fixture(scope="module")
def busy_client() -> Iterator[TestClient]:
    with new_client(pool_size=1, queue_limit=1, retry_after_s=7) as c:
        yield c


@pytest.mark.slow
def test_full_pool_answers_503_with_retry_after(busy_client):
    """Admission counts solves: one solving and one waiting fill a pool of 1 with a queue of 1."""
    started = [start_in_background(busy_client, "/v1/solve", slow_body()) for _ in range(2)]
    try:
        wait_for(lambda: in_flight(busy_client) == 2, "the slow solves to be admitted", timeout=30)
        for route, body in (
            ("/v1/solve", {"portfolio": fixture(WSJF)}),
            ("/v1/whatif", {"portfolio": fixture(WSJF), "scenarios": [{"name": "x", "changes": []}]}),
            ("/v1/frontier", {"portfolio": fixture(WSJF), "budgets": [0, 1]}),
        ):
            response = busy_client.post(route, json=body)
            assert_envelope(response, 503, "busy")
            assert response.headers["retry-after"] == "7"
        # Work that needs no solver still answers.
        assert busy_client.get("/healthz").status_code == 200
        assert busy_client.post("/v1/check", json={"portfolio": fixture(WSJF)}).status_code == 200
        assert in_flight(busy_client) == 2, "a slow solve finished before the 503s were checked"
    finally:
        for thread, _ in started:
            thread.join(120)
    for thread, result in started:
        assert not thread.is_alive()
        slow = result["response"]
        plan = plan_of(slow, load_portfolio(json.loads(slow_body())["portfolio"]))
        assert plan.status in ("optimal", "feasible")
        assert plan.solver.time_limit_s == 3
    assert in_flight(busy_client) == 0
    # Afterwards requests are admitted again.
    response = busy_client.post("/v1/solve", json={"portfolio": fixture(WSJF)})
    assert plan_of(response, fixture_portfolio(WSJF)).status == "optimal"


def test_a_request_needing_more_solves_than_admitted_is_422_naming_jobs(busy_client):
    """Pool 1 + queue 1 admit 2 solves: a what-if with 2 scenarios needs 3 and can never be admitted."""
    scenarios = [{"name": f"s{i}", "changes": []} for i in range(2)]
    response = busy_client.post("/v1/whatif", json={"portfolio": fixture(WSJF), "scenarios": scenarios})
    error = assert_envelope(response, 422, "invalid_input")
    assert "needs 3 solves" in error["details"][0]["message"]
    assert "POST /v1/jobs" in error["details"][0]["message"]
    assert in_flight(busy_client) == 0


@pytest.mark.slow
def test_healthz_answers_while_every_solver_is_busy(client):
    started = [start_in_background(client, "/v1/solve", slow_body()) for _ in range(3)]  # 2 solving, 1 queued
    try:
        wait_for(lambda: in_flight(client) == 3, "the slow solves to be admitted", timeout=30)
        timings = []
        for _ in range(10):
            t0 = time.monotonic()
            response = client.get("/healthz")
            timings.append(time.monotonic() - t0)
            assert response.status_code == 200 and response.json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["in_flight"] == 3, "the solves ended before the check"
        assert max(timings) < 0.5, timings
        assert statistics.median(timings) < 0.25, timings
    finally:
        for thread, _ in started:
            thread.join(120)
    for thread, result in started:
        assert not thread.is_alive()
        assert result["response"].status_code == 200, result["response"].text[:500]


@pytest.mark.slow
def test_a_dead_solver_process_is_replaced():
    """A solver process that dies (OOM killer, a crash in OR-Tools) must not break every later solve while
    /readyz keeps saying "ready": the runner replaces the broken pool (or at least reports not ready)."""
    app = create_app(ApiSettings(pool_size=1))
    with keyed(TestClient(app, raise_server_exceptions=False)) as c:
        (pid,) = app.state.solvers.pool.pids()  # the solver process this test's app started
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: app.state.solvers.pool.pids() != [pid], "the pool to replace the dead process", timeout=10)
        statuses = []
        for _ in range(3):
            response = c.post("/v1/solve", json={"portfolio": fixture(WSJF)})
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            assert_envelope(response, 503)  # retry later, never an internal error
            time.sleep(1)
        assert statuses[-1] == 200, f"no solve succeeded after a worker died: {statuses}"
        assert plan_of(response, fixture_portfolio(WSJF)).status == "optimal"
        assert c.get("/readyz").json()["status"] == "ready"
