"""Readable plan summary for the terminal (rich tables)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models.plan import Plan
from models.portfolio import Portfolio

STATUS_STYLE = {"optimal": "bold green", "feasible": "bold yellow"}


def money(amount: Decimal | None, currency: str = "") -> str:
    if amount is None:
        return "-"
    text = f"{amount:,.2f}".removesuffix(".00")
    return f"{text} {currency}".strip()


def render_plan(console: Console, p: Portfolio, plan: Plan) -> None:
    """Status and value first, then budget, schedule, capacity, key results and reasons."""
    style = STATUS_STYLE.get(plan.status, "bold red")
    console.print(f"[bold]{escape(p.name)}[/bold]: [{style}]{plan.status}[/{style}]")
    if plan.status in ("infeasible", "no_solution_in_time"):
        for reason in plan.explanation.infeasibility or ["no plan was found within the time limit"]:
            console.print(f"  - {reason}", markup=False)
        return
    _headline(console, p, plan)
    console.print(_budget_table(p, plan))
    console.print(_schedule_table(p, plan))
    console.print(_capacity_table(p, plan))
    if plan.key_results:
        console.print(_key_result_table(plan))
    if plan.not_selected:
        console.print(_not_selected_table(plan))
    if plan.explanation.binding:
        console.print("[bold]Binding[/bold]")
        for line in plan.explanation.binding:
            console.print(f"  - {line}", markup=False)


def _headline(console: Console, p: Portfolio, plan: Plan) -> None:
    c = p.currency
    gap = "-" if plan.gap is None else f"{plan.gap:.4%}"
    console.print(
        f"value {money(plan.objective, c)} (MMPs {money(plan.value.mmps)}, key results "
        f"{money(plan.value.key_results)}, change penalty -{money(plan.value.change_penalty)}); "
        f"bound {money(plan.bound, c)}, gap {gap}; "
        f"{plan.solver.backend} in {plan.solver.time_s:.2f} s (limit {plan.solver.time_limit_s:g} s)"
    )
    console.print(f"{len(plan.selected)} of {len(p.mmps)} MMPs funded")


def _budget_table(p: Portfolio, plan: Plan) -> Table:
    t = Table(title=f"Budget per value stream ({p.currency}): allocated / spent", title_justify="left")
    t.add_column("value stream")
    for q in p.quarters:
        t.add_column(escape(q), justify="right")
    rows = defaultdict(dict)
    for r in plan.budget:
        rows[r.value_stream][r.quarter] = f"{money(r.allocated)} / {money(r.spent)}"
    for vs, cells in rows.items():
        t.add_row(escape(vs), *(cells[q] for q in p.quarters))
    reserve = {r.quarter: money(r.unallocated) for r in plan.reserve}
    t.add_row("[italic]unallocated[/italic]", *(reserve[q] for q in p.quarters))
    return t


def _schedule_table(p: Portfolio, plan: Plan) -> Table:
    t = Table(title="Funded MMPs by start quarter", title_justify="left")
    for col, justify in (("start", "left"), ("MMP", "left"), ("finish", "left"), ("value", "right"), ("cost", "right")):
        t.add_column(col, justify=justify)
    for s in plan.selected:
        t.add_row(escape(s.start), escape(s.mmp), escape(s.finish), money(s.value), money(s.cost))
    return t


def _capacity_table(p: Portfolio, plan: Plan) -> Table:
    t = Table(title="Capacity: used / available (+ purchased)", title_justify="left")
    t.add_column("pool")
    for q in p.quarters:
        t.add_column(escape(q), justify="right")
    rows = defaultdict(dict)
    for r in plan.capacity:
        extra = f" +{r.purchased:g}" if r.purchased else ""
        rows[r.pool][r.quarter] = f"{r.used:g} / {r.available:g}{extra}"
    for pool, cells in rows.items():
        t.add_row(escape(pool), *(cells[q] for q in p.quarters))
    return t


def _key_result_table(plan: Plan) -> Table:
    t = Table(title="Key results", title_justify="left")
    t.add_column("key result")
    t.add_column("achieved / target", justify="right")
    for k in plan.key_results:
        t.add_row(escape(k.id), f"{k.achieved:g} / {k.target:g}")
    return t


def _not_selected_table(plan: Plan) -> Table:
    t = Table(title="Not funded, and why", title_justify="left")
    t.add_column("MMP")
    t.add_column("reason")
    for n in plan.not_selected:
        t.add_row(escape(n.mmp), escape(n.reason))
    return t


def render_whatif(console: Console, p: Portfolio, response) -> None:
    """Base plan and each scenario side by side, then what each scenario changes."""
    t = Table(title=f"What-if on {escape(p.name)} ({p.currency})", title_justify="left")
    for col in ("scenario", "status", "value", "delta", "gap", "funded", "added", "dropped", "moved"):
        t.add_column(col, justify="left" if col in ("scenario", "status", "added", "dropped") else "right")
    base = response.base
    t.add_row("base", base.status, money(base.objective), "", _gap(base.gap), str(base.selected), "", "", "")
    for s in response.scenarios:
        d = s.diff
        t.add_row(
            escape(s.name),
            s.summary.status,
            money(s.summary.objective),
            "-" if d.value_delta is None else f"{d.value_delta:+,.0f}",
            _gap(s.summary.gap),
            str(s.summary.selected),
            escape(", ".join(d.added)),
            escape(", ".join(d.dropped)),
            str(len(d.moved)),
        )
    console.print(t)
    for s in response.scenarios:
        shifts = [f"{b.value_stream} {b.quarter} {b.delta:+,}" for b in s.diff.budget_shifts]
        if shifts:
            console.print(f"{escape(s.name)}: budget shifted " + escape("; ".join(shifts)))


def render_frontier(console: Console, p: Portfolio, response) -> None:
    """Value per total budget and what each extra unit of money buys."""
    t = Table(title=f"Budget frontier of {escape(p.name)} ({p.currency})", title_justify="left")
    for col in ("total budget", "status", "value", "gap", "funded", "value per extra unit"):
        t.add_column(col, justify="left" if col == "status" else "right")
    for point in response.points:
        marginal = "-" if point.marginal_value is None else f"{point.marginal_value:.3f}"
        t.add_row(
            money(point.budget),
            point.status,
            money(point.objective),
            _gap(point.gap),
            str(len(point.selected)),
            marginal,
        )
    console.print(t)
    if response.knee is not None:
        console.print(
            f"knee: extra money buys markedly less beyond a total budget of {money(response.knee, p.currency)}"
        )


def _gap(gap: float | None) -> str:
    return "-" if gap is None else f"{gap:.2%}"
