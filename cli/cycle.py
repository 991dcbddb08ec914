"""`vmo replan` and `vmo variance`: the quarterly planning cycle on files, or against a running service (--url)."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.common import EXIT_NO_PLAN, fail, or_fail, read_json, read_portfolio, solver_settings, width, write_output
from cli.jobs import _call
from cli.render import money, render_plan
from models import PortfolioError, load_portfolio, validation_problems
from models.checks import actuals_problems
from models.cycle import Comparison, Replan, Variance, as_of_problem, record_problems
from models.plan import NO_PLAN, Plan
from models.portfolio import Portfolio, QuarterActuals

T = TypeVar("T")

UrlOption = Annotated[
    str | None,
    typer.Option(envvar="VMO_URL", help="A running service's base URL: SOURCE is then a stored portfolio's id."),
]
PlanOption = Annotated[
    Path | None, typer.Option("--plan", help="Files: the plan of record (a plan JSON, e.g. from vmo solve --json).")
]
ActualsOption = Annotated[
    Path | None, typer.Option("--actuals", help='Files: the actuals, a list of quarters (or {"actuals": [...]}).')
]
KeyOption = Annotated[
    str | None, typer.Option(envvar="VMO_API_KEY", help="With --url: the API key to call the service with.")
]


def _headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def replan(
    source: Annotated[str, typer.Argument(help="Portfolio JSON file, or with --url a stored portfolio's id.")],
    as_of: Annotated[str, typer.Option("--as-of", help="The first quarter to re-plan, e.g. 2027Q3.")],
    plan_file: PlanOption = None,
    actuals_file: ActualsOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    change_penalty: Annotated[
        float | None, typer.Option("--change-penalty", help="Value charged per change against the plan of record.")
    ] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds, default 10.")] = None,
    workers: Annotated[int | None, typer.Option(help="Solver threads, default 2.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the re-plan and its comparison as JSON.")] = False,
    portfolio_out: Annotated[
        Path | None, typer.Option("--portfolio-out", help="Files: also write the as-of portfolio JSON here.")
    ] = None,
) -> None:
    """Re-plan as of a quarter from the plan of record and the actuals: which in-flight work continues, which
    stops and why, what is added or moved, and the money a stop frees."""
    settings = solver_settings(time_limit_s=time_limit, workers=workers)
    penalty = None if change_penalty is None else str(change_penalty)
    if url is not None:
        body = {"as_of": as_of, "settings": settings.model_dump(mode="json", exclude_defaults=True)}
        if penalty is not None:
            body["change_penalty"] = penalty
        with httpx.Client(base_url=url, timeout=settings.time_limit_s + 60, headers=_headers(key)) as client:
            answer = Replan.model_validate(_call(client, "POST", f"/v1/portfolios/{source}/replan", json=body))
            portfolio = Portfolio.model_validate(_call(client, "GET", f"/v1/portfolios/{source}")["portfolio"])
    else:
        from optimizer import solve
        from optimizer.studies.cycle import as_of_portfolio, compare

        p, record, actuals = _files(source, plan_file, actuals_file, "replan", as_of)
        data = as_of_portfolio(p, record, actuals, as_of, None if penalty is None else Decimal(penalty))
        portfolio = _as_of_or_fail(data)
        if portfolio_out is not None:
            write_output(portfolio_out, json.dumps(data, indent=2) + "\n")
        plan = or_fail(lambda: solve(portfolio, settings, warm_start=dict(portfolio.baseline_plan)))
        answer = Replan(
            plan_id=None,
            parent_id=str(plan_file),
            status=plan.status,
            as_of=as_of,
            plan=plan,
            comparison=compare(record, plan, portfolio),
        )
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
    else:
        console = Console(highlight=False, emoji=False, width=width())
        render_plan(console, portfolio, answer.plan)
        if answer.plan.status not in NO_PLAN:
            console.print(_comparison_table(portfolio, answer.comparison))
    if answer.plan.status in NO_PLAN:
        raise typer.Exit(EXIT_NO_PLAN)


def variance(
    source: Annotated[str, typer.Argument(help="Portfolio JSON file, or with --url a stored portfolio's id.")],
    plan_file: PlanOption = None,
    actuals_file: ActualsOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the variance as JSON.")] = False,
) -> None:
    """The actuals against the plan of record: spend per value stream and quarter, late MMPs, key results, and
    realized against estimated value of finished MMPs."""
    if url is not None:
        with httpx.Client(base_url=url, timeout=60, headers=_headers(key)) as client:
            report = Variance.model_validate(_call(client, "GET", f"/v1/portfolios/{source}/variance"))
            currency = _call(client, "GET", f"/v1/portfolios/{source}")["portfolio"].get("currency", "USD")
    else:
        from optimizer.studies.cycle import in_order
        from optimizer.studies.cycle import variance as variance_of

        p, record, actuals = _files(source, plan_file, actuals_file, "variance")
        report, currency = variance_of(p, [(str(plan_file), record)], in_order(p, actuals)), p.currency
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    _render_variance(Console(highlight=False, emoji=False, width=width()), report, currency)


def _files(
    source: str, plan_file: Path | None, actuals_file: Path | None, command: str, as_of: str | None = None
) -> tuple[Portfolio, Plan, list[QuarterActuals]]:
    """The portfolio, the plan of record and the actuals, checked as the service checks them (`as_of`: the
    re-plan's), or exit 2 with every problem, each naming its file. Actuals may be for any quarter of the
    horizon, as the service records them; a re-plan uses those before its as_of."""
    if plan_file is None:
        fail([f"vmo {command} on files needs --plan (the plan of record), or --url for a running service"])
    assert plan_file is not None
    p = read_portfolio(Path(source), name_file=True)
    record, record_at = _read_plan(plan_file)
    actuals, actuals_at = ([], "$") if actuals_file is None else _read_actuals(actuals_file)
    reason = None if as_of is None else as_of_problem(p, as_of, f"{source}'s")
    problems = [] if reason is None else [f"--as-of: {reason}"]
    problems += [f"{plan_file}: {problem}" for problem in record_problems(p, record, record_at)]
    horizon = len(p.quarters)
    problems += [f"{actuals_file}: {problem}" for problem in actuals_problems(p, actuals, horizon, actuals_at)]
    if problems:
        fail(problems)
    return p, record, actuals


_PLAN = TypeAdapter(Plan)
_ACTUALS = TypeAdapter(list[QuarterActuals])


def _read_plan(path: Path) -> tuple[Plan, str]:
    data, at = _unwrap(path, "plan")
    return _validate(path, _PLAN, data, at), at


def _read_actuals(path: Path) -> tuple[list[QuarterActuals], str]:
    data, at = _unwrap(path, "actuals")
    if not isinstance(data, list):
        fail([f"{path}: {at}: expected a list of quarters, each {{quarter, spent, mmps, key_results}}"])
    return _validate(path, _ACTUALS, data, at), at


def _unwrap(path: Path, wrapper: str) -> tuple[Any, str]:
    """A file's content, bare or wrapped in {wrapper: ...} (a stored plan, a re-plan, GET .../actuals), and
    the JSON path it is at in the file."""
    raw = read_json(path)
    return (raw[wrapper], f"$.{wrapper}") if isinstance(raw, dict) and wrapper in raw else (raw, "$")


def _validate(path: Path, shape: TypeAdapter[T], data: Any, at: str) -> T:
    """The whole content at once, so that a path counts the list index; each problem names the file."""
    try:
        return shape.validate_python(data)
    except ValidationError as exc:
        fail([f"{path}: {at}{p.path[1:]}: {p.message}" for p in validation_problems(exc.errors(), data)])
    raise AssertionError("unreachable")


def _as_of_or_fail(data: dict[str, Any]) -> Portfolio:
    try:
        return load_portfolio(data)
    except PortfolioError as exc:
        fail([f"as-of portfolio: {problem}" for problem in exc.problems])
    raise AssertionError("unreachable")


def _comparison_table(p: Portfolio, c: Comparison) -> Table:
    t = Table(title=f"Against the plan of record ({p.currency})", title_justify="left")
    t.add_column("what")
    t.add_column("MMPs")
    moved = [f"{m} -> {q}" for m, q in c.moved.items()]
    for what, names in (
        ("kept", c.kept),
        ("stopped", c.stopped),
        ("added", c.added),
        ("moved", moved),
        ("dropped", c.dropped),
        ("done", c.done),
    ):
        t.add_row(what, escape(", ".join(names) or "-"))
    t.add_row("money freed", money(c.money_freed, p.currency))
    still = money(c.record_remaining_value)
    t.add_row("value", f"{money(c.value, p.currency)} (the plan of record's value still to come: {still})")
    return t


def _render_variance(console: Console, v: Variance, currency: str) -> None:
    title = f"Spend against the plan of record ({currency}): planned / actual (difference)"
    t = Table(title=title, title_justify="left")
    t.add_column("value stream")
    for q in v.quarters:
        t.add_column(escape(q), justify="right")
    rows: dict[str, dict[str, str]] = {}
    for r in v.streams:
        diff = "-" if r.difference is None else money(r.difference, sign=True)
        rows.setdefault(r.value_stream, {})[r.quarter] = f"{money(r.planned)} / {money(r.actual)} ({diff})"
    for stream, cells in rows.items():
        t.add_row(escape(stream), *(cells.get(q, "-") for q in v.quarters))
    console.print(t)
    if v.late:
        late = Table(title="Late against the plan of record", title_justify="left")
        for col in ("MMP", "planned", "status", "late by"):
            late.add_column(col)
        for m in v.late:
            late.add_row(escape(m.mmp), f"{m.planned_start} - {m.planned_finish}", m.status, f"{m.late_by} quarter(s)")
        console.print(late)
    if v.key_results:
        krs = Table(title="Key results: planned / achieved", title_justify="left")
        krs.add_column("key result")
        krs.add_column("planned / achieved", justify="right")
        for k in v.key_results:
            krs.add_row(escape(k.id), f"{k.planned} / {'-' if k.achieved is None else k.achieved}")
        console.print(krs)
    for row in v.realization:
        ratio = "-" if row.ratio is None else f"{row.ratio:.0%}"
        console.print(
            f"{escape(row.value_stream)}: {row.finished} finished MMP(s) realized {money(row.realized, currency)} "
            f"of {money(row.estimated, currency)} estimated ({ratio})"
        )
