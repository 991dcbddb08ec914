"""The quarterly planning cycle as plain data (docs/design.md, sections 3.15 and 8.8): the as-of portfolio a
re-plan solves, built from the portfolio, the plan of record and the actuals; what a re-plan changes against
the plan of record; and the variance of the actuals against it.

Nothing here reads storage: the API, jobs and the CLI (`vmo replan --plan ... --actuals ...`) pass the
records in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from models.cycle import (
    Comparison,
    KeyResultVariance,
    LateMMP,
    RealizationRow,
    StreamVariance,
    Variance,
    realized_ratio,
)
from models.plan import Plan
from models.portfolio import Portfolio, QuarterActuals
from models.studies import Variant
from optimizer.studies.core import StudyTask

ZERO = Decimal(0)


def in_order(p: Portfolio, actuals: Sequence[QuarterActuals]) -> list[QuarterActuals]:
    """The actuals of quarters of the horizon, in the horizon's order."""
    at = {q: i for i, q in enumerate(p.quarters)}
    return sorted((a for a in actuals if a.quarter in at), key=lambda a: at[a.quarter])


def as_of_portfolio(
    p: Portfolio, record: Plan, actuals: Sequence[QuarterActuals], as_of: str, change_penalty: Decimal | None = None
) -> dict[str, Any]:
    """The portfolio as of `as_of` (unchecked data: `models.load_portfolio` refuses what does not hold, with
    paths into it). For each MMP not already `done`, the last recorded status before `as_of` decides:
    `done`; `running` (in flight since the first quarter recorded running, or its start in the plan of record
    when earlier, unless the version already says when it started); `stopped` (excluded: it does not
    restart); `not_started` (a plain MMP again: its start slipped). A stop the plan of record decided counts
    as recorded. Without a record, the plan of record is taken as executed: an MMP it started before `as_of`
    (or the version marks started) is done when it would have finished by then, else in flight. An MMP
    recorded running whose quarters ran out before `as_of` slipped: its last quarter of cost and demand
    moves to `as_of`. The plan of record's starts still to come (and the in-flight ones) become the
    baseline plan; the actuals before `as_of` come along."""
    data = p.model_dump(mode="json", exclude_defaults=False)
    quarters = list(p.quarters)
    first = quarters.index(as_of) if as_of in quarters else len(quarters)
    past = [a for a in in_order(p, actuals) if quarters.index(a.quarter) < first]
    planned = {s.mmp: quarters.index(s.start) for s in record.selected if s.start in quarters}
    stopped_by_record = {r.mmp for r in record.in_flight if r.decision == "stop"}
    baseline: dict[str, str] = {}
    for m in data["mmps"]:
        if not m.get("done"):
            _update(m, past, quarters, first, planned.get(m["id"]), m["id"] in stopped_by_record)
        mid, plan_start = m["id"], planned.get(m["id"])
        if m.get("started") is not None and not m.get("done"):
            baseline[mid] = m["started"]
        elif plan_start is not None and plan_start >= first and not m.get("done") and not m.get("excluded"):
            baseline[mid] = quarters[plan_start]
    data["as_of"] = as_of
    data["actuals"] = [a.model_dump(mode="json") for a in past]
    data["baseline_plan"] = baseline
    if change_penalty is not None:
        data["change_penalty"] = str(change_penalty)
    return data


def _update(
    m: dict[str, Any],
    past: list[QuarterActuals],
    quarters: list[str],
    first: int,
    plan_start: int | None,
    stopped_by_record: bool,
) -> None:
    """One MMP (not done) as of `first`, from its recorded statuses, its version and the plan of record."""
    mid, duration = m["id"], len(m["cost"])
    records = [(quarters.index(a.quarter), a.mmps[mid].status) for a in past if mid in a.mmps]
    status = records[-1][1] if records else ("stopped" if stopped_by_record else None)
    started = None if m.get("started") is None else quarters.index(m["started"])
    if status == "done":
        m["done"], m["started"] = True, None
    elif status == "stopped":
        m["excluded"], m["mandatory"], m["started"] = True, False, None
    elif status == "not_started":
        m["started"] = None
    elif status == "running":
        if started is None:
            running = min(q for q, s in records if s == "running")
            started = min(running, plan_start) if plan_start is not None else running
            m["started"] = quarters[started]
        _slip(m, started, first)
    else:  # nothing recorded: the plan of record (or the version's start) taken as executed
        begun = started if started is not None else plan_start
        if begun is not None and begun < first:
            if begun + duration <= first:
                m["done"], m["started"] = True, None
            else:
                m["started"] = quarters[begun]


def _slip(m: dict[str, Any], started: int, first: int) -> None:
    """An in-flight MMP whose quarters ran out before as_of still runs: its last quarter moves to as_of."""
    duration = len(m["cost"])
    if started + duration > first:
        return
    pad = first - (started + duration) + 1
    m["cost"] = [*m["cost"][:-1], *([0] * pad), m["cost"][-1]]
    m["demand"] = {pool: [*row[:-1], *([0] * pad), row[-1]] for pool, row in m.get("demand", {}).items()}


