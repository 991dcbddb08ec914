"""Backlog workbooks for tests: the template or a fixture as a workbook, edited cell by cell."""

from __future__ import annotations

import io
import json
from typing import Any

from models import Portfolio, load_portfolio
from tests.support.paths import FIXTURES
from workbooks import portfolio_workbook, template_workbook


def fixture_portfolio(name: str) -> Portfolio:
    return load_portfolio(json.loads((FIXTURES / name).read_text()))


def edited_workbook(edits: dict[str, Any], source: bytes | None = None) -> bytes:
    """The template (or `source`) with cells set: {'mmps!D3': 'tbd'}; a value None empties the cell; a sheet
    name alone ({'pools': None}) removes the sheet."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(source or template_workbook()))
    for where, value in edits.items():
        sheet, _, cell = where.partition("!")
        if not cell:
            del book[sheet]
        else:
            book[sheet][cell] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def fixture_workbook(name: str) -> bytes:
    return portfolio_workbook(fixture_portfolio(name))


def sheet_rows(data: bytes, sheet: str) -> list[tuple]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return [tuple(row) for row in book[sheet].iter_rows(values_only=True)]
    finally:
        book.close()


def live_cells(data: bytes) -> list[str]:
    """The cells (`sheet!A1`) openpyxl reads as a formula or an error value rather than as what was written."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    return [
        f"{sheet.title}!{cell.coordinate}"
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type in ("f", "e")
    ]


def cached(data: bytes, part: str, formula: str, value: str) -> bytes:
    """The workbook with the value a spreadsheet program would have calculated for `formula` in the worksheet
    `part` (xl/worksheets/sheetN.xml): openpyxl writes a formula without one."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == part:
                uncalculated = f"<f>{formula}</f><v />".encode()
                assert uncalculated in content, f"no formula {formula!r} without a value in {part}"
                content = content.replace(uncalculated, f"<f>{formula}</f><v>{value}</v>".encode())
            target.writestr(item, content)
    return out.getvalue()
