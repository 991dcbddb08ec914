"""The `vmo` command with spreadsheets and reports: `vmo template`, `vmo import`, `vmo solve` and `vmo check` on
backlog workbooks and CSV files, `--xlsx` and `--report`, and the summary a VMO lead reads (the WSJF baseline
on its second line, names beside ids, mandatory work marked, unfunded MMPs by value, amounts in the currency)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from models import Plan, load_portfolio
from optimizer import validate
from tests.support.cli import assert_rejected, error_lines, invoke
from tests.support.paths import FIXTURES
from tests.support.workbooks import edited_workbook, sheet_rows
from workbooks import read_workbook, template_workbook

CSV = (
    "id,name,value_stream,value,cost,duration,mandatory\n"
    "must,Must do,claims,10,90,1,yes\n"
    "big,Big bet,claims,900,500000,3,\n"
)


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_template_then_import_gives_the_templates_portfolio(tmp_path):
    result = invoke("template", tmp_path / "backlog.xlsx")
    assert result.exit_code == 0, result.stderr
    assert read_workbook((tmp_path / "backlog.xlsx").read_bytes()) == read_workbook(template_workbook())
    result = invoke("import", tmp_path / "backlog.xlsx", "-o", tmp_path / "portfolio.json")
    assert result.exit_code == 0, result.stderr
    assert "Claims FY27: 2 MMPs" in result.stdout
    data = json.loads((tmp_path / "portfolio.json").read_text())
    assert load_portfolio(data) == read_workbook(template_workbook())
    assert data["mmps"][0]["cost"] == [800000]  # numbers as numbers, as in the fixtures
    printed = invoke("import", tmp_path / "backlog.xlsx")
    assert json.loads(printed.stdout) == data


@pytest.mark.slow  # the plan workbook and report are also checked through the API, in the inner loop
def test_solve_a_workbook_directly_and_write_the_plan_workbook_and_report(tmp_path):
    book = write(tmp_path, "backlog.xlsx", template_workbook())
    result = invoke("solve", book, "--json", "--xlsx", tmp_path / "plan.xlsx", "--report", tmp_path / "plan.html")
    assert result.exit_code == 0, result.stderr
    plan = Plan.model_validate_json(result.stdout)
    assert validate(read_workbook(book.read_bytes()), plan) == []
    sheets = {name: sheet_rows((tmp_path / "plan.xlsx").read_bytes(), name) for name in ("summary", "roadmap")}
    assert sheets["roadmap"][0][:6] == ("mmp", "name", "value_stream", "category", "start", "finish")
    assert {row[0] for row in sheets["roadmap"][1:]} == {s.mmp for s in plan.selected}
    assert ("status", "optimal") in sheets["summary"]
    html = (tmp_path / "plan.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 4


def test_a_bad_workbook_is_rejected_with_one_line_per_cell(tmp_path):
    book = write(tmp_path, "backlog.xlsx", edited_workbook({"mmps!D3": "tbd", "pools!D2": "six"}))
    for command in ("solve", "check", "import"):
        lines = assert_rejected(invoke(command, book))
        assert lines == [
            "error: pools!D2: capacity must be a number, got 'six'",
            "error: mmps!D3: value must be a number, got 'tbd'",
        ]


def test_a_csv_backlog_needs_quarters_and_budget(tmp_path):
    backlog = write(tmp_path, "backlog.csv", CSV)
    lines = assert_rejected(invoke("check", backlog), "--quarters", "--budget")
    assert len(lines) == 2
    result = invoke("check", backlog, "--quarters", "2027Q1,2027Q2,2027Q3", "--budget", "400000")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: backlog: 2 MMPs, 1 value streams, 0 pools, 3 quarters")


def test_the_summary_a_vmo_lead_reads(tmp_path):
    backlog = write(tmp_path, "backlog.csv", CSV + "small,Small win,claims,50,100,1,\nmid,Mid,claims,300,400000,2,\n")
    result = invoke("solve", backlog, "--quarters", "2027Q1,2027Q2,2027Q3", "--budget", "150000")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("vs the WSJF ranking: ")
    assert "Must do (must) [mandatory]" in result.stdout
    unfunded = result.stdout[result.stdout.index("Not funded") :]
    assert unfunded.index("Big bet (big)") < unfunded.index("Mid (mid)")  # by value, highest first
    assert "166,666.67" in unfunded  # a third of 500,000 a quarter, rounded to the cent
    assert not re.search(r"\d\.\d{3,}", result.stdout)  # no raw decimals
    assert not re.search(r"(?<![\w.,])-0(?![\d.,])", result.stdout)  # no -0


def test_the_wsjf_backend_says_it_is_the_ranking(tmp_path, fixtures_dir):
    result = invoke("solve", fixtures_dir / "wsjf-backlog.json", "--backend", "wsjf-greedy")
    assert result.exit_code == 0, result.stderr
    assert "WSJF ranking's own plan" in result.stdout.splitlines()[1]


@pytest.mark.slow
def test_whatif_and_frontier_write_reports(tmp_path, fixtures_dir):
    portfolio = fixtures_dir / "wsjf-backlog.json"
    scenarios = write(
        tmp_path,
        "scenarios.json",
        json.dumps([{"name": "more", "changes": [{"op": "change_capacity", "pool": "claims-art", "delta": 10}]}]),
    )
    result = invoke("whatif", portfolio, scenarios, "--workers", "1", "--report", tmp_path / "whatif.html")
    assert result.exit_code == 0, result.stderr
    assert 'data-chart="scenarios"' in (tmp_path / "whatif.html").read_text()
    budgets = ("--from", "20000000", "--to", "30000000", "--steps", "2", "--workers", "1", "--time-limit", "20")
    result = invoke("frontier", fixtures_dir / "insurance-fy27.json", *budgets, "--report", tmp_path / "frontier.html")
    assert result.exit_code == 0, result.stderr
    assert 'data-chart="frontier"' in (tmp_path / "frontier.html").read_text()


def test_an_output_that_cannot_be_written_is_an_input_error(tmp_path):
    assert_rejected(invoke("template", tmp_path / "missing" / "backlog.xlsx"), "cannot write")


def test_template_from_a_portfolio_the_workbook_cannot_hold_exits_2_with_one_line_per_field(tmp_path):
    data = json.loads((FIXTURES / "insurance-fy27-risk.json").read_text())
    distances = [[0 if j == k else 1 for j in range(3)] for k in range(3)]
    data.update(scenario_count=1, risk={"measure": "wasserstein", "radius": 1, "distances": distances})
    source = tmp_path / "distances.json"
    source.write_text(json.dumps(data))
    out = tmp_path / "risk.xlsx"
    result = invoke("template", out, "--from", source)
    assert result.exit_code == 2
    assert [line.split(": ")[1] for line in error_lines(result)] == ["$.risk.distances"]
    assert not out.exists(), "a lossy workbook was written"


def test_what_it_would_take_in_the_summary_and_the_plan_workbook(tmp_path):
    # Budget 100 a quarter: a (100, cost 60) is funded, b (70, cost 50) would take a value of 100 or 10 more.
    data = {
        "name": "takes",
        "currency": "EUR",
        "quarters": ["2027Q1"],
        "budget": 100,
        "value_streams": [{"id": "s"}],
        "mmps": [
            {"id": "a", "value_stream": "s", "value": 100, "cost": [60]},
            {"id": "b", "name": "Beta", "value_stream": "s", "value": 70, "cost": [50]},
        ],
    }
    path = write(tmp_path, "p.json", json.dumps(data))
    result = invoke("solve", path, "--xlsx", tmp_path / "plan.xlsx")
    assert result.exit_code == 0, result.stderr
    unfunded = result.stdout[result.stdout.index("Not funded") :]
    assert "what it would take" in unfunded
    assert "a value of 100, in place of a; or 10 more" in " ".join(unfunded.split())
    rows = sheet_rows((tmp_path / "plan.xlsx").read_bytes(), "not_funded")
    assert rows[1][0] == "b" and rows[1][-1] == "a value of 100, in place of a; or 10 more budget (2027Q1 10)"
    assert rows[0][6:12] == (
        "value needed low (EUR)",
        "value needed high (EUR)",
        "budget lacking low (EUR)",
        "budget lacking high (EUR)",
        "capacity lacking low",
        "capacity lacking high",
    )
    assert rows[1][6:12] == (100, 100, 10, 10, None, None)
    off = invoke("solve", path, "--no-what-it-takes")
    assert "what it would take" not in off.stdout


def test_template_from_a_portfolio_with_a_comma_in_a_listed_id_exits_2_naming_the_field(tmp_path):
    text = (FIXTURES / "insurance-fy27.json").read_text().replace('"2027Q2"', '"Q2, 27"')
    data = json.loads(text)
    data["mmps"][0]["id"] = "a,b"
    data["mmps"][1]["requires"] = ["a,b"]
    source = write(tmp_path, "commas.json", json.dumps(data))
    out = tmp_path / "commas.xlsx"
    lines = assert_rejected(invoke("template", out, "--from", source), "'Q2, 27' holds a comma", "'a,b' holds a comma")
    assert [line.split(": ")[1] for line in lines] == ["$.quarters[1]", "$.mmps[1].requires[0]"]
    assert not out.exists(), "a workbook that reads back otherwise was written"


def test_import_of_a_formula_never_calculated_exits_2_naming_the_cell(tmp_path):
    assert invoke("template", tmp_path / "t.xlsx", "--from", FIXTURES / "insurance-fy27.json").exit_code == 0
    book = write(tmp_path, "f.xlsx", edited_workbook({"mmps!D6": "=1/0"}, (tmp_path / "t.xlsx").read_bytes()))
    lines = assert_rejected(invoke("import", book))
    assert lines == [
        "error: mmps!D6: a formula without a calculated value (open and save the file in a spreadsheet program)"
    ]
