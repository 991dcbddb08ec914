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
        "reoptimize": {
            "summary": "Re-plan stored portfolios close to their latest plans",
            "value": {
                "kind": "reoptimize",
                "portfolio_ids": ["<id from POST /v1/portfolios>"],
                "change_penalty": 250000,
            },
        },
    }
