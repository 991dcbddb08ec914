"""The storage layer (storage.db, storage.repo) and job submission, on SQLite and on a real PostgreSQL database.

Every test that takes `database` runs twice: on an SQLite file and on a fresh PostgreSQL database.
Time passing (a lost worker) is simulated by moving `jobs.heartbeat_at` back in the database.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from bench.generator import random_portfolio
from jobs.submit import submit
from models import Plan, Portfolio, PortfolioError, SolverSettings, load_portfolio
from models.auth import DEFAULT_TENANT
from models.jobs import BatchJob, ReoptimizeJob
from models.plan import SolverStatus
from storage import repo
from storage.db import MIGRATIONS, Database, database_url
from storage.tables import Base, JobPartRow, JobRow, PlanRow, PortfolioRow, PortfolioVersionRow, new_id, now
from tests.support.databases import fresh_postgres, insert_old_rows, migrated
from tests.support.paths import FIXTURES
from tests.support.solving import solve_valid

TENANT = DEFAULT_TENANT  # the tenant these tests store in (the isolation tests use others)

SETTINGS = SolverSettings(time_limit_s=5)
LEASE_S = 30.0
MAX_ATTEMPTS = 3


# ---------------------------------------------------------------- helpers


def small(seed: int, n_mmps: int = 5) -> Portfolio:
    return load_portfolio(random_portfolio(seed, n_mmps, 2, 2))


@pytest.fixture(scope="module")
def solved() -> Plan:
    """One real (validated) plan of a small portfolio; variants of it stand for other plans."""
    plan = solve_valid(small(1), time_limit_s=5)
    assert plan.status in repo.SOLVED and plan.objective is not None
    return plan


REPLANNED = {"baseline_plan": {}, "change_penalty": "500"}  # a plan re-optimized close to a baseline


def variant(plan: Plan, status: str, objective: str | None) -> Plan:
    objective_value = None if objective is None else Decimal(objective)
    return plan.model_copy(update={"status": SolverStatus(status), "objective": objective_value})


def batch(db: Database, *seeds: int) -> str:
    """Submit a batch job of small generated portfolios; returns its id."""
    with db.session() as session:
        job = submit(session, TENANT, BatchJob(kind="batch", portfolios=[small(s) for s in seeds]))
        return job.id


def claim(db: Database, worker: str, lease_s: float = LEASE_S, max_attempts: int = MAX_ATTEMPTS) -> str | None:
    with db.session() as session:
        job = repo.claim(session, worker, lease_s, max_attempts)
        return None if job is None else job.id


def job_of(db: Database, job_id: str) -> JobRow:
    with db.session() as session:
        return repo.get_job(session, TENANT, job_id)


def part_statuses(db: Database, job_id: str) -> list[str]:
    with db.session() as session:
        return [p.status for p in repo.parts_of(session, job_id)]


def age_heartbeat(db: Database, job_id: str, seconds: float) -> None:
    """Pretend the job's worker last heartbeated `seconds` ago."""
    with db.session() as session:
        session.execute(
            update(JobRow).where(JobRow.id == job_id).values(heartbeat_at=now() - timedelta(seconds=seconds))
        )


def record(db: Database, job_id: str, worker: str, index: int, plan: Plan | None, status: str = "succeeded") -> bool:
    """What the worker does when a part finishes: lock it, store its plan, count it. False: nothing recorded."""
    with db.session() as session:
        locked = repo.lock_part(session, job_id, worker, index)
        if locked is None:
            return False
        job, part = locked
        row = None
        if plan is not None:
            version = session.get(PortfolioVersionRow, part.spec["version_id"])
            row = repo.add_plan(session, version, plan, SETTINGS, job_id=job_id, part_index=index, label=part.label)
        repo.count_part(job, part, status, row, error=None if status == "succeeded" else "it broke")
        return True


def counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table))
            for table in (PortfolioRow, PortfolioVersionRow, JobRow, JobPartRow, PlanRow)
        }


# ---------------------------------------------------------------- database and migrations


def test_database_url():
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
    assert database_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
    assert database_url(path="/tmp/x/vmo.db") == "sqlite:////tmp/x/vmo.db"
    assert database_url() == "sqlite:///vmo.db"


def test_migrate_is_idempotent_and_keeps_data(database):
    with database.session() as session:
        stored = repo.add_portfolio(session, TENANT, small(1))
    database.migrate()  # the fixture migrated once already
    database.migrate()
    with database.session() as session:
        revisions = session.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert revisions == [ScriptDirectory(str(MIGRATIONS)).get_current_head()]
        assert repo.get_version(session, TENANT, stored.portfolio_id).document == stored.document


