"""Read a backlog workbook (.xlsx, with openpyxl) or a WSJF backlog CSV (the `mmps` sheet alone) into a checked
portfolio.

Every problem is reported at once, each at its cell (`mmps!D7: value must be a number, got 'tbd'`), and
nothing is half-imported: the portfolio comes back whole or `PortfolioError` lists the problems. After the
cells are read, the portfolio goes through the normal input checks (`models.load_portfolio`); the JSON path of
each problem they find is traced back to the cell it came from.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import get_close_matches
from typing import Any

from models import PortfolioError, Problem, load_portfolio
from models.checks import key
from models.portfolio import Portfolio
from workbooks import layout
from workbooks.cells import CellError, identifiers, is_empty, numbers, parse
from workbooks.layout import Column

MAX_ROWS = 100_000
MAX_COLUMNS = 2_000
# What the parts of a workbook may unpack to: an 8 MB upload of repeated text can unpack to gigabytes, and
# openpyxl holds the shared strings (and this reader a sheet's XML) in memory. A 5,000-MMP backlog (8 quarters,
# 200 pools) unpacks to 3 MB.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMPORTED_SHEETS = {layout.PORTFOLIO, *layout.TABLES}
FORMULA = re.compile(rb"<(?:\w+:)?f[\s/>]")  # an <f> element, with or without a namespace prefix
UNCALCULATED = "a formula without a calculated value (open and save the file in a spreadsheet program)"


def read_workbook(data: bytes, source: str = "workbook") -> Portfolio:
    """The portfolio of an .xlsx backlog workbook; PortfolioError names each problem's cell."""
    reader = _Reader(source)
    sheets = reader.load_xlsx(data)
    if sheets is not None:
        reader.workbook(sheets)
    return reader.finish()


def read_csv(
    data: bytes,
    quarters: str | None,
    budget: str | None,
    *,
    name: str = "Imported backlog",
    currency: str = "USD",
    source: str = "backlog.csv",
    options: tuple[str, str] = ("--quarters", "--budget"),
) -> Portfolio:
    """The portfolio of a WSJF backlog CSV (the `mmps` sheet's columns, one MMP per row): its value streams are
    those its rows name, without limits, and it has no pools. `quarters` (comma-separated) and `budget` (one
    number, or one per quarter) come from the caller; `options` names them in problems."""
    reader = _Reader(source)
    reader.csv(data, quarters, budget, name, currency, options)
    return reader.finish()


