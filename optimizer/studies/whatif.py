"""What-if scenarios: named changes to a base portfolio, solved side by side and compared.

`apply_changes` turns a base portfolio and a list of changes into a new, checked
portfolio. The study (`WhatIfStudy`) applies every scenario first (a bad change
fails the whole request before any solver runs), solves the base and then every
scenario starting from the base plan, and reports each scenario's plan summary and
its differences from the base plan (`diff`). All figures are exact decimals taken
from the plans' rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from models.checks import PortfolioError, Problem, checked, load_portfolio
from models.plan import NO_PLAN, Plan
from models.portfolio import Portfolio, per_quarter
from models.scenarios import (
    AddMMP,
    BudgetShift,
    CapacityShift,
    Change,
    ChangeCapacity,
    ForceMMP,
    Move,
    PlanSummary,
    RemoveMMP,
    ScaleBudget,
    ScenarioDiff,
    ScenarioResult,
    SetBudget,
    SetKeyResultTarget,
    SetMMP,
    SetStreamBudget,
    WhatIfRequest,
    WhatIfResponse,
)
from models.studies import Variant
from optimizer.studies.core import StudyTask

ZERO = Decimal(0)
CENT = Decimal("0.01")
Data = dict[str, Any]
"""A portfolio as plain data (`Portfolio.model_dump()`), edited in place by the change handlers."""


# ---------------------------------------------------------------- applying changes


def apply_changes(portfolio: Portfolio, changes: list[Change], path: str = "$.changes") -> Portfolio:
    """A new, checked portfolio: `portfolio` with `changes` applied in order (the input is never mutated).

    Raises PortfolioError listing every change that names an unknown id (path
    `{path}[k].<field>`), and otherwise every problem of the changed portfolio
    (paths into the changed portfolio, messages prefixed with `path`).
    """
    data = portfolio.model_dump()
    problems: list[Problem] = []
    for k, change in enumerate(changes):
        problems += _HANDLERS[change.op](data, change, f"{path}[{k}]")
    if problems:
        raise PortfolioError(problems)
    try:
        return load_portfolio(data)
    except PortfolioError as err:
        raise PortfolioError(
            [Problem(p.path, f"after the changes at {path}: {p.message}") for p in err.problems]
        ) from None


def _index(items: list[Data], item_id: str) -> int | None:
    """Position of the item with this id, or None."""
    return next((i for i, item in enumerate(items) if item["id"] == item_id), None)


def _quarter(data: Data, label: str | None) -> int | None:
    """Index of a quarter label (None for every quarter); raises KeyError for an unknown label."""
    if label is None:
        return None
    if label not in data["quarters"]:
        raise KeyError(label)
    return data["quarters"].index(label)


def _update(amount: Any, quarters: int, q: int | None, fn: Callable[[Decimal], Decimal]) -> Any:
    """Apply `fn` to a per-quarter amount: every quarter (keeping its shape), or quarter `q` only
    (a single number is expanded to one per quarter first)."""
    if q is None:
        return [fn(a) for a in amount] if isinstance(amount, list) else fn(amount)
    expanded = per_quarter(amount, quarters)
    expanded[q] = fn(expanded[q])
    return expanded


def _unknown(path: str, what: str, item_id: str) -> list[Problem]:
    return [Problem(path, f"unknown {what} {item_id!r}")]


def _change_budget(data: Data, quarter: str | None, path: str, fn: Callable[[Decimal], Decimal]) -> list[Problem]:
    """Apply `fn` to the total budget of one quarter or of every quarter; a scenario's own budget moves with it."""
    try:
        q = _quarter(data, quarter)
    except KeyError:
        return _unknown(f"{path}.quarter", "quarter", quarter or "")
    old = data["budget"]
    data["budget"] = _update(old, len(data["quarters"]), q, fn)
    rescale_scenario_budgets(data, old)
    return []


