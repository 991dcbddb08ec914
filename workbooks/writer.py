"""A portfolio written as the backlog workbook the reader reads back to the same portfolio, the downloadable
template (an example row on every sheet, a note on every header, a `notes` sheet), and the portfolio as plain
JSON data."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from models import PortfolioError, Problem, load_portfolio
from models.portfolio import MMP, Portfolio, RiskScenario
from workbooks import layout
from workbooks.cells import append_row, splits
from workbooks.layout import Column
from workbooks.reader import spread

EXACT_DIGITS = 15  # a spreadsheet number keeps 15 significant digits; longer amounts are written as text


def unwritable(p: Portfolio) -> list[Problem]:
    """What the backlog workbook cannot hold: written anyway, it would be lost or changed on the way back, so
    such a portfolio stays JSON. Distances between scenarios given by hand have no place; an id (or quarter) in
    a list cell that holds a list separator would read back as two."""
    problems = [
        Problem(
            f"{path}[{n}]",
            f"{entry!r} holds a comma or semicolon, which the workbook's list cell would split in two; "
            "rename it, or keep the portfolio as JSON",
        )
        for path, entries in _list_cells(p)
        for n, entry in enumerate(entries)
        if splits(entry)
    ]
    if p.risk.distances is not None:
        why = "the backlog workbook has no place for distances given by hand; keep the portfolio as JSON"
        problems.append(Problem("$.risk.distances", why))
    return problems


def _list_cells(p: Portfolio) -> Iterator[tuple[str, list[str]]]:
    """The JSON path and entries of every list of ids the workbook writes in one cell, separated by commas."""
    yield "$.quarters", list(p.quarters)
    for sheet, items in ((layout.MMPS, p.mmps), (layout.GROUPS, p.groups), (layout.SYNERGIES, p.synergies)):
        lists = [c.name for c in layout.TABLES[sheet] if c.kind == "ids"]
        for n, item in enumerate(items):
            yield from ((f"$.{sheet}[{n}].{name}", getattr(item, name)) for name in lists)
    yield from ((f"$.together[{n}]", list(ids)) for n, ids in enumerate(p.together))


def portfolio_workbook(p: Portfolio, notes: bool = False) -> bytes:
    """The portfolio as a backlog workbook (.xlsx bytes); `notes` adds the template's notes. Refused (PortfolioError)
    when it has what the workbook cannot hold."""
    if problems := unwritable(p):
        raise PortfolioError(problems)
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = layout.PORTFOLIO
    append_row(sheet, ["field", "value", "notes"] if notes else ["field", "value"])
    values = {
        "name": p.name,
        "currency": p.currency,
        "quarters": ", ".join(p.quarters),
        "budget": _cell(p.budget),
        "change_penalty": _cell(p.change_penalty) if p.change_penalty or p.baseline_plan else None,
        "scenario_count": p.scenario_count if p.scenario_count != 100 else None,
        "decision": p.decision if p.decision != "plan" else None,
        "as_of": p.as_of,
    }
    values |= {row: _default_blank(p.risk, field) for row, field in layout.RISK_ROWS.items()}
    for column in layout.PORTFOLIO_ROWS:
        if values[column.name] is not None or notes:
            append_row(sheet, [column.name, values[column.name], *([column.note] if notes else [])])
    _widths(sheet, [16, 40, 70])

    tables: dict[str, tuple[list[Column], list[list[Any]]]] = {
        layout.VALUE_STREAMS: (
            list(layout.VALUE_STREAM_COLUMNS),
            [_row(v, layout.VALUE_STREAM_COLUMNS) for v in p.value_streams],
        ),
        layout.POOLS: (list(layout.POOL_COLUMNS), [_row(x, layout.POOL_COLUMNS) for x in p.pools]),
        layout.MMPS: _mmp_table(p),
        layout.KEY_RESULTS: (
            list(layout.KEY_RESULT_COLUMNS),
            [_row(k, layout.KEY_RESULT_COLUMNS) for k in p.key_results],
        ),
        layout.GUARDRAILS: (
            list(layout.GUARDRAIL_COLUMNS),
            [_row(g, layout.GUARDRAIL_COLUMNS) for g in p.investment_guardrails],
        ),
        layout.GROUPS: (list(layout.GROUP_COLUMNS), [_row(g, layout.GROUP_COLUMNS) for g in p.groups]),
        layout.SYNERGIES: (list(layout.SYNERGY_COLUMNS), [_row(x, layout.SYNERGY_COLUMNS) for x in p.synergies]),
        layout.TOGETHER: (list(layout.TOGETHER_COLUMNS), [[_cell(list(t))] for t in p.together]),
        layout.SCENARIOS: _scenario_table(p),
    }
    if p.actuals:  # only when there are actuals: a plain backlog has no such sheet
        tables[layout.ACTUALS] = (list(layout.ACTUALS_COLUMNS), _actuals_rows(p))
    for name, (columns, rows) in tables.items():
        sheet = book.create_sheet(name)
        append_row(sheet, [c.name for c in columns])
        for row in rows:
            append_row(sheet, row)
        if notes:
            for cell, column in zip(sheet[1], columns):
                cell.comment = Comment(column.note, "vmo")
        sheet.freeze_panes = "B2"
        _widths(sheet, [max(12, len(c.name) + 2) for c in columns])
    if notes:
        _notes_sheet(book.create_sheet(layout.NOTES), p)
    for sheet in book.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_workbook(p: Portfolio | None = None) -> bytes:
    """The template: every sheet with its headers, a note on each header, a `notes` sheet, and an example row
    (or the rows of `p`)."""
    return portfolio_workbook(p or example_portfolio(), notes=True)


def example_portfolio() -> Portfolio:
    """A small portfolio that fills every sheet of the template with one or two example rows."""
    return load_portfolio(
        {
            "name": "Claims FY27",
            "currency": "USD",
            "quarters": ["2027Q1", "2027Q2", "2027Q3"],
            "budget": 3000000,
            "value_streams": [
                {"id": "claims", "name": "Claims", "min_budget": 500000, "max_budget": 2500000, "run_cost": 300000}
            ],
            "pools": [
                {
                    "id": "claims-team-1",
                    "name": "Claims team 1",
                    "value_stream": "claims",
                    "capacity": 6,
                    "extra_capacity": [0, 2, 2],
                    "extra_cost": 150000,
                }
            ],
            "mmps": [
                {
                    "id": "claims-api",
                    "name": "Claims API",
                    "value_stream": "claims",
                    "value": 1200000,
                    "cost": [800000],
                    "demand": {"claims-team-1": [3]},
                    "category": "enabler",
                    "key_results": {"kr-cycle-time": 2},
                    "wsjf": {"business_value": 5, "time_criticality": 3, "risk_reduction": 8, "job_size": 5},
                },
                {
                    "id": "fnol-app",
                    "name": "First notice of loss app",
                    "value_stream": "claims",
                    "value": 2400000,
                    "cost": [300000, 300000],
                    "demand": {"claims-team-1": [4, 2]},
                    "cost_of_delay": 200000,
                    "requires": ["claims-api"],
                    "category": "business",
                    "key_results": {"kr-cycle-time": 3},
                    "wsjf": {"business_value": 8, "time_criticality": 5, "risk_reduction": 3, "job_size": 8},
                },
            ],
            "investment_guardrails": [{"category": "enabler", "min_share": 0.15}],
            "key_results": [
                {"id": "kr-cycle-time", "name": "Claim cycle time -5 days", "target": 5, "value_per_unit": 100000}
            ],
        }
    )


def portfolio_json(p: Portfolio) -> dict[str, Any]:
    """The portfolio as JSON data in the fixtures' style: numbers as numbers, defaults left out."""
    return _plain(p.model_dump(exclude_defaults=True))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _scenario_table(p: Portfolio) -> tuple[list[Column], list[list[Any]]]:
    """The scenarios sheet: id, probability, budget and a column per figure some scenario changes, in the
    order of the MMPs, pools and streams."""

    def figures(s: RiskScenario) -> dict[str, Any]:
        out: dict[str, Any] = {f"value:{m}": v for m, v in s.value.items()}
        out |= {f"cost:{m}": list(c) for m, c in s.cost.items()}
        out |= {f"capacity:{pool}": c for pool, c in s.capacity.items()}
        for stream, bounds in s.value_streams.items():
            out |= {
                f"{f}:{stream}": getattr(bounds, f)
                for f in ("min_budget", "max_budget")
                if getattr(bounds, f) is not None
            }
        return out

    per_scenario = [figures(s) for s in p.scenarios]
    used = {name for f in per_scenario for name in f}
    order = [f"value:{m.id}" for m in p.mmps] + [f"cost:{m.id}" for m in p.mmps]
    order += [f"capacity:{pool.id}" for pool in p.pools]
    order += [f"{f}:{v.id}" for f in ("min_budget", "max_budget") for v in p.value_streams]
    extra = [Column(name, "numbers", layout.SCENARIO_FIGURES_NOTE) for name in order if name in used]
    columns = [*layout.SCENARIO_COLUMNS, *extra]
    rows = [
        [s.id, _cell(s.probability), _cell(s.budget), *(_cell(f.get(c.name)) for c in extra)]
        for s, f in zip(p.scenarios, per_scenario, strict=True)
    ]
    return columns, rows


