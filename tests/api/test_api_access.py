"""Issue 14: who may do what. Credentials (API keys in two headers, OpenID Connect tokens), roles, tenant
isolation on every route, the keys API, the audit log, per-tenant quotas (429 with Retry-After) and CORS.

One module-scoped app holds two tenants, `acme` (the caller) and `other` (whose portfolio, plan, job and key
acme must never reach): another tenant's record answers exactly as a record that was never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

import api.auth
from api.app import create_app
from api.auth import Authenticator, Caller
from api.quotas import SolverMeter
from api.settings import ApiSettings
from bench.generator import random_portfolio
from cli.main import announce_auth
from models.auth import DEFAULT_TENANT, Role
from storage.db import Database
from tests.support.auth import bearer, new_key
from tests.support.databases import migrated

ACME, OTHER = "acme", "other"
MISSING = "f" * 32  # an id nobody stored


def small(seed: int = 0) -> dict[str, Any]:
    return random_portfolio(seed, 6, 2, 2)


def assert_envelope(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:1000])
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Iterator[Database]:
    with migrated(f"sqlite:///{tmp_path_factory.mktemp('access') / 'vmo.db'}") as database:
        yield database


@pytest.fixture(scope="module")
def app(db):
    application = create_app(ApiSettings(pool_size=1, max_time_limit_s=5), db)
    with TestClient(application):  # the lifespan: parser and solver processes
        yield application


@pytest.fixture(scope="module")
def keys(app) -> dict[tuple[str, Role], str]:
    return {(tenant, role): new_key(app, tenant, role) for tenant in (ACME, OTHER) for role in Role}


def client_for(app, key: str | None) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    if key is not None:
        client.headers.update(bearer(key))
    return client


@pytest.fixture(scope="module")
def acme(app, keys) -> TestClient:
    return client_for(app, keys[ACME, Role.ADMIN])


@pytest.fixture(scope="module")
def theirs(app, keys) -> dict[str, str]:
    """The other tenant's portfolio, plan, queued job and key ids (no worker runs: the job stays queued)."""
    other = client_for(app, keys[OTHER, Role.ADMIN])
    portfolio = other.post("/v1/portfolios", json=small(1)).json()["id"]
    plan = other.post(f"/v1/portfolios/{portfolio}/plans", json={"settings": {"time_limit_s": 5}})
    assert plan.status_code == 201, plan.text
    job = other.post("/v1/jobs", json={"kind": "batch", "portfolios": [small(2)]})
    assert job.status_code == 202, job.text
    key = other.post("/v1/keys", json={"role": "viewer"}).json()
    return {"portfolio": portfolio, "plan": plan.json()["id"], "job": job.json()["id"], "key": key["id"]}


# ---------------------------------------------------------------- isolation: another tenant's id is unknown

ISOLATED = [
    ("GET", "/v1/portfolios/{portfolio}", None),
    ("GET", "/v1/portfolios/{portfolio}?version=1", None),
    ("POST", "/v1/portfolios/{portfolio}/versions", small(3)),
    ("GET", "/v1/portfolios/{portfolio}/plans", None),
    ("POST", "/v1/portfolios/{portfolio}/plans", {"settings": {"time_limit_s": 1}}),
    ("DELETE", "/v1/portfolios/{portfolio}", None),
    ("GET", "/v1/plans/{plan}", None),
    ("GET", "/v1/plans/{plan}.xlsx", None),
    ("GET", "/v1/plans/{plan}/report", None),
    ("GET", "/v1/jobs/{job}", None),
    ("GET", "/v1/jobs/{job}/result", None),
    ("DELETE", "/v1/jobs/{job}", None),
    ("DELETE", "/v1/keys/{key}", None),
    ("POST", "/v1/portfolios/{portfolio}/plan-of-record", {"plan_id": "p"}),
    ("GET", "/v1/portfolios/{portfolio}/plan-of-record", None),
    ("GET", "/v1/portfolios/{portfolio}/plan-of-record/history", None),
    ("PUT", "/v1/portfolios/{portfolio}/actuals/2027Q1", {}),
    ("GET", "/v1/portfolios/{portfolio}/actuals", None),
    ("POST", "/v1/portfolios/{portfolio}/replan", {"as_of": "2027Q2"}),
    ("GET", "/v1/portfolios/{portfolio}/variance", None),
]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "route", "body"), ISOLATED, ids=[f"{m} {r}" for m, r, _ in ISOLATED])
def test_another_tenants_record_is_not_found(acme, theirs, method, route, body):
    """Read, version, list plans of, solve-and-store, delete, export, follow, fetch the result of, cancel:
    404 not_found, worded exactly as for an id never stored (nothing confirms that it exists)."""
    response = acme.request(method, route.format(**theirs), json=body)
    error = assert_envelope(response, 404, "not_found")
    never = acme.request(method, route.format(**dict.fromkeys(theirs, MISSING)), json=body)
    assert_envelope(never, 404, "not_found")
    assert error["message"] == never.json()["error"]["message"].replace(MISSING, theirs[_field(route)])


