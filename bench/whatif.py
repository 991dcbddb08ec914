"""What-if floors: scenarios that only relax limits (more budget, more capacity, a mandatory MMP made
optional) must never come back below their base plan, under service conditions: each solve on one
thread with a short limit, solved through the study pipeline on a pool of solver processes."""

from __future__ import annotations

from bench.generator import random_portfolio
from models import SolverSettings, load_portfolio
from models.scenarios import WhatIfRequest
from optimizer import validate
from optimizer.studies import prepared
from optimizer.studies.whatif import WhatIfStudy
from runtime import SolverPool, run_tasks


def scenarios(data: dict) -> list[dict]:
    mandatory = [m["id"] for m in data["mmps"] if m.get("mandatory")]
    relax = [
        {"name": "budget +10%", "changes": [{"op": "scale_budget", "factor": "1.1"}]},
        {
            "name": "+2 capacity on every pool",
            "changes": [{"op": "change_capacity", "pool": p["id"], "delta": 2} for p in data["pools"]],
        },
    ]
    if mandatory:
        relax.append(
            {
                "name": f"{mandatory[0]} optional",
                "changes": [{"op": "force_mmp", "mmp": mandatory[0], "mode": "free"}],
            }
        )
    return relax


def run(count: int, time_limit: float, processes: int) -> tuple[list[dict], dict]:
    settings = SolverSettings(time_limit_s=time_limit, workers=1)
    rows = []
    with SolverPool(processes, cores=processes) as pool:
        pool.wait_ready()
        for seed in range(count):
            data = random_portfolio(seed=7000 + seed, n_mmps=30 + (seed * 3) % 31, n_quarters=4, n_pools=6)
            request = WhatIfRequest(portfolio=load_portfolio(data), scenarios=scenarios(data), settings=settings)
            study = WhatIfStudy()
            tasks = study.tasks(request)
            plans = run_tasks(pool, tasks, settings)
            for task, plan in zip(tasks, plans, strict=True):
                assert validate(prepared(task)[0], plan) == [], f"seed {seed}: {task.label} failed the validator"
            base, *others = plans
            for task, plan in zip(tasks[1:], others, strict=True):
                below = None
                if base.objective is not None and plan.objective is not None:
                    below = plan.objective < base.objective
                rows.append(
                    {
                        "seed": seed,
                        "scenario": task.label,
                        "base": float(base.objective) if base.objective is not None else None,
                        "value": float(plan.objective) if plan.objective is not None else None,
                        "status": plan.status,
                        "below_base": bool(below),
                    }
                )
    summary = {"scenarios": len(rows), "below_base": sum(r["below_base"] for r in rows)}
    return rows, summary
