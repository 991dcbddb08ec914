"""Issue 13, time limit: the reasons for every MMP left out scanned the whole portfolio once per MMP (the
MMPs excluding it, the spend of a guardrail's category, each group and all-or-none set): a 5,000-MMP plan
with `time_limit_s: 5` took 23 s, 17 of them explaining. The explanation is linear in the portfolio now.

Work is counted as the Python lines executed (deterministic, whatever the machine's load), for a portfolio
and the same portfolio four times as large: linear work grows about four times, the old scans sixteen."""

from __future__ import annotations

import sys
from importlib import import_module

from models import SolverSettings, load_portfolio
from optimizer import solve, validate

explain = import_module("optimizer.explain")


def portfolio(n: int):
    """n MMPs in one quarter, money for all: a guardrail, groups of alternatives and all-or-none pairs keep
    out about half, each for a reason the explanation must look up."""
    mmps = [
        {"id": f"m{i}", "value_stream": "s", "value": 100 + i, "cost": [10], "category": "change" if i % 2 else "run"}
        for i in range(n)
    ]
    mmps[3]["excludes"] = ["m5"]
    return load_portfolio(
        {
            "name": "scaling",
            "quarters": ["q1"],
            "budget": 10 * n,
            "value_streams": [{"id": "s"}],
            "mmps": mmps,
            "investment_guardrails": [{"category": "change", "max_share": "0.3"}],
            "groups": [{"id": f"g{k}", "mmps": [f"m{4 * k}", f"m{4 * k + 2}"], "max": 1} for k in range(n // 8)],
            "together": [[f"m{i}", f"m{i + 1}"] for i in range(1, n // 4, 16)],
        }
    )


def lines_to_explain(n: int) -> tuple[int, int]:
    """(lines executed by not_selected_reasons, MMPs it explained)."""
    p = portfolio(n)
    plan = solve(p, SolverSettings(backend="wsjf-greedy", time_limit_s=60))
    assert validate(p, plan) == []
    count = 0

    def tracer(_frame, event, _arg):
        nonlocal count
        count += event == "line"
        return tracer

    sys.settrace(tracer)
    try:
        reasons = explain.not_selected_reasons(p, plan)
    finally:
        sys.settrace(None)
    assert {r.mmp for r in reasons} == {m.id for m in p.mmps} - {s.mmp for s in plan.selected}
    return count, len(reasons)


def test_explaining_every_mmp_left_out_is_linear_in_the_portfolio():
    small, explained_small = lines_to_explain(200)
    large, explained_large = lines_to_explain(800)
    assert explained_large >= 3 * explained_small > 0
    assert large < 5.5 * small, f"{small} lines for 200 MMPs, {large} for 800: not linear"