def store_0001(
    session, portfolio: Portfolio, version_id: str, plan: Plan, variants: dict[str, Any], job_id: str, specs: list
) -> None:
    """A portfolio, its plans (id -> variant) and a queued job of parts (specs) as revision 0001 stored them."""
    at, portfolio_id = now(), new_id()
    document = portfolio.model_dump(mode="json")
    settings = SETTINGS.model_dump(mode="json")
    insert_old_rows(
        session,
        "portfolios",
        [{"id": portfolio_id, "name": portfolio.name, "latest_version": 1, "created_at": at, "updated_at": at}],
    )
    insert_old_rows(
        session,
        "portfolio_versions",
        [{"id": version_id, "portfolio_id": portfolio_id, "version": 1, "document": document, "created_at": at}],
    )
    insert_old_rows(
        session,
        "plans",
        [
            {
                "id": plan_id,
                "portfolio_id": portfolio_id,
                "version_id": version_id,
                "version": 1,
                "variant": variant,
                "settings": settings,
                "status": plan.status,
                "objective": str(plan.objective),
                "document": plan.model_dump(mode="json"),
                "created_at": at,
            }
            for plan_id, variant in variants.items()
        ],
    )
    insert_old_rows(
        session,
        "jobs",
        [
            {
                "id": job_id,
                "kind": "batch",
                "status": "queued",
                "request": {},
                "settings": settings,
                "total": len(specs),
                "done": 0,
                "failed": 0,
                "cancel_requested": False,
                "attempts": 0,
                "created_at": at,
            }
        ],
    )
    insert_old_rows(session, "job_parts", [
        {"job_id": job_id, "index": i, "label": f"p{i}", "spec": spec, "status": "pending"}
        for i, spec in enumerate(specs)])  # fmt: skip


def test_migration_0002_turns_old_part_specs_and_plan_variants_into_variants(tmp_path, solved):
    """Jobs queued and plans stored before study variants keep working after the upgrade."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        db.migrate("0001")
        v, baseline, scenario, free, job = (new_id() for _ in range(5))
        compared = {"baseline_plan_id": baseline, "change_penalty": "0", "compare": True}
        old_specs = [
            {"version_id": v},
            {"version_id": v, "scenario": "s", "changes": [{"op": "scale_budget", "factor": "0.9"}]},
            {"version_id": v, "total_budget": "100.00"},
            {"version_id": v, "baseline_plan_id": baseline, "change_penalty": "500"},
            {"version_id": v, "baseline_plan_id": baseline, "change_penalty": "0", "compare": True},
        ]
        with db.session() as session:  # rows as revision 0001 stored them
            store_0001(session, small(1), v, solved, {baseline: None, scenario: {"scenario": "s", "changes": []},
                                                      free: compared}, job, old_specs)  # fmt: skip
        db.migrate()
        starts = {s.mmp: s.start for s in solved.selected}
        with db.session() as session:  # everything stored before tenants is the default tenant's
            specs = [part.spec for part in repo.parts_of(session, job)]
            variants = [repo.get_plan(session, TENANT, p).variant for p in (baseline, scenario, free)]
            assert repo.get_job(session, TENANT, job).total == len(old_specs)
    finally:
        db.dispose()
    assert specs == [
        {"version_id": v, "variant": {}},
        {"version_id": v, "variant": {"changes": [{"op": "scale_budget", "factor": "0.9"}]}},
        {"version_id": v, "variant": {"total_budget": "100.00"}},
        {
            "version_id": v,
            "variant": {"baseline_plan": starts, "change_penalty": "500"},
            "baseline_plan_id": baseline,
        },
        {
            "version_id": v,
            "variant": {"baseline_plan": starts, "change_penalty": "0"},
            "baseline_plan_id": baseline,
            "comparison": True,
        },
    ]
    assert variants == [None, {"changes": []}, {"baseline_plan": starts, "change_penalty": "0", "comparison": True}]


@pytest.mark.slow
def test_migrated_schema_matches_the_tables(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert database.is_postgresql == (database.engine.dialect.name == "postgresql")


def test_session_rolls_back_on_error(database):
    with pytest.raises(RuntimeError), database.session() as session:
        repo.add_portfolio(session, TENANT, small(1))
        raise RuntimeError("boom")
    assert counts(database)["portfolios"] == 0


def test_foreign_keys_are_enforced(database, solved):
    """SQLite checks foreign keys only when told to (PRAGMA foreign_keys): a plan's parent must exist."""
    with database.session() as session:
        version = repo.add_portfolio(session, TENANT, small(1))
    with pytest.raises(IntegrityError), database.session() as session:
        repo.add_plan(session, version, solved, SETTINGS, parent_id="0" * 32)
    assert counts(database)["plans"] == 0


