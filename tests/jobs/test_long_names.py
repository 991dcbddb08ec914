"""Issue 13 on PostgreSQL: a name over 200 characters was a 500 (`String(200)` in the table, unbounded in the
model), and re-optimization appended " without penalty" to a 190-character name and overflowed its label.
Names are bounded like the tables now and labels are Text: the longest names the models accept go through a
whole re-optimization and a what-if job, on SQLite and PostgreSQL, in characters of any width."""

from __future__ import annotations

import pytest

from jobs.results import job_result
from jobs.settings import JobSettings
from jobs.submit import submit
from jobs.worker import Worker
from models import load_portfolio
from models.auth import DEFAULT_TENANT
from models.jobs import BatchJob, ReoptimizeJob
from models.limits import TEXT_LENGTH
from models.scenarios import Scenario
from models.settings import SolverSettings
from optimizer import solve
from runtime import InlineExecutor
from storage import repo

SETTINGS = SolverSettings(time_limit_s=10)


def longest(char: str) -> dict:
    name = char * TEXT_LENGTH
    return {
        "name": name,
        "quarters": ["q1", "q2"],
        "budget": 100,
        "value_streams": [{"id": "s" * TEXT_LENGTH, "name": name}],
        "mmps": [
            {"id": f"a{char * (TEXT_LENGTH - 1)}", "name": name, "value_stream": "s" * TEXT_LENGTH, "value": 10,
             "cost": [5]},
            {"id": "b", "name": name, "value_stream": "s" * TEXT_LENGTH, "value": 7, "cost": [60, 50]},
        ],
    }  # fmt: skip


def run(db) -> None:
    Worker(db, JobSettings(poll_s=0.05, heartbeat_s=0.2), executor=InlineExecutor()).run(until_idle=True)


@pytest.mark.slow
@pytest.mark.parametrize("char", ["n", "ñ", "名"])
def test_the_longest_names_go_through_a_re_optimization(database, char):
    portfolio = load_portfolio(longest(char))
    with database.session() as session:
        version = repo.add_portfolio(session, DEFAULT_TENANT, portfolio)
        repo.add_plan(session, version, solve(portfolio, SETTINGS), SETTINGS)
        job_id = submit(
            session, DEFAULT_TENANT, ReoptimizeJob(kind="reoptimize", portfolio_ids=[version.portfolio_id])
        ).id
    run(database)
    with database.session() as session:
        job = repo.get_job(session, DEFAULT_TENANT, job_id)
        assert job.status == "succeeded", job.error
        result = job_result(session, job)
    assert [p.label for p in result.parts] == [portfolio.name, f"{portfolio.name} without penalty"]
    assert all(plan is not None and plan.objective is not None for plan in result.plans)


def test_the_longest_scenario_names_go_through_a_what_if_job(database):
    portfolio = load_portfolio(longest("é"))
    scenarios = [
        Scenario(name="x" * TEXT_LENGTH, changes=[{"op": "scale_budget", "factor": "0.5"}]),
        Scenario(name="ü" * TEXT_LENGTH, changes=[{"op": "scale_budget", "factor": "2"}]),
    ]
    with database.session() as session:
        job_id = submit(
            session, DEFAULT_TENANT, BatchJob(kind="batch", portfolio=portfolio, scenarios=scenarios, settings=SETTINGS)
        ).id
    run(database)
    with database.session() as session:
        job = repo.get_job(session, DEFAULT_TENANT, job_id)
        assert job.status == "succeeded", job.error
        result = job_result(session, job)
    assert result.whatif is not None
    assert [s.name for s in result.whatif.scenarios] == [s.name for s in scenarios]
