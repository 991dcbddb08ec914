"""One self-contained HTML page per plan, what-if or frontier: inline CSS, charts as inline SVG, no script and
no reference to anything outside the page, so it opens the same on an air-gapped laptop."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from html import escape

from models.plan import NO_PLAN, Plan
from models.portfolio import Portfolio, per_quarter
from models.scenarios import FrontierResponse, WhatIfResponse
from reports import charts
from reports.money import compact, money, percent, units

CSS = """
body{font-family:system-ui,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 16px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.kpi{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:10px 14px;min-width:150px}
.kpi b{display:block;font-size:20px} .kpi span{color:#666;font-size:12px}
.good{color:#2a7d2a} .bad{color:#b22222}
figure{margin:8px 0;background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px}
svg.chart{width:100%;height:auto;display:block}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px;margin:8px 0}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.tag{font-size:11px;border-radius:3px;padding:0 4px;background:#fde2e2;color:#8a1f1f;margin-left:4px}
ul{margin:4px 0}
footer{color:#888;font-size:12px;margin-top:32px}
"""


def plan_report(p: Portfolio, plan: Plan) -> str:
    """The plan of portfolio `p`: headline figures, then each chart with the table behind it."""
    c = p.currency
    names = {m.id: m for m in p.mmps}
    body = [_heading(p, f"Funding plan: {plan.status.replace('_', ' ')}")]
    if plan.objective is None:
        body.append("<h2>No plan</h2><ul>")
        reasons = plan.explanation.infeasibility or ["no plan was found within the time limit"]
        body += [f"<li>{escape(r)}</li>" for r in reasons]
        body.append("</ul>")
        return _page(p.name, body)
    body.append(_kpis(p, plan))
    if plan.baseline is not None:
        b = plan.baseline
        body.append("<h2>Value against the WSJF ranking</h2>")
        body.append(_figure(charts.uplift_chart(b.value, plan.objective, c)))
        body.append(
            f"<p>The WSJF ranking (fund from the top of the backlog while everything still fits) earns "
            f"{escape(money(b.value, c))}; this plan earns {escape(money(plan.objective, c))}, "
            f"<b>{escape(money(b.uplift, c, sign=True))}</b>"
            + (f" ({escape(percent(b.uplift_percent / 100, 1, sign=True))})" if b.uplift_percent is not None else "")
            + ".</p>"
        )
        body.append(_table(["funded by the optimizer only", "funded by the ranking only"], [[
            escape(", ".join(_name(names, i) for i in b.optimizer_only) or "-"),
            escape(", ".join(_name(names, i) for i in b.ranking_only) or "-"),
        ]]))  # fmt: skip
    if plan.risk is not None:
        body += _risk_section(p, plan)
    if plan.in_flight or plan.done:
        body.append(f"<h2>In flight as of {escape(plan.as_of or p.quarters[0])}</h2>")
        history = ", ".join(p.quarters[: p.first_planned])
        done = ", ".join(_name(names, i) for i in plan.done) or "none"
        body.append(
            f"<p>The quarters before it ({escape(history)}) are history: nothing is allocated there in this plan. "
            f"Done: {escape(done)}.</p>"
        )
        reasons = {n.mmp: n.reason for n in plan.not_selected}
        body.append(
            _table(
                ["MMP", "started", "decision", f"remaining cost ({c})", f"value ({c})", f"salvage ({c})", "why"],
                [
                    [
                        _mmp_cell(names, r.mmp),
                        escape(r.started),
                        "<b>stop</b>" if r.decision == "stop" else "continue",
                        money(r.remaining_cost),
                        money(r.value),
                        money(r.salvage_value),
                        escape(reasons.get(r.mmp, "") if r.decision == "stop" else ""),
                    ]
                    for r in plan.in_flight
                ],
                numeric={3, 4, 5},
            )
        )
    body.append("<h2>Budget</h2>")
    body.append(_figure(_budget_chart(p, plan)))
    body.append(_budget_table(p, plan))
    body.append("<h2>Roadmap</h2>")
    body.append(_figure(_roadmap_chart(p, plan)))
    body.append(
        _table(
            ["start", "finish", "MMP", "value stream", f"value ({c})", f"cost ({c})"],
            [
                [
                    escape(s.start),
                    escape(s.finish),
                    _mmp_cell(names, s.mmp),
                    escape(names[s.mmp].value_stream),
                    money(s.value),
                    money(s.cost),
                ]
                for s in plan.selected
            ],
            numeric={4, 5},
        )
    )
    if p.pools:
        body.append("<h2>Capacity</h2>")
        body.append(_figure(_capacity_chart(p, plan)))
    if plan.investment_mix and (p.investment_guardrails or len(plan.investment_mix) > 1):
        body.append("<h2>Investment mix</h2>")
        rows = [(r.category or "(none)", r.share, r.min_share, r.max_share, r.within) for r in plan.investment_mix]
        body.append(_figure(charts.investment_chart(rows)))
        body.append(
            _table(
                ["category", f"spend ({c})", "share", "guardrail", ""],
                [
                    [
                        escape(r.category or "(none)"),
                        money(r.spend),
                        percent(r.share),
                        escape(_guardrail(r.min_share, r.max_share)),
                        "" if r.within else '<span class="bad">outside</span>',
                    ]
                    for r in plan.investment_mix
                ],
                numeric={1, 2},
            )
        )
    if plan.key_results:
        body.append("<h2>Key results</h2>")
        krs = {k.id: k for k in p.key_results}
        rows = [(krs[k.id].name or k.id, k.achieved, k.target) for k in plan.key_results]
        body.append(_figure(charts.key_results_chart(rows)))
    if plan.not_selected:
        body.append("<h2>Not funded, and why</h2>")
        unfunded = sorted(plan.not_selected, key=lambda n: (-names[n.mmp].outcome_value, n.mmp))
        body.append(
            _table(
                ["MMP", f"value ({c})", f"cost ({c})", "reason", "what it would take"],
                [
                    [
                        _mmp_cell(names, n.mmp),
                        money(names[n.mmp].outcome_value),
                        money(sum(names[n.mmp].cost, Decimal(0))),
                        escape(n.reason),
                        escape(n.what_it_takes(c)),
                    ]
                    for n in unfunded
                ],
                numeric={1, 2},
            )
        )
    if plan.explanation.binding:
        body.append("<h2>What binds</h2><ul>")
        body += [f"<li>{escape(line)}</li>" for line in plan.explanation.binding]
        body.append("</ul>")
    s = plan.solver
    body.append(
        f"<footer>{escape(s.backend)}, {s.time_s:.2f} s of a {s.time_limit_s:g} s limit, seed {s.seed}; "
        f"money resolution {escape(units(s.money_resolution))} {escape(c)}.</footer>"
    )
    return _page(p.name, body)


def whatif_report(p: Portfolio, response: WhatIfResponse) -> str:
    """The base plan and each scenario side by side, and what each scenario changes."""
    c = p.currency
    body = [_heading(p, "What-if scenarios")]
    rows = [("base", response.base.objective, response.base.status)]
    rows += [(s.name, s.summary.objective, s.summary.status) for s in response.scenarios]
    body.append(_figure(charts.scenarios_chart(rows, c)))
    table = [["base", escape(response.base.status), money(response.base.objective), "", _gap(response.base.gap),
              str(response.base.selected), "", "", ""]]  # fmt: skip
    for s in response.scenarios:
        d = s.diff
        planned = s.summary.status not in NO_PLAN  # without a plan, nothing was added, dropped or moved
        table.append(
            [
                escape(s.name),
                escape(s.summary.status),
                money(s.summary.objective),
                money(d.value_delta, sign=True),
                _gap(s.summary.gap),
                str(s.summary.selected),
                escape(", ".join(d.added)) if planned else "-",
                escape(", ".join(d.dropped)) if planned else "-",
                str(len(d.moved)) if planned else "-",
            ]
        )
    headers = ["scenario", "status", f"value ({c})", "change", "gap", "funded", "added", "dropped", "moved"]
    body.append(_table(headers, table, numeric={2, 3, 4, 5, 8}))
    for name, summary in [("base", response.base), *((s.name, s.summary) for s in response.scenarios)]:
        if summary.reasons:
            body.append(f"<p><b>{escape(name)}</b>: no plan: {escape('; '.join(summary.reasons))}</p>")
    for s in response.scenarios:
        shifts = [f"{b.value_stream} {b.quarter} {money(b.delta, c, sign=True)}" for b in s.diff.budget_shifts]
        if shifts:
            body.append(f"<p><b>{escape(s.name)}</b>: budget shifted {escape('; '.join(shifts))}</p>")
    return _page(f"{p.name}: what-if", body)


def frontier_report(p: Portfolio, response: FrontierResponse) -> str:
    """The frontier curve with its knee, and the table of points."""
    c = p.currency
    body = [_heading(p, "Budget frontier")]
    body.append(_figure(charts.frontier_chart([(x.budget, x.objective) for x in response.points], response.knee, c)))
    if response.knee is not None:
        body.append(
            f"<p>Knee: extra money buys markedly less beyond a total budget of {escape(money(response.knee, c))}.</p>"
        )
    rows = [
        [
            money(x.budget),
            escape(x.status),
            money(x.objective),
            _gap(x.gap),
            str(len(x.selected)),
            "-" if x.marginal_value is None else f"{x.marginal_value:.3f}",
        ]
        for x in response.points
    ]
    headers = [f"total budget ({c})", "status", f"value ({c})", "gap", "funded", "value per extra unit"]
    body.append(_table(headers, rows, numeric={0, 2, 3, 4, 5}))
    return _page(f"{p.name}: budget frontier", body)


# ---------------------------------------------------------------------- parts


def _page(title: str, body: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _heading(p: Portfolio, what: str) -> str:
    horizon = f"{p.quarters[0]} to {p.quarters[-1]}" if len(p.quarters) > 1 else p.quarters[0]
    return (
        f"<h1>{escape(p.name)}</h1><p class='sub'>{escape(what)} &middot; {escape(horizon)}, "
        f"{len(p.mmps)} MMPs, {len(p.value_streams)} value streams</p>"
    )


def _kpis(p: Portfolio, plan: Plan) -> str:
    c = p.currency
    items = [(compact(plan.objective, c), "value of the plan")]
    if plan.baseline is not None:
        b = plan.baseline
        extra = f" ({percent(b.uplift_percent / 100, 1, sign=True)})" if b.uplift_percent is not None else ""
        items.append((compact(b.uplift, c, sign=True) + extra, "more than the WSJF ranking"))
    funded = f"{len(plan.selected)} of {len(p.mmps)}"
    items.append((funded, "MMPs funded"))
    if plan.totals is not None:
        h = plan.totals.horizon
        items.append((compact(h.unallocated, c), f"unallocated of {compact(h.budget, c)}"))
    items.append(("-" if plan.gap is None else percent(plan.gap, 2), f"gap to the proven bound ({plan.status})"))
    return (
        "<div class='kpis'>"
        + "".join(f"<div class='kpi'><b>{escape(v)}</b><span>{escape(t)}</span></div>" for v, t in items)
        + "</div>"
    )


def _budget_chart(p: Portfolio, plan: Plan) -> str:
    T = len(p.quarters)
    rows = {(r.value_stream, r.quarter): r for r in plan.budget}
    streams = [(v.name or v.id, [rows[v.id, q].allocated for q in p.quarters]) for v in p.value_streams]
    reserve = {r.quarter: r.unallocated for r in plan.reserve}
    budget = per_quarter(p.budget, T)
    return charts.budget_chart(p.quarters, streams, [reserve[q] for q in p.quarters], budget, p.currency)  # type: ignore[arg-type]


def _budget_table(p: Portfolio, plan: Plan) -> str:
    rows = {(r.value_stream, r.quarter): r for r in plan.budget}
    table = [
        [escape(v.name or v.id)]
        + [f"{money(rows[v.id, q].allocated)} / {money(rows[v.id, q].spent)}" for q in p.quarters]
        for v in p.value_streams
    ]
    reserve = {r.quarter: r.unallocated for r in plan.reserve}
    table.append(["<i>unallocated</i>"] + [money(reserve[q]) for q in p.quarters])
    headers = ["value stream: allocated / spent", *list(p.quarters)]
    return _table([escape(h) for h in headers], table, numeric=set(range(1, len(p.quarters) + 1)), escaped=True)


def _roadmap_chart(p: Portfolio, plan: Plan) -> str:
    order = {v.id: i for i, v in enumerate(p.value_streams)}
    names = {m.id: m for m in p.mmps}
    at = {q: i for i, q in enumerate(p.quarters)}
    stream_names = {v.id: v.name or v.id for v in p.value_streams}
    rows = sorted(
        (
            (
                names[s.mmp].name or s.mmp,
                stream_names[names[s.mmp].value_stream],
                order[names[s.mmp].value_stream],
                at[s.start],
                names[s.mmp].duration,
                names[s.mmp].mandatory,
            )
            for s in plan.selected
        ),
        key=lambda r: (r[2], r[3], r[0]),
    )
    return charts.roadmap_chart(p.quarters, rows, [v.id for v in p.value_streams])


def _capacity_chart(p: Portfolio, plan: Plan) -> str:
    pools = {x.id: i for i, x in enumerate(p.pools)}
    quarters = {q: i for i, q in enumerate(p.quarters)}
    cells = {(pools[r.pool], quarters[r.quarter]): (r.used, r.available, r.purchased) for r in plan.capacity}
    return charts.capacity_chart(p.quarters, [x.name or x.id for x in p.pools], cells)


MAX_SCENARIO_ROWS = 20  # more scenarios (samples) are shown by the chart and the percentiles only


def _risk_section(p: Portfolio, plan: Plan) -> list[str]:
    """An uncertain portfolio: the value's distribution over the scenarios, the risk figures, the priority
    list, each scenario (when few) and how robust each choice is."""
    r, c = plan.risk, p.currency
    assert r is not None
    marks = [("P10", r.p10), ("CVaR", r.cvar), ("expected", r.expected), ("P90", r.p90)]
    out = [f"<h2>Value over {len(plan.scenarios)} scenarios ({escape(r.measure)}, decision {escape(r.decision)})</h2>"]
    out.append(_figure(charts.risk_chart([(o.probability, o.value) for o in plan.scenarios], marks, c)))
    figures = [("expected value", r.expected), ("P10", r.p10), ("P50", r.p50), ("P90", r.p90)]
    figures += [(f"VaR at {r.alpha:g}", r.var), (f"CVaR at {r.alpha:g}", r.cvar)]
    figures += [("worst case (Wasserstein)", r.worst_case)] if r.worst_case is not None else []
    figures += [("value of knowing the scenario", r.value_of_information)] if r.value_of_information is not None else []
    out.append(_table(["figure", c], [[escape(n), escape(money(v))] for n, v in figures], numeric={1}))
    if plan.priority:
        names = {m.id: m for m in p.mmps}
        out.append("<p>Priority list: fund from the top while the scenario's budget and capacity allow.</p><ol>")
        out += [f"<li>{escape(_name(names, unit))}</li>" for unit in plan.priority]
        out.append("</ol>")
    if len(plan.scenarios) <= MAX_SCENARIO_ROWS:
        rows = [
            [
                escape(o.id),
                escape(f"{o.probability:g}"),
                str(len(o.funded)),
                escape(money(o.value)),
                escape(money(o.own_value)),
            ]
            for o in plan.scenarios
        ]
        out.append(_table(["scenario", "probability", "funded", "value", "own optimum"], rows, numeric={1, 2, 3, 4}))
    if plan.robustness:
        shaky = [row for row in plan.robustness if row.label == "borderline"]
        out.append(
            f"<p>{sum(row.label == 'core' for row in plan.robustness)} MMPs are funded in every scenario's own optimum "
            f"(core), {sum(row.label == 'exterior' for row in plan.robustness)} in none; better estimates would pay "
            f"for the {len(shaky)} borderline ones:</p>"
        )
        out.append(
            _table(
                ["borderline MMP", "share of scenarios"],
                [[escape(row.mmp), escape(percent(row.share, 0))] for row in shaky],
                numeric={1},
            )
        )
    return out


def _figure(svg: str) -> str:
    return f"<figure>{svg}</figure>"


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int] = frozenset(), escaped: bool = False
) -> str:  # type: ignore[assignment]
    """Cells are HTML already (escaped by the caller); header text is escaped here unless `escaped`."""
    head = "".join(
        f"<th{' class=n' if i in numeric else ''}>{h if escaped else escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mmp_cell(names: dict, mmp_id: str) -> str:
    m = names[mmp_id]
    text = escape(m.name) + f" <small>({escape(mmp_id)})</small>" if m.name else escape(mmp_id)
    return text + ("<span class='tag'>mandatory</span>" if m.mandatory else "")


def _name(names: dict, mmp_id: str) -> str:
    m = names.get(mmp_id)
    return f"{m.name} ({mmp_id})" if m is not None and m.name else mmp_id


def _guardrail(low: Decimal | None, high: Decimal | None) -> str:
    if low is None and high is None:
        return "-"
    parts = ([f"at least {percent(low, 0)}"] if low is not None else []) + (
        [f"at most {percent(high, 0)}"] if high is not None else []
    )
    return ", ".join(parts)


def _gap(gap: float | None) -> str:
    return "-" if gap is None else percent(gap, 2)