def replan_task(portfolio: Portfolio) -> StudyTask:
    """The re-plan's solve: the as-of portfolio, warm-started from its baseline (the plan of record)."""
    variant = Variant(baseline_plan=dict(portfolio.baseline_plan), change_penalty=portfolio.change_penalty)
    return StudyTask(f"{portfolio.name} as of {portfolio.as_of}", portfolio, variant)


def compare(record: Plan, replan: Plan, portfolio: Portfolio) -> Comparison:
    """What the re-plan changes against the plan of record."""
    before = {s.mmp: s.start for s in record.selected}
    after = {s.mmp: s.start for s in replan.selected}
    done = [m.id for m in portfolio.mmps if m.done]
    in_flight = {r.mmp: r for r in replan.in_flight}
    stopped = [m for m, r in in_flight.items() if r.decision == "stop"]
    values = {s.mmp: s.value for s in record.selected}
    return Comparison(
        kept=sorted(m for m in after if before.get(m) == after[m]),
        stopped=stopped,
        added=sorted(m for m in after if m not in before),
        moved={m: after[m] for m in sorted(after) if m in before and before[m] != after[m]},
        dropped=sorted(m for m in before if m not in after and m not in done and m not in in_flight),
        done=done,
        money_freed=sum((in_flight[m].remaining_cost for m in stopped), ZERO),
        value=None if replan.objective is None else replan.objective + replan.value.change_penalty,
        record_remaining_value=sum((v for m, v in values.items() if m not in done), ZERO),
    )


def variance(p: Portfolio, records: Sequence[tuple[str, Plan]], actuals: Sequence[QuarterActuals]) -> Variance:
    """The actuals against the plan of record: spend per stream and quarter, late MMPs, key results, and how
    realized value compares with the estimates of finished MMPs. `records` are the commits, oldest first (the
    last is the plan of record): a quarter's spend is measured against the newest commit that planned it (a
    re-plan as of Q3 plans nothing before Q3; the commit before it did)."""
    recorded = in_order(p, actuals)
    quarters = list(p.quarters)
    record_id, record = records[-1]
    planned: dict[tuple[str, str], Decimal] = {}
    for _, plan in records:  # oldest first: a newer commit replaces the quarters it plans
        first = quarters.index(plan.as_of) if plan.as_of in quarters else 0
        planned |= {(r.value_stream, r.quarter): r.allocated for r in plan.budget if quarters.index(r.quarter) >= first}
    streams = [
        StreamVariance(
            value_stream=vs.id,
            quarter=a.quarter,
            planned=planned.get((vs.id, a.quarter), ZERO),
            actual=a.spent.get(vs.id),
            difference=None if vs.id not in a.spent else a.spent[vs.id] - planned.get((vs.id, a.quarter), ZERO),
        )
        for vs in p.value_streams
        for a in recorded
    ]
    last = quarters.index(recorded[-1].quarter) if recorded else -1
    late = []
    for s in record.selected:
        history = [x.mmps[s.mmp].status for x in recorded if s.mmp in x.mmps]
        if not history or s.start not in quarters:
            continue  # nothing recorded: taken as going to plan
        status = history[-1]
        start, finish = quarters.index(s.start), quarters.index(s.finish)
        behind = 0
        if status == "not_started" and start <= last:
            behind = last - start + 1
        elif status == "running" and finish <= last:
            behind = last - finish
        if behind > 0:
            late.append(
                LateMMP(mmp=s.mmp, planned_start=s.start, planned_finish=s.finish, status=status, late_by=behind)
            )
    key_results = []
    for k in record.key_results:
        progress = [a.key_results[k.id] for a in recorded if k.id in a.key_results]
        key_results.append(KeyResultVariance(id=k.id, planned=k.achieved, achieved=progress[-1] if progress else None))
    return Variance(
        plan_id=record_id,
        quarters=[a.quarter for a in recorded],
        streams=streams,
        late=late,
        key_results=key_results,
        realization=_realization(p, recorded),
    )


def _realization(p: Portfolio, recorded: list[QuarterActuals]) -> list[RealizationRow]:
    """Per value stream: finished MMPs with a recorded realized value, their estimate against the outcome."""
    realized: dict[str, Decimal] = {}
    for a in recorded:
        for mid, actual in a.mmps.items():
            if actual.realized_value is not None:
                realized[mid] = actual.realized_value  # the latest record wins
    by_stream: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for m in p.mmps:
        if m.id in realized:
            by_stream[m.value_stream].append((m.outcome_value, realized[m.id]))
    rows = []
    for vs in p.value_streams:
        pairs = by_stream.get(vs.id, [])
        if pairs:
            estimated, outcome = sum((e for e, _ in pairs), ZERO), sum((r for _, r in pairs), ZERO)
            rows.append(
                RealizationRow(
                    value_stream=vs.id,
                    finished=len(pairs),
                    estimated=estimated,
                    realized=outcome,
                    ratio=realized_ratio(estimated, outcome),
                )
            )
    return rows
