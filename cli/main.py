"""`vmo`: the command-line front end over the solver core.

Exit codes: 0 a plan was found, 1 the portfolio is infeasible or no plan was
found in time, 2 the input was rejected (one line per problem on stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.common import (
    EXIT_NO_PLAN,
    Backlog,
    err,
    or_fail,
    parse,
    read_json,
    read_portfolio,
    solver_settings,
    width,
    write_output,
)
from cli.cycle import replan, variance
from cli.jobs import batch, jobs, start_worker_process
from cli.jobs import worker as worker_command
from cli.keys import keys
from cli.render import render_frontier, render_plan, render_whatif
from models.plan import NO_PLAN
from models.scenarios import FrontierRequest, WhatIfRequest

app = typer.Typer(
    help="Fund the best MMPs under capacity, dependency, guardrail and budget limits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


QuartersOption = Annotated[
    str | None, typer.Option("--quarters", help="CSV backlogs: the planning horizon, e.g. 2027Q1,2027Q2.")
]
BudgetOption = Annotated[
    str | None,
    typer.Option("--budget", help="CSV backlogs: total budget per quarter (one number, or one per quarter)."),
]
CurrencyOption = Annotated[
    str | None, typer.Option("--currency", help="CSV backlogs: the currency of every amount (default USD).")
]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Also write a self-contained HTML report with charts to this file.")
]


@app.command()
def solve(
    file: Annotated[
        Path, typer.Argument(help="Portfolio JSON file (see fixtures/), a backlog workbook (.xlsx) or a CSV backlog.")
    ],
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds, default 10.")] = None,
    backend: Annotated[str | None, typer.Option(help="auto (default), cp-sat, cbc, scip or wsjf-greedy.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed for reproducible runs.")] = None,
    workers: Annotated[int | None, typer.Option(help="Solver threads, default 2.")] = None,
    gap: Annotated[float | None, typer.Option("--gap", help="Stop at this relative gap (0.01 = 1 %).")] = None,
    what_it_takes: Annotated[
        bool,
        typer.Option(
            "--what-it-takes/--no-what-it-takes",
            help="Work out what it would take to fund each MMP left out (re-solves within the time limit).",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the plan as JSON.")] = False,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="Also write the plan as a workbook (.xlsx).")] = None,
    report: ReportOption = None,
    quarters: QuartersOption = None,
    budget: BudgetOption = None,
    currency: CurrencyOption = None,
) -> None:
    """Solve a portfolio and print the plan."""
    from optimizer import solve as solve_portfolio  # solver import only when solving

    portfolio = read_portfolio(file, backlog=Backlog(quarters, budget, currency))
    settings = solver_settings(
        time_limit_s=time_limit,
        backend=backend,
        seed=seed,
        workers=workers,
        relative_gap=gap,
        what_it_takes=what_it_takes,
    )
    plan = or_fail(lambda: solve_portfolio(portfolio, settings))
    if xlsx is not None:
        from workbooks import plan_workbook

        write_output(xlsx, plan_workbook(portfolio, plan))
    if report is not None:
        from reports import plan_report

        write_output(report, plan_report(portfolio, plan))
    if as_json:
        sys.stdout.write(plan.model_dump_json(indent=2) + "\n")
    else:
        render_plan(Console(highlight=False, emoji=False, width=width()), portfolio, plan)
    if plan.status in NO_PLAN:
        if as_json:
            for reason in plan.explanation.infeasibility or [plan.status.replace("_", " ")]:
                err.print(f"{plan.status}: {reason}", markup=False)
        raise typer.Exit(EXIT_NO_PLAN)


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="Portfolio JSON file, backlog workbook (.xlsx) or CSV backlog.")],
    quarters: QuartersOption = None,
    budget: BudgetOption = None,
    currency: CurrencyOption = None,
) -> None:
    """Check a portfolio's input without solving it."""
    portfolio = read_portfolio(file, backlog=Backlog(quarters, budget, currency))
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
    report: ReportOption = None,
) -> None:
    """Solve the base portfolio and each scenario; show what changes."""
    from optimizer.studies.whatif import WhatIfStudy

    portfolio = read_portfolio(file)
    raw = read_json(scenarios_file)
    scenarios = raw.get("scenarios") if isinstance(raw, dict) else raw
    # The scenarios sit at $.scenarios of the request: a problem there is the file's, at its own path.
    files = {"$.scenarios": f"{scenarios_file}: {'$.scenarios' if isinstance(raw, dict) else '$'}"}
    settings = solver_settings(time_limit_s=time_limit, workers=1, what_it_takes=False)
    request = parse(WhatIfRequest, {"portfolio": portfolio.model_dump(), "scenarios": scenarios}, "scenarios", files)
    request.settings = settings
    response = or_fail(lambda: _run_study(WhatIfStudy(), request, workers), files)
    render_whatif(Console(highlight=False, emoji=False, width=width()), portfolio, response)
    if report is not None:
        from reports import whatif_report

        write_output(report, whatif_report(portfolio, response))


