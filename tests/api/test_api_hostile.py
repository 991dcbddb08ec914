"""Issue 13 through the API: each defect the fuzzing and fault run found, as a test that failed before its fix.

The freeze tests measure /healthz while a hostile request is parsed (`tests/support/health.py` says against
what budget).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from bench.generator import random_portfolio
from models.limits import LIMITS
from tests.support.asgi import AbandonedPost, post_scope
from tests.support.auth import keyed, new_key
from tests.support.health import health_during
from tests.support.waiting import wait_for


def tiny() -> dict[str, Any]:
    return {
        "name": "hostile",
        "quarters": ["q1", "q2"],
        "budget": 1000,
        "value_streams": [{"id": "s"}],
        "mmps": [{"id": "a", "value_stream": "s", "value": 100, "cost": [10]}],
    }


@pytest.fixture(scope="module")
def client():
    with keyed(TestClient(create_app(ApiSettings(pool_size=1)), raise_server_exceptions=False)) as c:
        yield c


def post(client: TestClient, route: str, body: str | bytes) -> Any:
    return client.post(route, content=body, headers={"content-type": "application/json"})


def error(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:1000])
    return response.json()["error"]


def in_background(work) -> threading.Thread:
    return threading.Thread(target=work, daemon=True)


# ---------------------------------------------------------------- freezes


@pytest.mark.slow
def test_sixty_thousand_quarters_do_not_freeze_the_server(client):
    """Was 55 s of /healthz silence: a quadratic check on the event loop."""
    body = {"portfolio": {**tiny(), "quarters": [f"q{i}" for i in range(60_000)]}}
    answers: list = []
    health = health_during(client, in_background(lambda: answers.append(post(client, "/v1/check", json.dumps(body)))))
    assert error(answers[0], 422)["details"][0]["path"] == "$.portfolio.quarters"
    assert health.held(), health


def test_a_million_bad_amounts_answer_a_small_422_quickly(client):
    """Was 45 s and a 93 MB answer."""
    body = json.dumps({"portfolio": {**tiny(), "budget": [-1] * 10**6}})
    answers: list = []
    health = health_during(client, in_background(lambda: answers.append(post(client, "/v1/check", body))))
    assert len(answers[0].content) < 10_000
    assert error(answers[0], 422)["details"][0]["path"] == "$.portfolio.budget"
    assert health.held(), health


def test_error_details_are_capped_with_a_count_of_the_rest(client):
    portfolio = tiny()
    portfolio["mmps"] = [
        {"id": f"m{i}", "value_stream": "s", "value": 1, "cost": [1], "requires": ["nowhere"]} for i in range(1000)
    ]
    details = error(post(client, "/v1/check", json.dumps({"portfolio": portfolio})), 422)["details"]
    assert len(details) == LIMITS.max_error_details + 1
    assert "900 more" in details[-1]["message"]


@pytest.mark.slow
def test_concurrent_large_valid_bodies_do_not_freeze_the_server(client):
    """Sixteen 7 MiB valid bodies held /healthz for 19 s: parsing and validation ran on the event loop."""
    portfolio = random_portfolio(1, 4000, 8, 40)
    for m in portfolio["mmps"]:  # large but valid: long names, demand on many pools
        m["name"] = "n" * 200
        m["demand"] = {f"team-{k}": [0] * len(m["cost"]) for k in range(12)}
    body = json.dumps({"portfolio": portfolio})
    assert len(body) > 2**20
    statuses: list[int] = []

    def many() -> None:
        threads = [
            in_background(lambda: statuses.append(post(client, "/v1/check", body).status_code)) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    health = health_during(client, in_background(many))
    assert statuses == [200] * 8
    assert health.held(), health


# ---------------------------------------------------------------- 500s and contract slips


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (
            '{"portfolio": {"name": "a\\ud800b", "quarters": ["q"], "budget": 1, "value_streams": [{"id": "s"}], '
            '"mmps": []}}',
            "$.portfolio.name",
        ),
        (
            '{"portfolio": {"name": "a\\u0000b", "quarters": ["q"], "budget": 1, "value_streams": [{"id": "s"}], '
            '"mmps": []}}',
            "$.portfolio.name",
        ),
        (
            '{"portfolio": {"name": "x", "quarters": ["q"], "budget": 1, "budget": 2, "value_streams": [{"id": "s"}], '
            '"mmps": []}}',
            "$.portfolio.budget",
        ),
    ],
    ids=["lone-surrogate", "nul", "duplicate-key"],
)
def test_text_and_keys_the_service_cannot_hold_are_422(client, raw, path):
    for route, prefix in (("/v1/check", ""), ("/v1/portfolios", None)):
        body = raw if prefix is not None else json.dumps(json.loads(raw, object_pairs_hook=dict)["portfolio"])
        if route == "/v1/portfolios" and "budget" in path:
            body = raw[len('{"portfolio": ') : -1]
        expected = path if route == "/v1/check" else "$" + path.removeprefix("$.portfolio")
        assert expected in [d["path"] for d in error(post(client, route, body), 422)["details"]]


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"money_resolution": 1e-300}, "$.settings.money_resolution"),
        ({"money_resolution": "9e999999"}, "$.settings.money_resolution"),
        ({"seed": 1.0}, "$.settings.seed"),
        ({"seed": "1"}, "$.settings.seed"),
    ],
)
def test_settings_out_of_range_are_422(client, settings, path):
    body = json.dumps({"portfolio": tiny(), "settings": settings})
    assert [d["path"] for d in error(post(client, "/v1/solve", body), 422)["details"]] == [path]


def test_max_change_the_solver_cannot_hold_is_422(client):
    portfolio = tiny()
    portfolio["value_streams"][0]["max_change"] = 1e300
    details = error(post(client, "/v1/solve", json.dumps({"portfolio": portfolio})), 422)["details"]
    assert [d["path"] for d in details] == ["$.portfolio.value_streams[0].max_change"]


def test_pagination_is_bounded(client):
    details = error(client.get("/v1/portfolios", params={"offset": 9223372036854775808}), 422)["details"]
    assert [d["path"] for d in details] == ["$.query.offset"]
    assert error(client.get("/v1/jobs", params={"limit": 10**6}), 422)["details"][0]["path"] == "$.query.limit"


def test_a_validator_s_sentence_reaches_the_client_without_pydantic_s_prefix(client):
    details = error(client.post("/v1/frontier", json={"portfolio": tiny()}), 422)["details"]
    assert [(d["path"], d["message"]) for d in details] == [
        ("$", "give either budgets (a list of total budgets) or range (from, to, steps)")
    ]


def test_a_query_parameter_given_twice_is_refused_with_its_path(client):
    # Found by the fuzz run: FastAPI kept the last value of ?action=a&action=b and answered 200.
    twice = client.get("/v1/portfolios", params=[("limit", "3"), ("limit", "4"), ("offset", "0")])
    assert [d["path"] for d in error(twice, 422)["details"]] == ["$.query.limit"]
    assert client.get("/v1/portfolios", params=[("limit", "3"), ("offset", "0")]).status_code == 200


def test_timestamps_carry_their_time_zone_and_jobs_no_hostname(client):
    created = client.post("/v1/portfolios", json=tiny())
    assert created.status_code == 201, created.text
    stored = client.get(f"/v1/portfolios/{created.json()['id']}").json()
    assert stored["created_at"].endswith(("Z", "+00:00"))
    listed = client.get("/v1/portfolios").json()["portfolios"][0]
    assert listed["created_at"].endswith(("Z", "+00:00")) and listed["updated_at"].endswith(("Z", "+00:00"))
    pid = created.json()["id"]
    plan = client.post(f"/v1/portfolios/{pid}/plans", json={"settings": {"time_limit_s": 5, "what_it_takes": False}})
    assert plan.status_code == 201, plan.text
    commit = client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": plan.json()["id"]})
    assert commit.status_code == 201, commit.text
    record = client.get(f"/v1/portfolios/{pid}/plan-of-record").json()
    history = client.get(f"/v1/portfolios/{pid}/plan-of-record/history").json()["commits"]
    for committed in (commit.json(), record, *history):
        assert committed["committed_at"].endswith(("Z", "+00:00")), committed


def test_security_headers(client):
    for response in (client.get("/healthz"), client.get("/docs"), client.post("/v1/check", json={})):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "server" not in response.headers or "uvicorn" not in response.headers["server"]


def test_a_body_that_does_not_arrive_in_time_is_408():
    app = create_app(ApiSettings(body_timeout_s=0.5))
    key = new_key(app)
    sent: list[dict] = []

    async def call() -> None:
        messages = iter([{"type": "http.request", "body": b'{"portfolio": ', "more_body": True}])

        async def receive() -> dict:
            message = next(messages, None)
            if message is None:
                await asyncio.sleep(30)  # the client stops sending
            return message

        async def send(message: dict) -> None:
            sent.append(message)

        scope = post_scope("/v1/check", f"Bearer {key}")
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(call())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert start["status"] == 408 and body["error"]["code"] == "timeout"


@pytest.mark.slow
def test_a_client_that_goes_away_stops_its_solves():
    """Abandoned /v1/solve calls kept their solvers running (and their admission)."""
    portfolio = random_portfolio(5, 300, 8, 30)
    body = json.dumps({"portfolio": portfolio, "settings": {"time_limit_s": 60}}).encode()
    app = create_app(ApiSettings(pool_size=1, queue_limit=0))
    with keyed(TestClient(app, raise_server_exceptions=False)) as client:
        solvers = client.app.state.solvers
        call = AbandonedPost(client, "/v1/solve", body)
        wait_for(lambda: solvers.pool.busy == 1, "the solve to start", timeout=60)
        started = time.monotonic()
        call.leave(timeout_s=30)
        wait_for(lambda: solvers.pool.busy == 0 and solvers.admitted == 0, "the solve to stop", timeout=30)
        assert time.monotonic() - started < 30  # well before the 60 s time limit
        # The slot is free at once: a new solve is admitted, not refused as busy.
        assert client.post("/v1/solve", json={"portfolio": tiny()}).status_code == 200