def rescale_scenario_budgets(data: Data, old_budget: Any) -> None:
    """Scenarios with a budget of their own (3.11) keep their proportion to the portfolio's budget, now
    `data["budget"]`, which was `old_budget`: a quarter whose budget was 0 shifts them by the change instead.
    Amounts are kept to the cent."""
    n = len(data["quarters"])
    old, new = per_quarter(old_budget, n), per_quarter(data["budget"], n)
    for scenario in data.get("scenarios", []):
        if scenario.get("budget") is None:
            continue
        own = per_quarter(scenario["budget"], n)
        scenario["budget"] = [
            max(ZERO, (s * b / a).quantize(CENT, rounding=ROUND_HALF_EVEN) if a else s + b - a)
            for s, a, b in zip(own, old, new, strict=True)
        ]


def _scale_budget(data: Data, change: ScaleBudget, path: str) -> list[Problem]:
    """Multiply the total budget by `factor`."""
    return _change_budget(data, change.quarter, path, lambda amount: amount * change.factor)


def _set_budget(data: Data, change: SetBudget, path: str) -> list[Problem]:
    """Set the total budget to `amount`."""
    return _change_budget(data, change.quarter, path, lambda _amount: change.amount)


def _set_stream_budget(data: Data, change: SetStreamBudget, path: str) -> list[Problem]:
    """Replace a value stream's min and/or max budget guardrail (the same for every quarter)."""
    v = _index(data["value_streams"], change.value_stream)
    if v is None:
        return _unknown(f"{path}.value_stream", "value stream", change.value_stream)
    if change.min_budget is None and change.max_budget is None:
        return [Problem(path, "nothing to change: give min_budget, max_budget or both")]
    for field in ("min_budget", "max_budget"):
        if getattr(change, field) is not None:
            data["value_streams"][v][field] = getattr(change, field)
            for scenario in data.get("scenarios", []):  # the guardrail set holds in every scenario
                bounds = scenario["value_streams"].get(change.value_stream)
                if bounds is not None:
                    bounds[field] = None
    return []


def _change_capacity(data: Data, change: ChangeCapacity, path: str) -> list[Problem]:
    """Add `delta` units to a pool's capacity; capacity may not fall below zero."""
    p = _index(data["pools"], change.pool)
    if p is None:
        return _unknown(f"{path}.pool", "pool", change.pool)
    try:
        q = _quarter(data, change.quarter)
    except KeyError:
        return _unknown(f"{path}.quarter", "quarter", change.quarter or "")
    pool = data["pools"][p]
    # A scenario's own capacity of the pool changes by the same units.
    owners = [pool, *(s["capacity"] for s in data.get("scenarios", []) if change.pool in s["capacity"])]
    keys = ["capacity"] + [change.pool] * (len(owners) - 1)
    changed = [
        _update(o[k], len(data["quarters"]), q, lambda units: units + change.delta) for o, k in zip(owners, keys)
    ]
    lowest = min(min(c) if isinstance(c, list) else c for c in changed)
    if lowest < 0:
        return [Problem(f"{path}.delta", f"capacity of pool {change.pool!r} would fall to {lowest}, below zero")]
    for owner, k, value in zip(owners, keys, changed, strict=True):
        owner[k] = value
    return []


def _force_mmp(data: Data, change: ForceMMP, path: str) -> list[Problem]:
    """Force an MMP in (mandatory, not excluded), out (excluded, not mandatory) or free it (neither)."""
    i = _index(data["mmps"], change.mmp)
    if i is None:
        return _unknown(f"{path}.mmp", "MMP", change.mmp)
    data["mmps"][i]["mandatory"] = change.mode == "in"
    data["mmps"][i]["excluded"] = change.mode == "out"
    return []


