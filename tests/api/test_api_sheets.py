"""Spreadsheets and reports over HTTP, and the documented API: POST /v1/imports (multipart upload or raw body),
GET /v1/imports/template, GET /v1/plans/{id}.xlsx and /report, /docs and /redoc from the service's own
assets, and the OpenAPI document (error envelope per status, a description for every field, examples from
the fixtures). No solver pool: the plans behind the exports are solved in this process and stored directly."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import for_summaries
from api.settings import ApiSettings
from models import Plan, SolverSettings, load_portfolio
from models.auth import DEFAULT_TENANT
from optimizer import validate
from storage import repo
from tests.support.auth import keyed
from tests.support.paths import FIXTURES
from tests.support.solving import solve_valid
from tests.support.workbooks import edited_workbook, sheet_rows
from workbooks import XLSX_MEDIA_TYPE, read_workbook, template_workbook
from workbooks.writer import example_portfolio

CSV = "id,name,value_stream,value,cost\napi,Claims API,claims,1200000,800000\napp,FNOL app,claims,tbd,600000\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    from storage.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('sheets') / 'vmo.db'}")
    db.migrate()
    app = create_app(ApiSettings(pool_size=1), db)
    yield keyed(TestClient(app, raise_server_exceptions=False))  # not started: no solver pool, storage is migrated
    db.dispose()


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


# ---------------------------------------------------------------- imports


def test_import_a_workbook_as_a_multipart_upload_or_the_raw_body(client):
    data = template_workbook()
    expected = read_workbook(data)
    upload = client.post("/v1/imports", files={"file": ("backlog.xlsx", data, "application/octet-stream")})
    assert upload.status_code == 200, upload.text
    assert load_portfolio(upload.json()) == expected
    raw = client.post("/v1/imports", content=data, headers={"content-type": XLSX_MEDIA_TYPE})
    assert raw.status_code == 200 and raw.json() == upload.json()


def test_import_a_csv_backlog_with_quarters_and_budget_as_query_parameters(client):
    good = CSV.replace("tbd", "2400000")
    response = client.post(
        "/v1/imports?quarters=2027Q1,2027Q2&budget=1500000&name=Claims",
        content=good,
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    portfolio = load_portfolio(response.json())
    assert (portfolio.name, portfolio.quarters, portfolio.budget) == ("Claims", ["2027Q1", "2027Q2"], 1500000)
    upload = client.post("/v1/imports?quarters=2027Q1&budget=1", files={"file": ("claims.csv", good, "text/csv")})
    assert upload.status_code == 200 and upload.json()["name"] == "claims"


def test_import_problems_are_422_with_the_cell_as_the_path(client):
    bad = edited_workbook({"mmps!D3": "tbd", "pools!D2": "six"})
    error = assert_envelope(client.post("/v1/imports", files={"file": ("b.xlsx", bad)}), 422, "invalid_input")
    assert error["details"] == [
        {"path": "pools!D2", "message": "capacity must be a number, got 'six'"},
        {"path": "mmps!D3", "message": "value must be a number, got 'tbd'"},
    ]
    error = assert_envelope(
        client.post("/v1/imports", content=CSV, headers={"content-type": "text/csv"}), 422, "invalid_input"
    )
    assert [d["path"] for d in error["details"]] == ["$.query.quarters", "$.query.budget", "mmps!D3"]
    error = assert_envelope(
        client.post("/v1/imports", content=b"PK\x03\x04", headers={"content-type": XLSX_MEDIA_TYPE}),
        422,
        "invalid_input",
    )
    assert error["details"][0]["path"] == "$"


def test_import_refuses_other_media_types_and_missing_files(client):
    assert_envelope(client.post("/v1/imports", json={"name": "x"}), 415, "unsupported_media_type")
    assert_envelope(client.post("/v1/imports", files={"file": ("notes.txt", b"hello")}), 415, "unsupported_media_type")
    error = assert_envelope(client.post("/v1/imports", files={"other": ("b.csv", b"id\n")}), 422, "invalid_input")
    assert error["details"][0]["path"] == "$.file"


def test_the_template_downloads_and_imports_back(client):
    response = client.get("/v1/imports/template")
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    assert "attachment" in response.headers["content-disposition"]
    assert read_workbook(response.content) == read_workbook(template_workbook())


# ---------------------------------------------------------------- exports of stored plans


@pytest.fixture(scope="module")
def stored_plan_id(client) -> str:
    portfolio = example_portfolio()  # every sheet and chart has something to show, and it solves at once
    plan = solve_valid(portfolio)
    db = client.app.state.db
    with db.session() as session:
        version = repo.add_portfolio(session, DEFAULT_TENANT, portfolio)
        return repo.add_plan(session, version, plan, SolverSettings()).id


def test_a_stored_plan_as_a_workbook(client, stored_plan_id):
    response = client.get(f"/v1/plans/{stored_plan_id}.xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_MEDIA_TYPE
    stored = Plan.model_validate(client.get(f"/v1/plans/{stored_plan_id}").json()["plan"])
    assert validate(example_portfolio(), stored) == []
    for sheet in ("summary", "budget", "roadmap", "capacity", "not_funded", "investment_mix"):
        assert sheet_rows(response.content, sheet), sheet
    roadmap = sheet_rows(response.content, "roadmap")
    assert {row[0] for row in roadmap[1:]} == {s.mmp for s in stored.selected}
    not_funded = sheet_rows(response.content, "not_funded")
    assert not_funded[0][-1] == "what it would take"
    assert len(not_funded) - 1 == len(stored.not_selected)


@pytest.mark.slow
def test_a_stored_plan_as_an_html_report(client, stored_plan_id):
    response = client.get(f"/v1/plans/{stored_plan_id}/report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for chart in ("uplift", "budget", "roadmap", "capacity", "investment_mix", "key_results"):
        assert f'data-chart="{chart}"' in html, chart
    assert "<script" not in html and not re.search(r"(src|href)=\"(?!#)", html)


def test_exports_of_an_unknown_plan_are_404(client):
    for path in ("/v1/plans/nope.xlsx", "/v1/plans/nope/report", "/v1/plans/nope"):
        assert_envelope(client.get(path), 404, "not_found")


# ---------------------------------------------------------------- documentation


@pytest.fixture(scope="module")
def openapi(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_every_field_of_every_model_has_a_description(openapi):
    missing = [
        f"{name}.{field}"
        for name, schema in openapi["components"]["schemas"].items()
        for field, spec in schema.get("properties", {}).items()
        if not spec.get("description")
    ]
    assert missing == []


def test_every_route_documents_the_real_error_envelope(openapi):
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert "HTTPValidationError" not in json.dumps(openapi)
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            answers = operation["responses"]
            expected = set()
            if "requestBody" in operation:
                expected |= {"413", "422"}
                if "application/json" in operation["requestBody"]["content"]:
                    expected.add("400")
            if any(p["in"] == "query" for p in operation.get("parameters", [])):
                expected.add("422")
            if any(p["in"] == "path" for p in operation.get("parameters", [])):
                expected.add("404")
            if path.startswith("/v1/") and path not in ("/v1/check", "/v1/imports", "/v1/imports/template"):
                expected.add("503")  # solvers or storage
            if path == "/v1/jobs/{job_id}/result":
                expected.add("409")
            if path.startswith("/v1/"):
                expected |= {"401", "403"}  # every route needs a credential and a role
            assert expected <= set(answers), (method, path, sorted(answers))
            for status, answer in answers.items():
                if status.startswith(("4", "5")) and path != "/readyz":
                    assert answer["content"]["application/json"]["schema"] == envelope, (method, path, status)
                    assert answer["content"]["application/json"]["example"]["error"]["code"], (method, path, status)


def test_response_examples_come_from_the_fixtures(openapi):
    def example(path, method, status="200"):
        content = openapi["paths"][path][method]["responses"][status]["content"]["application/json"]
        (value,) = [e["value"] for e in content["examples"].values()]
        return value

    insurance = json.loads((FIXTURES / "insurance-fy27.json").read_text())
    assert example("/v1/imports", "post") == insurance
    assert example("/v1/portfolios/{portfolio_id}", "get")["portfolio"] == insurance
    assert example("/v1/check", "post")["mmps"] == len(insurance["mmps"])
    backlog = load_portfolio(json.loads((FIXTURES / "wsjf-backlog.json").read_text()))
    plan = Plan.model_validate(example("/v1/solve", "post"))
    # The example is solved once per process, under a 10 s limit: a proof within it is up to the load.
    assert plan.status in ("optimal", "feasible") and validate(backlog, plan) == []
    assert Plan.model_validate(example("/v1/plans/{plan_id}", "get")["plan"]) == plan
    assert example("/v1/whatif", "post")["scenarios"][0]["name"] == "one more team"
    assert len(example("/v1/frontier", "post")["points"]) == 2


@pytest.mark.parametrize(
    ("page", "assets"), [("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")), ("/redoc", ("redoc.standalone.js",))]
)
def test_docs_pages_use_only_the_services_own_assets(client, page, assets):
    html = client.get(page).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""", html)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "fonts.googleapis" not in html and "cdn" not in html
    for asset in assets:
        assert f"/docs-assets/{asset}" in html
        assert client.get(f"/docs-assets/{asset}").status_code == 200


def test_summary_studies_skip_what_it_would_take_unless_asked():
    assert for_summaries(SolverSettings()).what_it_takes is False
    assert for_summaries(SolverSettings(what_it_takes=True)).what_it_takes is True
    assert for_summaries(SolverSettings.model_validate({"time_limit_s": 5})).what_it_takes is False
