"""Issue 14 in storage: every repository function that reads or changes a tenant's records is scoped by the
caller's tenant, quotas are counted per tenant, the audit log is append-only in the database itself, API keys
are found by their hash only while not revoked, the server secret is made once, and migration 0004 moves
existing data to the default tenant. On SQLite and on PostgreSQL (the `database` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bench.generator import random_portfolio
from jobs.submit import submit
from models import Plan, Portfolio, SolverSettings, load_portfolio
from models.auth import DEFAULT_TENANT, Role
from models.jobs import BatchJob, ReoptimizeJob
from storage import repo
from storage.db import Database
from storage.tables import new_id, now
from tests.support.databases import insert_old_rows
from tests.support.solving import solve_valid

MINE, THEIRS = "acme", "other"
SETTINGS = SolverSettings(time_limit_s=5, workers=1)


def small(seed: int) -> Portfolio:
    return load_portfolio(random_portfolio(seed, 5, 2, 2))


@pytest.fixture(scope="module")
def solved() -> Plan:
    return solve_valid(small(1), time_limit_s=5)


@pytest.fixture
def stored(database, solved) -> dict[str, Any]:
    """The other tenant's portfolio (two versions), plan and job."""
    with database.session() as session:
        version = repo.add_portfolio(session, THEIRS, small(1))
        repo.add_version(session, THEIRS, version.portfolio_id, small(2))
        plan = repo.add_plan(session, version, solved, SETTINGS)
        job = submit(session, THEIRS, BatchJob(kind="batch", portfolios=[small(3)], settings=SETTINGS))
        return {"portfolio": version.portfolio_id, "version": version.id, "plan": plan.id, "job": job.id}


