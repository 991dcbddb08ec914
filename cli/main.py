"""`vmo`: the command-line front end over the solver core.

Exit codes: 0 a plan was found, 1 the portfolio is infeasible or no plan was
found in time, 2 the input was rejected (one line per problem on stderr).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from cli.render import render_frontier, render_plan, render_whatif
from models import PortfolioError, Problem, SolverSettings, json_path, load_portfolio, validation_problems
from models.portfolio import Portfolio
from models.scenarios import FrontierRequest, WhatIfRequest

app = typer.Typer(
    help="Fund the best MMPs under capacity, dependency, guardrail and budget limits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

EXIT_INPUT = 2
EXIT_NO_PLAN = 1


def _fail(problems: list[Problem] | list[str]) -> None:
    for problem in problems:
        err.print(f"error: {problem}", markup=False)
    raise typer.Exit(EXIT_INPUT)


def _read_portfolio(path: Path) -> Portfolio:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        _fail([f"{path}: no such file"])
    except IsADirectoryError:
        _fail([f"{path}: is a directory, not a portfolio file"])
    except UnicodeDecodeError:
        _fail([f"{path}: not a text file (expected UTF-8 JSON)"])
    except OSError as exc:
        _fail([f"{path}: cannot read: {exc.strerror}"])
    except json.JSONDecodeError as exc:
        _fail([f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"])
    except RecursionError:
        _fail([f"{path}: JSON nested too deeply"])
    except ValueError as exc:  # e.g. an integer literal too long to convert
        _fail([f"{path}: not valid JSON: {exc}"])
    try:
        return load_portfolio(data)
    except PortfolioError as exc:
        _fail(exc.problems)
    raise AssertionError("unreachable")


def _settings(**values: Any) -> SolverSettings:
    try:
        return SolverSettings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        _fail([Problem(json_path(("settings", *e["loc"])), e["msg"]) for e in exc.errors()])
    raise AssertionError("unreachable")


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

    portfolio = _read_portfolio(file)
    settings = _settings(time_limit_s=time_limit, backend=backend, seed=seed, workers=workers, relative_gap=gap)
    plan = _or_fail(lambda: solve_portfolio(portfolio, settings))
    if as_json:
        sys.stdout.write(plan.model_dump_json(indent=2) + "\n")
    else:
        render_plan(Console(highlight=False, emoji=False, width=_width()), portfolio, plan)
    if plan.status in ("infeasible", "no_solution_in_time"):
        if as_json:
            for reason in plan.explanation.infeasibility or [plan.status.replace("_", " ")]:
                err.print(f"{plan.status}: {reason}", markup=False)
        raise typer.Exit(EXIT_NO_PLAN)


@app.command()
def check(file: Annotated[Path, typer.Argument(help="Portfolio JSON file.")]) -> None:
    """Check a portfolio's input without solving it."""
    portfolio = _read_portfolio(file)
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

    portfolio = _read_portfolio(file)
    raw = _read_json(scenarios_file)
    scenarios = raw.get("scenarios") if isinstance(raw, dict) else raw
    settings = _settings(time_limit_s=time_limit, workers=1)
    request = _parse(WhatIfRequest, {"portfolio": portfolio.model_dump(), "scenarios": scenarios}, "scenarios")
    request.settings = settings
    with local_pool(workers) as pool:
        response = _or_fail(lambda: run_whatif(request, pool))
    render_whatif(Console(highlight=False, emoji=False, width=_width()), portfolio, response)


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

    portfolio = _read_portfolio(file)
    body = {"portfolio": portfolio.model_dump(), "range": {"from": start, "to": stop, "steps": steps}}
    request = _parse(FrontierRequest, body, "range")
    request.settings = _settings(time_limit_s=time_limit, workers=1)
    with local_pool(workers) as pool:
        response = _or_fail(lambda: run_frontier(request, pool))
    render_frontier(Console(highlight=False, emoji=False, width=_width()), portfolio, response)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Start the HTTP API (OpenAPI docs at /docs); settings from VMO_* environment variables."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(), host=host, port=port)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        _fail([f"{path}: no such file"])
    except (OSError, UnicodeDecodeError) as exc:
        _fail([f"{path}: cannot read: {exc}"])
    except (ValueError, RecursionError) as exc:
        _fail([f"{path}: not valid JSON: {exc}"])
    raise AssertionError("unreachable")


def _parse(model, data: Any, what: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        _fail([p for p in validation_problems(exc.errors(), data) if not p.path.startswith("$.portfolio")])
    raise AssertionError("unreachable")


def _or_fail(work):
    try:
        return work()
    except PortfolioError as exc:
        _fail(exc.problems)
    raise AssertionError("unreachable")


def _width() -> int | None:
    return None if sys.stdout.isatty() else 120


def main() -> None:  # pragma: no cover - console entry point
    app()