# ---------------------------------------------------------------- portfolios


def test_portfolios_are_versioned_never_overwritten(database):
    documents = [small(seed).model_copy(update={"name": f"Portfolio v{seed}"}) for seed in (1, 2, 3)]
    with database.session() as session:
        first = repo.add_portfolio(session, TENANT, documents[0])
        pid = first.portfolio_id
    with database.session() as session:
        second = repo.add_version(session, TENANT, pid, documents[1])
    with database.session() as session:
        third = repo.add_version(session, TENANT, pid, documents[2])
    assert (first.version, second.version, third.version) == (1, 2, 3)
    assert len({first.id, second.id, third.id}) == 3

    with database.session() as session:
        row = repo.get_portfolio(session, TENANT, pid)
        assert row.latest_version == 3
        assert row.name == "Portfolio v3"
        assert row.updated_at >= row.created_at
        versions = repo.list_versions(session, TENANT, pid)
        assert [v.version for v in versions] == [1, 2, 3]
        for stored, document in zip(versions, documents):
            assert stored.document == document.model_dump(mode="json")
            assert load_portfolio(stored.document) == document
        assert repo.get_version(session, TENANT, pid).id == third.id
        assert repo.get_version(session, TENANT, pid, None).version == 3
        assert repo.get_version(session, TENANT, pid, 2).document == documents[1].model_dump(mode="json")
        assert repo.get_version(session, TENANT, pid, 1).document["name"] == "Portfolio v1"
        assert [p.id for p in repo.list_portfolios(session, TENANT)] == [pid]


def test_unknown_portfolios_and_versions_are_not_found(database):
    with database.session() as session:
        pid = repo.add_portfolio(session, TENANT, small(1)).portfolio_id
    with database.session() as session:
        with pytest.raises(repo.NotFound, match="portfolio 'nope'"):
            repo.get_portfolio(session, TENANT, "nope")
        with pytest.raises(repo.NotFound):
            repo.get_version(session, TENANT, "nope")
        with pytest.raises(repo.NotFound):
            repo.get_version(session, TENANT, "nope", 1)
        with pytest.raises(repo.NotFound, match="version 2"):
            repo.get_version(session, TENANT, pid, 2)
        with pytest.raises(repo.NotFound):
            repo.list_versions(session, TENANT, "nope")
        with pytest.raises(repo.NotFound):
            repo.list_plans(session, TENANT, "nope")
        with pytest.raises(repo.NotFound):
            repo.get_plan(session, TENANT, "nope")
        with pytest.raises(repo.NotFound):
            repo.get_job(session, TENANT, "nope")
        with pytest.raises(repo.NotFound):
            repo.request_cancel(session, TENANT, "nope")
    with pytest.raises(repo.NotFound), database.session() as session:
        repo.add_version(session, TENANT, "nope", small(1))
    assert counts(database)["portfolio_versions"] == 1


def test_list_portfolios_newest_first_with_paging(database):
    ids = []
    for seed in (1, 2, 3):
        with database.session() as session:
            ids.append(repo.add_portfolio(session, TENANT, small(seed)).portfolio_id)
    with database.session() as session:
        assert [p.id for p in repo.list_portfolios(session, TENANT)] == ids[::-1]
        assert [p.id for p in repo.list_portfolios(session, TENANT, limit=1, offset=1)] == [ids[1]]


# ---------------------------------------------------------------- plans


def test_plans_lineage_and_current_plan(database, solved):
    with database.session() as session:
        v1 = repo.add_portfolio(session, TENANT, small(1))
        pid = v1.portfolio_id
        other = repo.add_portfolio(session, TENANT, small(2))
    with database.session() as session:
        p1 = repo.add_plan(session, v1, variant(solved, "feasible", "100"), SETTINGS, label="first")
    with database.session() as session:
        assert repo.current_plan(session, TENANT, pid).id == p1.id
        v2 = repo.add_version(session, TENANT, pid, small(3))
    with database.session() as session:
        p2 = repo.add_plan(session, v2, solved, SETTINGS, parent_id=p1.id, variant=REPLANNED)
    with database.session() as session:  # newer plans without a solution
        p3 = repo.add_plan(session, v2, variant(solved, "infeasible", None), SETTINGS, parent_id=p2.id)
        p4 = repo.add_plan(session, v2, variant(solved, "no_solution_in_time", None), SETTINGS)
    with database.session() as session:  # another portfolio's newer plan does not count
        repo.add_plan(session, other, solved, SETTINGS)

    with database.session() as session:
        stored = repo.get_plan(session, TENANT, p2.id)
        assert (stored.portfolio_id, stored.version_id, stored.version) == (pid, v2.id, 2)
        assert stored.parent_id == p1.id and stored.variant == REPLANNED
        assert stored.status == solved.status and stored.objective == str(solved.objective)
        assert stored.document == solved.model_dump(mode="json")
        assert Plan.model_validate(stored.document).selected == solved.selected
        assert stored.settings == SETTINGS.model_dump(mode="json")
        first = repo.get_plan(session, TENANT, p1.id)
        assert (first.version_id, first.version, first.parent_id, first.label) == (v1.id, 1, None, "first")
        assert (first.status, first.objective) == ("feasible", "100")
        assert repo.get_plan(session, TENANT, p3.id).objective is None

        current = repo.current_plan(session, TENANT, pid)  # a penalized re-plan is adopted as the current plan
        assert current is not None and current.id == p2.id
        assert [p.id for p in repo.list_plans(session, TENANT, pid)] == [p4.id, p3.id, p2.id, p1.id]
        assert [p.id for p in repo.list_plans(session, TENANT, pid, limit=2, offset=1)] == [p3.id, p2.id]


