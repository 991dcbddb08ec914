"""OR-Library multidimensional knapsack (Chu & Beasley) as one-quarter portfolios.

Items are MMPs (value p_j, no money cost), knapsack rows are pools (capacity
b_i, demand w_ij). Each instance is solved by our backends and by three plain
peers a user could write in an afternoon (a ten-line CP-SAT model, a plain
PuLP/CBC model and a plain SCIP model through pywraplp), in the same run, at the
same time limit and worker count.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import pulp
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from models import SolverSettings, load_portfolio
from optimizer import solve, validate

DATA = Path(__file__).resolve().parent / "data" / "mkp"


@dataclass
class Knapsack:
    name: str
    profits: list[int]
    weights: list[list[int]]  # m rows of n
    capacities: list[int]
    best_known: int
    tightness: float

    @property
    def group(self) -> str:
        return f"{len(self.weights)}x{len(self.profits)}-{self.tightness:g}"


def load(file_number: int, indices: list[int], data: Path = DATA) -> list[Knapsack]:
    """Instances `indices` of mknapcb{file_number}.txt with their best-known values."""
    tokens = iter((data / "orlib" / f"mknapcb{file_number}.txt").read_text().split())
    best = {
        (row["file"], int(row["instance_index"])): (int(row["best_known"]), float(row["tightness"]))
        for row in csv.DictReader((data / "best_known.csv").open())
    }
    out = []
    for k in range(int(next(tokens))):
        n, m, _opt = int(next(tokens)), int(next(tokens)), next(tokens)
        profits = [int(next(tokens)) for _ in range(n)]
        weights = [[int(next(tokens)) for _ in range(n)] for _ in range(m)]
        capacities = [int(next(tokens)) for _ in range(m)]
        if k in indices:
            value, tightness = best[f"mknapcb{file_number}.txt", k]
            out.append(Knapsack(f"{m}.{n}-{k:02d}", profits, weights, capacities, value, tightness))
    return out


def as_portfolio(ks: Knapsack) -> dict:
    """One quarter, one value stream, no money: pools are the knapsack rows."""
    pools = [{"id": f"r{i}", "capacity": c} for i, c in enumerate(ks.capacities)]
    mmps = [
        {
            "id": f"i{j}",
            "value_stream": "vs",
            "value": p,
            "cost": [0],
            "demand": {f"r{i}": [row[j]] for i, row in enumerate(ks.weights) if row[j]},
        }
        for j, p in enumerate(ks.profits)
    ]
    return {
        "name": ks.name,
        "quarters": ["Q"],
        "budget": 0,
        "value_streams": [{"id": "vs"}],
        "pools": pools,
        "mmps": mmps,
    }


def plain_cpsat(ks: Knapsack, time_limit: float, workers: int) -> tuple[int, bool]:
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{j}") for j in range(len(ks.profits))]
    for row, cap in zip(ks.weights, ks.capacities):
        model.add(sum(w * v for w, v in zip(row, x)) <= cap)
    model.maximize(sum(p * v for p, v in zip(ks.profits, x)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = workers
    status = solver.solve(model)
    return round(solver.objective_value), status == cp_model.OPTIMAL


def plain_cbc(ks: Knapsack, time_limit: float, workers: int) -> tuple[int, bool]:
    problem = pulp.LpProblem("mkp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat=pulp.LpBinary) for j in range(len(ks.profits))]
    problem += pulp.lpSum(p * v for p, v in zip(ks.profits, x))
    for row, cap in zip(ks.weights, ks.capacities):
        problem += pulp.lpSum(w * v for w, v in zip(row, x)) <= cap
    problem.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=workers))
    value = round(pulp.value(problem.objective) or 0)
    return value, problem.sol_status == pulp.LpSolutionOptimal


def plain_scip(ks: Knapsack, time_limit: float, workers: int) -> tuple[int, bool]:
    """SCIP through OR-Tools' pywraplp (it ships inside the ortools wheel), one thread (SCIP has no parallel search)."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    x = [solver.BoolVar(f"x{j}") for j in range(len(ks.profits))]
    for row, cap in zip(ks.weights, ks.capacities):
        solver.Add(sum(w * v for w, v in zip(row, x)) <= cap)
    solver.Maximize(sum(p * v for p, v in zip(ks.profits, x)))
    solver.SetTimeLimit(int(time_limit * 1000))
    status = solver.Solve()
    value = round(solver.Objective().Value()) if status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE) else 0
    return value, status == pywraplp.Solver.OPTIMAL


def ours(backend: str):
    def run(ks: Knapsack, time_limit: float, workers: int) -> tuple[int, bool]:
        portfolio = load_portfolio(as_portfolio(ks))
        plan = solve(portfolio, SolverSettings(backend=backend, time_limit_s=time_limit, workers=workers))
        assert validate(portfolio, plan) == [], f"{backend} plan failed the validator on {ks.name}"
        return round(plan.objective or 0), plan.status == "optimal"

    return run


SOLVERS = {
    "ours:auto": ours("auto"),
    "ours:cp-sat": ours("cp-sat"),
    "ours:cbc": ours("cbc"),
    "ours:scip": ours("scip"),
    "ours:wsjf-greedy": ours("wsjf-greedy"),
    "plain:cp-sat": plain_cpsat,
    "plain:cbc": plain_cbc,
    "plain:scip": plain_scip,
}


def run(files: list[int], indices: list[int], time_limit: float, workers: int, solvers: list[str]) -> list[dict]:
    """One row per instance and solver: value, gap to best-known (%), time, proven optimal."""
    rows = []
    for number in files:
        for ks in load(number, indices):
            for name in solvers:
                started = time.perf_counter()
                value, proven = SOLVERS[name](ks, time_limit, workers)
                rows.append(
                    {
                        "instance": ks.name,
                        "group": ks.group,
                        "m": len(ks.weights),
                        "solver": name,
                        "value": value,
                        "best_known": ks.best_known,
                        "gap_pct": 100 * (ks.best_known - value) / ks.best_known,
                        "time_s": time.perf_counter() - started,
                        "optimal": proven,
                    }
                )
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Per group and solver: mean/max gap to best-known, mean time, number proven optimal."""
    out = []
    for key in sorted({(r["m"], r["group"], r["solver"]) for r in rows}):
        group = [r for r in rows if (r["m"], r["group"], r["solver"]) == key]
        out.append(
            {
                "group": key[1],
                "solver": key[2],
                "instances": len(group),
                "mean_gap_pct": sum(r["gap_pct"] for r in group) / len(group),
                "max_gap_pct": max(r["gap_pct"] for r in group),
                "mean_time_s": sum(r["time_s"] for r in group) / len(group),
                "optimal": sum(r["optimal"] for r in group),
            }
        )
    return out


def by_m(rows: list[dict]) -> list[dict]:
    """Mean gap to best-known per number of knapsack rows and solver (the targets are stated so)."""
    out = []
    for m, solver in sorted({(r["m"], r["solver"]) for r in rows}):
        group = [r["gap_pct"] for r in rows if (r["m"], r["solver"]) == (m, solver)]
        out.append({"m": m, "solver": solver, "mean_gap_pct": sum(group) / len(group)})
    return out
