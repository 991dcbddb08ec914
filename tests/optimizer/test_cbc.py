"""CBC runs as a process this code owns: no library module is patched, and a killed run leaves
no CBC process behind, whether a stop or the watchdog killed it."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from importlib import import_module

import pytest
from pulp.apis import coin_api, core

from bench.generator import random_portfolio
from models import SolverSettings, load_portfolio
from optimizer import cbc, stopping
from optimizer.formulation import build
from optimizer.instance import build_instance
from tests.support.processes import children
from tests.support.solving import solve_valid
from tests.support.waiting import wait_for

LONG = (1, 600, 8, 6)  # random_portfolio arguments: with one thread, CBC runs far past a minute on it
STOP_WITHIN_S = 8.0


@pytest.fixture
def clean_stopping():
    stopping.clear()
    yield
    stopping.clear()


def test_importing_the_optimizer_leaves_pulps_subprocess_module_alone():
    import optimizer  # noqa: F401  (imports optimizer.cbc)

    assert coin_api.subprocess is subprocess
    assert core.subprocess is subprocess


def test_a_cbc_run_killed_on_a_stop_leaves_no_cbc_process(clean_stopping):
    f = build(build_instance(load_portfolio(random_portfolio(*LONG))))
    results = []
    run = threading.Thread(target=lambda: results.append(cbc.solve_cbc(f, SolverSettings(workers=1), 120, {})))
    run.start()
    wait_for(lambda: children("cbc"), "CBC to start", timeout=60)
    started = time.monotonic()
    stopping.request_stop()
    run.join(STOP_WITHIN_S)
    assert not run.is_alive()
    assert time.monotonic() - started < STOP_WITHIN_S
    assert results[0].status == "no_solution_in_time"
    assert children("cbc") == []


def test_a_cbc_run_past_its_limit_is_killed_and_leaves_no_process():
    started = time.monotonic()
    assert cbc._run_watched(lambda: cbc._CbcProcess(["sleep", "30"]).wait(), 0.5) is False
    assert time.monotonic() - started < 5
    assert children("sleep") == []


@dataclass(frozen=True)
class _Run:
    """One CBC run, as the spy saw it."""

    arguments: list[str]
    log: str

    @property
    def time_limit(self) -> float:
        return float(self.arguments[self.arguments.index("-sec") + 1])


def _spy_on_cbc(monkeypatch) -> list[_Run]:
    """Every CBC run's command line and log (the run itself goes ahead)."""
    runs: list[_Run] = []
    real = cbc._run_cbc

    def run(arguments, log_path):
        try:
            real(arguments, log_path)
        finally:
            runs.append(_Run(arguments, log_path.read_text() if log_path.exists() else ""))

    monkeypatch.setattr(cbc, "_run_cbc", run)
    return runs


def _small_model():
    """A 20-MMP model CBC solves in a fraction of a second."""
    return build(build_instance(load_portfolio(random_portfolio(3, 20, 2, 3))))


def test_cbc_is_not_started_with_less_than_its_minimum_time_limit(monkeypatch):
    """CBC 2.10 given 0.01 s with a warm start crashed: so short a run is not started at all."""
    runs = _spy_on_cbc(monkeypatch)
    f = _small_model()
    result = cbc.solve_cbc(f, SolverSettings(workers=1), 1.5 * cbc.CBC_MIN_LIMIT_S, {})
    assert runs == []
    assert result.status == "no_solution_in_time" and result.values == {}


def test_cbc_is_started_with_its_minimum_time_limit_or_more(monkeypatch):
    runs = _spy_on_cbc(monkeypatch)
    f = _small_model()
    result = cbc.solve_cbc(f, SolverSettings(workers=1), 2 * cbc.CBC_MIN_LIMIT_S + 3.0, {})
    assert len(runs) == 1 and runs[0].time_limit >= cbc.CBC_MIN_LIMIT_S
    assert result.status in ("optimal", "feasible", "infeasible")


def test_a_short_share_still_runs_cbc_with_half_of_it_kept_for_reading_its_answer(monkeypatch):
    """Under two seconds the grace is half the share, not a whole second that would leave CBC nothing."""
    runs = _spy_on_cbc(monkeypatch)
    f = _small_model()
    cbc.solve_cbc(f, SolverSettings(workers=1), 1.0, {})
    assert len(runs) == 1 and cbc.CBC_MIN_LIMIT_S <= runs[0].time_limit <= 0.5


@pytest.mark.parametrize("above", [True, False])
def test_cbc_cuts_its_root_cut_loop_short_only_on_models_above_the_threshold(monkeypatch, above):
    """One rule, one pair: the few root cut passes reach CBC itself (its log says so), and only above the threshold."""
    runs = _spy_on_cbc(monkeypatch)
    f = build(build_instance(load_portfolio(random_portfolio(2, 20, 2, 3))))  # feasible: CBC's root runs
    monkeypatch.setattr(cbc, "SHORT_ROOT_STARTS", len(f.x) - 1 if above else len(f.x))
    cbc.solve_cbc(f, SolverSettings(workers=1), 10.0, {})
    assert len(runs) == 1
    assert (f"passCuts was changed from 20 to {cbc.SHORT_ROOT_CUT_PASSES}" in runs[0].log) is above


@pytest.mark.parametrize("above", [True, False])
def test_cbc_runs_proximity_search_only_on_models_above_the_threshold(monkeypatch, above):
    """One rule, one pair: proximity search reaches CBC itself (its log says so), and only above the threshold."""
    runs = _spy_on_cbc(monkeypatch)
    f = build(build_instance(load_portfolio(random_portfolio(2, 20, 2, 3))))
    monkeypatch.setattr(cbc, "PROXIMITY_STARTS", len(f.x) - 1 if above else len(f.x))
    cbc.solve_cbc(f, SolverSettings(workers=1), 10.0, {})
    assert len(runs) == 1
    assert ("Option for proximitySearch changed from off to on" in runs[0].log) is above