def test_no_current_plan_without_a_solved_plan(database, solved):
    with database.session() as session:
        version = repo.add_portfolio(session, TENANT, small(1))
        assert repo.current_plan(session, TENANT, version.portfolio_id) is None
        repo.add_plan(session, version, variant(solved, "infeasible", None), SETTINGS)
    with database.session() as session:
        assert repo.current_plan(session, TENANT, version.portfolio_id) is None
        assert len(repo.list_plans(session, TENANT, version.portfolio_id)) == 1
        assert repo.current_plan(session, TENANT, "nope") is None


@pytest.mark.parametrize(
    "changed",
    [{"changes": [{"op": "scale_budget", "factor": "0.9"}]}, {"total_budget": "1"}, {**REPLANNED, "comparison": True}],
    ids=["scenario", "frontier point", "comparison"],
)
def test_a_plan_of_a_changed_portfolio_is_never_the_current_plan(database, solved, changed):
    with database.session() as session:
        version = repo.add_portfolio(session, TENANT, small(1))
        adopted = repo.add_plan(session, version, solved, SETTINGS)
    with database.session() as session:
        repo.add_plan(session, version, solved, SETTINGS, parent_id=adopted.id, variant=changed)
    with database.session() as session:
        assert repo.current_plan(session, TENANT, version.portfolio_id).id == adopted.id


@pytest.mark.slow
def test_one_plan_per_job_part(database, solved):
    job_id = batch(database, 1)
    with database.session() as session:
        part = repo.parts_of(session, job_id)[0]
        version = session.get(PortfolioVersionRow, part.spec["version_id"])
        repo.add_plan(session, version, solved, SETTINGS, job_id=job_id, part_index=0)
    with pytest.raises(IntegrityError), database.session() as session:
        repo.add_plan(session, version, solved, SETTINGS, job_id=job_id, part_index=0)
    with database.session() as session:
        assert repo.count_plans(session, job_id) == 1
        # another part of the same job, and plans outside any job, are not constrained
        repo.add_plan(session, version, solved, SETTINGS, job_id=job_id, part_index=1)
        repo.add_plan(session, version, solved, SETTINGS)
        repo.add_plan(session, version, solved, SETTINGS)
    with database.session() as session:
        assert repo.count_plans(session, job_id) == 2
        assert len(repo.list_plans(session, TENANT, version.portfolio_id)) == 4


# ---------------------------------------------------------------- submitting jobs


def test_submit_batch_stores_portfolios_job_and_parts(database):
    portfolios = [small(1), small(2, n_mmps=4)]
    with database.session() as session:
        job = submit(session, TENANT, BatchJob(kind="batch", portfolios=portfolios))
    with database.session() as session:
        stored = repo.get_job(session, TENANT, job.id)
        assert (stored.kind, stored.status, stored.total, stored.done, stored.failed) == ("batch", "queued", 2, 0, 0)
        assert (stored.attempts, stored.worker, stored.heartbeat_at, stored.cancel_requested) == (0, None, None, False)
        assert stored.best_value is None and stored.started_at is None and stored.finished_at is None
        assert stored.request["kind"] == "batch" and len(stored.request["portfolios"]) == 2
        parts = repo.parts_of(session, job.id)
        assert [(p.index, p.status, p.label, p.after) for p in parts] == [
            (0, "pending", portfolios[0].name, None),
            (1, "pending", portfolios[1].name, None),
        ]
        for part, portfolio in zip(parts, portfolios):
            version = session.get(PortfolioVersionRow, part.spec["version_id"])
            assert version.version == 1 and version.document == portfolio.model_dump(mode="json")
        assert [j.id for j in repo.list_jobs(session, TENANT)] == [job.id]
        assert [j.id for j in repo.list_jobs(session, TENANT, status="queued")] == [job.id]
        assert repo.list_jobs(session, TENANT, status="running") == []
    assert counts(database) == {"portfolios": 2, "portfolio_versions": 2, "jobs": 1, "job_parts": 2, "plans": 0}