def _mmp_table(p: Portfolio) -> tuple[list[Column], list[list[Any]]]:
    """The mmps sheet: the fixed columns, cost_q1..cost_qN when some profile is not an even spread, a
    demand:<pool> column per pool and a kr:<id> column per key result."""
    uneven = [m for m in p.mmps if list(m.cost) != spread(sum(m.cost, Decimal(0)), m.duration)]
    quarters = max((m.duration for m in uneven), default=0)
    cycle = any(m.started or m.stoppable or m.salvage_value or m.done for m in p.mmps)
    fixed = [
        c
        for c in layout.MMP_COLUMNS
        if (c.name != "baseline_start" or p.baseline_plan) and (c.name not in layout.CYCLE_MMP_COLUMNS or cycle)
    ]
    at = next(i for i, c in enumerate(fixed) if c.name == "duration") + 1
    extra = [Column(f"cost_q{k}", "number", layout.COST_Q_NOTE) for k in range(1, quarters + 1)]
    extra += [Column(f"{layout.DEMAND}{pool.id}", "numbers", layout.DEMAND_NOTE) for pool in p.pools]
    extra += [Column(f"{layout.KR}{k.id}", "number", layout.KR_NOTE) for k in p.key_results]
    columns = fixed[:at] + extra + fixed[at:]
    rows = []
    for m in p.mmps:
        even = m not in uneven
        values = {c.name: _value(m, c.name) for c in fixed}
        values["cost"] = _cell(sum(m.cost, Decimal(0))) if even else None
        values["duration"] = m.duration
        values["baseline_start"] = p.baseline_plan.get(m.id)
        for k in range(1, quarters + 1):
            values[f"cost_q{k}"] = None if even or k > m.duration else _cell(m.cost[k - 1])
        for pool in p.pools:
            profile = m.demand.get(pool.id)
            if profile is not None:
                same = len(set(profile)) == 1
                values[f"{layout.DEMAND}{pool.id}"] = _cell(profile[0] if same else list(profile))
        for k in p.key_results:
            values[f"{layout.KR}{k.id}"] = _cell(m.key_results.get(k.id))
        rows.append([values.get(c.name) for c in columns])
    return columns, rows