@app.command()
def frontier(
    file: Annotated[Path, typer.Argument(help="Portfolio JSON file.")],
    start: Annotated[float, typer.Option("--from", help="Smallest total budget over the horizon.")],
    stop: Annotated[float, typer.Option("--to", help="Largest total budget over the horizon.")],
    steps: Annotated[int, typer.Option(help="Number of budgets, ends included.")] = 5,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds per solve.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Budgets solved at once (processes).")] = 2,
    report: ReportOption = None,
) -> None:
    """Sweep the total budget: value, marginal value of each step, and the knee."""
    from optimizer.studies.frontier import FrontierStudy

    portfolio = read_portfolio(file)
    body = {"portfolio": portfolio.model_dump(), "range": {"from": start, "to": stop, "steps": steps}}
    request = parse(FrontierRequest, body, "range")
    request.settings = solver_settings(time_limit_s=time_limit, workers=1, what_it_takes=False)
    response = or_fail(lambda: _run_study(FrontierStudy(), request, workers))
    render_frontier(Console(highlight=False, emoji=False, width=width()), portfolio, response)
    if report is not None:
        from reports import frontier_report

        write_output(report, frontier_report(portfolio, response))


@app.command("import")
def import_backlog(
    file: Annotated[Path, typer.Argument(help="Backlog workbook (.xlsx) or CSV backlog (the mmps sheet alone).")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the portfolio JSON here.")] = None,
    quarters: QuartersOption = None,
    budget: BudgetOption = None,
    currency: CurrencyOption = None,
    name: Annotated[
        str | None, typer.Option("--name", help="CSV backlogs: the portfolio's name (default: the file's).")
    ] = None,
) -> None:
    """Read a backlog workbook or CSV into portfolio JSON (every problem at its cell, e.g. mmps!D7)."""
    import json

    from workbooks import kind_of, portfolio_json

    if kind_of(file.name) is None:
        from cli.common import fail

        fail([f"{file}: not a backlog: give an .xlsx workbook or a .csv file"])
    portfolio = read_portfolio(file, backlog=Backlog(quarters, budget, currency, name))
    text = json.dumps(portfolio_json(portfolio), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    write_output(output, text)
    typer.echo(
        f"{output}: {portfolio.name}: {len(portfolio.mmps)} MMPs, {len(portfolio.value_streams)} value streams, "
        f"{len(portfolio.pools)} pools, {len(portfolio.quarters)} quarters"
    )


@app.command()
def template(
    output: Annotated[Path, typer.Argument(help="Where to write the backlog template (.xlsx).")],
    source: Annotated[
        Path | None, typer.Option("--from", help="Fill the template with this portfolio (JSON or workbook).")
    ] = None,
) -> None:
    """Write the backlog workbook template: every sheet, its headers with notes, and an example row."""
    from workbooks import template_workbook

    portfolio = read_portfolio(source) if source is not None else None
    # What the workbook cannot hold is refused, one line per field, rather than lost.
    data = or_fail(lambda: template_workbook(portfolio))
    write_output(output, data)
    typer.echo(f"{output}: sheets {', '.join(_sheet_names(data))}")


def _sheet_names(workbook: bytes) -> list[str]:
    """The sheets as written (a list kept here would fall behind the template's)."""
    from io import BytesIO

    from openpyxl import load_workbook

    return load_workbook(BytesIO(workbook), read_only=True).sheetnames


def _run_study(study, request, processes: int):
    """Run a study's solves on `processes` solver processes (in this process when 1)."""
    from runtime import InlineExecutor, SolverPool, run_study

    executor = InlineExecutor() if processes == 1 else SolverPool(processes)
    try:
        return run_study(executor, study, request, request.settings)
    finally:
        executor.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Also start one local job worker (a separate process).")] = True,
) -> None:
    """Start the HTTP API (OpenAPI docs at /docs) and a job worker; settings from VMO_* environment variables."""
    import logging
    import os

    import uvicorn

    from api.app import create_app
    from api.server import raise_file_limit, uvicorn_options
    from api.settings import ApiSettings
    from cli.jobs import WorkerSupervisor, open_database
    from jobs.settings import JobSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    db = open_database(JobSettings())  # waits for the database (bounded) before anything starts
    if worker:
        os.environ["VMO_REQUIRE_WORKER"] = "1"  # /readyz then says when no worker is alive
    settings = ApiSettings()
    announce_auth(settings, db, f"{host}:{port}")
    raise_file_limit(settings.max_connections)
    supervisor = WorkerSupervisor(start_worker_process) if worker else None
    try:
        uvicorn.run(create_app(settings, db), host=host, port=port, **uvicorn_options(settings))
    finally:
        if supervisor is not None:
            supervisor.stop()


AUTH_OFF_BANNER = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!  VMO_AUTH=off: AUTHENTICATION IS OFF. Anyone who reaches {where} can read, change and delete every
!!  portfolio, plan and job, as an admin of the default tenant. Use this only for a local single-user run;
!!  unset VMO_AUTH and create a key with `vmo keys create --tenant T --role admin` for anything else.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def announce_auth(settings, db, where: str = "this port") -> None:
    """Say at start how callers are identified: loudly when authentication is off, and how to make the first
    key when there is none yet."""
    import logging

    log = logging.getLogger("vmo.serve")
    if settings.auth == "off":
        err.print(AUTH_OFF_BANNER.format(where=where), markup=False, style="bold red")
        log.warning("VMO_AUTH=off: authentication is off; every caller is an admin of the default tenant")
        return
    from storage import repo

    with db.reading() as session:
        any_key = bool(repo.list_keys(session, None, limit=1))
    methods = "API keys" + (f" and OpenID Connect tokens from {settings.oidc_issuer}" if settings.oidc_issuer else "")
    log.info("authentication is on: %s", methods)
    if not any_key and not settings.oidc_issuer:
        log.warning("no API key exists yet: create the first with `vmo keys create --tenant default --role admin`")


app.add_typer(keys, name="keys")
app.command()(batch)
app.command()(worker_command)
app.command()(jobs)
app.command()(replan)
app.command()(variance)


def main() -> None:  # pragma: no cover - console entry point
    app()
