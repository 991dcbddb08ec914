"""Issue 13, storage unbounded: ten 8 MB portfolios grew the database by 176 MB and nothing could be deleted.
DELETE /v1/portfolios/{id} removes a portfolio with every version and plan (409 while a job solves it), and
DELETE /v1/jobs/{id} removes a finished job with its parts (the plans it stored stay with their portfolios)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from models.jobs import MAX_BATCH
from storage.db import Database
from tests.support.auth import keyed

PORTFOLIO = {
    "name": "kept for a while",
    "quarters": ["q1", "q2"],
    "budget": 100,
    "value_streams": [{"id": "s"}],
    "mmps": [
        {"id": "a", "value_stream": "s", "value": 10, "cost": [5]},
        {"id": "b", "value_stream": "s", "value": 7, "cost": [60, 50]},
    ],
}


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    db = Database(f"sqlite:///{tmp_path / 'vmo.db'}")
    with TestClient(create_app(ApiSettings(pool_size=1), db), raise_server_exceptions=False) as c:
        keyed(c)
        yield c
    db.dispose()


def created(client: TestClient, data: dict[str, Any]) -> str:
    response = client.post("/v1/portfolios", json=data)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def planned(client: TestClient, portfolio_id: str) -> str:
    response = client.post(f"/v1/portfolios/{portfolio_id}/plans", json={"settings": {"time_limit_s": 10}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


@pytest.mark.slow
def test_delete_a_portfolio_with_its_versions_and_plans(client):
    portfolio_id = created(client, PORTFOLIO)
    assert client.post(f"/v1/portfolios/{portfolio_id}/versions", json={**PORTFOLIO, "budget": 90}).status_code == 201
    plan_id = planned(client, portfolio_id)
    kept = created(client, {**PORTFOLIO, "name": "another"})
    kept_plan = planned(client, kept)

    response = client.delete(f"/v1/portfolios/{portfolio_id}")
    assert response.status_code == 204 and response.content == b""
    assert error_code(client.get(f"/v1/portfolios/{portfolio_id}"), 404) == "not_found"
    assert error_code(client.get(f"/v1/plans/{plan_id}"), 404) == "not_found"
    assert error_code(client.get(f"/v1/portfolios/{portfolio_id}?version=1"), 404) == "not_found"
    assert error_code(client.delete(f"/v1/portfolios/{portfolio_id}"), 404) == "not_found"
    # Another portfolio and its plan are untouched.
    assert [p["id"] for p in client.get("/v1/portfolios").json()["portfolios"]] == [kept]
    assert client.get(f"/v1/plans/{kept_plan}").status_code == 200


@pytest.mark.slow
def test_a_portfolio_a_job_solves_is_not_deleted_until_the_job_ends(client):
    portfolio_id = created(client, PORTFOLIO)
    planned(client, portfolio_id)
    submitted = client.post("/v1/jobs", json={"kind": "reoptimize", "portfolio_ids": [portfolio_id]})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]  # no worker runs here: the job stays queued

    refused = client.delete(f"/v1/portfolios/{portfolio_id}")
    assert error_code(refused, 409) == "in_use"
    assert job_id in refused.json()["error"]["message"]
    assert client.get(f"/v1/portfolios/{portfolio_id}").status_code == 200

    assert client.delete(f"/v1/jobs/{job_id}").json()["status"] == "canceled"  # a queued job: canceled at once
    assert client.delete(f"/v1/portfolios/{portfolio_id}").status_code == 204
    # The finished job outlives the portfolio (its report on it is gone with it); deleting it removes its parts.
    result = client.get(f"/v1/jobs/{job_id}/result")
    assert result.status_code == 200, result.text
    assert result.json()["reoptimized"] == [] and result.json()["plans"] == [None, None]
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert error_code(client.get(f"/v1/jobs/{job_id}"), 404) == "not_found"


@pytest.mark.slow
def test_lists_are_summaries_not_documents(client):
    """GET /v1/portfolios?limit=1000 answered 84 MB: a list names each portfolio, it does not repeat it."""
    big = {**PORTFOLIO, "mmps": [{**PORTFOLIO["mmps"][0], "id": f"m{i}", "name": "x" * 200} for i in range(300)]}
    portfolio_id = created(client, big)
    listed = client.get("/v1/portfolios", params={"limit": 1000})
    assert listed.status_code == 200
    (entry,) = listed.json()["portfolios"]
    assert entry["id"] == portfolio_id and "mmps" not in entry and "document" not in entry
    assert len(listed.content) < 2000


@pytest.mark.slow
def test_a_job_has_at_most_max_batch_parts(client):
    """10 jobs x 1,000 parts were queued in 8.5 s with nothing to bound them: a job names at most MAX_BATCH
    portfolios (or scenarios), and more is refused at its path before anything is stored."""
    over = client.post("/v1/jobs", json={"kind": "batch", "portfolios": [PORTFOLIO] * (MAX_BATCH + 1)})
    assert error_code(over, 422) == "invalid_input"
    assert [d["path"] for d in over.json()["error"]["details"]] == ["$.portfolios"]
    scenarios = [{"name": f"s{i}", "changes": []} for i in range(MAX_BATCH + 1)]
    over = client.post("/v1/jobs", json={"kind": "batch", "portfolio": PORTFOLIO, "scenarios": scenarios})
    assert error_code(over, 422) == "invalid_input"
    assert [d["path"] for d in over.json()["error"]["details"]] == ["$.scenarios"]
    assert client.get("/v1/jobs").json()["jobs"] == [] and client.get("/v1/portfolios").json()["portfolios"] == []
