"""Core problems (optimizer.core) and the `auto` backend's rule that sends large knapsacks to them first.

A core narrows variable domains only, so its plans keep every rule; its LP bound is the full model's and
must never fall below the optimum; and the rule is a binding / not-binding pair on model size, threads
and time."""

from __future__ import annotations

import math
import random
from importlib import import_module

import pytest
from ortools.sat.python import cp_model

from bench.mkp import Knapsack, as_portfolio, load
from models import SolverSettings, load_portfolio
from optimizer.core import Relaxation, core, relaxation
from optimizer.formulation import build
from optimizer.greedy import complete, replay
from optimizer.instance import build_instance
from tests.support.solving import solve_valid

solve_module = import_module("optimizer.solve")  # the module (`optimizer.solve` is the function)


def knapsack(n: int, m: int = 3, seed: int = 0) -> dict:
    """A random multidimensional knapsack (Chu-Beasley style, tightness 0.25) as a one-quarter portfolio."""
    rng = random.Random(seed)
    weights = [[rng.randint(1, 1000) for _ in range(n)] for _ in range(m)]
    profits = [sum(row[j] for row in weights) // m + rng.randint(1, 500) for j in range(n)]
    capacities = [sum(row) // 4 for row in weights]
    return as_portfolio(Knapsack(f"k{n}", profits, weights, capacities, best_known=0, tightness=0.25))


def formulation(data: dict):
    return build(build_instance(load_portfolio(data)))


def optimum(f) -> int:
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(f.model) == cp_model.OPTIMAL
    return round(solver.objective_value)


@pytest.mark.parametrize("seed", range(5))
def test_the_lp_bound_is_never_below_the_optimum(seed):
    f = formulation(knapsack(25, seed=seed))
    lp = relaxation(f)
    assert lp is not None and lp.bound is not None
    assert lp.bound >= optimum(f)
    assert all(-1e-9 <= v <= 1 + 1e-9 for v in lp.values.values())


def test_a_core_leaves_its_window_free_and_fixes_the_rest_by_efficiency():
    f = formulation(knapsack(60, seed=1))
    lp = relaxation(f)
    assert lp is not None
    narrowed = core(f, lp, 20)
    domains = {var.index: list(narrowed.formulation.model.proto.variables[var.index].domain) for var in f.x.values()}
    free = [i for i, d in domains.items() if d == [0, 1]]
    ones = [i for i, d in domains.items() if d == [1, 1]]
    zeros = [i for i, d in domains.items() if d == [0, 0]]
    assert narrowed.free == len(free) == 20
    assert len(free) + len(ones) + len(zeros) == 60
    assert ones and zeros  # the window sits around the LP's split, not at an end
    worst_one, best_zero = min(lp.efficiency[i] for i in ones), max(lp.efficiency[i] for i in zeros)
    assert worst_one >= max(lp.efficiency[i] for i in free) >= min(lp.efficiency[i] for i in free) >= best_zero
    # the full model is untouched
    assert all(list(f.model.proto.variables[i].domain) == [0, 1] for i in domains)


def test_a_core_as_large_as_the_model_fixes_nothing():
    f = formulation(knapsack(30, seed=2))
    lp = relaxation(f)
    assert lp is not None
    narrowed = core(f, lp, 50)
    assert narrowed.free == 30
    assert all(list(narrowed.formulation.model.proto.variables[v.index].domain) == [0, 1] for v in f.x.values())


def test_a_variable_is_never_fixed_against_its_lp_value():
    """A mandatory MMP of little value is selected by the LP yet ranked last by efficiency: the core leaves it
    free rather than fix it out (and a free item the LP leaves out is not forced in)."""
    f = formulation(knapsack(60, seed=6))
    lp = relaxation(f)
    assert lp is not None
    indices = [v.index for v in f.x.values()]
    last, first = indices[0], indices[1]
    lp = Relaxation(
        values={**lp.values, last: 1.0, first: 0.0},
        efficiency={**lp.efficiency, last: -1.0, first: math.inf},
        bound=lp.bound,
    )
    narrowed = core(f, lp, 10)
    domains = narrowed.formulation.model.proto.variables
    assert list(domains[last].domain) == [0, 1]
    assert list(domains[first].domain) == [0, 1]
    assert narrowed.free == 12


@pytest.mark.parametrize("above", [True, False])
def test_the_time_threshold_for_cores(monkeypatch, above):
    """`auto` on a knapsack with two threads: cores first with at least CORE_MIN_S (besides CBC's build time)
    of search, CBC on the whole model below it."""
    f = formulation(knapsack(solve_module.CBC_CORE_STARTS + 50, seed=7))
    ran: list[str] = []
    monkeypatch.setattr(solve_module, "_cores_then_full", lambda *a: ran.append("cores"))
    monkeypatch.setattr(solve_module, "_run_mip", lambda *a: ran.append("cbc"))
    at = solve_module.CORE_MIN_S + solve_module.cbc_build_time_s(f)
    solve_module._auto(f, SolverSettings(workers=2), at + (0.01 if above else -0.01), {})
    assert ran == (["cores"] if above else ["cbc"])


@pytest.mark.slow
def test_a_core_s_own_optimum_never_stands_as_the_bound(monkeypatch):
    """Cores of 30 and 15 of 60 items, where the smaller core's optimum is below the whole model's: the
    search's bound must still hold for the whole model, and its plan keeps every rule."""
    monkeypatch.setattr(solve_module, "CBC_CORE_STARTS", 30)
    monkeypatch.setattr(solve_module, "CPSAT_CORE_STARTS", 15)
    f = formulation(knapsack(60, m=2, seed=10))
    lp = relaxation(f)
    assert lp is not None
    best = optimum(f)
    assert optimum(core(f, lp, 15).formulation) < best  # else a leaked core bound would go unnoticed
    search = solve_module._cores_then_full(f, SolverSettings(workers=2), 6.0, {})
    assert search.bound is not None and search.bound >= best
    assert search.starts is not None
    state = replay(f.inst, search.starts)
    assert state is not None and complete(state)


def test_with_no_plan_anywhere_the_full_model_s_infeasible_verdict_stands(monkeypatch):
    monkeypatch.setattr(solve_module, "CBC_CORE_STARTS", 30)
    monkeypatch.setattr(solve_module, "CPSAT_CORE_STARTS", 15)
    monkeypatch.setattr(solve_module, "_run_mip", lambda *a: solve_module.Search("infeasible", floating=True))
    monkeypatch.setattr(solve_module, "_run_cpsat", lambda *a: solve_module.Search("no_solution_in_time"))
    f = formulation(knapsack(60, seed=9))
    assert solve_module._cores_then_full(f, SolverSettings(workers=2), 6.0, {}).status == "infeasible"


def test_cbc_searches_the_cores_for_plans_and_the_full_model_after_them_as_usual(monkeypatch):
    """A core's bound bounds nothing: CBC puts plans first there (`PLAN_SEARCH`); the full model's search after
    the cores is for a bound and a proof, and searches as usual."""
    runs = _spy_on_mip_runs(monkeypatch)
    solve_module._cores_then_full(
        formulation(knapsack(solve_module.CBC_CORE_STARTS + 20, seed=9)), SolverSettings(workers=2), 6.0, {}
    )
    assert runs == ["solve_cbc_for_plans", "solve_cbc"]


def test_a_knapsack_that_is_its_own_core_gets_cbc_s_search_for_plans_on_the_whole_model(monkeypatch):
    """Below the larger core's size CBC's side is the whole model, with all the time: plans first there too
    (a 100-item knapsack with ten rows is rarely proven in 10 s), and no second search."""
    runs = _spy_on_mip_runs(monkeypatch)
    solve_module._cores_then_full(
        formulation(knapsack(solve_module.CBC_CORE_STARTS - 20, seed=9)), SolverSettings(workers=2), 6.0, {}
    )
    assert runs == ["solve_cbc_for_plans"]


def _spy_on_mip_runs(monkeypatch) -> list[str]:
    """The MIP function of every `_run_mip` call (none runs: each finds nothing, as does CP-SAT)."""
    runs: list[str] = []

    def run_mip(solve_mip, *args):
        runs.append(solve_mip.__name__)
        return solve_module.Search("no_solution_in_time", floating=True)

    monkeypatch.setattr(solve_module, "_run_mip", run_mip)
    monkeypatch.setattr(solve_module, "_run_cpsat", lambda *a: solve_module.Search("no_solution_in_time"))
    return runs


def spied(monkeypatch) -> list[int]:
    calls: list[int] = []
    inner = solve_module._cores_then_full

    def spy(f, *args):
        calls.append(len(f.x))
        return inner(f, *args)

    monkeypatch.setattr(solve_module, "_cores_then_full", spy)
    return calls


@pytest.mark.slow
def test_a_large_knapsack_on_two_threads_searches_cores_first(monkeypatch):
    calls = spied(monkeypatch)
    monkeypatch.setattr(solve_module, "CORE_MIN_S", 1.0)  # the call, not the time threshold, is under test here
    data = knapsack(solve_module.CBC_CORE_STARTS + 50, m=5, seed=3)
    plan = solve_valid(data, time_limit_s=4, workers=2)
    assert calls == [solve_module.CBC_CORE_STARTS + 50]
    assert plan.objective is not None and plan.solver.floor is not None
    assert plan.objective >= plan.solver.floor.value
    assert plan.bound is not None and plan.bound >= plan.objective


@pytest.mark.slow
@pytest.mark.parametrize("n", [solve_module.CBC_CORE_STARTS - 20, solve_module.CBC_CORE_STARTS + 20])
def test_with_time_to_spare_the_full_model_still_proves_the_plan(monkeypatch, n):
    """Below the larger core's size CBC's side searches the whole model; above it the full model gets the time
    after the cores. Either way a proof comes from the full model (an hour's limit: no machine load cuts it)."""
    calls = spied(monkeypatch)
    monkeypatch.setattr(solve_module, "CORE_MAX_S", 1.0)  # the cores' share, kept short for the test
    plan = solve_valid(knapsack(n, m=1, seed=5), time_limit_s=3600, workers=2)
    assert calls == [n]
    assert plan.status == "optimal"
    assert plan.bound == plan.objective


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n", "workers", "limit_s"),
    [
        (solve_module.CPSAT_CORE_STARTS, 2, 4),  # small enough for CBC on the whole model, on every thread
        (solve_module.CBC_CORE_STARTS + 50, 1, 4),  # one thread: no room for two cores
        (solve_module.CBC_CORE_STARTS + 50, 2, 1),  # too little time to split
    ],
)
def test_cores_are_not_searched_below_the_rule_s_thresholds(monkeypatch, n, workers, limit_s):
    calls = spied(monkeypatch)
    solve_valid(knapsack(n, m=5, seed=4), time_limit_s=limit_s, workers=workers)
    assert calls == []


@pytest.mark.slow
def test_on_an_or_library_knapsack_the_core_plan_is_valid_and_its_bound_holds():
    """5.250-00 (best known 59,312, proven optimal in the literature): whatever the search finds in a few
    seconds, its bound may not fall below that optimum."""
    (instance,) = load(2, [0])
    plan = solve_valid(as_portfolio(instance), time_limit_s=6, workers=2)
    assert plan.objective is not None and plan.bound is not None
    assert plan.objective <= instance.best_known <= plan.bound
