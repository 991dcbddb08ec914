"""What one cell means: a number, a list of numbers, an id, a yes/no. Each reader raises CellError
with a sentence for a person; the workbook reader adds the cell's place (`mmps!D7`). And how a row is written,
so that what is written reads back the same."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from workbooks.layout import Kind

NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
GROUPED = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")
TRUE = {"yes", "y", "true", "x", "1", "wahr", "ja", "oui"}
FALSE = {"no", "n", "false", "0", "falsch", "nein", "non"}
SEPARATOR = re.compile(r"[;,]")  # between the entries of a list cell (ids, or numbers per quarter)


class CellError(ValueError):
    """A cell does not hold what its column needs."""


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def shown(value: object) -> str:
    """The cell as a person sees it, quoted, shortened."""
    text = value.isoformat() if isinstance(value, date) else str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def number(value: object, column: str, share: bool = False) -> Decimal:
    """A finite number; text may be '1500000', '0.25' or, for shares, '25%'."""
    if isinstance(value, bool | datetime | date):
        raise CellError(f"{column} must be a number, got {shown(value)}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellError(f"{column} must be a finite number, got {shown(value)}")
        return Decimal(f"{value:.15g}")  # what the spreadsheet shows: it keeps 15 significant digits
    if isinstance(value, Decimal):
        return value
    text = str(value).strip()
    if share and text.endswith("%"):
        return number(text[:-1], column) / 100
    if GROUPED.fullmatch(text):
        raise CellError(
            f"{column} must be a number without thousands separators (write {text.replace(',', '')}), got {shown(text)}"
        )
    if not NUMBER.fullmatch(text):
        raise CellError(f"{column} must be a number, got {shown(value)}")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        raise CellError(f"{column} must be a number, got {shown(value)}") from None


def numbers(value: object, column: str) -> Decimal | list[Decimal]:
    """One number, or a list of numbers separated by commas or semicolons (one per quarter)."""
    if not isinstance(value, str):
        return number(value, column)
    text = value.strip()
    if GROUPED.fullmatch(text):
        raise CellError(
            f"{column} is ambiguous: {shown(text)} reads as thousands separators or as one number per quarter; "
            f"write {text.replace(',', '')}, or separate the quarters with '; '"
        )
    parts = SEPARATOR.split(text)
    if len(parts) == 1:
        return number(text, column)
    if any(not p.strip() for p in parts):
        raise CellError(f"{column} has an empty entry in its list {shown(text)}")
    return [number(p, column) for p in parts]


def integer(value: object, column: str) -> int:
    n = number(value, column)
    if n != n.to_integral_value() or n < 1:
        raise CellError(f"{column} must be a whole number of quarters (1 or more), got {shown(value)}")
    return int(n)


def identifier(value: object, column: str = "the cell") -> str:
    """An id or a label as text: a number cell 1001 is the id '1001', not '1001.0'."""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        raise CellError(f"{column} must be text, got the date {shown(value)} (format the cell as text)")
    return str(value).strip()


def identifiers(value: object, column: str) -> list[str]:
    """Comma- (or semicolon-) separated ids."""
    return [p.strip() for p in SEPARATOR.split(identifier(value, column)) if p.strip()]


def splits(entry: str) -> bool:
    """Whether a list cell would split this entry in two (it holds a separator)."""
    return SEPARATOR.search(entry) is not None


def append_row(sheet: Any, values: Iterable[object]) -> None:
    """Append a row to an openpyxl sheet, every text as a text cell: openpyxl makes text starting with '=' a
    formula (and '#N/A' an error), so a name '=HYPERLINK(...)' would run as one and read back as nothing.
    Text starting with '+', '-' or '@' stays text in openpyxl already and is written as it is."""
    row = list(values)
    sheet.append(row)
    if not row:
        return
    for cell in next(sheet.iter_rows(min_row=sheet.max_row, max_row=sheet.max_row, max_col=len(row))):
        if isinstance(cell.value, str):
            cell.data_type = "s"


def boolean(value: object, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise CellError(f"{column} must be yes or no, got {shown(value)}")


def parse(value: object, kind: Kind, column: str) -> object:
    """The cell's value for a column of `kind` (the cell is not empty)."""
    if kind == "number":
        return number(value, column)
    if kind == "share":
        return number(value, column, share=True)
    if kind == "numbers":
        return numbers(value, column)
    if kind == "int":
        return integer(value, column)
    if kind == "bool":
        return boolean(value, column)
    if kind == "ids":
        return identifiers(value, column)
    return identifier(value, column)
