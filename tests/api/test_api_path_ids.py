"""Issue 13, no 500 for any input: a NUL in a path id was a 500 on PostgreSQL (which cannot even compare text
holding one) on every route that takes a stored id. A path id is at most 64 characters (the service's ids
have 32) without NUL or a lone surrogate; anything else is a 422 at $.path.<name>, on SQLite and PostgreSQL.
`?version=` past the 32-bit column was a 500 on PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.support.auth import keyed

ROUTES = [
    ("GET", "/v1/portfolios/{}", "portfolio_id"),
    ("DELETE", "/v1/portfolios/{}", "portfolio_id"),
    ("GET", "/v1/portfolios/{}/plans", "portfolio_id"),
    ("POST", "/v1/portfolios/{}/plans", "portfolio_id"),
    ("GET", "/v1/plans/{}", "plan_id"),
    ("GET", "/v1/plans/{}.xlsx", "plan_id"),
    ("GET", "/v1/plans/{}/report", "plan_id"),
    ("GET", "/v1/jobs/{}", "job_id"),
    ("GET", "/v1/jobs/{}/result", "job_id"),
    ("DELETE", "/v1/jobs/{}", "job_id"),
]


@pytest.fixture
def client(database) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(pool_size=1), database), raise_server_exceptions=False) as c:
        keyed(c)
        yield c


@pytest.mark.slow
def test_the_routes_exist(client):
    paths = client.get("/openapi.json").json()["paths"]
    for method, route, name in ROUTES:
        assert method.lower() in paths[route.format("{" + name + "}")], route


@pytest.mark.slow
@pytest.mark.parametrize(("bad", "says"), [("a%00b", "NUL"), ("x" * 65, "at most 64")], ids=["nul", "long"])
def test_a_path_id_the_service_never_made_is_422_at_its_path(client, bad, says):
    for method, route, name in ROUTES:
        response = client.request(method, route.format(bad))
        assert response.status_code == 422, (method, route, response.text)
        (detail,) = response.json()["error"]["details"]
        assert detail["path"] == f"$.path.{name}" and says in detail["message"], (route, detail)


@pytest.mark.slow
def test_an_unknown_id_is_still_404(client):
    for method, route, _ in ROUTES:
        response = client.request(method, route.format("0" * 32))
        assert response.status_code == 404, (method, route, response.text)


@pytest.mark.slow
def test_a_version_past_the_column_s_range_is_422_not_500(client):
    """`?version=2147483648` was a 500 on PostgreSQL (integer out of range)."""
    created = client.post(
        "/v1/portfolios",
        json={
            "name": "v",
            "quarters": ["q1"],
            "budget": 100,
            "value_streams": [{"id": "s"}],
            "mmps": [{"id": "a", "value_stream": "s", "value": 10, "cost": [5]}],
        },
    )
    portfolio_id = created.json()["id"]
    assert client.get(f"/v1/portfolios/{portfolio_id}", params={"version": 2**31 - 1}).status_code == 404
    response = client.get(f"/v1/portfolios/{portfolio_id}", params={"version": 2**31})
    assert response.status_code == 422, response.text
    assert [d["path"] for d in response.json()["error"]["details"]] == ["$.query.version"]
