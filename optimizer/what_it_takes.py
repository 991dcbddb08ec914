"""What it would take to fund each MMP a plan leaves out (docs/design.md, section 5.10).

Plain data in and out: the portfolio, its solver instance, the plan's starts and
value in money units, a deadline. For every unfunded MMP that could start at all,
up to three re-solves on CP-SAT, each with the MMP forced in:

* value: the most a plan funding it is worth when its own value is counted as
  below zero by one money unit (so cost of delay stays linear). The smallest
  `value` at which a plan funding it is worth at least the best plan without it
  is then `W - G - 1` units, where W is the best value without it (this plan's
  objective when proven optimal, else between it and the solve's bound) and G
  that re-solve's optimum; proven bounds on both give [low, high];
* budget: the least extra money per quarter, added to the quarter's total
  budget and to the maximum of the MMP's value stream, with which a plan funds
  it and is worth at least this plan;
* capacity: the least extra units per pool and quarter (beyond what may be
  bought) with which a plan funds it and is worth at least this plan.

Re-solves share what the search left, at most a fifth of the time limit,
ending before the solve's reserve, so the whole solve stays within its limit: each gets an even share of
what is left, but never less than MIN_SLICE_S (the first ones in order then get
that and the last none); what does not fit is said in a note. Every re-solve
is exact integer arithmetic (CP-SAT), so a proven optimum gives an exact figure
and otherwise the proven bound and the best found make the range.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal

from ortools.sat.python import cp_model

from models.plan import BudgetNeed, CapacityNeed, Needs, ValueNeed
from models.portfolio import Portfolio
from models.rules import RuleKind
from models.settings import SolverSettings
from optimizer import stopping
from optimizer.backends import cpsat_solver, solve_stoppable
from optimizer.formulation import Formulation, build, value_expression
from optimizer.instance import Instance

SHARE = 0.2
"""Of the time limit, the most these re-solves get, out of what the search leaves."""
MIN_SLICE_S = 0.1
"""The least time a re-solve gets (less finds nothing on a portfolio of some size, measured on the insurance
fixture): when the even share of the time left is smaller, the first re-solves in order get this much and
the last ones none (their MMPs get a note)."""

NOT_IN_TIME = "not worked out within the time limit"  # after the figures it is about: "budget and capacity ..."
NO_VALUE = "no value is enough: no plan that keeps every rule funds it"


@dataclass(frozen=True)
class Known:
    """What the plan under study says about the best value without the MMP (money units)."""

    starts: dict[int, int]  # the plan's starts, by instance index
    value: int  # its exact value in money units, rounded up: what a plan found for an MMP must reach
    bound: int | None  # proven upper bound on any plan's value (None: unknown)


@dataclass(frozen=True)
class Run:
    """One re-solve: its best objective and proven bound (money or capacity units), the starts found."""

    status: str  # optimal, feasible, infeasible, unknown
    objective: int | None = None
    bound: int | None = None
    starts: dict[int, int] | None = None
    extra: dict[tuple[int, int], int] | None = None  # the slack found: (pool or 0, quarter) -> units


def needs(
    portfolio: Portfolio,
    inst: Instance,
    known: Known,
    settings: SolverSettings,
    deadline: float,
) -> dict[str, Needs | None]:
    """MMP id -> what it would take to fund it, for every MMP `known` leaves out (None: nothing to work out:
    excluded by the user or no quarter it could start in). Stops at `deadline` (time.monotonic())."""
    out: dict[str, Needs | None] = {}
    todo: list[tuple[int, str]] = []
    for i, m in enumerate(inst.mmps):
        if i in known.starts:
            continue
        if m.excluded or not m.starts:
            out[m.id] = None
            continue
        out[m.id] = Needs()
        todo.append((i, "value"))
        if _has_money(inst):
            todo.append((i, "budget"))
        if m.demand:
            todo.append((i, "capacity"))
    # The value each MMP would take first, then the budget, then the capacity; the most valuable MMPs first.
    value_of = {m.id: m.outcome_value for m in portfolio.mmps}
    kinds = {"value": 0, "budget": 1, "capacity": 2}
    todo.sort(key=lambda t: (kinds[t[1]], -value_of[inst.mmps[t[0]].id]))
    exact = settings.model_copy(update={"relative_gap": 0.0})
    late: dict[int, list[str]] = {}  # MMP index -> the figures not worked out in time
    overhead = 0.0  # the most time a re-solve took beyond its search (building the model, reading it)
    for k, (i, kind) in enumerate(todo):
        need = out[inst.mmps[i].id]
        assert need is not None
        began = time.monotonic()
        left = deadline - began - overhead
        slice_s = max(left / (len(todo) - k), MIN_SLICE_S)
        if slice_s > left or stopping.requested():
            late.setdefault(i, []).append(kind)
            continue
        if kind == "value":
            if not _value_need(portfolio, inst, known, i, exact, slice_s, need):
                late.setdefault(i, []).append(kind)
        elif kind == "budget":
            need.budget, decided = _budget_need(inst, known, i, exact, slice_s)
            if not decided:
                late.setdefault(i, []).append(kind)
        elif kind == "capacity":
            need.capacity, decided = _capacity_need(inst, known, i, exact, slice_s)
            if not decided:
                late.setdefault(i, []).append(kind)
        overhead = max(overhead, time.monotonic() - began - slice_s)
    for i, missing in late.items():
        need = out[inst.mmps[i].id]
        assert need is not None
        named = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
        need.notes.append(f"{named} {NOT_IN_TIME}")
    return out


# ---------------------------------------------------------------- the three re-solves


def _value_need(
    portfolio: Portfolio, inst: Instance, known: Known, i: int, settings: SolverSettings, time_s: float, need: Needs
) -> bool:
    """The smallest value at which funding MMP i keeps the best value: W - G - 1 (module docstring). False
    when the re-solve found out nothing in its time."""
    f = build(_valued_below_zero(portfolio, inst, i))
    f.model.add(f.y(i) == 1)
    run = _run(f, settings, time_s, known.starts, maximize=True)
    if run.status == "infeasible":
        need.notes.append(NO_VALUE)
        return True
    res = inst.money_resolution
    low = None if run.bound is None else (known.value - run.bound - 1) * res
    high = None
    if run.objective is not None and known.bound is not None:
        high = (known.bound - run.objective - 1) * res
    if low is not None and high is not None and low > high:  # bounds from a noisy run never cross
        low = high
    if high is None and low is None:
        return False
    need.value = ValueNeed(low=low, high=high, changes=_changes(inst, known.starts, run.starts))
    return True


def _valued_below_zero(portfolio: Portfolio, inst: Instance, i: int) -> Instance:
    """The instance with MMP i's own value one unit below zero at its earliest start, its cost of delay
    kept: value_at(s) = -1 - delay(s), linear (a negative value is never floored at zero)."""
    m, data = portfolio.mmps[i], inst.mmps[i]
    first = portfolio.quarters.index(m.earliest_start) if m.earliest_start else 0
    res = inst.money_resolution
    delay = {s: int((m.cost_of_delay * (s - first) / res).to_integral_value()) for s in data.starts}
    mmps = list(inst.mmps)
    mmps[i] = replace(data, value_at={s: -1 - delay[s] for s in data.starts})
    return replace(inst, mmps=mmps)


def _budget_need(
    inst: Instance, known: Known, i: int, settings: SolverSettings, time_s: float
) -> tuple[BudgetNeed | None, bool]:
    """The least extra money per quarter (total budget and the MMP's stream maximum) that funds MMP i
    without losing value; None with True when more budget alone cannot, None with False when nothing was
    found in time."""
    rules = frozenset(RuleKind) - {RuleKind.TOTAL_BUDGET, RuleKind.STREAM_MAX}
    f = build(inst, rules=rules)
    k, ceiling = inst.allocation_scale, inst.money_ceiling
    more = {q: f.model.new_int_var(0, ceiling, f"more[{q}]") for q in range(inst.horizon)}
    for q in range(inst.horizon):
        allocated = sum(f.b[v, q] for v in range(len(inst.streams)))
        shared = sum(p.extra_cost * f.e[j, q] for j, p in enumerate(inst.pools) if p.stream is None)
        f.model.add(allocated + k * shared <= k * (inst.budget[q] + more[q]))
    own = inst.mmps[i].stream
    for v, vs in enumerate(inst.streams):
        for q, high in enumerate(vs.max_budget):
            if high is not None:
                lift = more[q] if v == own else 0
                f.model.add(f.b[v, q] <= k * (high + lift))
    _funded_without_loss(f, i, known)
    f.model.minimize(sum(more.values()))
    run = _run(f, settings, time_s, known.starts, maximize=False, slack={(0, q): v for q, v in more.items()})
    if run.status in ("infeasible", "unknown"):
        return None, run.status == "infeasible"
    res = inst.money_resolution
    need = BudgetNeed(
        low=None if run.bound is None else run.bound * res,
        high=None if run.objective is None else run.objective * res,
        quarters={inst.quarters[q]: units * res for (_, q), units in sorted((run.extra or {}).items()) if units},
        changes=_changes(inst, known.starts, run.starts),
    )
    return need, True


def _capacity_need(
    inst: Instance, known: Known, i: int, settings: SolverSettings, time_s: float
) -> tuple[CapacityNeed | None, bool]:
    """The least extra units per pool and quarter that fund MMP i without losing value (None and whether
    that is decided, as for the budget)."""
    f = build(inst, rules=frozenset(RuleKind) - {RuleKind.CAPACITY})
    use: dict[tuple[int, int], list] = defaultdict(list)
    for j, mmp in enumerate(inst.mmps):
        for p, profile in mmp.demand.items():
            for s in mmp.starts:
                for d, u in enumerate(profile):
                    if u:
                        use[p, s + d].append(u * f.x[j, s])
    most = sum(sum(sum(profile) for profile in m.demand.values()) for m in inst.mmps)
    more = {key: f.model.new_int_var(0, most, f"more{key}") for key in use}
    for (p, q), terms in use.items():
        f.model.add(sum(terms) <= inst.pools[p].capacity[q] + f.e[p, q] + more[p, q])
    _funded_without_loss(f, i, known)
    f.model.minimize(sum(more.values()))
    run = _run(f, settings, time_s, known.starts, maximize=False, slack=more)
    if run.status in ("infeasible", "unknown"):
        return None, run.status == "infeasible"
    res = inst.capacity_resolution
    pools: dict[str, dict[str, Decimal]] = {}
    for (p, q), units in sorted((run.extra or {}).items()):
        if units:
            pools.setdefault(inst.pools[p].id, {})[inst.quarters[q]] = units * res
    need = CapacityNeed(
        low=None if run.bound is None else run.bound * res,
        high=None if run.objective is None else run.objective * res,
        pools=pools,
        changes=_changes(inst, known.starts, run.starts),
    )
    return need, True


def _funded_without_loss(f: Formulation, i: int, known: Known) -> None:
    """MMP i funded, and the plan worth at least the plan under study."""
    f.model.add(f.y(i) == 1)
    f.model.add(value_expression(f) >= known.value)


# ---------------------------------------------------------------- running CP-SAT


def _run(
    f: Formulation,
    settings: SolverSettings,
    time_s: float,
    hint: dict[int, int],
    maximize: bool,
    slack: dict[tuple[int, int], cp_model.IntVar] | None = None,
) -> Run:
    """One CP-SAT run, hinted with the plan under study's starts; exact integer objective and bound."""
    for (j, s), var in f.x.items():
        f.model.add_hint(var, int(hint.get(j) == s))
    solver = cpsat_solver(settings, time_s, starts=len(f.x))
    status = solve_stoppable(solver, f.model)
    if status == cp_model.INFEASIBLE:
        return Run("infeasible")
    if status == cp_model.MODEL_INVALID:  # a bug in this module, never the user's input
        raise RuntimeError(f"invalid CP-SAT model: {f.model.validate()}")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Run("unknown")  # without a plan CP-SAT's bound is not one: nothing is proven
    objective = round(solver.objective_value)
    bound = round(solver.best_objective_bound)  # exact: the objective is integral
    if status == cp_model.OPTIMAL:
        bound = objective
    starts = {j: s for (j, s), var in f.x.items() if solver.value(var)}
    extra = {key: int(solver.value(var)) for key, var in (slack or {}).items()}
    return Run("optimal" if status == cp_model.OPTIMAL else "feasible", objective, bound, starts, extra)


def _changes(inst: Instance, before: dict[int, int], after: dict[int, int] | None) -> dict[str, str | None]:
    """How `after` differs from `before`: MMP id -> its start quarter in `after`, or None when it is left out."""
    if after is None:
        return {}
    out: dict[str, str | None] = {}
    for j in sorted(set(before) | set(after)):
        if before.get(j) != after.get(j):
            out[inst.mmps[j].id] = inst.quarters[after[j]] if j in after else None
    return out


def _has_money(inst: Instance) -> bool:
    return any(m.total_cost for m in inst.mmps) or any(p.extra_cost for p in inst.pools)