def _set_mmp(data: Data, change: SetMMP, path: str) -> list[Problem]:
    """Set an MMP's value, cost profile, earliest start and/or deadline."""
    i = _index(data["mmps"], change.mmp)
    if i is None:
        return _unknown(f"{path}.mmp", "MMP", change.mmp)
    fields = {f: getattr(change, f) for f in ("value", "cost", "earliest_start", "deadline")}
    fields = {f: value for f, value in fields.items() if value is not None}
    if not fields:
        return [Problem(path, "nothing to change: give value, cost, earliest_start or deadline")]
    problems = [
        Problem(f"{path}.{f}", f"unknown quarter {fields[f]!r}")
        for f in ("earliest_start", "deadline")
        if f in fields and fields[f] not in data["quarters"]
    ]
    if not problems:
        data["mmps"][i].update(fields)
        if "value" in fields:  # a value set is certain: no range, no scenario's own value
            data["mmps"][i]["value_range"] = None
        for field in ("value", "cost"):
            if field in fields:
                for scenario in data.get("scenarios", []):
                    scenario[field].pop(change.mmp, None)
    return problems


def _add_mmp(data: Data, change: AddMMP, path: str) -> list[Problem]:
    """Append a new MMP; its references are checked with the whole changed portfolio."""
    if _index(data["mmps"], change.mmp.id) is not None:
        return [Problem(f"{path}.mmp.id", f"MMP {change.mmp.id!r} already exists")]
    data["mmps"].append(change.mmp.model_dump())
    return []


def _remove_mmp(data: Data, change: RemoveMMP, path: str) -> list[Problem]:
    """Remove an MMP and every reference to it (other MMPs' requires/excludes, the baseline plan)."""
    i = _index(data["mmps"], change.mmp)
    if i is None:
        return _unknown(f"{path}.mmp", "MMP", change.mmp)
    gone = change.mmp
    del data["mmps"][i]
    for m in data["mmps"]:
        for field in ("requires", "requires_any", "excludes"):
            m[field] = [r for r in m[field] if r != gone]
    data["baseline_plan"].pop(gone, None)
    for g in data.get("groups", []):
        g["mmps"] = [m for m in g["mmps"] if m != gone]
    data["groups"] = [g for g in data.get("groups", []) if g["mmps"]]
    # A synergy needs all of its MMPs: without one it can never be earned.
    data["synergies"] = [x for x in data.get("synergies", []) if gone not in x["mmps"]]
    data["together"] = [kept for t in data.get("together", []) if len(kept := [m for m in t if m != gone]) > 1]
    for scenario in data.get("scenarios", []):
        scenario["value"].pop(gone, None)
        scenario["cost"].pop(gone, None)
    return []


def _set_key_result_target(data: Data, change: SetKeyResultTarget, path: str) -> list[Problem]:
    """Set a key result's target."""
    k = _index(data["key_results"], change.key_result)
    if k is None:
        return _unknown(f"{path}.key_result", "key result", change.key_result)
    data["key_results"][k]["target"] = change.target
    return []


_HANDLERS: dict[str, Callable[[Data, Any, str], list[Problem]]] = {
    "scale_budget": _scale_budget,
    "set_budget": _set_budget,
    "set_stream_budget": _set_stream_budget,
    "change_capacity": _change_capacity,
    "force_mmp": _force_mmp,
    "set_mmp": _set_mmp,
    "add_mmp": _add_mmp,
    "remove_mmp": _remove_mmp,
    "set_key_result_target": _set_key_result_target,
}


# ---------------------------------------------------------------- comparing plans


def summarize(plan: Plan) -> PlanSummary:
    """Status, objective, gap, number of selected MMPs, total allocated and unallocated money, and why there
    is no plan when there is none."""
    return PlanSummary(
        status=plan.status,
        objective=plan.objective,
        gap=plan.gap,
        selected=len(plan.selected),
        allocated=sum((row.allocated for row in plan.budget), ZERO),
        unallocated=sum((row.unallocated for row in plan.reserve), ZERO),
        reasons=list(plan.explanation.infeasibility) if plan.status in NO_PLAN else [],
    )


