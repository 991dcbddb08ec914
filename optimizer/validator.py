"""Independent validator: does a plan keep every rule of DESIGN.md for its portfolio?

Why it is independent: the formulation turns the portfolio into a scaled,
integer solver model. If this file reused any of that code, a bug there would
be checked against itself and pass unnoticed. So this module imports only the
schemas in `models` and the standard library, reads the rules of DESIGN.md
(sections 3 to 6) afresh, and recomputes every constraint and the objective in
exact Decimal arithmetic from the portfolio and the plan alone.

`validate(portfolio, plan)` returns the violations in plain words; an empty list
means the plan is valid. The portfolio is assumed to have passed
`models.check_portfolio`. Figures the plan reports may have passed through a
float (JSON, a MIP solver), so comparisons against them allow an absolute
difference of TOL; facts of the portfolio alone (investment shares) are exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from models.plan import Plan
from models.portfolio import MMP, Portfolio

TOL = Decimal("0.000001")
NO_PLAN_STATUSES = ("infeasible", "no_solution_in_time")


def validate(portfolio: Portfolio, plan: Plan) -> list[str]:
    """Every violation of the portfolio's rules by the plan, in plain words ([] = valid)."""
    if plan.status in NO_PLAN_STATUSES:
        if plan.selected:
            return [f"status: a plan that is {plan.status} must select no MMPs, but selects some"]
        return []
    c = _Context(portfolio, plan)
    checks = (_selected, _coverage, _requires, _excludes, _capacity, _budget, _total)
    checks += (_max_change, _investment, _key_results, _objective)
    return c.problems + [message for check in checks for message in check(c)]


def _expand(amount: Any, quarters: int) -> list[Any]:
    """A per-quarter field (one number, or a list with one per quarter) as a list."""
    return list(amount) if isinstance(amount, list) else [amount] * quarters


def _total_of(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))


def _same(a: Decimal | None, b: Decimal | None) -> bool:
    """Equal up to the float round-trip tolerance (None only equals None)."""
    return a is b if a is None or b is None else abs(a - b) <= TOL


def _above(a: Decimal, b: Decimal) -> bool:
    """a > b by more than the float round-trip tolerance."""
    return a > b + TOL


def _name(key: Any) -> str:
    return " in ".join(key) if isinstance(key, tuple) else key


def _index(rows: list[Any], kind: str, key: Callable[[Any], Any], expected: list) -> tuple[dict, list]:
    """The plan's rows by key, with a complaint for every duplicate, unknown or missing row."""
    wanted, found, problems = set(expected), {}, []
    for row in rows:
        k = key(row)
        if k in found:
            problems.append(f"{kind}: more than one row for {_name(k)}")
        elif k not in wanted:
            problems.append(f"{kind}: row for {_name(k)}, which the portfolio does not have")
        else:
            found[k] = row
    problems += [f"{kind}: no row for {_name(k)}" for k in expected if k not in found]
    return found, problems


