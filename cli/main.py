"""`vmo`: the command-line front end over the solver core.

Exit codes: 0 a plan was found, 1 the portfolio is infeasible or no plan was
found in time, 2 the input was rejected (one line per problem on stderr).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.common import EXIT_NO_PLAN, err, or_fail, parse, read_json, read_portfolio, solver_settings, width
from cli.jobs import batch, jobs, start_worker_process
from cli.jobs import worker as worker_command
from cli.render import render_frontier, render_plan, render_whatif
from models.scenarios import FrontierRequest, WhatIfRequest

app = typer.Typer(
    help="Fund the best MMPs under capacity, dependency, guardrail and budget limits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def solve(
    file: Annotated[Path, typer.Argument(help="Portfolio JSON file (see fixtures/).")],
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds, default 10.")] = None,
    backend: Annotated[str | None, typer.Option(help="cp-sat (default), cbc or wsjf-greedy.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed for reproducible runs.")] = None,
    workers: Annotated[int | None, typer.Option(help="Solver threads, default 2.")] = None,
    gap: Annotated[float | None, typer.Option("--gap", help="Stop at this relative gap (0.01 = 1 %).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the plan as JSON.")] = False,
) -> None:
    """Solve a portfolio and print the plan."""
    from optimizer import solve as solve_portfolio  # solver import only when solving

    portfolio = read_portfolio(file)
    settings = solver_settings(time_limit_s=time_limit, backend=backend, seed=seed, workers=workers, relative_gap=gap)
    plan = or_fail(lambda: solve_portfolio(portfolio, settings))
    if as_json:
        sys.stdout.write(plan.model_dump_json(indent=2) + "\n")
    else:
        render_plan(Console(highlight=False, emoji=False, width=width()), portfolio, plan)
    if plan.status in ("infeasible", "no_solution_in_time"):
        if as_json:
            for reason in plan.explanation.infeasibility or [plan.status.replace("_", " ")]:
                err.print(f"{plan.status}: {reason}", markup=False)
        raise typer.Exit(EXIT_NO_PLAN)


@app.command()
def check(file: Annotated[Path, typer.Argument(help="Portfolio JSON file.")]) -> None:
    """Check a portfolio's input without solving it."""
    portfolio = read_portfolio(file)
    typer.echo(
        f"ok: {portfolio.name}: {len(portfolio.mmps)} MMPs, {len(portfolio.value_streams)} value streams, "
        f"{len(portfolio.pools)} pools, {len(portfolio.quarters)} quarters"
    )


@app.command()
def whatif(
    file: Annotated[Path, typer.Argument(help="Base portfolio JSON file.")],
    scenarios_file: Annotated[Path, typer.Argument(help="Scenarios JSON: a list of {name, changes}.")],
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds per solve.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Scenarios solved at once (processes).")] = 2,
) -> None:
    """Solve the base portfolio and each scenario; show what changes."""
    from optimizer.parallel import local_pool
    from optimizer.whatif import run_whatif

    portfolio = read_portfolio(file)
    raw = read_json(scenarios_file)
    scenarios = raw.get("scenarios") if isinstance(raw, dict) else raw
    settings = solver_settings(time_limit_s=time_limit, workers=1)
    request = parse(WhatIfRequest, {"portfolio": portfolio.model_dump(), "scenarios": scenarios}, "scenarios")
    request.settings = settings
    with local_pool(workers) as pool:
        response = or_fail(lambda: run_whatif(request, pool))
    render_whatif(Console(highlight=False, emoji=False, width=width()), portfolio, response)


@app.command()
def frontier(
    file: Annotated[Path, typer.Argument(help="Portfolio JSON file.")],
    start: Annotated[float, typer.Option("--from", help="Smallest total budget over the horizon.")],
    stop: Annotated[float, typer.Option("--to", help="Largest total budget over the horizon.")],
    steps: Annotated[int, typer.Option(help="Number of budgets, ends included.")] = 5,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds per solve.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Budgets solved at once (processes).")] = 2,
) -> None:
    """Sweep the total budget: value, marginal value of each step, and the knee."""
    from optimizer.frontier import run_frontier
    from optimizer.parallel import local_pool

    portfolio = read_portfolio(file)
    body = {"portfolio": portfolio.model_dump(), "range": {"from": start, "to": stop, "steps": steps}}
    request = parse(FrontierRequest, body, "range")
    request.settings = solver_settings(time_limit_s=time_limit, workers=1)
    with local_pool(workers) as pool:
        response = or_fail(lambda: run_frontier(request, pool))
    render_frontier(Console(highlight=False, emoji=False, width=width()), portfolio, response)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Also start one local job worker (a separate process).")] = True,
) -> None:
    """Start the HTTP API (OpenAPI docs at /docs) and a job worker; settings from VMO_* environment variables."""
    import uvicorn

    from api.app import create_app

    process = start_worker_process() if worker else None
    try:
        uvicorn.run(create_app(), host=host, port=port)
    finally:
        if process is not None:
            process.terminate()  # the worker hands its current job back to the queue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


app.command()(batch)
app.command()(worker_command)
app.command()(jobs)


def main() -> None:  # pragma: no cover - console entry point
    app()