def _field(route: str) -> str:
    return route.split("{")[1].split("}")[0]


def test_another_tenants_portfolio_cannot_be_reoptimized(acme, theirs):
    """A job naming another tenant's portfolio is refused as one naming a portfolio never stored."""
    theirs_answer = acme.post("/v1/jobs", json={"kind": "reoptimize", "portfolio_ids": [theirs["portfolio"]]})
    never = acme.post("/v1/jobs", json={"kind": "reoptimize", "portfolio_ids": [MISSING]})
    error = assert_envelope(theirs_answer, 422, "invalid_input")
    assert_envelope(never, 422, "invalid_input")
    assert error["details"][0]["path"] == "$.portfolio_ids[0]"
    assert error["details"][0]["message"] == never.json()["error"]["details"][0]["message"].replace(
        MISSING, theirs["portfolio"]
    )


def test_lists_show_only_the_callers_tenant(acme, theirs):
    mine = acme.post("/v1/portfolios", json=small(4)).json()["id"]
    portfolios = {p["id"] for p in acme.get("/v1/portfolios?limit=1000").json()["portfolios"]}
    assert mine in portfolios and theirs["portfolio"] not in portfolios
    assert theirs["job"] not in {j["id"] for j in acme.get("/v1/jobs?limit=1000").json()["jobs"]}
    assert theirs["key"] not in {k["id"] for k in acme.get("/v1/keys").json()["keys"]}
    assert all(k["tenant"] == ACME for k in acme.get("/v1/keys").json()["keys"])
    events = acme.get("/v1/audit?limit=1000").json()["events"]
    assert events and all(e["tenant"] == ACME for e in events)
    assert not {theirs["portfolio"], theirs["job"], theirs["key"]} & {e["target"] for e in events}


def test_the_other_tenant_still_has_everything_untouched(app, keys, acme, theirs):
    """After every attempt above (whatever order pytest ran them in), the other tenant's records are as stored."""
    for method, route, body in ISOLATED:
        acme.request(method, route.format(**theirs), json=body)
    other = client_for(app, keys[OTHER, Role.VIEWER])
    stored = other.get(f"/v1/portfolios/{theirs['portfolio']}").json()
    assert stored["latest_version"] == 1
    assert [p["id"] for p in other.get(f"/v1/portfolios/{theirs['portfolio']}/plans").json()["plans"]] == [
        theirs["plan"]
    ]
    assert other.get(f"/v1/jobs/{theirs['job']}").json()["status"] == "queued"
    assert other.get("/v1/keys").status_code == 403  # a viewer: but the key it made is still live
    admin = client_for(app, keys[OTHER, Role.ADMIN])
    (key,) = [k for k in admin.get("/v1/keys").json()["keys"] if k["id"] == theirs["key"]]
    assert key["revoked_at"] is None


# ---------------------------------------------------------------- credentials

OPEN = ["/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"]