def _actuals_rows(p: Portfolio) -> list[list[Any]]:
    """One row per fact: a stream's spend, an MMP's status (spend, realized value), a key result's progress."""
    rows: list[list[Any]] = []
    for a in p.actuals:
        rows += [[a.quarter, v, None, None, _cell(x), None, None, None] for v, x in a.spent.items()]
        for mmp, r in a.mmps.items():
            rows.append([a.quarter, None, mmp, None, _cell(r.spent), r.status, _cell(r.realized_value), None])
        rows += [[a.quarter, None, None, k, None, None, None, _cell(x)] for k, x in a.key_results.items()]
    return rows


def _value(m: MMP, name: str) -> Any:
    if name in layout.VALUE_RANGE:
        return _default_blank(m.value_range, layout.VALUE_RANGE[name]) if m.value_range else None
    if name in layout.WSJF_FIELDS:
        return _cell(getattr(m.wsjf, name)) if m.wsjf else None
    if name in ("cost", "duration", "baseline_start"):
        return None
    return _default_blank(m, name)


def _row(item: Any, columns: tuple[Column, ...]) -> list[Any]:
    return [_default_blank(item, c.name) for c in columns]


def _default_blank(item: Any, name: str) -> Any:
    """The field as a cell; empty when it holds the field's default (the reader reads empty as the default)."""
    value = getattr(item, name)
    if value is None or value is False or (isinstance(value, list) and not value):
        return None
    default = type(item).model_fields[name].get_default(call_default_factory=True)
    if not isinstance(value, list) and value == default:
        return None
    return _cell(value)


def _cell(value: Any) -> Any:
    """A cell for a value: numbers as numbers (text when a spreadsheet would round them), lists as
    comma-separated text, booleans as TRUE."""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, Decimal):
        digits = value.normalize().as_tuple().digits
        if len(digits) > EXACT_DIGITS:
            return _text(value)
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _widths(sheet, widths: list[int]) -> None:
    from openpyxl.utils import get_column_letter

    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width


def _notes_sheet(sheet, p: Portfolio) -> None:
    append_row(sheet, ["sheet", "column", "what it holds"])
    append_row(sheet, ["", "", "Empty cells mean 'not given'. Lists are comma-separated. This sheet is not imported."])
    for name in (layout.PORTFOLIO, *layout.TABLES):
        append_row(sheet, [name, "", layout.SHEET_NOTES[name]])
        columns = layout.PORTFOLIO_ROWS if name == layout.PORTFOLIO else layout.TABLES[name]
        for column in columns:
            append_row(sheet, [name, column.name, column.note + (" Required." if column.required else "")])
        if name == layout.MMPS:
            append_row(sheet, [name, "cost_q1 .. cost_qN", layout.COST_Q_NOTE])
            append_row(sheet, [name, "demand:<pool id>", layout.DEMAND_NOTE])
            append_row(sheet, [name, "kr:<key result id>", layout.KR_NOTE])
    _widths(sheet, [22, 22, 110])
