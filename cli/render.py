"""Readable plan summary for the terminal (rich tables)."""

from __future__ import annotations

from collections import defaultdict
from functools import partial

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models.money import amount_text
from models.plan import NO_PLAN, Plan, SolverStatus
from models.portfolio import Portfolio
from reports.money import money, percent, units

STATUS_STYLE = {SolverStatus.OPTIMAL: "bold green", SolverStatus.FEASIBLE: "bold yellow"}


def render_plan(console: Console, p: Portfolio, plan: Plan) -> None:
    """Status and value first, then budget, schedule, capacity, key results and reasons."""
    style = STATUS_STYLE.get(plan.status, "bold red")
    console.print(f"[bold]{escape(p.name)}[/bold]: [{style}]{plan.status}[/{style}]")
    if plan.status in NO_PLAN:
        for reason in plan.explanation.infeasibility or ["no plan was found within the time limit"]:
            console.print(f"  - {reason}", markup=False)
        return
    _headline(console, p, plan)
    if plan.risk is not None:
        _risk_lines(console, p, plan)
    if plan.as_of is not None and p.first_planned:
        done = f"; done: {', '.join(plan.done)}" if plan.done else ""
        console.print(f"as of {plan.as_of}: the quarters before it are history{done}", markup=False)
    if plan.in_flight:
        console.print(_in_flight_table(p, plan))
    console.print(_budget_table(p, plan))
    console.print(_schedule_table(p, plan))
    if p.pools:
        console.print(_capacity_table(p, plan))
    if plan.key_results:
        console.print(_key_result_table(plan))
    if plan.not_selected:
        console.print(_not_selected_table(p, plan))
    if plan.explanation.binding:
        console.print("[bold]Binding[/bold]")
        for line in plan.explanation.binding:
            console.print(f"  - {line}", markup=False)


def _headline(console: Console, p: Portfolio, plan: Plan) -> None:
    """Line 2: what the optimizer adds over the WSJF ranking; then value, bound and gap; then the count."""
    c = p.currency
    console.print(_baseline_line(p, plan), markup=False)
    gap = "-" if plan.gap is None else percent(plan.gap, 2)
    # An uncertain portfolio's value is the risk measure; its split is of one scenario's figures (next line).
    split = "the risk measure over the scenarios, below" if p.uncertain else _parts(p, plan)
    console.print(
        f"value {money(plan.objective, c)} ({split}); "
        f"bound {money(plan.bound, c)}, gap {gap}; "
        f"{plan.solver.backend} in {plan.solver.time_s:.2f} s (limit {plan.solver.time_limit_s:g} s)",
        markup=False,
        soft_wrap=True,  # one line however long: the terminal wraps it, a pipe or a grep gets it whole
    )
    if p.uncertain:
        worth = f"the plan is worth {money(plan.value.total, c)} ({_parts(p, plan)})"
        console.print(f"{_base_figures(p)} {worth}", markup=False, soft_wrap=True)
    console.print(f"{len(plan.selected)} of {len(p.mmps) - len(plan.done)} MMPs funded")


def _parts(p: Portfolio, plan: Plan) -> str:
    return ", ".join(f"{label} {amount_text(amount, p.currency)}" for label, amount in plan.value.parts())


def _base_figures(p: Portfolio) -> str:
    """Which scenario the plan's rows and value split show (docs/design.md, section 5.9)."""
    where = [f"scenario {p.scenarios[0].id}"] if p.scenarios else []
    where += ["likely values"] if any(m.value_range for m in p.mmps) else []
    return f"with the portfolio's own figures ({', '.join(where)})"


MAX_SCENARIO_ROWS = 12  # more scenarios (samples of value ranges) are summarised by their percentiles only


def _risk_lines(console: Console, p: Portfolio, plan: Plan) -> None:
    """An uncertain portfolio: the value is the risk measure over the scenarios; its figures, the priority
    list, how robust the choices are, and (for a few scenarios) each scenario's outcome."""
    r, c = plan.risk, p.currency
    a = partial(amount_text, currency=c)
    assert r is not None
    measure = {
        "expectation": "expected value",
        "cvar": f"(1 - {p.risk.weight:g}) x expected value + {p.risk.weight:g} x CVaR at {p.risk.alpha:g}",
        "wasserstein": f"worst expected value within Wasserstein distance {p.risk.radius:g}",
    }[r.measure]
    console.print(f"over {len(plan.scenarios)} scenarios, decision '{r.decision}', value = {measure}", markup=False)
    line = (
        f"  expected {money(r.expected, c)}; P10 / P50 / P90 {a(r.p10)} / {a(r.p50)} / {a(r.p90)}; "
        f"VaR {a(r.var)}, CVaR {a(r.cvar)} at {r.alpha:g}"
    )
    if r.worst_case is not None:
        line += f"; worst case {a(r.worst_case)} (multiplier {r.multiplier:g} per unit of distance)"
    console.print(line, markup=False)
    if r.value_of_information is not None:
        proven = "" if r.information_proven else " (not proven)"
        console.print(
            f"  knowing the scenario in advance would be worth {money(r.value_of_information, c)}{proven} "
            f"(each scenario's own optimum: {a(r.wait_and_see)} expected)",
            markup=False,
        )
    if plan.priority:
        console.print(f"  priority: {' > '.join(plan.priority)}", markup=False)
    if plan.robustness:
        by_label: dict[str, list[str]] = defaultdict(list)
        for row in plan.robustness:
            by_label[row.label].append(row.mmp)
        console.print(
            f"  robustness: {len(by_label['core'])} core, {len(by_label['borderline'])} borderline "
            f"({', '.join(by_label['borderline']) or 'none'}), {len(by_label['exterior'])} exterior",
            markup=False,
        )
    if len(plan.scenarios) <= MAX_SCENARIO_ROWS:
        console.print(_scenario_table(p, plan))


