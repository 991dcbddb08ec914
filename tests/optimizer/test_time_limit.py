"""Issue 13: `time_limit_s: 10` ran 54 s on 400 quarters x 2,000 MMPs, because building the model was not
counted. The limit now runs from the moment the solve starts: whatever building the model (the CP-SAT
formulation, CBC's MILP) takes is taken from the time the search is given.

Building is made slow here by a sleep inside it, so the tests assert what the search was given, never how
fast anything ran.
"""

from __future__ import annotations

import time
from importlib import import_module
from typing import Any

import pytest

from models import SolverSettings, load_portfolio
from optimizer import solve, validate
from tests.support.generators import random_portfolio

solve_module = import_module("optimizer.solve")  # the module (`optimizer.solve` is the function)
cbc_module = import_module("optimizer.cbc")
BUILD_S = 1.5
LIMIT_S = 4.0


def portfolio():
    return load_portfolio(random_portfolio(3, n_mmps=30, n_quarters=4, n_pools=6))


def slowly(real, delay_s: float):
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay_s)
        return real(*args, **kwargs)

    return slow


def spy_on_search(monkeypatch) -> list[float]:
    given: list[float] = []
    real = solve_module._search

    def search(f, settings, time_s, hint):
        given.append(time_s)
        return real(f, settings, time_s, hint)

    monkeypatch.setattr(solve_module, "_search", search)
    return given


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cp-sat", "cbc", "auto"])
def test_building_the_model_counts_against_the_time_limit(monkeypatch, backend):
    given = spy_on_search(monkeypatch)
    monkeypatch.setattr(solve_module, "build", slowly(solve_module.build, BUILD_S))
    p = portfolio()
    plan = solve(p, SolverSettings(backend=backend, time_limit_s=LIMIT_S, workers=2))
    assert validate(p, plan) == [] and plan.objective is not None
    assert given, "the search never ran"
    # Each search (the most value, then the least money) is given only what the build left of the limit.
    assert all(time_s <= LIMIT_S - BUILD_S for time_s in given), given


@pytest.mark.slow
def test_building_cbc_s_model_counts_against_its_time(monkeypatch):
    limits: list[float] = []
    real_arguments = cbc_module._arguments

    def arguments(command, files, time_limit_s, warm_start, search="usual"):
        limits.append(time_limit_s)
        return real_arguments(command, files, time_limit_s, warm_start, search)

    monkeypatch.setattr(cbc_module, "to_pulp", slowly(cbc_module.to_pulp, BUILD_S))
    monkeypatch.setattr(cbc_module, "_arguments", arguments)
    p = portfolio()
    plan = solve(p, SolverSettings(backend="cbc", time_limit_s=LIMIT_S, workers=1))
    assert validate(p, plan) == [] and plan.objective is not None
    assert limits and all(limit <= LIMIT_S - BUILD_S for limit in limits), limits


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cp-sat", "cbc", "auto"])
def test_a_build_that_takes_the_whole_limit_answers_with_the_ranking_s_plan(monkeypatch, backend):
    given = spy_on_search(monkeypatch)
    monkeypatch.setattr(solve_module, "build", slowly(solve_module.build, 2.5))
    p = portfolio()
    plan = solve(p, SolverSettings(backend=backend, time_limit_s=2, workers=2))
    assert validate(p, plan) == []
    assert plan.status == "feasible" and plan.solver.floor is not None and plan.solver.floor.source == "ranking"
    assert given == [], "a search was started with no time left"


def test_cbc_does_not_start_when_building_its_model_would_overrun_the_limit(monkeypatch):
    """Building CBC's model cannot be interrupted (9 s for 42,000 start variables): a CBC run given less
    time than that estimate answers at once, and the ranking's plan is the floor."""
    built: list[int] = []
    monkeypatch.setattr(cbc_module, "BUILD_S_PER_START", 10.0)  # any model would take longer than any limit
    monkeypatch.setattr(cbc_module, "to_pulp", lambda f: built.append(1))
    p = portfolio()
    plan = solve(p, SolverSettings(backend="cbc", time_limit_s=LIMIT_S, workers=1))
    assert built == []
    assert validate(p, plan) == [] and plan.solver.floor is not None and plan.objective == plan.solver.floor.value


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("cbc_fits", [True, False])
def test_auto_runs_cp_sat_alone_when_cbc_s_model_would_not_be_built_in_time(monkeypatch, workers, cbc_fits):
    calls: list[float] = []
    real = solve_module.solve_cbc

    def spy(f, settings, time_left_s, hint, signal=None):
        calls.append(time_left_s)
        return real(f, settings, time_left_s, hint, signal)

    monkeypatch.setattr(solve_module, "solve_cbc", spy)
    monkeypatch.setattr(solve_module, "MIP_ALONE_STARTS", 0)  # one thread: CBC alone on this model
    if not cbc_fits:
        monkeypatch.setattr(cbc_module, "BUILD_S_PER_START", 10.0)
    p = portfolio()
    # Without what it would take: its re-solves (9 s here) run on CP-SAT whatever the backend.
    plan = solve(p, SolverSettings(backend="auto", time_limit_s=600, workers=workers, what_it_takes=False))
    assert validate(p, plan) == [] and plan.status == "optimal"  # proven in milliseconds; no limit cuts it short
    assert bool(calls) == cbc_fits


def test_scip_does_not_start_when_building_its_model_would_overrun_the_limit(monkeypatch):
    scip_module = import_module("optimizer.scip")
    built: list[int] = []
    monkeypatch.setattr(cbc_module, "BUILD_S_PER_START", 10.0)
    monkeypatch.setattr(scip_module, "to_mpsolver", lambda f, solver: built.append(1))
    p = portfolio()
    plan = solve(p, SolverSettings(backend="scip", time_limit_s=LIMIT_S, workers=1))
    assert built == []
    assert validate(p, plan) == [] and plan.solver.floor is not None and plan.objective == plan.solver.floor.value
