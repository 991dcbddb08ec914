"""A plan as a workbook for the VMO lead: summary, budget, roadmap, capacity, not_funded, investment_mix."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from models.plan import NotSelected, Plan
from models.portfolio import Portfolio
from workbooks.cells import append_row

MONEY = "#,##0.00"
UNITS = "#,##0.##"
PERCENT = "0.0%"


def plan_workbook(p: Portfolio, plan: Plan) -> bytes:
    """The plan of portfolio `p` as .xlsx bytes. Amounts are numbers formatted in the portfolio's currency."""
    from openpyxl import Workbook

    book = Workbook()
    c = p.currency
    names = {m.id: m for m in p.mmps}
    streams = {v.id: v.name or v.id for v in p.value_streams}
    pools = {x.id: x.name or x.id for x in p.pools}

    summary = book.active
    summary.title = "summary"
    _table(summary, ["item", "value"], _summary_rows(p, plan), {"value": None}, widths=[34, 60])

    budget_rows = [
        [
            r.value_stream,
            streams.get(r.value_stream),
            r.quarter,
            r.allocated,
            r.spent,
            r.allocated - r.spent,
            r.min,
            r.max,
        ]
        for r in plan.budget
    ]
    budget_rows += [
        ["(unallocated)", "reserve of the total budget", r.quarter, r.unallocated, None, None, None, None]
        for r in plan.reserve
    ]
    _table(
        book.create_sheet("budget"),
        [
            "value_stream",
            "name",
            "quarter",
            f"allocated ({c})",
            f"spent ({c})",
            f"reserve ({c})",
            f"min ({c})",
            f"max ({c})",
        ],
        budget_rows,
        {3: MONEY, 4: MONEY, 5: MONEY, 6: MONEY, 7: MONEY},
    )

    roadmap = [
        [
            s.mmp,
            names[s.mmp].name,
            names[s.mmp].value_stream,
            names[s.mmp].category,
            s.start,
            s.finish,
            s.value,
            s.cost,
            "yes" if names[s.mmp].mandatory else None,
        ]
        for s in plan.selected
    ]
    _table(
        book.create_sheet("roadmap"),
        ["mmp", "name", "value_stream", "category", "start", "finish", f"value ({c})", f"cost ({c})", "mandatory"],
        roadmap,
        {6: MONEY, 7: MONEY},
    )

    capacity = [
        [
            r.pool,
            pools.get(r.pool),
            r.quarter,
            r.used,
            r.available,
            r.purchased,
            float(r.used / (r.available + r.purchased)) if r.available + r.purchased else None,
        ]
        for r in plan.capacity
    ]
    _table(
        book.create_sheet("capacity"),
        ["pool", "name", "quarter", "used", "available", "purchased", "utilisation"],
        capacity,
        {3: UNITS, 4: UNITS, 5: UNITS, 6: PERCENT},
    )

    unfunded = sorted(plan.not_selected, key=lambda n: (-names[n.mmp].outcome_value, n.mmp))
    # What it would take as figures too (a range's ends; equal when exact), so the sheet sorts and filters.
    takes = [
        f"value needed low ({c})",
        f"value needed high ({c})",
        f"budget lacking low ({c})",
        f"budget lacking high ({c})",
        "capacity lacking low",
        "capacity lacking high",
    ]
    _table(
        book.create_sheet("not_funded"),
        ["mmp", "name", "value_stream", f"value ({c})", f"cost ({c})", "reason", *takes, "what it would take"],
        [
            [
                n.mmp,
                names[n.mmp].name,
                names[n.mmp].value_stream,
                names[n.mmp].outcome_value,
                sum(names[n.mmp].cost, Decimal(0)),
                n.reason,
                *_need_figures(n),
                n.what_it_takes(p.currency) or None,
            ]
            for n in unfunded
        ],
        {3: MONEY, 4: MONEY, 6: MONEY, 7: MONEY, 8: MONEY, 9: MONEY, 10: UNITS, 11: UNITS},
        widths=[26, 34, 18, 16, 16, 70, 16, 16, 16, 16, 14, 14, 60],
    )

    _table(
        book.create_sheet("investment_mix"),
        ["category", f"spend ({c})", "share", "min_share", "max_share", "within guardrail"],
        [
            [
                r.category or "(none)",
                r.spend,
                float(r.share),
                _share(r.min_share),
                _share(r.max_share),
                "yes" if r.within else "NO",
            ]
            for r in plan.investment_mix
        ],
        {1: MONEY, 2: PERCENT, 3: PERCENT, 4: PERCENT},
    )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _share(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _summary_rows(p: Portfolio, plan: Plan) -> list[list[Any]]:
    c = p.currency
    rows: list[list[Any]] = [["portfolio", p.name]]
    rows += [["status", plan.status], ["currency", c]]
    if plan.objective is not None:
        rows.append(["value", plan.objective])
        if p.uncertain:  # the value is the risk measure; the split is of the portfolio's own figures
            rows.append(["  worth with the portfolio's own figures", plan.value.total])
        rows += [[f"  {label}", amount] for label, amount in plan.value.parts()]
        rows += [["proven bound", plan.bound], ["gap", plan.gap]]
    b = plan.baseline
    if b is not None:
        rows += [
            ["WSJF ranking's value", b.value],
            ["uplift over the WSJF ranking", b.uplift],
            ["uplift (%)", None if b.uplift_percent is None else float(b.uplift_percent) / 100],
            ["funded by the optimizer only", ", ".join(b.optimizer_only)],
            ["funded by the ranking only", ", ".join(b.ranking_only)],
        ]
    if plan.totals is not None:
        h = plan.totals.horizon
        rows += [
            ["MMPs funded", f"{h.funded} of {len(p.mmps)}"],
            ["total budget", h.budget],
            ["allocated to value streams", h.allocated],
            ["bought shared capacity", h.shared_purchases],
            ["unallocated", h.unallocated],
            ["spent", h.spent],
        ]
    rows += [["solver", f"{plan.solver.backend}, {plan.solver.time_s:.2f} s of {plan.solver.time_limit_s:g} s"]]
    rows += [["binding", line] for line in plan.explanation.binding]
    rows += [["infeasible", line] for line in plan.explanation.infeasibility]
    return rows


def _need_figures(n: NotSelected) -> list[Decimal | None]:
    """low and high of the value, budget and capacity an unfunded MMP would take (None: not known)."""
    needs = n.needs
    figures: list[Decimal | None] = []
    for need in (needs.value, needs.budget, needs.capacity) if needs is not None else (None, None, None):
        figures += [None, None] if need is None else [need.low, need.high]
    return figures


def _table(sheet, header: list[str], rows: list[list[Any]], formats: dict, widths: list[int] | None = None) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    append_row(sheet, header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        append_row(sheet, [float(v) if isinstance(v, Decimal) and abs(v) < 10**15 else v for v in row])
    for column, fmt in formats.items():
        if fmt is None:
            continue
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column + 1, max_col=column + 1):
            cell.number_format = fmt
    if sheet.title == "summary":
        for row in sheet.iter_rows(min_row=2):
            label, cell = row[0].value, row[1]
            if isinstance(cell.value, float | int) and not isinstance(cell.value, bool):
                cell.number_format = PERCENT if label in ("gap", "uplift (%)") else MONEY
    sheet.freeze_panes = "A2"
    for i, name in enumerate(header, start=1):
        width = (widths or [])[i - 1] if widths and i <= len(widths) else max(12, len(name) + 4)
        sheet.column_dimensions[get_column_letter(i)].width = width