def _scenario_table(p: Portfolio, plan: Plan) -> Table:
    t = Table(title=f"Scenarios ({p.currency})", title_justify="left")
    for col in ("scenario", "probability", "funded", "value", "own optimum"):
        t.add_column(col, justify="left" if col == "scenario" else "right")
    for o in plan.scenarios:
        t.add_row(
            escape(o.id),
            f"{o.probability:g}",
            str(len(o.funded)),
            amount_text(o.value, p.currency),
            amount_text(o.own_value, p.currency),
        )
    return t


def _baseline_line(p: Portfolio, plan: Plan) -> str:
    c, b = p.currency, plan.baseline
    if plan.solver.backend == "wsjf-greedy":
        return "this is the WSJF ranking's own plan (solve with cp-sat or cbc to see what the optimizer adds)"
    if b is None:
        return "WSJF ranking: no plan that keeps every rule, so no comparison"
    share = "" if b.uplift_percent is None else f" ({percent(b.uplift_percent / 100, 1, sign=True)})"
    return f"vs the WSJF ranking: {money(b.uplift, c, sign=True)}{share}, {money(b.value, c)} with the ranking"


def _label(p: Portfolio, mmp_id: str) -> str:
    """'Name (id)' with the marks of mandatory and currently planned work, escaped for rich."""
    m = next(x for x in p.mmps if x.id == mmp_id)
    text = f"{m.name} ({mmp_id})" if m.name else mmp_id
    marks = (["mandatory"] if m.mandatory else []) + (["in the current plan"] if mmp_id in p.baseline_plan else [])
    return escape(text) + "".join(f" [bold magenta]\\[{mark}][/bold magenta]" for mark in marks)


def _in_flight_table(p: Portfolio, plan: Plan) -> Table:
    """Pivot or persevere: which in-flight work continues, which stops, and why."""
    t = Table(title=f"In flight as of {escape(plan.as_of or p.quarters[0])} ({p.currency})", title_justify="left")
    for col, justify in (("MMP", "left"), ("started", "left"), ("decision", "left"), ("remaining cost", "right")):
        t.add_column(col, justify=justify)
    t.add_column("value", justify="right")
    t.add_column("why", justify="left")
    reasons = {n.mmp: n.reason for n in plan.not_selected}
    stoppable = {m.id for m in p.mmps if m.stoppable}
    for r in plan.in_flight:
        stop = r.decision == "stop"
        if stop:
            why = reasons.get(r.mmp, "")
        elif r.mmp in stoppable:
            salvage = amount_text(r.salvage_value, p.currency)
            why = f"persevere: what stopping frees buys less than its value less the salvage ({salvage})"
        else:
            why = "not stoppable: it continues on its start"
        decision = "[bold red]stop[/bold red]" if stop else "[green]continue[/green]"
        t.add_row(
            _label(p, r.mmp),
            escape(r.started),
            decision,
            amount_text(r.remaining_cost, p.currency),
            amount_text(r.value, p.currency),
            escape(why),
        )
    return t


def _budget_table(p: Portfolio, plan: Plan) -> Table:
    t = Table(title=f"Budget per value stream ({p.currency}): allocated / spent", title_justify="left")
    t.add_column("value stream")
    for q in p.quarters:
        t.add_column(escape(q), justify="right")
    rows = defaultdict(dict)
    for r in plan.budget:
        rows[r.value_stream][r.quarter] = f"{amount_text(r.allocated, p.currency)} / {amount_text(r.spent, p.currency)}"
    history = set(p.quarters[: p.first_planned])  # before as_of: nothing decided (the actuals say what was spent)
    for vs, cells in rows.items():
        t.add_row(escape(vs), *("[dim]history[/dim]" if q in history else cells[q] for q in p.quarters))
    reserve = {r.quarter: amount_text(r.unallocated, p.currency) for r in plan.reserve}
    t.add_row("[italic]unallocated[/italic]", *("" if q in history else reserve[q] for q in p.quarters))
    return t


