"""Issue 13, must show: schemathesis against the app, every operation, every check, a bounded number of
examples per operation (the whole file runs in a few minutes on 2 cores): no 5xx, no answer outside the
OpenAPI document.

Issue 14: the run calls as a client of tenant `fuzz` with an admin key (schemathesis's own auth check also
sends each request without it and expects 401), and about half of the generated ids are replaced by ids of
another tenant's portfolio, plan, job and key: those must never answer 2xx, and the other tenant's records
are all there, unchanged, at the end.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.app import create_app
from bench.generator import random_portfolio
from jobs.submit import submit
from models import SolverSettings, load_portfolio
from models.auth import Role
from models.jobs import BatchJob
from optimizer import solve
from storage import repo
from storage.db import Database
from tests.support.auth import bearer, new_key
from tests.support.fuzz import fuzz_settings

pytestmark = pytest.mark.slow

# Per operation, for the fuzzing phase: 5 examples of each of about 35 operations (positive and negative, half
# with another tenant's ids), beside the examples and coverage phases (schemathesis.toml says which operations
# skip the coverage phase, and why). The file runs in about three minutes on 2 cores.
EXAMPLES = 5
FUZZ, OTHER = "fuzz", "other"

_db = Database(f"sqlite:///{Path(tempfile.mkdtemp(prefix='vmo-fuzz-')) / 'vmo.db'}")
APP = create_app(fuzz_settings(), _db)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# schemathesis.toml: which answers count as accepting valid data and as rejecting invalid data.
assert "413" in schema.config.checks.negative_data_rejection.expected_statuses, "schemathesis.toml was not read"
KEY = new_key(APP, FUZZ, Role.ADMIN)


def _other_tenant() -> dict[str, str]:
    """The other tenant's records, stored directly: a portfolio with a plan, a queued job and a key."""
    portfolio = load_portfolio(random_portfolio(1, 6, 2, 2))
    settings = SolverSettings(time_limit_s=5, workers=1)
    with _db.session() as session:
        version = repo.add_portfolio(session, OTHER, portfolio)
        plan = repo.add_plan(session, version, solve(portfolio, settings), settings)
        job = submit(session, OTHER, BatchJob(kind="batch", portfolios=[portfolio], settings=settings))
        ids = {"portfolio_id": version.portfolio_id, "plan_id": plan.id, "job_id": job.id}
    with _db.session() as session:  # a key's id (the fuzz run only names it; no key hashes to zeros)
        ids["key_id"] = repo.add_key(session, OTHER, Role.VIEWER, "0" * 64).id
    return ids


THEIRS = _other_tenant()


@pytest.fixture(scope="module", autouse=True)
def running_app():
    with TestClient(APP):  # the lifespan: migrations, the parser and solver processes
        yield


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_answer_in_the_schema(case):
    params = case.path_parameters or {}
    theirs = [name for name in params if name in THEIRS]
    swapped = bool(theirs) and random.Random(repr(sorted(params.items()))).random() < 0.5
    if swapped:
        for name in theirs:
            params[name] = THEIRS[name]
    response = case.call_and_validate(headers=bearer(KEY))
    if swapped:  # another tenant's id: never an answer that reads or changes its record
        assert response.status_code >= 400, (case.method, case.path, params, response.status_code)


def test_the_other_tenant_kept_everything():
    """Runs after the fuzz run (same module, file order): nothing of the other tenant was changed or deleted."""
    with _db.reading() as session:
        assert repo.get_portfolio(session, OTHER, THEIRS["portfolio_id"]).latest_version == 1
        assert repo.get_plan(session, OTHER, THEIRS["plan_id"]).portfolio_id == THEIRS["portfolio_id"]
        assert repo.get_job(session, OTHER, THEIRS["job_id"]).status == "queued"
        (key,) = [k for k in repo.list_keys(session, OTHER) if k.id == THEIRS["key_id"]]
        assert key.revoked_at is None