def kind_of(filename: str | None, content_type: str | None = None) -> str | None:
    """'xlsx', 'csv' or None, from a file name or a media type."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media == XLSX_MEDIA_TYPE:
        return "xlsx"
    if media in ("text/csv", "application/csv"):
        return "csv"
    suffix = (filename or "").lower().rsplit(".", 1)[-1]
    return {"xlsx": "xlsx", "xlsm": "xlsx", "csv": "csv"}.get(suffix)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass
class _Cell:
    value: Any
    ref: str


@dataclass
class _Row:
    number: int
    cells: dict[str, _Cell]
    first: str  # the row's first cell, where problems of the whole row are shown


@dataclass
class _Reader:
    source: str
    problems: list[Problem] = field(default_factory=list)
    cells: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # JSON path -> (cell, column)
    covered: set[str] = field(default_factory=set)  # JSON paths whose problem is already reported
    data: dict[str, Any] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # sheet names, to sort problems
    column_refs: dict[str, str] = field(default_factory=dict)  # column name -> letter, of the last table read
    formulas: set[str] = field(default_factory=set)  # cells whose formula has no calculated value

    # ------------------------------------------------------------------ sources

    def load_xlsx(self, data: bytes) -> dict[str, list[tuple]] | None:
        from openpyxl import load_workbook  # a heavy import, only when a workbook is read

        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            unpacked = sum(part.file_size for part in archive.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                archive.close()
                self.problem(
                    self.source, f"the workbook unpacks to {unpacked:,} bytes, more than {MAX_UNPACKED_BYTES:,}"
                )
                return None
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # not a zip, or a damaged part: openpyxl raises many kinds of error
            kind = "not a zip archive" if isinstance(exc, zipfile.BadZipFile) else type(exc).__name__
            self.problem(self.source, f"not an Excel workbook (.xlsx) that can be read ({kind})")
            return None
        try:
            sheets = {}
            for sheet in book.worksheets:
                sheets[sheet.title] = self.sheet_rows(sheet)
                name = sheet.title.strip().lower()
                if name in IMPORTED_SHEETS:  # the same names as `workbook` reads, named as its problems are
                    self.uncalculated(name, archive.read(sheet._worksheet_path))  # openpyxl has no public path
            return sheets
        except Exception as exc:  # a damaged sheet part
            self.problem(self.source, f"a sheet of the workbook cannot be read: {type(exc).__name__}")
            return None
        finally:
            book.close()
            archive.close()

    def sheet_rows(self, sheet: Any) -> list[tuple]:
        """The sheet's cached values, row by row (a formula's value as last calculated), up to MAX_ROWS."""
        rows = []
        for n, row in enumerate(sheet.iter_rows(values_only=True)):
            if n >= MAX_ROWS:
                self.problem(f"{sheet.title}!A{n + 1}", f"the sheet has more than {MAX_ROWS} rows")
                break
            rows.append(tuple(row[:MAX_COLUMNS]))
        return rows

    def uncalculated(self, sheet: str, xml: bytes) -> None:
        """A formula never calculated (a file saved by a script, not a spreadsheet program) has no value to
        read: openpyxl reads it as an empty cell, which would silently drop the field."""
        for ref in uncalculated_formulas(xml):
            where = f"{sheet}!{ref}" if ref else sheet
            self.problem(where, UNCALCULATED if ref else f"a cell holds {UNCALCULATED}")
            self.formulas.add(where)

    def workbook(self, sheets: dict[str, list[tuple]]) -> None:
        found = {name.strip().lower(): name for name in sheets}
        wanted = (layout.PORTFOLIO, *layout.TABLES)
        self.order = list(wanted)
        for name in layout.REQUIRED_SHEETS:
            if name not in found:
                near = get_close_matches(name, list(found), n=1)
                hint = f" (there is a sheet {found[near[0]]!r}: rename it)" if near else ""
                self.problem(self.source, f"the workbook has no sheet {name!r}{hint}")
        rows = {name: sheets[found[name]] if name in found else [] for name in wanted}
        self.portfolio_sheet(rows[layout.PORTFOLIO], present=layout.PORTFOLIO in found)
        key_results = self.table(layout.KEY_RESULTS, rows[layout.KEY_RESULTS], layout.KEY_RESULT_COLUMNS)
        self.data["value_streams"] = self.items(layout.VALUE_STREAMS, rows, layout.VALUE_STREAM_COLUMNS)
        self.data["pools"] = self.items(layout.POOLS, rows, layout.POOL_COLUMNS)
        self.data["key_results"] = self.items(layout.KEY_RESULTS, rows, layout.KEY_RESULT_COLUMNS, key_results)
        self.data["investment_guardrails"] = self.items(layout.GUARDRAILS, rows, layout.GUARDRAIL_COLUMNS)
        self.data["groups"] = self.items(layout.GROUPS, rows, layout.GROUP_COLUMNS)
        self.data["synergies"] = self.items(layout.SYNERGIES, rows, layout.SYNERGY_COLUMNS)
        together = self.items(layout.TOGETHER, rows, layout.TOGETHER_COLUMNS)
        self.data["together"] = [row["mmps"] for row in together if "mmps" in row]
        pools = {p.get("id") for p in self.data["pools"]}
        krs = {k.get("id") for k in self.data["key_results"]}
        self.mmps(rows[layout.MMPS], pools, krs, in_csv=False)
        self.scenarios(rows[layout.SCENARIOS])  # its columns name MMPs, pools and streams
        self.actuals(rows[layout.ACTUALS])

    def csv(
        self, data: bytes, quarters: str | None, budget: str | None, name: str, currency: str, options: tuple[str, str]
    ) -> None:
        self.order = [layout.MMPS]
        self.data.update(name=name, currency=currency)
        for option, value, kind, what in (
            (options[0], quarters, "ids", "quarters"),
            (options[1], budget, "numbers", "budget"),
        ):
            self.cells[f"$.{what}"] = (option, None)
            if value is None or not value.strip():
                example = (
                    "the planning horizon, e.g. 2027Q1,2027Q2" if what == "quarters" else "total budget per quarter"
                )
                self.problem(option, f"a CSV backlog needs {example}")
                self.covered.add(f"$.{what}")
                continue
            try:
                self.data[what] = identifiers(value, what) if kind == "ids" else numbers(value, what)
            except CellError as exc:
                self.problem(option, str(exc))
                self.covered.add(f"$.{what}")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            self.problem(self.source, "not UTF-8 text: save the CSV as 'CSV UTF-8'")
            return
        if "\x00" in text:
            self.problem(self.source, "not a CSV text file (it holds NUL bytes)")
            return
        first = text.split("\n", 1)[0]
        delimiter = max(",;\t", key=first.count) if first else ","
        try:
            rows = [tuple(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter)]
        except csv.Error as exc:
            self.problem(self.source, f"not a readable CSV file: {exc}")
            return
        if len(rows) > MAX_ROWS:
            self.problem(f"mmps!A{MAX_ROWS + 1}", f"the file has more than {MAX_ROWS} rows")
            return
        if not any(any(cell.strip() for cell in row) for row in rows[1:]):
            self.problem(self.source, "the CSV has no MMP rows: a header row, then one row per MMP")
            return
        self.mmps([row[:MAX_COLUMNS] for row in rows], set(), set(), in_csv=True)
        streams = []
        for m in self.data["mmps"]:
            stream = m.get("value_stream")
            if isinstance(stream, str) and stream not in streams:
                streams.append(stream)
        self.data["value_streams"] = [{"id": s} for s in streams]
        self.cells["$.value_streams"] = (f"mmps!{self.column_refs.get('value_stream', 'A')}1", "value_stream")

    # ------------------------------------------------------------------ sheets

    def portfolio_sheet(self, rows: list[tuple], present: bool) -> None:
        sheet = layout.PORTFOLIO
        fields = {c.name: c for c in layout.PORTFOLIO_ROWS}
        seen: dict[str, str] = {}
        for n, row in enumerate(rows, start=1):
            label = row[0] if row else None
            value = row[1] if len(row) > 1 else None
            if is_empty(label):
                if not is_empty(value):
                    self.problem(f"{sheet}!A{n}", "a value without a field name in column A")
                continue
            name = str(label).strip().lower()
            if n == 1 and name == "field":
                continue  # the header row
            if name not in fields:
                near = get_close_matches(name, list(fields), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else f" (the fields are {', '.join(fields)})"
                self.problem(f"{sheet}!A{n}", f"unknown field {str(label).strip()!r}{hint}")
                continue
            if name in seen:
                self.problem(f"{sheet}!A{n}", f"{name} is given twice (also in {seen[name]})")
                continue
            seen[name] = f"{sheet}!A{n}"
            ref = f"{sheet}!B{n}"
            risk = layout.RISK_ROWS.get(name)  # risk_weight is the portfolio's risk.weight
            path = f"$.risk.{risk}" if risk else f"$.{name}"
            self.cells[path] = (ref, name)
            if is_empty(value):
                continue
            try:
                parsed = parse(value, fields[name].kind, name)
            except CellError as exc:
                self.problem(ref, str(exc))
                self.covered.add(path)
                continue
            if risk:
                self.data.setdefault("risk", {})[risk] = parsed
            else:
                self.data[name] = parsed
        for column in layout.PORTFOLIO_ROWS:
            if not present:
                risk = layout.RISK_ROWS.get(column.name)
                self.covered.add(f"$.risk.{risk}" if risk else f"$.{column.name}")
            elif column.required and column.name not in seen:
                self.problem(f"{sheet}!A{len(rows) + 1}", f"the portfolio sheet has no {column.name!r} row")
                self.covered.add(f"$.{column.name}")

    def table(self, sheet: str, rows: list[tuple], columns: tuple[Column, ...], dynamic=None) -> list[_Row]:
        """The sheet's data rows as cells by column name; header problems are reported here.
        `dynamic(name)` accepts extra column names (cost_q1, demand:<pool>, kr:<id>)."""
        if not rows:
            return []
        known = {c.name for c in columns}
        names: dict[int, str] = {}
        refs: dict[str, str] = {}
        width = max(len(row) for row in rows)
        for i in range(width):
            label = rows[0][i] if i < len(rows[0]) else None
            ref = f"{sheet}!{column_letter(i)}1"
            if is_empty(label):
                holding = next((n for n, r in enumerate(rows[1:], start=2) if len(r) > i and not is_empty(r[i])), None)
                if holding is not None:
                    self.problem(f"{sheet}!{column_letter(i)}{holding}", "this column holds values but has no header")
                continue
            text = str(label).strip()
            prefix, sep, rest = text.partition(":")
            name = f"{prefix.strip().lower()}{sep}{rest.strip()}" if sep else text.lower()
            if name in refs:
                self.problem(ref, f"column {name!r} is given twice (also in {refs[name]})")
                continue
            verdict = dynamic(name, ref) if dynamic and name not in known else None
            if name not in known and not verdict:
                if verdict is None:  # not one of the sheet's per-id columns (those report their own problem)
                    near = get_close_matches(name, sorted(known), n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    self.problem(ref, f"unknown column {text!r}{hint}")
                continue
            names[i] = name
            refs[name] = ref
        self.column_refs = {name: ref.split("!")[1][:-1] for name, ref in refs.items()}
        for c in columns:
            if c.required and c.name not in refs:
                self.problem(f"{sheet}!{column_letter(len(rows[0]))}1", f"the sheet has no {c.name!r} column")
        out = []
        for n, row in enumerate(rows[1:], start=2):
            if all(is_empty(v) for v in row):
                continue
            cells = {
                name: _Cell(row[i] if i < len(row) else None, f"{sheet}!{column_letter(i)}{n}")
                for i, name in names.items()
            }
            out.append(_Row(n, cells, f"{sheet}!A{n}"))
        return out

    def items(
        self, sheet: str, rows: dict[str, list[tuple]], columns: tuple[Column, ...], table: list[_Row] | None = None
    ) -> list[dict[str, Any]]:
        table = self.table(sheet, rows[sheet], columns) if table is None else table
        out = []
        for n, row in enumerate(table):
            base = f"$.{sheet}[{n}]"
            self.cells[base] = (row.first, None)
            item: dict[str, Any] = {}
            for column in columns:
                self.fill(item, base, row, column)
            self.missing(base, row, columns)
            out.append(item)
        if not table:
            self.cells[f"$.{sheet}"] = (f"{sheet}!A1", None)
        return out

    def mmps(self, rows: list[tuple], pools: set, krs: set, in_csv: bool) -> None:
        sheet = layout.MMPS
        bad_headers: set[str] = set()

        def dynamic(name: str, ref: str) -> bool | None:
            if layout.COST_Q.fullmatch(name):
                return True
            for prefix, ids, what in ((layout.DEMAND, pools, "pool"), (layout.KR, krs, "key result")):
                if name.startswith(prefix):
                    target = name[len(prefix) :]
                    if in_csv:
                        sheet_name = "pools" if what == "pool" else "key_results"
                        self.problem(ref, f"a CSV backlog has no {what}s: use a workbook with a {sheet_name} sheet")
                    elif target not in ids:
                        self.problem(ref, f"unknown {what} {target!r} in the column header")
                    else:
                        return True
                    bad_headers.add(name)
                    return False
            return None

        table = self.table(sheet, rows, layout.MMP_COLUMNS, dynamic)
        self.data["mmps"] = []
        baseline: dict[str, Any] = {}
        for n, row in enumerate(table):
            base = f"$.mmps[{n}]"
            self.cells[base] = (row.first, None)
            item: dict[str, Any] = {}
            for column in layout.MMP_COLUMNS:
                skipped = ("cost", "duration", "baseline_start", *layout.WSJF_FIELDS, *layout.VALUE_RANGE)
                if column.name in skipped:
                    continue
                self.fill(item, base, row, column)
            self.missing(base, row, layout.MMP_COLUMNS)
            duration = self.cost(item, base, row)
            wsjf: dict[str, Any] = {}
            for name in layout.WSJF_FIELDS:
                column = next(c for c in layout.MMP_COLUMNS if c.name == name)
                self.fill(wsjf, f"{base}.wsjf", row, column)
            if wsjf or any(name in row.cells for name in layout.WSJF_FIELDS):
                self.cells[f"{base}.wsjf"] = next(
                    ((row.cells[f].ref, f) for f in layout.WSJF_FIELDS if f in row.cells), (row.first, None)
                )
            if wsjf:
                item["wsjf"] = wsjf
            self.value_range(item, base, row)
            for name, cell in row.cells.items():
                if name.startswith(layout.DEMAND):
                    self.demand(item, base, name, cell, duration)
                elif name.startswith(layout.KR):
                    self.contribution(item, base, name, cell)
            start = row.cells.get("baseline_start")
            if start is not None and not is_empty(start.value) and isinstance(item.get("id"), str):
                try:
                    baseline[item["id"]] = parse(start.value, "id", "baseline_start")
                    self.cells[f"$.baseline_plan{key(item['id'])}"] = (start.ref, "baseline_start")
                except CellError as exc:
                    self.problem(start.ref, str(exc))
            self.data["mmps"].append(item)
        if baseline:
            self.data["baseline_plan"] = baseline
        if not table:
            self.cells["$.mmps"] = (f"{sheet}!A1", None)

    def scenarios(self, rows: list[tuple]) -> None:
        """The scenarios sheet: id, probability, budget, and a column per figure a scenario changes."""
        ids = {
            "MMP": {m.get("id") for m in self.data.get("mmps", [])},
            "pool": {p.get("id") for p in self.data["pools"]},
            "value stream": {v.get("id") for v in self.data["value_streams"]},
        }

        def figure(name: str, ref: str) -> bool | None:
            prefix = next((p for p in layout.SCENARIO_FIGURES if name.startswith(p)), None)
            if prefix is None:
                return None
            what = layout.SCENARIO_FIGURES[prefix][2]
            if name[len(prefix) :] not in ids[what]:
                self.problem(ref, f"unknown {what} {name[len(prefix) :]!r} in the column header")
                return False
            return True

        table = self.table(layout.SCENARIOS, rows, layout.SCENARIO_COLUMNS, figure)
        self.data["scenarios"] = []
        for n, row in enumerate(table):
            base = f"$.scenarios[{n}]"
            self.cells[base] = (row.first, None)
            item: dict[str, Any] = {}
            for column in layout.SCENARIO_COLUMNS:
                self.fill(item, base, row, column)
            self.missing(base, row, layout.SCENARIO_COLUMNS)
            for name, cell in row.cells.items():
                prefix = next((p for p in layout.SCENARIO_FIGURES if name.startswith(p)), None)
                if prefix is not None:
                    self.scenario_figure(item, base, name, prefix, cell)
            self.data["scenarios"].append(item)
        if not table:
            self.cells["$.scenarios"] = (f"{layout.SCENARIOS}!A1", None)

    def scenario_figure(self, item: dict[str, Any], base: str, name: str, prefix: str, cell: _Cell) -> None:
        field_name, kind, what = layout.SCENARIO_FIGURES[prefix]
        target = name[len(prefix) :]
        group = "value_streams" if what == "value stream" else field_name
        path = f"{base}.{group}{key(target)}" + (f".{field_name}" if what == "value stream" else "")
        self.cells[path] = (cell.ref, name)
        if is_empty(cell.value):
            return
        try:
            value = parse(cell.value, kind, name)  # type: ignore[arg-type]
        except CellError as exc:
            self.problem(cell.ref, str(exc))
            self.covered.add(path)
            return
        if what == "value stream":
            item.setdefault("value_streams", {}).setdefault(target, {})[field_name] = value
        elif field_name == "cost":
            item.setdefault("cost", {})[target] = value if isinstance(value, list) else [value]
        else:
            item.setdefault(field_name, {})[target] = value

    def value_range(self, item: dict[str, Any], base: str, row: _Row) -> None:
        """value_low / value_likely / value_high / value_shape as the MMP's value range."""
        found: dict[str, Any] = {}
        for name, target in layout.VALUE_RANGE.items():
            column = next(c for c in layout.MMP_COLUMNS if c.name == name)
            self.fill(found, f"{base}.value_range", row, column, target=target)
        given = [row.cells[n].ref for n in layout.VALUE_RANGE if n in row.cells and not is_empty(row.cells[n].value)]
        if given:
            self.cells[f"{base}.value_range"] = (given[0], None)
        if found:
            item["value_range"] = found

    # ------------------------------------------------------------------ cells

    def fill(self, item: dict[str, Any], base: str, row: _Row, column: Column, target: str | None = None) -> None:
        """Parse the row's cell of `column` into item[target or column.name] (left out when empty)."""
        target = target or column.name
        cell = row.cells.get(column.name)
        if cell is None:
            return
        path = f"{base}.{target}"
        self.cells[path] = (cell.ref, column.name)
        if is_empty(cell.value):
            return
        try:
            item[target] = parse(cell.value, column.kind, column.name)
        except CellError as exc:
            self.problem(cell.ref, str(exc))
            self.covered.add(path)

    def missing(self, base: str, row: _Row, columns) -> None:
        """A required column the sheet lacks was reported once at its header: not again per row."""
        for column in columns:
            if column.required and column.name not in row.cells:
                self.covered.add(f"{base}.{column.name}")

    def actuals(self, rows: list[tuple]) -> None:
        """The actuals sheet, one fact per row, grouped by quarter in the order the quarters first appear."""
        quarters: dict[str, dict[str, Any]] = {}
        for n, row in enumerate(self.table(layout.ACTUALS, rows, layout.ACTUALS_COLUMNS)):
            item: dict[str, Any] = {}
            for column in layout.ACTUALS_COLUMNS:
                self.fill(item, f"$.actuals_sheet[{n}]", row, column)
            subjects = [k for k in ("value_stream", "mmp", "key_result") if k in item]
            if "quarter" not in item or len(subjects) != 1:
                what = "a quarter" if "quarter" not in item else "exactly one of value_stream, mmp or key_result"
                self.problem(row.first, f"an actuals row needs {what}")
                continue
            qi = list(quarters).index(item["quarter"]) if item["quarter"] in quarters else len(quarters)
            quarter = quarters.setdefault(item["quarter"], {"quarter": item["quarter"]})
            self.cells.setdefault(f"$.actuals[{qi}]", (row.first, None))
            subject, name = subjects[0], item[subjects[0]]
            field, value, wanted = {
                "value_stream": ("spent", item.get("spent"), "spent"),
                "mmp": ("mmps", _mmp_actual(item), "status"),
                "key_result": ("key_results", item.get("progress"), "progress"),
            }[subject]
            if value is None:
                self.problem(row.first, f"an actuals row for {subject} {name} needs its {wanted}")
                continue
            facts = quarter.setdefault(field, {})
            if name in facts:
                self.problem(row.first, f"{item['quarter']} has {subject} {name} twice")
                continue
            facts[name] = value
            cell = row.cells.get(wanted) or row.cells[subject]
            self.cells[f"$.actuals[{qi}].{field}{key(name)}"] = (cell.ref, wanted)
            if subject == "mmp":
                self.cells[f"$.actuals[{qi}].{field}{key(name)}.status"] = (row.cells["status"].ref, "status")
            self.cells[f"$.actuals[{qi}].quarter"] = (row.cells["quarter"].ref, "quarter")
        if quarters:
            self.data["actuals"] = list(quarters.values())

    def cost(self, item: dict[str, Any], base: str, row: _Row) -> int:
        """The cost profile from cost and duration (spread evenly) or from cost_q1..cost_qN; returns the
        duration (1 when it cannot be told)."""
        given = sorted(
            (int(m.group(1)), cell)
            for name, cell in row.cells.items()
            if (m := layout.COST_Q.fullmatch(name)) and not is_empty(cell.value)
        )
        total, duration = row.cells.get("cost"), row.cells.get("duration")
        self.cells[f"{base}.cost"] = (total.ref, "cost") if total else (row.first, "cost")
        d: int | None = None
        if duration is not None and not is_empty(duration.value):
            try:
                d = parse(duration.value, "int", "duration")  # type: ignore[assignment]
            except CellError as exc:
                self.problem(duration.ref, str(exc))
                self.covered.add(f"{base}.cost")
        if given:
            if total is not None and not is_empty(total.value):
                self.problem(total.ref, "give cost (with duration) or cost_q1..cost_qN, not both")
                self.covered.add(f"{base}.cost")
                return d or len(given)
            last = given[-1][0]
            present = {k for k, _ in given}
            for k in range(1, last + 1):
                if k not in present:
                    self.problem(given[-1][1].ref, f"cost_q{k} is empty but cost_q{last} is given")
                    self.covered.add(f"{base}.cost")
            profile = []
            for k, cell in given:
                self.cells[f"{base}.cost[{k - 1}]"] = (cell.ref, f"cost_q{k}")
                try:
                    profile.append(parse(cell.value, "number", f"cost_q{k}"))
                except CellError as exc:
                    self.problem(cell.ref, str(exc))
                    self.covered.add(f"{base}.cost")
            self.cells[f"{base}.cost"] = (given[0][1].ref, "cost_q1")
            if d is not None and d != last and duration is not None:
                self.problem(duration.ref, f"duration is {d} but cost_q1..cost_q{last} give {last} quarters")
            if f"{base}.cost" not in self.covered:
                item["cost"] = profile
            return last
        amount = Decimal(0)
        if total is not None and not is_empty(total.value):
            try:
                amount = parse(total.value, "number", "cost")  # type: ignore[assignment]
            except CellError as exc:
                self.problem(total.ref, str(exc))
                self.covered.add(f"{base}.cost")
                return d or 1
        if amount < 0:
            item["cost"] = [amount] * (d or 1)  # the input checks name the negative amount
        else:
            item["cost"] = spread(amount, d or 1)
        return d or 1

    def demand(self, item: dict[str, Any], base: str, name: str, cell: _Cell, duration: int) -> None:
        pool = name[len(layout.DEMAND) :]
        path = f"{base}.demand{key(pool)}"
        self.cells[path] = (cell.ref, name)
        if is_empty(cell.value):
            return
        try:
            units = numbers(cell.value, name)
        except CellError as exc:
            self.problem(cell.ref, str(exc))
            self.covered.add(path)
            return
        item.setdefault("demand", {})[pool] = units if isinstance(units, list) else [units] * duration

    def contribution(self, item: dict[str, Any], base: str, name: str, cell: _Cell) -> None:
        kr = name[len(layout.KR) :]
        path = f"{base}.key_results{key(kr)}"
        self.cells[path] = (cell.ref, name)
        if is_empty(cell.value):
            return
        try:
            item.setdefault("key_results", {})[kr] = parse(cell.value, "number", name)
        except CellError as exc:
            self.problem(cell.ref, str(exc))
            self.covered.add(path)

    # ------------------------------------------------------------------ problems

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def finish(self) -> Portfolio:
        """The checked portfolio, or PortfolioError with the cell of every problem (the reader's and the
        input checks'), sorted by sheet, row and column."""
        checked: list[Problem] = []
        if not any(p.path == self.source for p in self.problems):
            try:
                portfolio = load_portfolio(self.data)
            except PortfolioError as exc:
                checked = [self.locate(p) for p in exc.problems if not self.is_covered(p.path)]
            else:
                if not self.problems:
                    return portfolio
        problems = list(dict.fromkeys(self.problems + [p for p in checked if p is not None]))
        problems = [p for p in problems if p.path not in self.formulas or UNCALCULATED in p.message]
        raise PortfolioError(sorted(problems, key=self.position))

    def is_covered(self, path: str) -> bool:
        return any(path == c or path.startswith((c + ".", c + "[")) for c in self.covered)

    def locate(self, problem: Problem) -> Problem:
        probe = problem.path
        while probe not in self.cells and probe != "$":
            probe = _parent(probe)
        if probe == "$":
            return Problem(self.source, problem.message)
        ref, column = self.cells[probe]
        message = problem.message
        if column and not message.startswith(column):
            message = f"{column}: {message}"
        return Problem(ref, message)

    def position(self, problem: Problem) -> tuple:
        sheet, _, cell = problem.path.partition("!")
        if not cell:
            return (-1, 0, 0, "")  # the file or an option: first, in the order found
        m = re.fullmatch(r"([A-Z]+)(\d+)", cell)
        letters, number = (m.group(1), int(m.group(2))) if m else ("", 0)
        index = self.order.index(sheet) if sheet in self.order else len(self.order)
        return (index, number, len(letters), letters)