def _schedule_table(p: Portfolio, plan: Plan) -> Table:
    t = Table(title=f"Funded MMPs by start quarter ({p.currency})", title_justify="left")
    for col, justify in (("start", "left"), ("MMP", "left"), ("finish", "left"), ("value", "right"), ("cost", "right")):
        t.add_column(col, justify=justify)
    for s in plan.selected:
        t.add_row(
            escape(s.start),
            _label(p, s.mmp),
            escape(s.finish),
            amount_text(s.value, p.currency),
            amount_text(s.cost, p.currency),
        )
    return t


def _capacity_table(p: Portfolio, plan: Plan) -> Table:
    t = Table(title="Capacity: used / available (+ purchased)", title_justify="left")
    t.add_column("pool")
    for q in p.quarters:
        t.add_column(escape(q), justify="right")
    rows = defaultdict(dict)
    for r in plan.capacity:
        extra = f" +{units(r.purchased)}" if r.purchased else ""
        rows[r.pool][r.quarter] = f"{units(r.used)} / {units(r.available)}{extra}"
    history = set(p.quarters[: p.first_planned])
    for pool, cells in rows.items():
        t.add_row(escape(pool), *("[dim]history[/dim]" if q in history else cells[q] for q in p.quarters))
    return t


def _key_result_table(plan: Plan) -> Table:
    t = Table(title="Key results", title_justify="left")
    t.add_column("key result")
    t.add_column("achieved / target", justify="right")
    t.add_column("before as_of", justify="right")
    for k in plan.key_results:
        t.add_row(escape(k.id), f"{units(k.achieved)} / {units(k.target)}", units(k.before_as_of))
    return t


def _not_selected_table(p: Portfolio, plan: Plan) -> Table:
    """Highest value first: the MMPs a VMO lead asks about."""
    t = Table(title=f"Not funded, and why (by value, {p.currency})", title_justify="left")
    t.add_column("MMP")
    t.add_column("value", justify="right")
    t.add_column("reason")
    takes = any(n.needs is not None for n in plan.not_selected)
    if takes:
        t.add_column("what it would take")
    value = {m.id: m.outcome_value for m in p.mmps}
    for n in sorted(plan.not_selected, key=lambda n: (-value[n.mmp], n.mmp)):
        cells = [_label(p, n.mmp), amount_text(value[n.mmp], p.currency), escape(n.reason)]
        t.add_row(*cells, *([escape(n.what_it_takes(p.currency))] if takes else []))
    return t


def render_whatif(console: Console, p: Portfolio, response) -> None:
    """Base plan and each scenario side by side, then what each scenario changes."""
    t = Table(title=f"What-if on {escape(p.name)} ({p.currency})", title_justify="left")
    for col in ("scenario", "status", "value", "delta", "gap", "funded", "added", "dropped", "moved"):
        t.add_column(col, justify="left" if col in ("scenario", "status", "added", "dropped") else "right")
    base = response.base
    t.add_row(
        "base", base.status, amount_text(base.objective, p.currency), "", _gap(base.gap), str(base.selected), "", "", ""
    )
    for s in response.scenarios:
        d = s.diff
        planned = s.summary.status not in NO_PLAN  # without a plan, nothing was added, dropped or moved
        t.add_row(
            escape(s.name),
            s.summary.status,
            amount_text(s.summary.objective, p.currency),
            amount_text(d.value_delta, p.currency, sign=True),
            _gap(s.summary.gap),
            str(s.summary.selected),
            escape(", ".join(d.added)) if planned else "-",
            escape(", ".join(d.dropped)) if planned else "-",
            str(len(d.moved)) if planned else "-",
        )
    console.print(t)
    for name, summary in [("base", base), *((s.name, s.summary) for s in response.scenarios)]:
        if summary.reasons:
            console.print(f"{escape(name)}: no plan: " + escape("; ".join(summary.reasons)))
    for s in response.scenarios:
        shifts = [f"{b.value_stream} {b.quarter} {money(b.delta, p.currency, sign=True)}" for b in s.diff.budget_shifts]
        if shifts:
            console.print(f"{escape(s.name)}: budget shifted " + escape("; ".join(shifts)))


def render_frontier(console: Console, p: Portfolio, response) -> None:
    """Value per total budget and what each extra unit of money buys."""
    t = Table(title=f"Budget frontier of {escape(p.name)} ({p.currency})", title_justify="left")
    for col in ("total budget", "status", "value", "gap", "funded", "value per extra unit"):
        t.add_column(col, justify="left" if col == "status" else "right")
    for point in response.points:
        marginal = "-" if point.marginal_value is None else f"{point.marginal_value:,.3f}"
        t.add_row(
            amount_text(point.budget, p.currency),
            point.status,
            amount_text(point.objective, p.currency),
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
    return "-" if gap is None else percent(gap, 2)