@pytest.mark.parametrize("path", OPEN)
def test_health_and_docs_need_no_credential(app, path):
    assert client_for(app, None).get(path).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/portfolios"), ("POST", "/v1/solve"), ("GET", "/v1/jobs"), ("GET", "/v1/audit")],
)
def test_no_credential_is_401(app, method, path):
    response = client_for(app, None).request(method, path, json={} if method == "POST" else None)
    error = assert_envelope(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in error["message"]


def test_an_unknown_or_malformed_key_is_401(app):
    for key in ("vmo_" + "x" * 43, "not-a-key", "vmo_", "a.b.c"):
        assert_envelope(client_for(app, key).get("/v1/portfolios"), 401, "unauthorized")


def test_the_key_works_in_either_header(app, keys):
    key = keys[ACME, Role.VIEWER]
    plain = TestClient(app)
    assert plain.get("/v1/portfolios", headers={"X-API-Key": key}).status_code == 200
    assert plain.get("/v1/portfolios", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert plain.get("/v1/portfolios", headers={"Authorization": f"Basic {key}"}).status_code == 401


def test_an_anonymous_body_is_never_parsed(app, monkeypatch):
    """401 comes before the body is read by a parser process: an anonymous client costs no parsing."""

    async def refuse(*_):
        raise AssertionError("an anonymous body was parsed")

    monkeypatch.setattr(app.state.parsers, "parse", refuse)
    response = client_for(app, None).post("/v1/solve", json={"portfolio": small(5)})
    assert_envelope(response, 401, "unauthorized")


def test_every_v1_route_checks_a_role(app):
    """The guard is structural: a /v1 route without a role dependency would be open to anyone."""

    def needs(dependant) -> set[str]:
        names = {getattr(dependant.call, "__name__", "")}
        for sub in dependant.dependencies:
            names |= needs(sub)
        return names

    unguarded = [
        f"{sorted(route.methods)} {route.path}"
        for route in app.routes
        if getattr(route, "path", "").startswith("/v1/")
        and not any(name.startswith("require_") for name in needs(route.dependant))
    ]
    assert unguarded == []


# ---------------------------------------------------------------- roles

ROLE_CASES = [
    # (role, method, path, body, allowed)
    (Role.VIEWER, "GET", "/v1/portfolios", None, True),
    (Role.VIEWER, "GET", "/v1/jobs", None, True),
    (Role.VIEWER, "GET", "/v1/imports/template", None, True),
    (Role.VIEWER, "POST", "/v1/portfolios", small(6), False),
    (Role.VIEWER, "POST", "/v1/check", {"portfolio": small(6)}, False),
    (Role.VIEWER, "POST", "/v1/solve", {"portfolio": small(6)}, False),
    (Role.VIEWER, "POST", "/v1/jobs", {"kind": "batch", "portfolios": [small(6)]}, False),
    (Role.PLANNER, "POST", "/v1/portfolios", small(6), True),
    (Role.PLANNER, "POST", "/v1/check", {"portfolio": small(6)}, True),
    (Role.PLANNER, "GET", "/v1/keys", None, False),
    (Role.PLANNER, "POST", "/v1/keys", {"role": "viewer"}, False),
    (Role.PLANNER, "GET", "/v1/audit", None, False),
    (Role.PLANNER, "DELETE", "/v1/portfolios/{mine}", None, False),
    (Role.VIEWER, "GET", "/v1/portfolios/{mine}/actuals", None, True),
    (Role.VIEWER, "PUT", "/v1/portfolios/{mine}/actuals/2027Q1", {}, False),
    (Role.PLANNER, "PUT", "/v1/portfolios/{mine}/actuals/2027Q1", {}, True),
    (Role.PLANNER, "POST", "/v1/portfolios/{mine}/plan-of-record", {"plan_id": "p"}, False),
    (Role.ADMIN, "GET", "/v1/keys", None, True),
    (Role.ADMIN, "GET", "/v1/audit", None, True),
    (Role.ADMIN, "DELETE", "/v1/portfolios/{mine}", None, True),
]


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "allowed"),
    ROLE_CASES,
    ids=[f"{r}-{m} {p}" for r, m, p, _, _ in ROLE_CASES],
)
def test_roles(app, keys, acme, role, method, path, body, allowed):
    """viewer reads; planner also solves, stores and runs jobs; admin also manages keys, deletes, reads the audit."""
    if "{mine}" in path:
        path = path.format(mine=acme.post("/v1/portfolios", json=small(7)).json()["id"])
    response = client_for(app, keys[ACME, role]).request(method, path, json=body)
    if allowed:
        assert response.status_code < 400, response.text[:500]
    else:
        error = assert_envelope(response, 403, "forbidden")
        assert str(role) in error["message"]


