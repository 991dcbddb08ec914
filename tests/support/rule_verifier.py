"""Verify one business rule on a fixed decision, against the formulation and the validator alike.

Like Timefold's ConstraintVerifier: a tiny portfolio and a decision (who starts
when, the allocations, the capacity bought, the key-result credit) fixed in the
CP-SAT model, and the question whether the model holds it. `plan_of` turns the
same decision into a plan for the independent validator.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ortools.sat.python import cp_model

from models import Plan, Portfolio
from models.plan import KeyResultRow, NotSelected, SolverInfo, SolverStatus
from models.rules import RuleKind
from optimizer.formulation import Formulation, build
from optimizer.instance import build_instance
from optimizer.report import Solution, assemble_plan, stream_spend

ALL_RULES: frozenset[RuleKind] = frozenset(RuleKind)


@dataclass(frozen=True)
class Decision:
    """What a plan decides. Allocations not given are the stream's spend (MMP cost, run cost and its
    pools' purchases); credit not given is what the selection earns (capped at the target)."""

    starts: Mapping[str, str] = field(default_factory=dict)  # MMP id -> start quarter
    allocated: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (stream, quarter) -> money
    purchased: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (pool, quarter) -> units
    credit: Mapping[str, int] | None = None  # key result id -> progress credited


def model_accepts(p: Portfolio, decision: Decision, rules: Collection[RuleKind] = ALL_RULES) -> bool:
    """Whether the CP-SAT model with `rules` (the start window always, as it makes the start
    variables) holds the decision. A start outside the window has no variable: no model holds it."""
    f = build(build_instance(p), rules=rules)
    _fix(f, p, decision)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 60  # a generous bound: these models are decided in presolve
    status = solver.solve(f.model)
    assert status in (cp_model.OPTIMAL, cp_model.FEASIBLE, cp_model.INFEASIBLE), solver.status_name(status)
    return status != cp_model.INFEASIBLE


def plan_of(p: Portfolio, decision: Decision) -> Plan:
    """The decision as a complete plan, every figure computed by `optimizer.report` as for a solve."""
    solution = _solution(p, decision)
    info = SolverInfo(backend="cp-sat", time_s=0, time_limit_s=1, seed=0, relative_gap=0, workers=1, money_resolution=1)
    plan = assemble_plan(p, solution, SolverStatus.FEASIBLE, None, info)
    plan.not_selected = [
        NotSelected(mmp=m.id, reason="not decided") for m in p.mmps if m.id not in decision.starts and not m.done
    ]
    if decision.credit is not None:
        _credit(p, plan, decision.credit)
    return plan


def _solution(p: Portfolio, decision: Decision) -> Solution:
    at = {label: q for q, label in enumerate(p.quarters)}
    solution = Solution(
        starts={mmp: at[label] for mmp, label in decision.starts.items()},
        allocated={},
        purchased={(pool, at[label]): Decimal(units) for (pool, label), units in decision.purchased.items()},
    )
    spend = stream_spend(p, solution)
    for vs in p.value_streams:
        for q, label in enumerate(p.quarters):
            given = decision.allocated.get((vs.id, label))
            solution.allocated[vs.id, q] = spend[vs.id, q] if given is None else Decimal(given)
    return solution


def _credit(p: Portfolio, plan: Plan, credit: Mapping[str, int]) -> None:
    """Credit the given progress instead of what the selection earns, with value and objective to match."""
    plan.key_results = [
        KeyResultRow(id=k.id, achieved=before + credit[k.id], target=k.target, before_as_of=before)
        for k in p.key_results
        for before in [p.progress_before(k)]
    ]
    earned = sum((k.value_per_unit * credit[k.id] for k in p.key_results), Decimal(0))
    plan.value = plan.value.model_copy(update={"key_results": earned})
    plan.objective = plan.value.total


def _fix(f: Formulation, p: Portfolio, decision: Decision) -> None:
    inst, model = f.inst, f.model
    mmp = {m.id: i for i, m in enumerate(inst.mmps)}
    at = {label: q for q, label in enumerate(inst.quarters)}
    chosen = {(mmp[i], at[label]) for i, label in decision.starts.items()}
    for key, var in f.x.items():
        model.add(var == int(key in chosen))
    if chosen - f.x.keys():  # a start the model has no variable for
        model.add_bool_or([])
    plan = _solution(p, decision)
    for (v, q), var in f.b.items():
        model.add(var == _units(plan.allocated[inst.streams[v].id, q] * inst.allocation_scale, inst.money_resolution))
    for (pool, q), var in f.e.items():
        model.add(var == _units(plan.purchased.get((inst.pools[pool].id, q), Decimal(0)), inst.capacity_resolution))
    if decision.credit is not None:
        for k, var in f.w.items():
            kid, _target, per_unit = inst.key_results[k]
            credited = Decimal(decision.credit[kid]) * Decimal(per_unit.numerator) / Decimal(per_unit.denominator)
            model.add(var == _units(credited, Decimal(1)))


def _units(amount: Decimal, unit: Decimal) -> int:
    count = amount / unit
    assert count == count.to_integral_value(), f"{amount} is not a whole number of units of {unit}"
    return int(count)