def diff(base: Plan, other: Plan) -> ScenarioDiff:
    """What changes from `base` to `other`, exactly, from the plans' rows.

    Budget and capacity rows are compared where both plans have them (a plan
    without a solution has none), and only rows that differ are listed.
    """
    base_starts = {s.mmp: s.start for s in base.selected}
    other_starts = {s.mmp: s.start for s in other.selected}
    delta = None
    if base.objective is not None and other.objective is not None:
        delta = other.objective - base.objective
    return ScenarioDiff(
        value_delta=delta,
        added=sorted(other_starts.keys() - base_starts.keys()),
        dropped=sorted(base_starts.keys() - other_starts.keys()),
        moved=[
            Move(mmp=m, from_quarter=base_starts[m], to_quarter=other_starts[m])
            for m in sorted(base_starts.keys() & other_starts.keys())
            if base_starts[m] != other_starts[m]
        ],
        budget_shifts=_budget_shifts(base, other),
        capacity_shifts=_capacity_shifts(base, other),
    )


def _budget_shifts(base: Plan, other: Plan) -> list[BudgetShift]:
    """Allocated money that moved, per value stream and quarter (other minus base)."""
    before = {(r.value_stream, r.quarter): r.allocated for r in base.budget}
    return [
        BudgetShift(value_stream=r.value_stream, quarter=r.quarter, delta=r.allocated - before[key])
        for r in other.budget
        if (key := (r.value_stream, r.quarter)) in before and r.allocated != before[key]
    ]


def _capacity_shifts(base: Plan, other: Plan) -> list[CapacityShift]:
    """Change of free capacity (available + purchased - used) per pool and quarter (other minus base)."""
    before = {(r.pool, r.quarter): r.available + r.purchased - r.used for r in base.capacity}
    shifts = []
    for r in other.capacity:
        key = (r.pool, r.quarter)
        if key in before and (delta := r.available + r.purchased - r.used - before[key]) != 0:
            shifts.append(CapacityShift(pool=r.pool, quarter=r.quarter, free_delta=delta))
    return shifts


# ---------------------------------------------------------------- the study


class WhatIfStudy:
    """The base portfolio, then every scenario warm-started from the base plan, compared with it."""

    def tasks(self, request: WhatIfRequest) -> list[StudyTask]:
        base, *changed = scenario_portfolios(request)
        scenarios = [
            StudyTask(s.name, base, Variant(changes=s.changes), after=0, changed=portfolio)
            for s, portfolio in zip(request.scenarios, changed, strict=True)
        ]
        return [StudyTask("base", base), *scenarios]

    def assemble(self, request: WhatIfRequest, plans: Sequence[Plan | None]) -> WhatIfResponse | None:
        """The base plan's summary and each scenario's summary and differences from it; scenarios without
        a plan (a job part that did not finish) are left out, and without a base plan there is no answer."""
        base, *others = plans
        if base is None:
            return None
        return WhatIfResponse(
            base=summarize(base),
            scenarios=[
                ScenarioResult(name=scenario.name, summary=summarize(plan), diff=diff(base, plan))
                for scenario, plan in zip(request.scenarios, others, strict=True)
                if plan is not None
            ],
        )


def scenario_portfolios(request: WhatIfRequest) -> list[Portfolio]:
    """The base portfolio and then each scenario's changed portfolio, all checked.

    Raises one PortfolioError with every problem of the base (paths under
    `$.portfolio`) or, when the base is sound, of every scenario (paths under
    `$.scenarios[i].changes`, or into the changed portfolio).
    """
    base = checked(request.portfolio, "$.portfolio")
    portfolios, problems = [base], []
    for i, scenario in enumerate(request.scenarios):
        try:
            portfolios.append(apply_changes(base, scenario.changes, f"$.scenarios[{i}].changes"))
        except PortfolioError as err:
            problems += [Problem(p.path, f"scenario {scenario.name!r}: {p.message}") for p in err.problems]
    if problems:
        raise PortfolioError(problems)
    return portfolios