def test_a_planner_cancels_a_job_but_only_an_admin_deletes_a_finished_one(app, keys, db):
    planner = client_for(app, keys[ACME, Role.PLANNER])
    job = planner.post("/v1/jobs", json={"kind": "batch", "portfolios": [small(8)]}).json()
    assert planner.delete(f"/v1/jobs/{job['id']}").json()["status"] == "canceled"
    assert_envelope(planner.delete(f"/v1/jobs/{job['id']}"), 403, "forbidden")
    assert client_for(app, keys[ACME, Role.ADMIN]).delete(f"/v1/jobs/{job['id']}").status_code == 204


# ---------------------------------------------------------------- keys and the audit log


def test_keys_api_shows_a_key_once_and_revokes_it(app, acme):
    created = acme.post("/v1/keys", json={"role": "planner", "name": "ci pipeline"})
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    key = created.json()
    assert key["key"].startswith("vmo_") and len(key["key"]) >= 40
    assert (key["tenant"], key["role"], key["name"], key["revoked_at"]) == (ACME, "planner", "ci pipeline", None)
    listed = acme.get("/v1/keys").json()["keys"]
    assert key["id"] in {k["id"] for k in listed}
    assert key["key"] not in json.dumps(listed) and all("key" not in k for k in listed)
    fresh = client_for(app, key["key"])
    assert fresh.get("/v1/portfolios").status_code == 200
    revoked = acme.delete(f"/v1/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert_envelope(fresh.get("/v1/portfolios"), 401, "unauthorized")
    assert acme.delete(f"/v1/keys/{key['id']}").status_code == 200  # twice: nothing changes


def test_keys_are_stored_only_as_a_keyed_hash(app, db, acme):
    key = acme.post("/v1/keys", json={"role": "viewer"}).json()["key"]
    with db.engine.connect() as connection:
        dump = json.dumps([list(map(str, row)) for row in connection.exec_driver_sql("SELECT * FROM api_keys")])
    assert key not in dump and key[4:] not in dump
    assert app.state.auth.hasher.digest(key) in dump


def test_key_creation_rejects_unknown_roles(acme):
    assert_envelope(acme.post("/v1/keys", json={"role": "root"}), 422, "invalid_input")
    assert_envelope(acme.post("/v1/keys", json={"role": "viewer", "tenant": OTHER}), 422, "invalid_input")


def test_the_audit_log_says_who_did_what_when(app, keys, acme):
    admin_id = _key_id(app, keys[ACME, Role.ADMIN])
    portfolio = acme.post("/v1/portfolios", json=small(9)).json()["id"]
    acme.post(f"/v1/portfolios/{portfolio}/versions", json=small(10))
    job = acme.post("/v1/jobs", json={"kind": "batch", "portfolios": [small(11)]}).json()["id"]
    acme.delete(f"/v1/jobs/{job}")
    acme.delete(f"/v1/portfolios/{portfolio}")
    events = acme.get("/v1/audit?limit=20").json()["events"]
    mine = [(e["action"], e["target"]) for e in events if e["target"] in (portfolio, job)]
    assert mine == [
        ("portfolio.delete", portfolio),
        ("job.cancel", job),
        ("job.submit", job),
        ("portfolio.version", portfolio),
        ("portfolio.create", portfolio),
    ]
    assert all(e["actor"] == f"key:{admin_id}" for e in events if e["target"] in (portfolio, job))
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    only = acme.get("/v1/audit?action=portfolio.delete").json()["events"]
    assert only and {e["action"] for e in only} == {"portfolio.delete"}


def _key_id(app, key: str) -> str:
    return app.state.auth.identify(key).actor.removeprefix("key:")


# ---------------------------------------------------------------- quotas


@pytest.fixture
def tight(tmp_path) -> Iterator[TestClient]:
    """An app (not started: no solver pool) with small quotas."""
    with migrated(f"sqlite:///{tmp_path / 'vmo.db'}") as database:
        settings = ApiSettings(
            pool_size=1, quota_portfolios=2, quota_versions=3, quota_queued_jobs=1, quota_parts_per_job=2
        )
        application = create_app(settings, database)
        client = client_for(application, new_key(application, ACME, Role.ADMIN))
        yield client


def assert_quota(response, *words: str) -> None:
    error = assert_envelope(response, 429, "quota_exceeded")
    assert int(response.headers["retry-after"]) >= 1
    for word in words:
        assert word in error["message"], error


@pytest.mark.slow
def test_stored_portfolios_and_versions_have_a_quota(tight):
    first = tight.post("/v1/portfolios", json=small(0)).json()["id"]
    tight.post("/v1/portfolios", json=small(1))
    assert_quota(tight.post("/v1/portfolios", json=small(2)), "VMO_QUOTA_PORTFOLIOS", "2 portfolio(s)")
    assert tight.post(f"/v1/portfolios/{first}/versions", json=small(3)).status_code == 201  # 3 versions
    assert_quota(tight.post(f"/v1/portfolios/{first}/versions", json=small(4)), "VMO_QUOTA_VERSIONS")
    assert tight.delete(f"/v1/portfolios/{first}").status_code == 204  # deleting makes room
    assert tight.post("/v1/portfolios", json=small(5)).status_code == 201


@pytest.mark.slow
def test_queued_jobs_and_parts_per_job_have_a_quota(tight, tmp_path):
    assert_quota(
        tight.post("/v1/jobs", json={"kind": "batch", "portfolios": [small(0), small(1), small(2)]}),
        "3 parts",
        "VMO_QUOTA_PARTS_PER_JOB",
    )
    job = tight.post("/v1/jobs", json={"kind": "batch", "portfolios": [small(0)]}).json()["id"]
    assert_quota(tight.post("/v1/jobs", json={"kind": "batch", "portfolios": [small(1)]}), "VMO_QUOTA_QUEUED_JOBS")
    tight.delete(f"/v1/jobs/{job}")  # canceled: no longer queued
    assert tight.post("/v1/jobs", json={"kind": "batch", "portfolios": [small(1)]}).status_code == 202


@pytest.mark.slow
def test_a_batch_counts_the_portfolios_it_stores(tight):
    tight.post("/v1/portfolios", json=small(0))
    response = tight.post("/v1/jobs", json={"kind": "batch", "portfolios": [small(1), small(2)]})
    assert_quota(response, "VMO_QUOTA_PORTFOLIOS")
    assert len(tight.get("/v1/portfolios").json()["portfolios"]) == 1  # nothing of the refused job was stored


def test_solver_seconds_per_minute_have_a_quota(app, keys, acme):
    """A tenant that used its minute's solver seconds gets 429 with Retry-After; another tenant solves on."""
    meter: SolverMeter = app.state.solvers.meter
    body = {"portfolio": small(12), "settings": {"time_limit_s": 1}}
    with meter.charged(ACME, meter.limit):  # a minute's worth spent by acme's earlier solves
        response = acme.post("/v1/solve", json=body)
        assert_quota(response, "VMO_QUOTA_SOLVER_SECONDS")
        assert int(response.headers["retry-after"]) <= 60
        assert client_for(app, keys[OTHER, Role.PLANNER]).post("/v1/solve", json=body).status_code == 200


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_solver_meter_charges_the_time_limit_then_what_was_used():
    clock = Clock()
    meter = SolverMeter(100, clock)
    with meter.charged(ACME, 60) as charge:
        assert meter.used(ACME) == 60  # reserved while it runs: a second request of 60 s would not fit
        with pytest.raises(Exception, match="VMO_QUOTA_SOLVER_SECONDS") as refused, meter.charged(ACME, 60):
            pass
        assert refused.value.retry_after_s == 60
        charge.seconds = 7.5  # what the solves reported
    assert meter.used(ACME) == 7.5 and meter.used(OTHER) == 0
    clock.now += 30
    with meter.charged(ACME, 90):
        pass
    with pytest.raises(Exception) as refused, meter.charged(ACME, 10):
        pass
    assert refused.value.retry_after_s == 30  # the first charge leaves the minute 30 s from now
    clock.now += 60.5
    assert meter.used(ACME) == 0
    with meter.charged(ACME, 10_000) as charge:  # one request of more than the quota is charged the quota
        assert charge.seconds == 100
    with meter.charged(None, 10_000):  # no tenant (the CLI): not metered
        pass


# ---------------------------------------------------------------- CORS, VMO_AUTH=off


def test_cors_is_closed_by_default(acme):
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    response = acme.options("/v1/portfolios", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in acme.get("/v1/portfolios", headers=preflight).headers


def test_cors_opens_to_the_configured_origins(db):
    application = create_app(ApiSettings(pool_size=1, cors_origins=["https://plans.example"]), db)
    client = client_for(application, new_key(application, ACME, Role.VIEWER))
    asked = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/v1/portfolios", headers={"Origin": "https://plans.example", **asked})
    assert allowed.headers["access-control-allow-origin"] == "https://plans.example"
    refused = client.options("/v1/portfolios", headers={"Origin": "https://evil.example", **asked})
    assert "access-control-allow-origin" not in refused.headers


@pytest.mark.slow
def test_auth_off_makes_every_caller_an_admin_of_the_default_tenant(tmp_path, capsys):
    with migrated(f"sqlite:///{tmp_path / 'vmo.db'}") as database:
        settings = ApiSettings(pool_size=1, auth="off")
        client = TestClient(create_app(settings, database))
        created = client.post("/v1/portfolios", json=small(0))
        assert created.status_code == 201
        events = client.get("/v1/audit").json()["events"]
        assert (events[0]["tenant"], events[0]["actor"]) == (DEFAULT_TENANT, "anonymous")
        announce_auth(settings, database, "127.0.0.1:8000")
    said = capsys.readouterr().err
    assert "VMO_AUTH=off: AUTHENTICATION IS OFF" in said and "127.0.0.1:8000" in said


# ---------------------------------------------------------------- OpenID Connect

ISSUER, AUDIENCE = "https://login.example", "vmo-api"


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, Any]:
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "rogue")}