class _Context:
    """Portfolio and plan indexed once: quarter positions, MMPs by id, plan rows by key."""

    def __init__(self, p: Portfolio, plan: Plan):
        self.p, self.plan, self.T = p, plan, len(p.quarters)
        self.at = {q: i for i, q in enumerate(p.quarters)}
        self.mmps = {m.id: m for m in p.mmps}
        # Selected MMPs that exist and start inside the horizon: id -> start position.
        self.starts: dict[str, int] = {}
        self._running: dict[int, list[tuple[MMP, int]]] = {}
        for s in plan.selected:
            if s.mmp in self.mmps and s.mmp not in self.starts and s.start in self.at:
                self.starts[s.mmp] = self.at[s.start]
        pools = [(x.id, q) for x in p.pools for q in p.quarters]
        streams = [(v.id, q) for v in p.value_streams for q in p.quarters]
        krs = [k.id for k in p.key_results]
        self.cap, problems1 = _index(plan.capacity, "capacity", lambda r: (r.pool, r.quarter), pools)
        self.bud, problems2 = _index(plan.budget, "budget", lambda r: (r.value_stream, r.quarter), streams)
        self.res, problems3 = _index(plan.reserve, "reserve", lambda r: r.quarter, p.quarters)
        self.krs, problems4 = _index(plan.key_results, "key results", lambda r: r.id, krs)
        self.problems = problems1 + problems2 + problems3 + problems4

    def quarter(self, i: int) -> str:
        return self.p.quarters[i] if i < self.T else f"quarter {i + 1} (after the horizon)"

    def running(self, q: int) -> list[tuple[MMP, int]]:
        """Selected MMPs running in quarter position q, with how far into their run they are."""
        if q not in self._running:
            self._running[q] = [
                (self.mmps[mmp_id], q - s)
                for mmp_id, s in self.starts.items()
                if s <= q < s + self.mmps[mmp_id].duration
            ]
        return self._running[q]

    def purchased(self, pool: str, q: str) -> Decimal:
        row = self.cap.get((pool, q))
        return row.purchased if row else Decimal(0)

    def earned(self, m: MMP, start: int) -> Decimal:
        """Outcome value of m started at position `start`: value less cost of delay, at least 0."""
        lateness = start - self.at[m.earliest_start or self.p.quarters[0]]
        return max(Decimal(0), m.outcome_value - m.cost_of_delay * lateness)


def _selected(c: _Context) -> Iterator[str]:
    seen: set[str] = set()
    for s in c.plan.selected:
        m = c.mmps.get(s.mmp)
        if m is None:
            yield f"selected: unknown MMP {s.mmp}"
            continue
        if s.mmp in seen:
            yield f"selected: MMP {s.mmp} is selected more than once"
            continue
        seen.add(s.mmp)
        if m.excluded:
            yield f"selected: MMP {s.mmp} is excluded but selected"
        if s.start not in c.at:
            yield f"selected: MMP {s.mmp} starts in {s.start}, which is not a quarter of the horizon"
            continue
        start = c.at[s.start]
        finish = start + m.duration - 1
        if finish >= c.T:
            yield f"selected: MMP {s.mmp} starts in {s.start} and runs past the end of the horizon"
        elif s.finish != c.p.quarters[finish]:
            yield f"selected: MMP {s.mmp} finishes in {c.p.quarters[finish]}, not {s.finish}"
        if m.earliest_start and start < c.at[m.earliest_start]:
            yield f"selected: MMP {s.mmp} starts in {s.start}, before its earliest start {m.earliest_start}"
        if m.deadline and finish > c.at[m.deadline]:
            yield f"selected: MMP {s.mmp} finishes in {c.quarter(finish)}, after its deadline {m.deadline}"
        if not _same(s.cost, _total_of(m.cost)):
            yield f"selected: MMP {s.mmp} costs {_total_of(m.cost)}, not {s.cost}"
        if not _same(s.value, c.earned(m, start)):
            yield f"selected: MMP {s.mmp} started in {s.start} is worth {c.earned(m, start)}, not {s.value}"


def _coverage(c: _Context) -> Iterator[str]:
    chosen = Counter(s.mmp for s in c.plan.selected)
    passed = Counter(n.mmp for n in c.plan.not_selected)
    for mmp_id in sorted(passed.keys() - c.mmps.keys()):
        yield f"not_selected: unknown MMP {mmp_id}"
    for m in c.p.mmps:
        if m.mandatory and not chosen[m.id]:
            yield f"mandatory: MMP {m.id} is mandatory but not selected"
        if not chosen[m.id] and not passed[m.id]:
            yield f"coverage: MMP {m.id} is neither selected nor not_selected"
        elif chosen[m.id] and passed[m.id]:
            yield f"coverage: MMP {m.id} is both selected and not_selected"
        elif passed[m.id] > 1:
            yield f"coverage: MMP {m.id} is listed {passed[m.id]} times in not_selected"


