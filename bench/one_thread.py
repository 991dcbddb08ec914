"""CP-SAT on one thread, as every solve of a study and every job part runs: our parameters (from 100 start
variables the full LP relaxation) beside CP-SAT's defaults, on goal 1 of the same models (seeded portfolios,
the certification portfolios of `bench certify` and the insurance fixture). Each pair runs back to back in
this process."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ortools.sat.python import cp_model

from bench import certify
from bench.generator import random_portfolio
from models import Portfolio, SolverSettings, load_portfolio
from optimizer.backends import cpsat_solver
from optimizer.formulation import build
from optimizer.instance import build_instance

DEFAULT_CASES = (
    "insurance,certify-5,certify-20,certify-35,1x30x4x4,1x60x4x6,2x60x4x6,1x100x4x10,2x100x4x10,1x200x4x20,1x500x4x40"
)
INSURANCE = Path(__file__).resolve().parent.parent / "fixtures" / "insurance-fy27.json"


def _portfolio(case: str) -> Portfolio:
    if case == "insurance":
        return load_portfolio(json.loads(INSURANCE.read_text()))
    if case.startswith("certify-"):
        return certify.portfolio(int(case.removeprefix("certify-")))
    seed, n_mmps, quarters, pools = (int(n) for n in case.split("x"))
    return load_portfolio(random_portfolio(seed=seed, n_mmps=n_mmps, n_quarters=quarters, n_pools=pools))


def _solve(model: cp_model.CpModel, solver: cp_model.CpSolver) -> dict:
    started = time.perf_counter()
    status = solver.solve(model)
    seconds = time.perf_counter() - started
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    value, bound = (solver.objective_value, solver.best_objective_bound) if found else (None, None)
    gap = abs(bound - value) / max(abs(bound), 1.0) * 100 if found else None
    return {"status": solver.status_name(status).lower(), "seconds": seconds, "gap_pct": gap, "value": value}


def run(cases: list[str], time_limit: float) -> tuple[list[dict], dict]:
    rows = []
    settings = SolverSettings(workers=1, time_limit_s=time_limit)
    for case in cases:
        f = build(build_instance(_portfolio(case)))
        model = f.model
        ours = _solve(model, cpsat_solver(settings, time_limit, starts=len(f.x)))
        peer = cp_model.CpSolver()
        peer.parameters.num_workers, peer.parameters.max_time_in_seconds = 1, time_limit
        default = _solve(model, peer)
        rows.append(
            {
                "case": case,
                "starts": len(f.x),
                "ours_status": ours["status"],
                "ours_s": ours["seconds"],
                "ours_gap_pct": _pct(ours["gap_pct"]),
                "default_status": default["status"],
                "default_s": default["seconds"],
                "default_gap_pct": _pct(default["gap_pct"]),
                "time_ratio": ours["seconds"] / default["seconds"],
                "better_value": int((ours["value"] or 0) > (default["value"] or 0)),
            }
        )
    both = [r for r in rows if r["ours_status"] == r["default_status"] == "optimal"]
    summary = {
        "cases": len(rows),
        "ours_optimal": sum(r["ours_status"] == "optimal" for r in rows),
        "default_optimal": sum(r["default_status"] == "optimal" for r in rows),
        "time_ratio_where_both_proved": sum(r["time_ratio"] for r in both) / len(both) if both else None,
    }
    return rows, summary


def _pct(gap: float | None) -> str:
    return "-" if gap is None else f"{gap:.3f}"