@pytest.fixture
def oidc(tmp_path, signing_keys, monkeypatch) -> Iterator[TestClient]:
    """An app that trusts ISSUER, whose JWKS (served by the stub below, not the network) holds k1 only."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_keys["k1"].public_key()))
    jwks = {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}
    fetched: list[str] = []

    def fetch_data(self):
        fetched.append(self.uri)
        return jwks

    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", fetch_data)
    with migrated(f"sqlite:///{tmp_path / 'vmo.db'}") as database:
        settings = ApiSettings(pool_size=1, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=f"{ISSUER}/jwks")
        client = TestClient(create_app(settings, database), raise_server_exceptions=False)
        client.fetched = fetched  # type: ignore[attr-defined]
        yield client


def token(signing_keys, kid: str = "k1", algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
            "vmo_tenant": ACME, "vmo_role": "planner", **claims}  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, signing_keys[kid], algorithm=algorithm, headers={"kid": "k1"})


@pytest.mark.slow
def test_an_oidc_token_names_the_tenant_and_role(oidc, signing_keys):
    headers = bearer(token(signing_keys))
    created = oidc.post("/v1/portfolios", json=small(0), headers=headers)
    assert created.status_code == 201, created.text
    assert oidc.fetched == [f"{ISSUER}/jwks"]
    assert [p["id"] for p in oidc.get("/v1/portfolios", headers=headers).json()["portfolios"]] == [created.json()["id"]]
    assert_envelope(oidc.get("/v1/audit", headers=headers), 403, "forbidden")  # a planner
    roles = bearer(token(signing_keys, vmo_role=["viewer", "admin"]))  # a list of roles: the highest counts
    (event,) = oidc.get("/v1/audit", headers=roles).json()["events"]
    assert (event["actor"], event["tenant"]) == ("oidc:alice", ACME)
    other = bearer(token(signing_keys, vmo_tenant=OTHER))
    assert oidc.get("/v1/portfolios", headers=other).json()["portfolios"] == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"kid": "rogue"}, "Signature"),
        ({"vmo_tenant": None}, "tenant"),
        ({"vmo_tenant": "../etc"}, "tenant"),
        ({"vmo_role": "root"}, "role"),
        ({"sub": None}, "sub"),
    ],
    ids=["expired", "audience", "issuer", "signature", "no-tenant", "bad-tenant", "bad-role", "no-subject"],
)
def test_a_bad_oidc_token_is_401(oidc, signing_keys, change, words):
    kid = change.pop("kid", "k1")
    response = oidc.get("/v1/portfolios", headers=bearer(token(signing_keys, kid, **change)))
    error = assert_envelope(response, 401, "unauthorized")
    assert words.lower() in error["message"].lower(), error


def test_an_hmac_signed_token_is_refused(oidc, signing_keys):
    """Algorithm confusion: a token signed with HS256 under the public key as a secret must not pass."""
    public = signing_keys["k1"].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "vmo_tenant": ACME, "vmo_role": "admin"}
    signed = ".".join(_b64(json.dumps(part).encode()) for part in ({"alg": "HS256", "kid": "k1"}, claims))
    forged = f"{signed}.{_b64(hmac.new(public, signed.encode(), hashlib.sha256).digest())}"
    assert_envelope(oidc.get("/v1/portfolios", headers=bearer(forged)), 401, "unauthorized")
    with pytest.raises(ValueError, match="HS256"):
        ApiSettings(oidc_algorithms=["RS256", "HS256"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_api_keys_still_work_beside_oidc(oidc):
    key = new_key(oidc.app, ACME, Role.VIEWER)
    assert oidc.get("/v1/portfolios", headers=bearer(key)).status_code == 200


def test_the_jwks_is_found_by_discovery(monkeypatch, db):
    asked: list[str] = []

    class Answer:
        def raise_for_status(self) -> None:
            pass

        def json(self) -> dict[str, str]:
            return {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys.json"}

    def get(url: str, timeout: float) -> Answer:
        asked.append(url)
        return Answer()

    monkeypatch.setattr(api.auth.httpx, "get", get)
    verifier = Authenticator(ApiSettings(oidc_issuer=ISSUER), db).oidc
    assert verifier is not None and verifier.client().uri == f"{ISSUER}/keys.json"
    assert asked == [f"{ISSUER}/.well-known/openid-configuration"]


def test_an_unreachable_identity_provider_is_503(db):
    settings = ApiSettings(pool_size=1, oidc_issuer="http://127.0.0.1:1", oidc_jwks_url="http://127.0.0.1:1/jwks")
    client = TestClient(create_app(settings, db), raise_server_exceptions=False)
    unsigned = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    response = client.get("/v1/portfolios", headers=bearer(unsigned))
    assert_envelope(response, 503, "identity_provider_unavailable")
    assert "retry-after" in response.headers


def test_caller_is_a_plain_value():
    assert Caller(ACME, Role.VIEWER, "key:1") == Caller(ACME, Role.VIEWER, "key:1")
    assert Role.ADMIN.allows(Role.PLANNER) and not Role.VIEWER.allows(Role.PLANNER)