@pytest.mark.parametrize("for_plans", [True, False])
def test_only_a_search_for_plans_turns_cbc_s_fast_depth_first_search_of_small_models_off(monkeypatch, for_plans):
    """One rule, one pair: the option reaches CBC itself (its log says so), and only in a search for plans."""
    runs = _spy_on_cbc(monkeypatch)
    f = build(build_instance(load_portfolio(random_portfolio(2, 20, 2, 3))))
    run = cbc.solve_cbc_for_plans if for_plans else cbc.solve_cbc
    run(f, SolverSettings(workers=1), 10.0, {})
    assert len(runs) == 1
    assert ("depthMiniBab was changed from -1 to -999" in runs[0].log) is for_plans


@pytest.mark.parametrize("workers", [1, 2])
def test_one_worker_runs_cbc_s_serial_search_and_more_run_its_threads(workers, tmp_path):
    """`-threads 1` runs CBC 2.10.3's search in a worker thread that now and then deadlocks at the end of the
    tree (a solve hangs until it is killed): one worker gets the serial search, with no `-threads` at all."""
    arguments = cbc._arguments(
        cbc.cbc_command(SolverSettings(workers=workers)), cbc._Files.inside(tmp_path), 10, warm_start=False
    )
    threads = [arguments[n + 1] for n, a in enumerate(arguments) if a == "-threads"]
    assert threads == ([] if workers == 1 else [str(workers)])


# CBC 2.10's cut generators call goal 2 of this portfolio infeasible ("Cut generators found to be infeasible"),
# though the plan of goal 1 satisfies it: the CP-SAT / CBC cross-check found it.
CUTS_MISJUDGE = {
    "name": "cut generators misjudge",
    "quarters": ["2027Q1", "2027Q2", "2027Q3"],
    "budget": [10, 10, 10],
    "value_streams": [{"id": "vs0", "max_change": 0}],
    "mmps": [
        {"id": "m2", "value_stream": "vs0", "value": 180, "cost": [0, 10]},
        {
            "id": "m4",
            "value_stream": "vs0",
            "wsjf": {"business_value": 5, "time_criticality": 3, "risk_reduction": 1, "job_size": 3},
            "cost": [0],
        },
    ],
}
solve_module = import_module("optimizer.solve")  # the module (`optimizer.solve` is the function)


def test_a_model_cbc_misjudges_infeasible_still_gets_its_least_money_proven():
    cpsat = solve_valid(CUTS_MISJUDGE, backend="cp-sat", workers=1, time_limit_s=600, what_it_takes=False)
    cbc_plan = solve_valid(CUTS_MISJUDGE, backend="cbc", workers=1, time_limit_s=600, what_it_takes=False)
    assert cbc_plan.objective == cpsat.objective
    assert cbc_plan.solver.least_money and cpsat.solver.least_money
    assert [r.unallocated for r in cbc_plan.reserve] == [r.unallocated for r in cpsat.reserve]


def test_a_search_cbc_calls_infeasible_beside_a_valid_plan_runs_again_by_branch_and_bound(monkeypatch):
    monkeypatch.setattr(solve_module, "solve_cbc", lambda *a, **k: cbc.MilpResult("infeasible", {}))
    plan = solve_valid(CUTS_MISJUDGE, backend="cbc", workers=1, time_limit_s=600, what_it_takes=False)
    assert plan.status == "optimal" and plan.solver.least_money  # both goals proven by the plain search


def test_a_second_infeasible_verdict_leaves_the_known_plan_standing_unproven(monkeypatch):
    infeasible = lambda *a, **k: cbc.MilpResult("infeasible", {})  # noqa: E731
    monkeypatch.setattr(solve_module, "solve_cbc", infeasible)
    monkeypatch.setattr(solve_module, "solve_cbc_plain", infeasible)
    plan = solve_valid(CUTS_MISJUDGE, backend="cbc", workers=1, time_limit_s=600, what_it_takes=False)
    assert plan.status == "feasible" and not plan.solver.least_money
    assert plan.solver.floor is not None and plan.objective == plan.solver.floor.value


def test_an_infeasible_verdict_of_cp_sat_beside_a_valid_plan_is_not_searched_again(monkeypatch):
    """CP-SAT counts exactly: its verdict stands (the known plan comes back unproven), and CBC is not run."""
    searched_again = []
    monkeypatch.setattr(solve_module, "_run_cpsat", lambda *a, **k: solve_module.Search("infeasible"))
    monkeypatch.setattr(solve_module, "solve_cbc_plain", lambda *a, **k: searched_again.append(1))
    plan = solve_valid(CUTS_MISJUDGE, backend="cp-sat", workers=1, time_limit_s=600, what_it_takes=False)
    assert plan.status == "feasible" and searched_again == []


def test_the_plain_search_turns_cbc_s_preprocessing_and_cuts_off(tmp_path):
    command = cbc.cbc_command(SolverSettings(workers=1))
    files = cbc._Files.inside(tmp_path)
    plain = cbc._arguments(command, files, 10, warm_start=False, search="plain")
    usual = cbc._arguments(command, files, 10, warm_start=False)
    assert plain[plain.index("-solve") - len(cbc.PLAIN_SEARCH) : plain.index("-solve")] == cbc.PLAIN_SEARCH
    assert "-cuts" not in usual and "-preprocess" not in usual
