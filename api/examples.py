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
