"""Cells that would not read back as written: text that openpyxl would write as a formula, ids and quarters
holding the separator of a list cell, and formulas no spreadsheet program has calculated."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from models import PortfolioError, load_portfolio
from tests.support.auth import keyed
from tests.support.paths import FIXTURES
from tests.support.solving import solve_valid
from tests.support.workbooks import cached, edited_workbook, fixture_workbook, live_cells, sheet_rows
from workbooks import plan_workbook, portfolio_workbook, read_workbook, reader
from workbooks.reader import UNCALCULATED, uncalculated_formulas

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
LOOKS_LIKE_A_FORMULA = ['=HYPERLINK("x")', "=cat", "=Q3", "+1", "-x", "@SUM(A1)", "#N/A"]


def renamed(name: str, renames: dict[str, str]) -> dict:
    """A fixture with ids (or quarters) renamed wherever they appear."""
    text = (FIXTURES / name).read_text()
    for old, new in renames.items():
        text = text.replace(json.dumps(old), json.dumps(new))
    return json.loads(text)


def problems(call) -> list[str]:
    with pytest.raises(PortfolioError) as caught:
        call()
    return [str(p) for p in caught.value.problems]


def test_a_workbook_that_unpacks_past_the_cap_is_refused_before_it_is_read(monkeypatch):
    """A few megabytes of repeated text can unpack to gigabytes: the parts' sizes are checked first."""
    data = fixture_workbook("insurance-fy27.json")
    monkeypatch.setattr(reader, "MAX_UNPACKED_BYTES", 10_000)
    (problem,) = problems(lambda: read_workbook(data, source="big.xlsx"))
    assert problem.startswith("big.xlsx: the workbook unpacks to ") and problem.endswith("more than 10,000")


# ---------------------------------------------------------------- text that looks like a formula


def test_text_that_looks_like_a_formula_is_written_as_text_and_reads_back_unchanged():
    data = renamed("insurance-fy27.json", {"enabler": "=cat", "2027Q3": "=Q3", "claims-team-1": "@team"})
    data["value_streams"][0]["name"] = '=HYPERLINK("x")'
    for mmp, name in zip(data["mmps"], LOOKS_LIKE_A_FORMULA, strict=False):
        mmp["name"] = name
    portfolio = load_portfolio(data)
    book = portfolio_workbook(portfolio)
    assert live_cells(book) == []
    assert read_workbook(book) == portfolio


def test_the_plan_workbook_writes_names_categories_and_quarters_as_text():
    data = {
        "name": "=SUM(1)",
        "currency": "EUR",
        "quarters": ["=Q3"],
        "budget": 100,
        "value_streams": [{"id": "s", "name": '=HYPERLINK("x")'}],
        "mmps": [
            {"id": "=a", "name": "+a", "value_stream": "s", "value": 100, "cost": [60], "category": "=cat"},
            {"id": "b", "name": "#N/A", "value_stream": "s", "value": 70, "cost": [50]},
        ],
    }
    portfolio = load_portfolio(data)
    book = plan_workbook(portfolio, solve_valid(portfolio))
    assert live_cells(book) == []
    assert sheet_rows(book, "budget")[1][:3] == ("s", '=HYPERLINK("x")', "=Q3")
    assert sheet_rows(book, "roadmap")[1][:5] == ("=a", "+a", "s", "=cat", "=Q3")
    assert sheet_rows(book, "not_funded")[1][:2] == ("b", "#N/A")


# ---------------------------------------------------------------- list separators in ids and quarters


def test_ids_and_quarters_holding_a_list_separator_are_refused_where_a_list_cell_holds_them():
    renames = {"portal-react": "portal,react", "pricing-ml": "pricing;ml", "chatbot": "chat,bot", "2027Q2": "Q2, 27"}
    portfolio = load_portfolio(renamed("multiple-choice.json", renames))
    why = "holds a comma or semicolon, which the workbook's list cell would split in two"
    found = problems(lambda: portfolio_workbook(portfolio))
    assert [line.split(": ")[0] for line in found] == [
        "$.quarters[1]",
        "$.mmps[6].requires_any[0]",
        "$.mmps[6].requires_any[1]",
        "$.groups[1].mmps[0]",
        "$.groups[2].mmps[0]",
        "$.synergies[0].mmps[0]",
        "$.together[0][0]",
    ]
    assert found[0] == f"$.quarters[1]: 'Q2, 27' {why}; rename it, or keep the portfolio as JSON"