def uncalculated_formulas(xml: bytes) -> list[str | None]:
    """The cells (their references; None when the file names none) of a worksheet part that hold a formula but
    no calculated value. A part without any formula, the common case, is only searched, not parsed."""
    if not FORMULA.search(xml):
        return []
    from openpyxl.xml.functions import iterparse  # defusedxml's, as openpyxl reads the workbook

    refs = []
    for _, element in iterparse(io.BytesIO(xml)):
        tag = _local(element.tag)
        if tag == "c" and _is_uncalculated(element):
            refs.append(element.get("r"))
        if tag in ("c", "row"):
            element.clear()  # keep the memory of a big sheet flat
    return refs


def _is_uncalculated(cell: Any) -> bool:
    """A formula cell without a cached value. An empty cached value is the empty text only in a text-typed
    cell (t="str", a formula that gave ""); openpyxl writes a formula it cannot calculate as <f/><v/>."""
    parts = {_local(child.tag): child for child in cell}
    if "f" not in parts:
        return False
    cached = parts.get("v")
    return cached is None or (not cached.text and cell.get("t") != "str")


def _local(tag: str) -> str:
    """An XML tag without its namespace: '{http://...}c' -> 'c'."""
    return tag.rpartition("}")[2]


def _mmp_actual(item: dict[str, Any]) -> dict[str, Any] | None:
    """An MMP's actual from an actuals row: its status, and its spend and realized value when given."""
    if "status" not in item:
        return None
    return {"status": item["status"], **{k: item[k] for k in ("spent", "realized_value") if k in item}}


def _parent(path: str) -> str:
    """'$.mmps[3].cost[0]' -> '$.mmps[3].cost' -> '$.mmps[3]' -> '$.mmps' -> '$'."""
    if path.endswith('"]'):
        return path[: path.rfind('["')]
    if path.endswith("]"):
        return path[: path.rfind("[")]
    return path[: path.rfind(".")] if "." in path else "$"


def spread(total: Decimal, quarters: int) -> list[Decimal]:
    """`total` over `quarters` in equal parts to the cent (finer if the total is finer); the first quarters take
    the remaining cents, so the parts add up to the total exactly."""
    exponent = total.as_tuple().exponent
    quantum = Decimal(1).scaleb(min(exponent if isinstance(exponent, int) else 0, -2))
    units = int(total / quantum)
    part, rest = divmod(units, quarters)
    return [((part + 1) if q < rest else part) * quantum for q in range(quarters)]
