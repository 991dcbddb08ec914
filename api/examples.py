"""OpenAPI request examples, taken from fixtures/ so the docs show real portfolios."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@cache
def fixture(name: str) -> dict | None:
    path = FIXTURES / name
    return json.loads(path.read_text()) if path.exists() else None


def solve_examples() -> dict:
    out = {}
    for name, summary in (
        ("insurance-fy27.json", "Insurer, four quarters, every constraint kind"),
        ("wsjf-backlog.json", "Plain WSJF backlog, one quarter"),
        ("infeasible-mandatory.json", "Mandatory MMPs that cannot all fit"),
    ):
        portfolio = fixture(name)
        if portfolio is not None:
            out[name.removesuffix(".json")] = {
                "summary": summary,
                "value": {"portfolio": portfolio, "settings": {"time_limit_s": 10}},
            }
    return out


def whatif_examples() -> dict:
    portfolio = fixture("insurance-fy27.json")
    if portfolio is None:
        return {}
    scenarios = [
        {"name": "budget -10%", "changes": [{"op": "scale_budget", "factor": 0.9}]},
        {"name": "one more claims team", "changes": [{"op": "change_capacity", "pool": "claims-team-1", "delta": 6}]},
    ]
    return {
        "insurance": {"summary": "Budget cut and extra team", "value": {"portfolio": portfolio, "scenarios": scenarios}}
    }


def frontier_examples() -> dict:
    portfolio = fixture("insurance-fy27.json")
    if portfolio is None:
        return {}
    value = {"portfolio": portfolio, "range": {"from": 20000000, "to": 40000000, "steps": 5}}
    return {"insurance": {"summary": "Total budget from 20M to 40M", "value": value}}


def portfolio_examples() -> dict:
    portfolio = fixture("insurance-fy27.json")
    return {} if portfolio is None else {"insurance": {"summary": "Insurer, four quarters", "value": portfolio}}


def job_examples() -> dict:
    insurance, backlog = fixture("insurance-fy27.json"), fixture("wsjf-backlog.json")
    if insurance is None or backlog is None:
        return {}
    settings = {"time_limit_s": 10}
    scenarios = [
        {"name": "budget -10%", "changes": [{"op": "scale_budget", "factor": 0.9}]},
        {"name": "budget -20%", "changes": [{"op": "scale_budget", "factor": 0.8}]},
    ]
    return {
        "batch": {
            "summary": "A batch of portfolios",
            "value": {"kind": "batch", "portfolios": [insurance, backlog], "settings": settings},
        },
        "scenarios": {
            "summary": "A base portfolio and its scenarios",
            "value": {"kind": "batch", "portfolio": insurance, "scenarios": scenarios, "settings": settings},
        },
        "frontier": {
            "summary": "Budget frontier from 20M to 40M",
            "value": {"kind": "frontier", "portfolio": insurance, "range": {"from": 20000000, "to": 40000000}},
        },
        "replan": {
            "summary": "Re-plan stored portfolios as of a quarter from their plans of record and actuals",
            "value": {"kind": "replan", "portfolio_ids": ["<id from POST /v1/portfolios>"], "as_of": "2027Q3"},
        },
        "reoptimize": {
            "summary": "Re-plan stored portfolios close to their latest plans",
            "value": {
                "kind": "reoptimize",
                "portfolio_ids": ["<id from POST /v1/portfolios>"],
                "change_penalty": 250000,
            },
        },
    }


# ---------------------------------------------------------------- response examples


@cache
def _solved(name: str) -> tuple[dict, dict] | None:
    """A fixture and its plan (solved once, when the OpenAPI document is first built), as JSON data."""
    from models import SolverSettings, load_portfolio
    from optimizer import solve

    data = fixture(name)
    if data is None:
        return None
    plan = solve(load_portfolio(data), SolverSettings(time_limit_s=10, workers=1))
    return data, plan.model_dump(mode="json")


@cache
def _study(kind: str) -> dict | None:
    """A what-if or frontier answer on the WSJF backlog fixture, run in this process (a few tiny solves)."""
    from models import SolverSettings
    from models.scenarios import FrontierRequest, WhatIfRequest
    from optimizer import solve
    from optimizer.studies import prepared
    from optimizer.studies.frontier import FrontierStudy
    from optimizer.studies.whatif import WhatIfStudy

    data = fixture("wsjf-backlog.json")
    if data is None:
        return None
    settings = SolverSettings(time_limit_s=10, workers=1, what_it_takes=False)  # the answers are summaries
    if kind == "whatif":
        change = {"op": "change_capacity", "pool": "claims-art", "delta": 20}
        request, study = (
            WhatIfRequest(portfolio=data, scenarios=[{"name": "one more team", "changes": [change]}]),
            WhatIfStudy(),
        )
    else:
        request, study = FrontierRequest(portfolio=data, budgets=[0, 100000]), FrontierStudy()
    plans = []
    for task in study.tasks(request):
        portfolio, warm = prepared(task, plans[task.after] if task.after is not None else None)
        plans.append(solve(portfolio, settings, warm))
    return study.assemble(request, plans).model_dump(mode="json")


def response_examples() -> dict[tuple[str, str], dict]:
    """(path, method) -> examples of the 200/201 answer, from the fixtures."""
    out: dict[tuple[str, str], dict] = {}
    insurance, solved = fixture("insurance-fy27.json"), _solved("wsjf-backlog.json")
    if insurance is not None:
        summary = "Insurer, four quarters (fixtures/insurance-fy27.json)"
        out["/v1/imports", "post"] = {"insurance": {"summary": summary, "value": insurance}}
        counts = {"ok": True, "mmps": len(insurance["mmps"]), "value_streams": len(insurance["value_streams"])}
        counts |= {"pools": len(insurance["pools"]), "quarters": len(insurance["quarters"])}
        out["/v1/check", "post"] = {"insurance": {"summary": summary, "value": counts}}
        stored = {"id": "3f1c9a0e5b7d4e21", "name": insurance["name"], "version": 1, "latest_version": 1}
        stored |= {"created_at": "2026-11-30T09:00:00", "portfolio": insurance}
        out["/v1/portfolios/{portfolio_id}", "get"] = {"insurance": {"summary": summary, "value": stored}}
    if solved is not None:
        summary = "The WSJF backlog fixture solved (fixtures/wsjf-backlog.json)"
        out["/v1/solve", "post"] = {"wsjf-backlog": {"summary": summary, "value": solved[1]}}
        info = {"id": "9b2e4c7a1d0f3e58", "portfolio_id": "3f1c9a0e5b7d4e21", "version": 1, "parent_id": None}
        info |= {"job_id": None, "label": None, "status": solved[1]["status"], "objective": solved[1]["objective"]}
        info |= {"created_at": "2026-11-30T09:01:00", "settings": solved[1]["solver"] | {"money_resolution": None}}
        info["settings"] = {
            k: info["settings"][k] for k in ("backend", "time_limit_s", "relative_gap", "seed", "workers")
        }
        out["/v1/plans/{plan_id}", "get"] = {"wsjf-backlog": {"summary": summary, "value": info | {"plan": solved[1]}}}
    for kind in ("whatif", "frontier"):
        answer = _study(kind)
        if answer is not None:
            out[f"/v1/{kind}", "post"] = {"wsjf-backlog": {"summary": "On fixtures/wsjf-backlog.json", "value": answer}}
    return out


def openapi_with_examples(app) -> dict:
    """The app's OpenAPI document with response examples from the fixtures; FastAPI's default 422 schema is
    replaced by the error envelope (or dropped where no input can be invalid). Built once."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    from api.errors import responses

    doc = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes, description=app.description
    )
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    examples = response_examples()
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            answers = operation.get("responses", {})
            default = answers.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if default.get("$ref", "").endswith("/HTTPValidationError"):
                if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
                    spec = responses(422)[422]
                    answers["422"] = {
                        "description": spec["description"],
                        "content": {
                            "application/json": {
                                "schema": envelope,
                                "example": spec["content"]["application/json"]["example"],
                            }
                        },
                    }
                else:
                    del answers["422"]
            for status, answer in answers.items():  # errors are JSON even on routes that answer HTML
                html = answer.get("content", {}).pop("text/html", None) if status[0] in "45" else None
                if html is not None:
                    answer["content"].setdefault("application/json", {})["schema"] = html["schema"]
            for status in ("200", "201"):
                content = answers.get(status, {}).get("content", {}).get("application/json")
                if content is not None and (path, method) in examples:
                    content["examples"] = examples[path, method]
    for unused in ("HTTPValidationError", "ValidationError"):
        doc.get("components", {}).get("schemas", {}).pop(unused, None)
    app.openapi_schema = doc
    return doc