def test_submit_rejects_a_bad_batch_before_storing_anything(database):
    bad = random_portfolio(2, 5, 2, 2)
    bad["mmps"][1]["value_stream"] = "nope"
    request = BatchJob(kind="batch", portfolios=[small(1), Portfolio.model_validate(bad), small(3)])
    # the exception is caught inside the session, which then commits: submit itself must store nothing
    with database.session() as session, pytest.raises(PortfolioError) as caught:
        submit(session, TENANT, request)
    paths = [p.path for p in caught.value.problems]
    assert paths and all(path.startswith("$.portfolios[1]") for path in paths)
    assert "$.portfolios[1].mmps[1].value_stream" in paths
    assert counts(database) == {"portfolios": 0, "portfolio_versions": 0, "jobs": 0, "job_parts": 0, "plans": 0}


def test_submit_rejects_reoptimize_of_unknown_or_unplanned_portfolios(database, solved):
    with database.session() as session:
        planned = repo.add_portfolio(session, TENANT, small(1))
        repo.add_plan(session, planned, solved, SETTINGS)
        unplanned = repo.add_portfolio(session, TENANT, small(2))
        infeasible_only = repo.add_portfolio(session, TENANT, small(3))
        repo.add_plan(session, infeasible_only, variant(solved, "infeasible", None), SETTINGS)
    before = counts(database)
    ids = [planned.portfolio_id, "nope", unplanned.portfolio_id, infeasible_only.portfolio_id]
    with database.session() as session, pytest.raises(PortfolioError) as caught:
        submit(session, TENANT, ReoptimizeJob(kind="reoptimize", portfolio_ids=ids))
    assert [p.path for p in caught.value.problems] == ["$.portfolio_ids[1]", "$.portfolio_ids[2]", "$.portfolio_ids[3]"]
    assert "nope" in caught.value.problems[0].message
    assert counts(database) == before and before["jobs"] == 0


def test_submit_reoptimize_points_at_latest_version_and_plan(database, solved):
    with database.session() as session:
        v1 = repo.add_portfolio(session, TENANT, small(1))
        plan = repo.add_plan(session, v1, solved, SETTINGS)
        v2 = repo.add_version(session, TENANT, v1.portfolio_id, small(2))
    with database.session() as session:
        job = submit(
            session,
            TENANT,
            ReoptimizeJob(kind="reoptimize", portfolio_ids=[v1.portfolio_id], change_penalty=Decimal(500)),
        )
    with database.session() as session:
        parts = repo.parts_of(session, job.id)
    assert job.total == 2 and len(parts) == 2
    baseline = {s.mmp: s.start for s in solved.selected}
    assert parts[0].spec == {
        "version_id": v2.id,
        "variant": {"baseline_plan": baseline, "change_penalty": "500"},
        "baseline_plan_id": plan.id,
    }
    assert parts[1].spec == {
        "version_id": v2.id,
        "variant": {"baseline_plan": baseline, "change_penalty": "0"},
        "baseline_plan_id": plan.id,
        "comparison": True,
    }


def test_reoptimize_baseline_is_not_a_comparison_plan(database, solved):
    """A re-optimization's unpenalized plan (variant compare) is stored only to compare: never a baseline."""
    with database.session() as session:
        version = repo.add_portfolio(session, TENANT, small(1))
        adopted = repo.add_plan(session, version, solved, SETTINGS)
    with database.session() as session:
        repo.add_plan(
            session, version, solved, SETTINGS, parent_id=adopted.id, variant={**REPLANNED, "comparison": True}
        )
    with database.session() as session:
        job = submit(session, TENANT, ReoptimizeJob(kind="reoptimize", portfolio_ids=[version.portfolio_id]))
        specs = [p.spec for p in repo.parts_of(session, job.id)]
    assert [spec["baseline_plan_id"] for spec in specs] == [adopted.id, adopted.id]


# ---------------------------------------------------------------- the job queue


def test_claim_once_oldest_first(database):
    older, newer = batch(database, 1), batch(database, 2)
    assert claim(database, "w1") == older
    assert claim(database, "w2") == newer
    assert claim(database, "w3") is None
    first = job_of(database, older)
    assert (first.status, first.worker, first.attempts, first.error) == ("running", "w1", 1, None)
    assert first.started_at is not None and first.heartbeat_at is not None
    assert job_of(database, newer).worker == "w2"