def _requires(c: _Context) -> Iterator[str]:
    for mmp_id, start in c.starts.items():
        for other in c.mmps[mmp_id].requires:
            if other not in c.starts:
                yield f"requires: MMP {mmp_id} is selected but requires {other}, which is not selected"
                continue
            finish = c.starts[other] + c.mmps[other].duration - 1
            if finish >= start:
                yield (
                    f"requires: MMP {mmp_id} starts in {c.quarter(start)} but {other}, "
                    f"which it requires, finishes only in {c.quarter(finish)}"
                )


def _excludes(c: _Context) -> Iterator[str]:
    pairs = {tuple(sorted((i, j))) for i in c.starts for j in c.mmps[i].excludes if j in c.starts}
    for i, j in sorted(pairs):
        yield f"excludes: MMPs {i} and {j} exclude each other but are both selected"


def _capacity(c: _Context) -> Iterator[str]:
    for pool in c.p.pools:
        capacity, extra = _expand(pool.capacity, c.T), _expand(pool.extra_capacity, c.T)
        for q, label in enumerate(c.p.quarters):
            row = c.cap.get((pool.id, label))
            if row is None:
                continue
            used = _total_of(m.demand[pool.id][k] for m, k in c.running(q) if pool.id in m.demand)
            where = f"capacity: pool {pool.id} in {label}"
            if not _same(row.used, used):
                yield f"{where}: the plan says {row.used} used, the selected MMPs use {used}"
            if not _same(row.available, capacity[q]):
                yield f"{where}: the plan says {row.available} available, the portfolio has {capacity[q]}"
            if _above(Decimal(0), row.purchased) or _above(row.purchased, extra[q]):
                yield f"{where}: purchases {row.purchased}, outside 0 to its extra capacity {extra[q]}"
            if _above(used, capacity[q] + row.purchased):
                has = f"{capacity[q]} + {row.purchased} purchased"
                yield f"capacity: pool {pool.id} uses {used} in {label} but has {has}"


def _budget(c: _Context) -> Iterator[str]:
    for v in c.p.value_streams:
        run, low, high = (_expand(x, c.T) for x in (v.run_cost, v.min_budget, v.max_budget))
        pools = [x for x in c.p.pools if x.value_stream == v.id]
        for q, label in enumerate(c.p.quarters):
            row = c.bud.get((v.id, label))
            if row is None:
                continue
            spent = _total_of(m.cost[k] for m, k in c.running(q) if m.value_stream == v.id) + run[q]
            spent += _total_of(x.extra_cost * c.purchased(x.id, label) for x in pools)
            where = f"budget: value stream {v.id} in {label}"
            if not _same(row.spent, spent):
                yield f"{where}: the plan says {row.spent} spent, MMPs, run cost and purchases make {spent}"
            if _above(spent, row.allocated):
                yield f"{where}: spends {spent} but is allocated only {row.allocated}"
            if _above(low[q], row.allocated):
                yield f"{where}: allocated {row.allocated}, below its min_budget {low[q]}"
            if high[q] is not None and _above(row.allocated, high[q]):
                yield f"{where}: allocated {row.allocated}, above its max_budget {high[q]}"
            if not _same(row.min, low[q]):
                yield f"{where}: the row says min {row.min}, the guardrail is {low[q]}"
            if not _same(row.max, high[q]):
                yield f"{where}: the row says max {row.max}, the guardrail is {high[q]}"