SCOPED: dict[str, Callable[[Session, str, dict[str, Any]], Any]] = {
    "get_portfolio": lambda s, t, ids: repo.get_portfolio(s, t, ids["portfolio"]),
    "get_version": lambda s, t, ids: repo.get_version(s, t, ids["portfolio"]),
    "get_version(1)": lambda s, t, ids: repo.get_version(s, t, ids["portfolio"], 1),
    "version_by_id": lambda s, t, ids: repo.version_by_id(s, t, ids["version"]),
    "list_versions": lambda s, t, ids: repo.list_versions(s, t, ids["portfolio"]),
    "add_version": lambda s, t, ids: repo.add_version(s, t, ids["portfolio"], small(4)),
    "list_plans": lambda s, t, ids: repo.list_plans(s, t, ids["portfolio"]),
    "get_plan": lambda s, t, ids: repo.get_plan(s, t, ids["plan"]),
    "delete_portfolio": lambda s, t, ids: repo.delete_portfolio(s, t, ids["portfolio"]),
    "get_job": lambda s, t, ids: repo.get_job(s, t, ids["job"]),
    "request_cancel": lambda s, t, ids: repo.request_cancel(s, t, ids["job"]),
    "delete_job": lambda s, t, ids: repo.delete_job(s, t, ids["job"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("function", sorted(SCOPED))
def test_another_tenants_record_is_not_found(database, stored, function):
    with pytest.raises(repo.NotFound), database.session() as session:
        SCOPED[function](session, MINE, stored)
    with database.session() as session:  # the owner still reaches it, unchanged
        SCOPED[function](session, THEIRS, stored)


def test_lists_and_the_current_plan_are_the_tenants_own(database, stored):
    with database.reading() as session:
        assert repo.list_portfolios(session, MINE) == [] and repo.list_jobs(session, MINE) == []
        assert repo.current_plan(session, MINE, stored["portfolio"]) is None
        assert stored["portfolio"] in [p.id for p in repo.list_portfolios(session, THEIRS)]  # and the job's
        assert repo.current_plan(session, THEIRS, stored["portfolio"]).id == stored["plan"]


def test_a_job_cannot_reoptimize_another_tenants_portfolio(database, stored):
    request = ReoptimizeJob(kind="reoptimize", portfolio_ids=[stored["portfolio"]])
    with pytest.raises(Exception, match="no stored portfolio"), database.session() as session:
        submit(session, MINE, request)


def test_records_without_a_tenant_are_refused(database):
    """No default: a row stored without its tenant is an error, never silently someone's."""
    with pytest.raises(IntegrityError), database.session() as session:
        session.execute(
            text(
                "INSERT INTO portfolios (id, name, latest_version, created_at, updated_at) VALUES (:i, 'x', 1, :t, :t)"
            ),
            {"i": new_id(), "t": now()},
        )


def test_quotas_are_counted_per_tenant(database, stored):
    quotas = repo.Quotas(portfolios=1, versions=3, queued_jobs=1, parts_per_job=2)
    with database.session() as session:  # the other tenant's 2 portfolios do not count
        version = repo.add_portfolio(session, MINE, small(5), quotas)
    with pytest.raises(repo.QuotaExceeded, match="1 portfolio"), database.session() as session:
        repo.add_portfolio(session, MINE, small(6), quotas)
    with database.session() as session:
        repo.add_version(session, MINE, version.portfolio_id, small(7), quotas)
        repo.add_version(session, MINE, version.portfolio_id, small(8), quotas)
    with pytest.raises(repo.QuotaExceeded, match="VMO_QUOTA_VERSIONS"), database.session() as session:
        repo.add_version(session, MINE, version.portfolio_id, small(9), quotas)
    with pytest.raises(repo.QuotaExceeded, match="VMO_QUOTA_QUEUED_JOBS"), database.session() as session:
        repo.check_job_room(session, THEIRS, quotas, 1)
    with database.session() as session:
        repo.check_job_room(session, MINE, quotas, 2)  # the other tenant's queued job does not count
    with pytest.raises(repo.QuotaExceeded, match="3 parts") as refused, database.session() as session:
        repo.check_job_room(session, MINE, quotas, 3)
    assert refused.value.retry_after_s == quotas.retry_after_s


def test_the_audit_log_is_append_only(database):
    with database.session() as session:
        event = repo.audit(session, MINE, "key:1", "portfolio.delete", "p1", {"why": "test"})
    for statement in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), database.session() as session:
            session.execute(text(statement))
    with database.reading() as session:
        (kept,) = repo.list_audit(session, MINE)
        assert (kept.id, kept.actor, kept.action, kept.target, kept.details) == (
            event.id, "key:1", "portfolio.delete", "p1", {"why": "test"}
        )  # fmt: skip
        assert repo.list_audit(session, THEIRS) == []


def test_keys_are_found_by_hash_until_revoked(database):
    with database.session() as session:
        key = repo.add_key(session, MINE, Role.PLANNER, "a" * 64, "robot")
    with database.session() as session:
        assert repo.key_by_digest(session, "a" * 64).id == key.id
        assert repo.key_by_digest(session, "b" * 64) is None
        with pytest.raises(repo.NotFound):
            repo.revoke_key(session, THEIRS, key.id)  # another tenant's admin cannot revoke it
        repo.revoke_key(session, MINE, key.id)
    with database.session() as session:
        assert repo.key_by_digest(session, "a" * 64) is None
        assert [k.id for k in repo.list_keys(session, MINE)] == [key.id]
        assert repo.list_keys(session, THEIRS) == []
    with pytest.raises(IntegrityError), database.session() as session:  # one row per hash
        repo.add_key(session, THEIRS, Role.VIEWER, "a" * 64)


@pytest.mark.slow
def test_the_server_secret_is_made_once(database):
    made: list[str] = []

    def make() -> str:
        made.append(f"secret-{len(made)}")
        return made[-1]

    with database.session() as session:
        first = repo.server_secret(session, "api_key_hmac", make)
    with database.session() as session:
        assert repo.server_secret(session, "api_key_hmac", make) == first == "secret-0"
    assert made == ["secret-0"]


def test_migration_0004_moves_existing_data_to_the_default_tenant(tmp_path, solved):
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        db.migrate("0003")
        at, portfolio, version, plan, job = now(), new_id(), new_id(), new_id(), new_id()
        with db.session() as session:  # rows as revision 0003 stored them (no tenants)
            document = small(1).model_dump(mode="json")
            insert_old_rows(
                session,
                "portfolios",
                [{"id": portfolio, "name": "old", "latest_version": 1, "created_at": at, "updated_at": at}],
            )
            insert_old_rows(
                session,
                "portfolio_versions",
                [{"id": version, "portfolio_id": portfolio, "version": 1, "document": document, "created_at": at}],
            )
            insert_old_rows(
                session,
                "plans",
                [
                    {
                        "id": plan,
                        "portfolio_id": portfolio,
                        "version_id": version,
                        "version": 1,
                        "settings": SETTINGS.model_dump(mode="json"),
                        "status": solved.status,
                        "objective": "1",
                        "document": solved.model_dump(mode="json"),
                        "created_at": at,
                    }
                ],
            )
            insert_old_rows(session, "jobs", [
                {"id": job, "kind": "batch", "status": "succeeded", "request": {}, "settings": {}, "total": 0,
                 "done": 0, "failed": 0, "cancel_requested": False, "attempts": 0, "created_at": at}])  # fmt: skip
        db.migrate()
        with db.reading() as session:
            assert repo.get_portfolio(session, DEFAULT_TENANT, portfolio).name == "old"
            assert repo.get_version(session, DEFAULT_TENANT, portfolio).id == version
            assert repo.get_plan(session, DEFAULT_TENANT, plan).portfolio_id == portfolio
            assert repo.get_job(session, DEFAULT_TENANT, job).status == "succeeded"
            with pytest.raises(repo.NotFound):
                repo.get_portfolio(session, MINE, portfolio)
    finally:
        db.dispose()