def test_an_id_holding_a_comma_in_a_cell_of_its_own_reads_back_unchanged():
    portfolio = load_portfolio(renamed("insurance-fy27.json", {"claims": "claims, life", "2027Q3": "Q3; 27"}))
    assert portfolio.quarters[2] == "Q3; 27" and portfolio.value_streams[0].id == "claims, life"
    with pytest.raises(PortfolioError):  # the quarter is in the quarters list cell
        portfolio_workbook(portfolio)
    portfolio = load_portfolio(renamed("insurance-fy27.json", {"claims": "claims, life"}))
    assert read_workbook(portfolio_workbook(portfolio)) == portfolio


# ---------------------------------------------------------------- formulas without a calculated value


def test_a_formula_without_a_calculated_value_is_named_at_its_cell():
    book = edited_workbook({"mmps!D6": "=1/0"}, fixture_workbook("insurance-fy27.json"))
    assert problems(lambda: read_workbook(book)) == [f"mmps!D6: {UNCALCULATED}"]


def test_a_formula_without_a_value_in_a_required_cell_is_reported_once():
    book = edited_workbook({"investment_guardrails!A2": '=LOWER("ENABLER")'}, fixture_workbook("insurance-fy27.json"))
    assert problems(lambda: read_workbook(book)) == [f"investment_guardrails!A2: {UNCALCULATED}"]


def test_a_formula_a_spreadsheet_program_calculated_is_read_by_its_value():
    source = fixture_workbook("insurance-fy27.json")
    book = cached(edited_workbook({"mmps!D6": "=2400000"}, source), "xl/worksheets/sheet4.xml", "2400000", "2400000")
    assert read_workbook(book) == read_workbook(source)


@pytest.mark.parametrize(
    ("cell", "uncalculated"),
    [
        ('<c r="D6" t="n"><v>7</v></c>', False),  # no formula
        ('<c r="D6"><f>1+6</f><v>7</v></c>', False),
        ('<c r="D6" t="str"><f>""</f><v></v></c>', False),  # a formula that gave the empty text
        ('<c r="D6" t="e"><f>1/0</f><v>#DIV/0!</v></c>', False),  # an error is a value: the reader names it
        ('<c r="D6"><f>1/0</f><v /></c>', True),  # as openpyxl writes a formula
        ('<c r="D6"><f>1/0</f></c>', True),
        ('<c r="D6" t="b"><f>TRUE()</f><v></v></c>', True),
        ('<c r="D6"><f t="shared" si="0"/></c>', True),  # a shared formula's other cells
    ],
)
def test_which_formula_cells_have_no_calculated_value(cell, uncalculated):
    xml = f'<worksheet xmlns="{MAIN}"><sheetData><row r="6">{cell}</row></sheetData></worksheet>'
    assert uncalculated_formulas(xml.encode()) == (["D6"] if uncalculated else [])


def test_a_namespace_prefix_does_not_hide_a_formula():
    cell = '<x:c r="B2"><x:f>1</x:f></x:c>'
    xml = f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData><x:row r="2">{cell}</x:row></x:sheetData></x:worksheet>'
    assert uncalculated_formulas(xml.encode()) == ["B2"]


def test_a_formula_cell_without_a_reference_is_still_found():
    assert uncalculated_formulas(b"<worksheet><sheetData><row><c><f>1</f></c></row></sheetData></worksheet>") == [None]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    from storage.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('formulas') / 'vmo.db'}")
    db.migrate()
    yield keyed(TestClient(create_app(ApiSettings(pool_size=1), db), raise_server_exceptions=False))
    db.dispose()


def test_the_import_route_answers_422_at_the_cell(client):
    book = edited_workbook({"mmps!D6": "=1/0"}, fixture_workbook("insurance-fy27.json"))
    response = client.post("/v1/imports", files={"file": ("backlog.xlsx", book)})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"] == [{"path": "mmps!D6", "message": UNCALCULATED}]