def _total(c: _Context) -> Iterator[str]:
    budget = _expand(c.p.budget, c.T)
    shared = [x for x in c.p.pools if x.value_stream is None]
    for q, label in enumerate(c.p.quarters):
        allocated = _total_of(row.allocated for (_, ql), row in c.bud.items() if ql == label)
        bought = _total_of(x.extra_cost * c.purchased(x.id, label) for x in shared)
        if _above(allocated + bought, budget[q]):
            yield (
                f"total: {label} allocates {allocated} to value streams and {bought} to shared "
                f"capacity, more than its budget {budget[q]}"
            )
        left, row = budget[q] - allocated - bought, c.res.get(label)
        if row is not None and not _same(row.unallocated, left):
            yield f"reserve: {label} leaves {left} unallocated, not {row.unallocated}"


def _max_change(c: _Context) -> Iterator[str]:
    for v in c.p.value_streams:
        if v.max_change is None:
            continue
        previous, before = v.baseline_budget, "its baseline budget"
        for label in c.p.quarters:
            row = c.bud.get((v.id, label))
            now = row.allocated if row else None
            if None not in (previous, now) and _above(abs(now - previous), v.max_change * previous):
                yield (
                    f"max_change: value stream {v.id} gets {now} in {label} after {previous} in {before}, "
                    f"a change of {abs(now - previous)}, more than {v.max_change} of {previous}"
                )
            previous, before = now, label


def _investment(c: _Context) -> Iterator[str]:
    spend = {i: _total_of(c.mmps[i].cost) for i in c.starts}
    total = _total_of(spend.values())
    for g in c.p.investment_guardrails:
        share = _total_of(s for i, s in spend.items() if c.mmps[i].category == g.category)
        where = f"investment: category {g.category} gets {share} of {total} spent on selected MMPs"
        if g.min_share is not None and share < g.min_share * total:
            yield f"{where}, below its min_share {g.min_share}"
        if g.max_share is not None and share > g.max_share * total:
            yield f"{where}, above its max_share {g.max_share}"


def _key_results(c: _Context) -> Iterator[str]:
    for k in c.p.key_results:
        row = c.krs.get(k.id)
        if row is None:
            continue
        reach = _total_of(c.mmps[i].key_results.get(k.id, Decimal(0)) for i in c.starts)
        if not _same(row.target, k.target):
            yield f"key results: {k.id} has target {k.target}, not {row.target}"
        if _above(Decimal(0), row.achieved) or _above(row.achieved, k.target):
            yield f"key results: {k.id} achieves {row.achieved}, outside 0 to its target {k.target}"
        if _above(row.achieved, reach):
            yield f"key results: {k.id} achieves {row.achieved} but the selected MMPs contribute only {reach}"


def _objective(c: _Context) -> Iterator[str]:
    mmps = _total_of(c.earned(c.mmps[i], s) for i, s in c.starts.items())
    krs = _total_of(k.value_per_unit * c.krs[k.id].achieved for k in c.p.key_results if k.id in c.krs)
    baseline = c.p.baseline_plan  # empty: no baseline plan, so nothing counts as a change
    changes = sum(1 for i, q in baseline.items() if c.starts.get(i) != c.at[q])
    changes += sum(1 for i in c.starts if i not in baseline) if baseline else 0
    penalty = c.p.change_penalty * changes
    split = c.plan.value
    for name, ours, theirs in (
        ("mmps", mmps, split.mmps),
        ("key_results", krs, split.key_results),
        ("change_penalty", penalty, split.change_penalty),
    ):
        if not _same(ours, theirs):
            yield f"objective: value.{name} should be {ours}, the plan says {theirs}"
    objective = c.plan.objective
    if objective is None:
        yield f"objective: a plan that is {c.plan.status} must state its objective"
        return
    if not _same(objective, mmps + krs - penalty):
        yield f"objective: should be {mmps} + {krs} - {penalty} = {mmps + krs - penalty}, not {objective}"
    if c.plan.bound is not None and _above(objective, c.plan.bound):
        yield f"objective: bound {c.plan.bound} is below the objective {objective}"
    if c.plan.gap is not None and not 0 <= c.plan.gap <= 1:
        yield f"objective: gap {c.plan.gap} is outside 0 to 1"