def test_claim_skips_finished_and_canceled_jobs(database):
    canceled, done, queued = batch(database, 1), batch(database, 2), batch(database, 3)
    with database.session() as session:
        repo.request_cancel(session, TENANT, canceled)
    assert claim(database, "w1") == done
    with database.session() as session:
        assert repo.finish(session, done, "w1", "succeeded")
    assert claim(database, "w1") == queued
    assert claim(database, "w1") is None


def test_heartbeat_belongs_to_the_owner(database):
    job_id = batch(database, 1)
    assert claim(database, "w1") == job_id
    age_heartbeat(database, job_id, 5)
    stale = job_of(database, job_id).heartbeat_at
    with database.session() as session:
        assert repo.heartbeat(session, job_id, "w1") == (True, False)
        assert repo.heartbeat(session, job_id, "w2") == (False, False)
        assert repo.heartbeat(session, "nope", "w1") == (False, False)
    assert job_of(database, job_id).heartbeat_at > stale + timedelta(seconds=4)


def test_cancel_a_queued_job_at_once(database):
    job_id = batch(database, 1, 2, 3)
    with database.session() as session:
        job = repo.request_cancel(session, TENANT, job_id)
        assert job.status == "canceled"
    job = job_of(database, job_id)
    assert (job.status, job.done, job.total, job.failed) == ("canceled", 3, 3, 0)
    assert job.finished_at is not None and job.cancel_requested is False
    with database.session() as session:
        parts = repo.parts_of(session, job_id)
    assert [p.status for p in parts] == ["canceled"] * 3
    assert all(p.error for p in parts)
    with database.session() as session:  # canceling again changes nothing
        repo.request_cancel(session, TENANT, job_id)
    assert job_of(database, job_id).done == 3
    assert claim(database, "w1") is None


def test_cancel_a_running_job_flags_its_worker(database):
    job_id = batch(database, 1, 2)
    assert claim(database, "w1") == job_id
    with database.session() as session:
        job = repo.request_cancel(session, TENANT, job_id)
        assert (job.status, job.cancel_requested) == ("running", True)
    job = job_of(database, job_id)
    assert (job.status, job.cancel_requested, job.done, job.finished_at) == ("running", True, 0, None)
    assert part_statuses(database, job_id) == ["pending", "pending"]
    with database.session() as session:
        assert repo.heartbeat(session, job_id, "w1") == (True, True)
        assert repo.heartbeat(session, job_id, "w2") == (False, False)
    with database.session() as session:
        assert repo.finish(session, job_id, "w1", "canceled")
    job = job_of(database, job_id)
    assert (job.status, job.done) == ("canceled", 2)
    with database.session() as session:  # a finished job stays as it is
        assert repo.request_cancel(session, TENANT, job_id).status == "canceled"


@pytest.mark.slow
def test_parts_are_recorded_once_by_the_owner(database, solved):
    job_id = batch(database, 1, 2, 3, 4)
    assert claim(database, "w1") == job_id
    assert not record(database, job_id, "w2", 0, solved)  # not w2's job
    with database.session() as session:
        assert repo.lock_part(session, job_id, "w2", 0) is None
        assert repo.lock_part(session, job_id, "w1", 99) is None
        assert repo.lock_part(session, "nope", "w1", 0) is None

    # objectives whose text order differs from their numeric order
    assert record(database, job_id, "w1", 0, variant(solved, "feasible", "90"))
    assert record(database, job_id, "w1", 1, variant(solved, "optimal", "1000"))
    assert not record(database, job_id, "w1", 1, variant(solved, "optimal", "5000"))  # part 1 is done
    assert record(database, job_id, "w1", 2, variant(solved, "optimal", "250"))
    with database.session() as session:
        assert repo.lock_part(session, job_id, "w1", 0) is None

    job = job_of(database, job_id)
    assert (job.done, job.failed, job.total, job.best_value, job.status) == (3, 0, 4, "1000", "running")
    with database.session() as session:
        parts = repo.parts_of(session, job_id)
        assert [p.status for p in parts] == ["succeeded"] * 3 + ["pending"]
        plans = {p.part_index: p for p in session.scalars(select(PlanRow).where(PlanRow.job_id == job_id))}
        assert sorted(plans) == [0, 1, 2]
        assert [parts[i].plan_id for i in range(3)] == [plans[i].id for i in range(3)]
        assert plans[1].objective == "1000"
        assert repo.count_plans(session, job_id) == 3


