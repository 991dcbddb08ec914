"""What-if scenarios: named changes to a base portfolio, solved side by side and compared.

`apply_changes` turns a base portfolio and a list of changes into a new, checked
portfolio; `run_whatif` applies every scenario first (a bad change fails the whole
request before any solver runs), solves the base and every scenario through one
executor, and reports each scenario's plan summary and its differences from the
base plan (`diff`). All figures are exact decimals taken from the plans' rows.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from decimal import Decimal
from typing import Any

from models.checks import PortfolioError, Problem, check_portfolio, load_portfolio
from models.plan import Plan
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
from optimizer.parallel import solve_all

ZERO = Decimal(0)
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
    """Apply `fn` to the total budget of one quarter or of every quarter."""
    try:
        q = _quarter(data, quarter)
    except KeyError:
        return _unknown(f"{path}.quarter", "quarter", quarter)
    data["budget"] = _update(data["budget"], len(data["quarters"]), q, fn)
    return []


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
    return []


def _change_capacity(data: Data, change: ChangeCapacity, path: str) -> list[Problem]:
    """Add `delta` units to a pool's capacity; capacity may not fall below zero."""
    p = _index(data["pools"], change.pool)
    if p is None:
        return _unknown(f"{path}.pool", "pool", change.pool)
    try:
        q = _quarter(data, change.quarter)
    except KeyError:
        return _unknown(f"{path}.quarter", "quarter", change.quarter)
    pool = data["pools"][p]
    changed = _update(pool["capacity"], len(data["quarters"]), q, lambda units: units + change.delta)
    lowest = min(changed) if isinstance(changed, list) else changed
    if lowest < 0:
        return [Problem(f"{path}.delta", f"capacity of pool {change.pool!r} would fall to {lowest}, below zero")]
    pool["capacity"] = changed
    return []


def _force_mmp(data: Data, change: ForceMMP, path: str) -> list[Problem]:
    """Force an MMP in (mandatory, not excluded) or out (excluded, not mandatory)."""
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
    del data["mmps"][i]
    for m in data["mmps"]:
        m["requires"] = [r for r in m["requires"] if r != change.mmp]
        m["excludes"] = [x for x in m["excludes"] if x != change.mmp]
    data["baseline_plan"].pop(change.mmp, None)
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
    """Status, objective, gap, number of selected MMPs, total allocated and unallocated money."""
    return PlanSummary(
        status=plan.status,
        objective=plan.objective,
        gap=plan.gap,
        selected=len(plan.selected),
        allocated=sum((row.allocated for row in plan.budget), ZERO),
        unallocated=sum((row.unallocated for row in plan.reserve), ZERO),
    )


def diff(base: Plan, other: Plan) -> ScenarioDiff:
    """What changes from `base` to `other`, exactly, from the plans' rows.

    Budget and capacity rows are compared where both plans have them (a plan
    without a solution has none), and only rows that differ are listed.
    """
    base_starts = {s.mmp: s.start for s in base.selected}
    other_starts = {s.mmp: s.start for s in other.selected}
    both = None not in (base.objective, other.objective)
    return ScenarioDiff(
        value_delta=other.objective - base.objective if both else None,
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


# ---------------------------------------------------------------- the what-if request


def run_whatif(request: WhatIfRequest, executor: Executor | None = None) -> WhatIfResponse:
    """Solve the base portfolio, then every scenario warm-started from the base plan (in parallel
    through `executor`), and compare them."""
    base, *scenarios = scenario_portfolios(request)
    base_plan = solve_all([(base, request.settings)], executor)[0]
    # Scenarios start from the base plan: a change usually leaves most of it optimal.
    warm = {s.mmp: s.start for s in base_plan.selected}
    plans = solve_all([(p, request.settings, warm) for p in scenarios], executor)
    return whatif_response(request, [base_plan, *plans])


def scenario_portfolios(request: WhatIfRequest) -> list[Portfolio]:
    """The base portfolio and then each scenario's changed portfolio, all checked.

    Raises one PortfolioError with every problem of the base (paths under
    `$.portfolio`) or, when the base is sound, of every scenario (paths under
    `$.scenarios[i].changes`, or into the changed portfolio).
    """
    base_problems = check_portfolio(request.portfolio)
    if base_problems:
        raise PortfolioError([Problem("$.portfolio" + p.path[1:], p.message) for p in base_problems])
    portfolios, problems = [request.portfolio], []
    for i, scenario in enumerate(request.scenarios):
        try:
            portfolios.append(apply_changes(request.portfolio, scenario.changes, f"$.scenarios[{i}].changes"))
        except PortfolioError as err:
            problems += [Problem(p.path, f"scenario {scenario.name!r}: {p.message}") for p in err.problems]
    if problems:
        raise PortfolioError(problems)
    return portfolios


def whatif_response(request: WhatIfRequest, plans: list[Plan]) -> WhatIfResponse:
    """The response for `plans` (the base plan first, then one per scenario in request order)."""
    base, *others = plans
    return WhatIfResponse(
        base=summarize(base),
        scenarios=[
            ScenarioResult(name=scenario.name, summary=summarize(plan), diff=diff(base, plan))
            for scenario, plan in zip(request.scenarios, others, strict=True)
        ],
    )
