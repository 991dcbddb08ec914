"""Issue 13 through the API, the service holding while it works: /healthz answers while a request at the caps
is parsed, solved and answered, and an abandoned what-if (the issue's made a later 2 s solve wait 98 s) stops
all of its solves and gives back its admission at once.

`tests/support/health.py` says against what budget /healthz is measured."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from bench.generator import random_portfolio
from models import Plan, load_portfolio
from models.limits import LIMITS
from optimizer import validate
from tests.support.asgi import AbandonedPost
from tests.support.auth import keyed
from tests.support.health import health_during
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow  # solves at the caps, and solves that run until stopped

TINY = {
    "name": "tiny",
    "quarters": ["q1"],
    "budget": 100,
    "value_streams": [{"id": "s"}],
    "mmps": [{"id": "a", "value_stream": "s", "value": 10, "cost": [5]}],
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(pool_size=1, queue_limit=4)), raise_server_exceptions=False) as c:
        keyed(c)
        yield c


def test_health_answers_while_a_request_at_the_caps_is_parsed_solved_and_answered(client):
    quarters = LIMITS.max_start_variables // LIMITS.max_mmps  # the largest model the caps admit
    data = random_portfolio(1, LIMITS.max_mmps, quarters, 40)
    body = {"portfolio": data, "settings": {"backend": "wsjf-greedy", "time_limit_s": 30}}
    answer: dict[str, Any] = {}
    busy = threading.Thread(target=lambda: answer.update(r=client.post("/v1/solve", json=body)), daemon=True)
    health = health_during(client, busy)
    response = answer["r"]
    assert response.status_code == 200, response.text[:2000]
    assert len(response.content) > 100_000  # a large answer, serialized while /healthz was asked
    assert validate(load_portfolio(data), Plan.model_validate(response.json())) == []
    assert health.held(), health


def test_an_abandoned_what_if_stops_every_solve_and_frees_its_admission(client):
    solvers = client.app.state.solvers
    portfolio = random_portfolio(5, 300, 8, 30)
    scenarios = [{"name": f"s{i}", "changes": [{"op": "scale_budget", "factor": "0.9"}]} for i in range(3)]
    body = json.dumps({"portfolio": portfolio, "scenarios": scenarios, "settings": {"time_limit_s": 60}}).encode()
    call = AbandonedPost(client, "/v1/whatif", body)
    wait_for(lambda: solvers.admitted == 4 and solvers.pool.busy >= 1, "the what-if to be admitted", timeout=60)
    started = time.monotonic()
    call.leave()
    wait_for(lambda: solvers.pool.busy == 0 and solvers.admitted == 0, "every solve to stop", timeout=30)
    assert time.monotonic() - started < 30  # well before the 60 s time limit of each solve
    response = client.post("/v1/solve", json={"portfolio": TINY, "settings": {"time_limit_s": 5}})
    assert response.status_code == 200, response.text