def test_failed_parts_are_counted(database, solved):
    job_id = batch(database, 1, 2, 3)
    assert claim(database, "w1") == job_id
    assert record(database, job_id, "w1", 0, None, status="failed")
    assert record(database, job_id, "w1", 1, variant(solved, "infeasible", None))
    job = job_of(database, job_id)
    assert (job.done, job.failed, job.best_value) == (2, 1, None)  # an infeasible plan has no value
    with database.session() as session:
        parts = repo.parts_of(session, job_id)
    assert [(p.status, p.plan_id is None, p.error) for p in parts] == [
        ("failed", True, "it broke"),
        ("succeeded", False, None),
        ("pending", True, None),
    ]


def test_finish_cancels_remaining_parts(database, solved):
    job_id = batch(database, 1, 2, 3)
    assert claim(database, "w1") == job_id
    assert record(database, job_id, "w1", 0, solved)
    with database.session() as session:
        assert not repo.finish(session, job_id, "w2", "succeeded")  # not w2's job
        assert not repo.finish(session, "nope", "w1", "succeeded")
    assert job_of(database, job_id).status == "running"
    with database.session() as session:
        assert repo.finish(session, job_id, "w1", "failed", "out of luck")
    job = job_of(database, job_id)
    assert (job.status, job.error, job.done, job.total, job.failed) == ("failed", "out of luck", 3, 3, 0)
    assert job.finished_at is not None
    assert part_statuses(database, job_id) == ["succeeded", "canceled", "canceled"]
    with database.session() as session:  # a finished job is finished once
        assert not repo.finish(session, job_id, "w1", "succeeded")
        assert repo.heartbeat(session, job_id, "w1") == (False, False)
        assert repo.lock_part(session, job_id, "w1", 1) is None
    assert job_of(database, job_id).status == "failed"


def test_release_hands_the_job_back(database, solved):
    job_id = batch(database, 1, 2, 3)
    assert claim(database, "w1") == job_id
    assert record(database, job_id, "w1", 0, solved)
    with database.session() as session:
        repo.release(session, job_id, "w2")  # not w2's job: nothing happens
    assert job_of(database, job_id).worker == "w1"
    with database.session() as session:
        repo.release(session, job_id, "w1")
    job = job_of(database, job_id)
    assert (job.status, job.worker, job.heartbeat_at, job.attempts, job.done) == ("queued", None, None, 0, 1)
    assert part_statuses(database, job_id) == ["succeeded", "pending", "pending"]
    with database.session() as session:
        assert repo.lock_part(session, job_id, "w1", 1) is None  # w1 let go of it

    assert claim(database, "w2") == job_id
    job = job_of(database, job_id)
    assert (job.status, job.worker, job.attempts, job.done) == ("running", "w2", 1, 1)
    assert not record(database, job_id, "w2", 0, solved)  # finished parts stay finished
    assert record(database, job_id, "w2", 1, solved)
    assert job_of(database, job_id).done == 2


# ---------------------------------------------------------------- leases


def test_a_lost_worker_job_is_claimed_again(database):
    job_id = batch(database, 1, 2)
    assert claim(database, "w1") == job_id
    age_heartbeat(database, job_id, LEASE_S / 2)  # late, but within the lease
    assert claim(database, "w2") is None

    age_heartbeat(database, job_id, LEASE_S + 5)
    assert claim(database, "w2") == job_id
    job = job_of(database, job_id)
    assert (job.status, job.worker, job.attempts) == ("running", "w2", 2)
    assert "resumed" in job.error and "w1" in job.error
    assert job.heartbeat_at > now() - timedelta(seconds=5)
    with database.session() as session:  # the lost worker finds out and records nothing
        assert repo.heartbeat(session, job_id, "w1") == (False, False)
        assert repo.lock_part(session, job_id, "w1", 0) is None
        assert repo.heartbeat(session, job_id, "w2") == (True, False)
    assert claim(database, "w3") is None


def test_a_job_that_keeps_losing_workers_fails(database):
    job_id = batch(database, 1, 2)
    assert claim(database, "w1", max_attempts=2) == job_id
    age_heartbeat(database, job_id, LEASE_S + 5)
    assert claim(database, "w2", max_attempts=2) == job_id
    assert job_of(database, job_id).attempts == 2

    later = batch(database, 3)  # queued after it: claimed in the same call once the lost job is given up
    age_heartbeat(database, job_id, LEASE_S + 5)
    assert claim(database, "w3", max_attempts=2) == later
    job = job_of(database, job_id)
    assert (job.status, job.worker, job.attempts) == ("failed", "w2", 2)
    assert "gave up" in job.error and "w2" in job.error
    assert job.finished_at is not None
    assert (job.done, job.total) == (2, 2)
    assert part_statuses(database, job_id) == ["canceled", "canceled"]
    age_heartbeat(database, job_id, LEASE_S + 5)
    assert claim(database, "w4", max_attempts=2) is None  # a failed job is never claimed again


