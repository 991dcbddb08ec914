"""Backlog workbooks and CSV files in: the layout of the template, the round trip of every fixture, and every
problem reported at once at its cell (`mmps!D3: value must be a number, got 'tbd'`), nothing half-imported."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from models import PortfolioError, load_portfolio
from tests.support.paths import FIXTURES
from tests.support.workbooks import edited_workbook, fixture_portfolio, fixture_workbook, sheet_rows
from workbooks import portfolio_json, portfolio_workbook, read_csv, read_workbook, template_workbook
from workbooks.reader import spread


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def problems(call) -> list[str]:
    with pytest.raises(PortfolioError) as caught:
        call()
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_survives_a_round_trip_through_a_workbook(name):
    portfolio = fixture_portfolio(name)
    assert read_workbook(fixture_workbook(name)) == portfolio
    assert read_workbook(fixture_workbook(name)).model_dump() == portfolio.model_dump()


def test_distances_given_by_hand_are_refused_rather_than_lost():
    data = fixture("insurance-fy27-risk.json")
    data["risk"] = {"measure": "wasserstein", "radius": 1, "distances": [[0, 1, 2], [1, 0, 1], [2, 1, 0]]}
    data["scenario_count"] = 1
    found = problems(lambda: portfolio_workbook(load_portfolio(data)))
    assert found == [
        "$.risk.distances: the backlog workbook has no place for distances given by hand; keep the portfolio as JSON"
    ]


def test_every_figure_a_scenario_can_change_survives_a_round_trip():
    data = fixture("multiple-choice.json")
    data["scenarios"] = [
        {
            "id": "cut",
            "probability": 0.25,
            "budget": [2500000, 2500000, 2000000, 2000000],
            "value": {"pricing-ml": 2500000, "ifrs17-reporting": -1200000},
            "cost": {"portal-react": [800000, 750000.5]},
            "capacity": {"web-team": [2, 2, 3, 3]},
            "value_streams": {"finance": {"min_budget": 100000}, "digital": {"max_budget": 900000}},
        },
        {"id": "as-planned", "probability": 0.75},
    ]
    data.update(decision="priority", risk={"measure": "cvar", "weight": 0.4, "alpha": 0.9})
    portfolio = load_portfolio(data)
    book = portfolio_workbook(portfolio)
    assert sheet_rows(book, "scenarios")[0] == (
        "id",
        "probability",
        "budget",
        "value:pricing-ml",
        "value:ifrs17-reporting",
        "cost:portal-react",
        "capacity:web-team",
        "min_budget:finance",
        "max_budget:digital",
    )
    assert read_workbook(book) == portfolio


def test_scenario_sheet_problems_are_named_at_their_cell():
    edits = {
        "scenarios!A2": "cut",
        "scenarios!B2": "half",
        "scenarios!D1": "value:ghost",
        "scenarios!E1": "capacity:claims-team-1",
        "scenarios!E2": "many",
        "portfolio!A9": "risk_weight",
        "portfolio!B9": "lots",
    }
    found = problems(lambda: read_workbook(edited_workbook(edits)))
    assert "scenarios!D1: unknown MMP 'ghost' in the column header" in found
    assert any(line.startswith("scenarios!B2: probability") for line in found), found
    assert any(line.startswith("scenarios!E2: capacity:claims-team-1") for line in found), found
    assert any(line.startswith("portfolio!B9: risk_weight") for line in found), found


def test_value_ranges_survive_a_round_trip_without_the_scenarios():
    data = fixture("insurance-fy27-risk.json")
    for name in ("scenarios", "risk", "scenario_count"):
        del data[name]
    portfolio = load_portfolio(data)
    assert sum(1 for m in portfolio.mmps if m.value_range) == 6
    assert read_workbook(portfolio_workbook(portfolio)) == portfolio


def test_the_template_has_every_sheet_headers_notes_and_an_example_that_imports():
    data = template_workbook()
    portfolio = read_workbook(data)
    assert portfolio.name == "Claims FY27" and portfolio.mmps and portfolio.pools and portfolio.key_results
    assert sheet_rows(data, "mmps")[0][:6] == ("id", "name", "value_stream", "value", "cost", "duration")
    headers = set(sheet_rows(data, "mmps")[0])
    assert {"demand:claims-team-1", "kr:kr-cycle-time", "requires", "job_size", "category"} <= headers
    for sheet in ("value_streams", "pools", "key_results", "investment_guardrails"):
        assert len(sheet_rows(data, sheet)) >= 2, sheet  # headers and an example row
    notes = sheet_rows(data, "notes")
    assert any(row[1] == "demand:<pool id>" for row in notes)
    assert sheet_rows(data, "portfolio")[0] == ("field", "value", "notes")


def test_cost_is_spread_evenly_to_the_cent_and_adds_up():
    assert spread(Decimal(500000), 3) == [Decimal("166666.67"), Decimal("166666.67"), Decimal("166666.66")]
    assert sum(spread(Decimal("100.001"), 3)) == Decimal("100.001")
    portfolio = read_workbook(edited_workbook({"mmps!E3": 500000, "mmps!F3": 3, "mmps!G3": 2}))
    fnol = portfolio.mmps[1]
    assert fnol.cost == spread(Decimal(500000), 3)
    assert fnol.demand["claims-team-1"] == [2, 2, 2]  # one number: the same in every quarter of execution


def test_every_problem_is_reported_at_its_cell_at_once():
    data = edited_workbook(
        {
            "mmps!D3": "tbd",  # value of fnol-app
            "mmps!E2": "1,000,000",  # thousands separators
            "mmps!L2": "maybe",  # mandatory
            "mmps!U1": "vaule",  # an unknown column
            "pools!D2": "six",  # capacity
            "portfolio!A8": "budgt",
        }
    )
    found = problems(lambda: read_workbook(data, "backlog.xlsx"))
    assert found == [
        "portfolio!A8: unknown field 'budgt' (did you mean 'budget'?)",
        "pools!D2: capacity must be a number, got 'six'",
        "mmps!U1: unknown column 'vaule' (did you mean 'value'?)",
        "mmps!E2: cost must be a number without thousands separators (write 1000000), got '1,000,000'",
        "mmps!L2: mandatory must be yes or no, got 'maybe'",
        "mmps!D3: value must be a number, got 'tbd'",
    ]


def test_problems_of_the_input_checks_are_traced_back_to_their_cells():
    data = edited_workbook({"mmps!C3": "claimz", "mmps!N3": "claims-api, ghost", "mmps!I2": "2030Q9"})
    assert problems(lambda: read_workbook(data)) == [
        "mmps!I2: earliest_start: '2030Q9' is not a quarter of the horizon",
        "mmps!C3: value_stream: unknown value stream 'claimz'",
        "mmps!N3: requires: unknown MMP 'ghost'",
    ]
    data = edited_workbook({"pools!D2": -3, "key_results!C2": "-1"})
    assert problems(lambda: read_workbook(data)) == [
        "pools!D2: capacity: Input should be greater than or equal to 0",
        "key_results!C2: target: Input should be greater than or equal to 0",
    ]


def test_missing_sheets_columns_and_rows_are_named():
    data = edited_workbook({"value_streams": None, "mmps!C1": None, "portfolio!A5": None, "portfolio!B5": None})
    found = problems(lambda: read_workbook(data, "b.xlsx"))
    assert "b.xlsx: the workbook has no sheet 'value_streams'" in found
    assert any(p.startswith("mmps!") and "the sheet has no 'value_stream' column" in p for p in found)
    assert any(p.startswith("portfolio!") and "no 'budget' row" in p for p in found)
    assert not any("this field is required" in p for p in found)  # said once per column, not per row


def test_headers_name_unknown_pools_and_key_results_once():
    data = edited_workbook({"mmps!G1": "demand:ghost-team", "mmps!H1": "kr:kr-ghost"})
    assert problems(lambda: read_workbook(data)) == [
        "mmps!G1: unknown pool 'ghost-team' in the column header",
        "mmps!H1: unknown key result 'kr-ghost' in the column header",
    ]


def test_not_a_workbook():
    for data in (b"", b"id,name\n", b"PK\x03\x04broken"):
        (problem,) = problems(lambda data=data: read_workbook(data, "b.xlsx"))
        assert problem.startswith("b.xlsx: not an Excel workbook (.xlsx)")


CSV = (
    "id;name;value_stream;value;cost;duration;business_value;time_criticality;risk_reduction;job_size;requires\n"
    "api;Claims API;claims;1200000;800000;1;;;;;\n"
    "app;FNOL app;claims;2400000;900000;2;;;;;api\n"
    "nbo;Next best offer;sales;;0;1;8;5;3;5;\n"
)


def test_a_csv_backlog_is_the_mmps_sheet_alone():
    portfolio = read_csv(CSV.encode(), "2027Q1, 2027Q2", "1500000", name="Backlog")
    assert [v.id for v in portfolio.value_streams] == ["claims", "sales"]
    assert portfolio.pools == [] and portfolio.budget == 1500000 and portfolio.quarters == ["2027Q1", "2027Q2"]
    assert portfolio.mmps[1].cost == [450000, 450000] and portfolio.mmps[1].requires == ["api"]
    assert portfolio.mmps[2].value is None and portfolio.mmps[2].outcome_value == 16
    assert portfolio_json(portfolio)["mmps"][1]["cost"] == [450000, 450000]


def test_a_csv_backlog_reports_options_and_cells():
    bad = CSV.replace("2400000", "tbd") + "x;;claims;1;1;1;;;;;;zz\n"
    found = problems(lambda: read_csv(bad.encode(), None, "1e6,,2", options=("$.query.quarters", "$.query.budget")))
    assert found == [
        "$.query.quarters: a CSV backlog needs the planning horizon, e.g. 2027Q1,2027Q2",
        "$.query.budget: budget has an empty entry in its list '1e6,,2'",
        "mmps!D3: value must be a number, got 'tbd'",
        "mmps!L5: this column holds values but has no header",
    ]
    (problem,) = problems(lambda: read_csv(b"id,value_stream,value,demand:team\na,s,1,1\n", "Q1", "1"))
    assert problem == "mmps!D1: a CSV backlog has no pools: use a workbook with a pools sheet"
    (problem,) = problems(lambda: read_csv(b"\xff\xfe\x00i", "Q1", "1", source="b.csv"))
    assert problem == "b.csv: not UTF-8 text: save the CSV as 'CSV UTF-8'"
    for empty in (b"", b"id,value_stream\n", b"id;value_stream\n;\n\n"):
        (problem,) = problems(lambda data=empty: read_csv(data, "Q1", "1", source="b.csv"))
        assert problem == "b.csv: the CSV has no MMP rows: a header row, then one row per MMP", empty


def test_the_planning_cycle_travels_in_the_workbook():
    # as_of on the portfolio sheet, started/stoppable/salvage_value/done on the mmps sheet, an actuals sheet.
    data = fixture_workbook("insurance-fy27-q3-replan.json")
    assert ("as_of", "2027Q3") in sheet_rows(data, "portfolio")
    assert {"started", "stoppable", "salvage_value", "done"} <= set(sheet_rows(data, "mmps")[0])
    assert sheet_rows(data, "actuals")[1] == ("2027Q1", "claims", None, None, 1080000, None, None, None)
    with pytest.raises(KeyError):  # a portfolio without actuals has no actuals sheet
        sheet_rows(fixture_workbook("insurance-fy27.json"), "actuals")


def test_actuals_sheet_problems_are_reported_at_their_cells():
    data = fixture_workbook("insurance-fy27-q3-replan.json")
    edits = {
        "actuals!E2": -5,  # a negative spend
        "actuals!C3": "claims-api",  # a row naming a value stream and an MMP
    }
    found = problems(lambda: read_workbook(edited_workbook(edits, data)))
    assert found == [
        "actuals!E2: spent: Input should be greater than or equal to 0",
        "actuals!A3: an actuals row needs exactly one of value_stream, mmp or key_result",
    ]
    # Across fields, once every cell reads: an unknown value stream, a quarter that is not before as_of.
    found = problems(lambda: read_workbook(edited_workbook({"actuals!B4": "nope", "actuals!A2": "2027Q4"}, data)))
    assert any(p.startswith("actuals!E4: ") and "unknown value stream 'nope'" in p for p in found), found
    assert any(p.startswith("actuals!A2: ") and "not before as_of 2027Q3" in p for p in found), found