def test_a_job_is_given_up_instead_of_claimed(database):
    job_id = batch(database, 1)
    assert claim(database, "w1", max_attempts=1) == job_id
    age_heartbeat(database, job_id, LEASE_S + 5)
    assert claim(database, "w2", max_attempts=1) is None
    job = job_of(database, job_id)
    assert job.status == "failed" and "w1" in job.error and "1 times" in job.error


# ---------------------------------------------------------------- concurrent claimers


def test_concurrent_claimers_in_threads_get_different_jobs(database):
    """Two workers claim at the same moment, each holding its transaction open a little: never the same job."""
    jobs = {batch(database, 1), batch(database, 2)}
    barrier = threading.Barrier(2)
    got: dict[str, str | None] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait(timeout=5)
            with database.session() as session:
                job = repo.claim(session, name, LEASE_S, MAX_ATTEMPTS)
                got[name] = None if job is None else job.id
                time.sleep(0.2)  # still uncommitted while the other claims
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert set(got.values()) == jobs
    for name, job_id in got.items():
        assert job_of(database, job_id).worker == name


def test_postgres_claimers_skip_locked_jobs():
    """PostgreSQL only (SQLite has one writer at a time, so its claimers never overlap): two transactions open
    at once, the first holding its claim uncommitted, get different jobs (FOR UPDATE SKIP LOCKED)."""
    with fresh_postgres() as url, migrated(url) as db:
        older, newer = batch(db, 1), batch(db, 2)
        with db.session() as first, db.session() as second, db.session() as third:
            for session in (second, third):  # waiting for a locked row would be the bug: fail, do not hang
                session.execute(text("SET LOCAL lock_timeout = '2s'"))
            a = repo.claim(first, "w1", LEASE_S, MAX_ATTEMPTS)
            first.flush()
            b = repo.claim(second, "w2", LEASE_S, MAX_ATTEMPTS)
            second.flush()
            c = repo.claim(third, "w3", LEASE_S, MAX_ATTEMPTS)  # both rows are locked
            assert (a.id, b.id, c) == (older, newer, None)
        assert (job_of(db, older).worker, job_of(db, newer).worker) == ("w1", "w2")
        assert job_of(db, older).attempts == job_of(db, newer).attempts == 1


def test_fixture_portfolios_round_trip(database):
    """The real fixtures (every portfolio feature) are stored and read back unchanged."""
    portfolios = [load_portfolio(json.loads(path.read_text())) for path in sorted(FIXTURES.glob("*.json"))]
    assert portfolios
    with database.session() as session:
        job = submit(session, TENANT, BatchJob(kind="batch", portfolios=portfolios))
    with database.session() as session:
        for part, portfolio in zip(repo.parts_of(session, job.id), portfolios, strict=True):
            document = session.get(PortfolioVersionRow, part.spec["version_id"]).document
            assert load_portfolio(document) == portfolio


def test_a_cancel_asked_of_a_lost_or_released_job_is_honoured(database, solved):
    """A job whose cancel was asked for ends canceled, instead of being resumed or queued again."""
    lost = batch(database, 1, 2)
    assert claim(database, "w1") == lost
    assert record(database, lost, "w1", 0, solved)
    with database.session() as session:
        repo.request_cancel(session, TENANT, lost)
    age_heartbeat(database, lost, LEASE_S + 5)
    released = batch(database, 3)
    assert claim(database, "w2") == released  # the lost job is ended, not resumed
    job = job_of(database, lost)
    assert (job.status, job.worker, job.done) == ("canceled", "w1", 2)
    assert part_statuses(database, lost) == ["succeeded", "canceled"]

    with database.session() as session:
        repo.request_cancel(session, TENANT, released)
        repo.release(session, released, "w2")
    assert job_of(database, released).status == "canceled"
    assert claim(database, "w3") is None


def test_reading_does_not_wait_for_a_writer_on_sqlite(sqlite_database):
    """A GET must not queue behind a worker's write transaction (SQLite's single write lock)."""
    job_id = batch(sqlite_database, 1)
    seen: list[str] = []

    def read() -> None:
        with sqlite_database.reading() as session:
            seen.append(repo.get_job(session, TENANT, job_id).status)

    with sqlite_database.session() as session:  # holds the write lock until the block ends
        repo.get_job(session, TENANT, job_id).error = "being written"
        reader = threading.Thread(target=read)
        started = time.monotonic()
        reader.start()
        reader.join(timeout=10)
        waited = time.monotonic() - started
    assert seen == ["queued"] and waited < 5, f"the read waited {waited:.1f} s for the writer"
    assert job_of(sqlite_database, job_id).error == "being written"
