"""Independent validator: does a plan keep every rule of docs/design.md for its portfolio?

Why it is independent: the formulation turns the portfolio into a scaled,
integer solver model. If this file reused any of that code, a bug there would
be checked against itself and pass unnoticed. So this module imports only the
schemas in `models` and the standard library, reads the rules of docs/design.md,
sections 3 to 6, afresh, and recomputes every constraint and the objective in
exact Decimal arithmetic from the portfolio and the plan alone.

`validate(portfolio, plan)` returns the violations in plain words; an empty list
means the plan is valid. `CHECKS` holds one check per business rule
(`validate_rule` runs one); the other checks are the plan's own bookkeeping (its
rows echo the portfolio, its figures add up). The portfolio is assumed to have
passed `models.check_portfolio`. Figures the plan reports may have passed
through a float (JSON, a MIP solver), so comparisons against them allow an
absolute difference of TOL; facts of the portfolio alone (investment shares)
are exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from models.plan import BudgetRow, NotSelected, Plan, SelectedMMP, SolverStatus
from models.portfolio import MMP, InvestmentGuardrail, Portfolio, ValueStream
from models.rules import RuleKind

TOL = Decimal("0.000001")
NO_PLAN_STATUSES = (SolverStatus.INFEASIBLE, SolverStatus.NO_SOLUTION_IN_TIME)


def validate(portfolio: Portfolio, plan: Plan) -> list[str]:
    """Every violation of the portfolio's rules by the plan, in plain words ([] = valid)."""
    if plan.status in NO_PLAN_STATUSES:
        if plan.selected:
            return [f"status: a plan that is {plan.status} must select no MMPs, but selects some"]
        return []
    if portfolio.uncertain:  # the rows show the first scenario; every scenario and the risk figures are checked
        from optimizer import validator_scenarios

        return validator_scenarios.validate(portfolio, plan)
    return validate_rows(portfolio, plan)


def validate_rows(portfolio: Portfolio, plan: Plan, scored: bool = False) -> list[str]:
    """Every violation of the certain portfolio's rules by the plan's rows. `scored`: the objective is a risk
    measure over scenarios (checked by `optimizer.validator_scenarios`), not the rows' value."""
    c = _Context(portfolio, plan, scored)
    checks = (*_BOOKKEEPING, *CHECKS.values())
    return c.problems + [message for check in checks for message in check(c)]


def validate_rule(portfolio: Portfolio, plan: Plan, kind: RuleKind) -> list[str]:
    """The plan's violations of one business rule ([] = it keeps that rule)."""
    if plan.status in NO_PLAN_STATUSES:
        return []
    return list(CHECKS[kind](_Context(portfolio, plan)))


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

    def __init__(self, p: Portfolio, plan: Plan, scored: bool = False):
        self.p, self.plan, self.T = p, plan, len(p.quarters)
        self.scored = scored  # the objective is a risk measure over scenarios, not the value of these rows
        self.at = {q: i for i, q in enumerate(p.quarters)}
        self.first = self.at.get(p.as_of, 0) if p.as_of else 0  # quarters before it are history
        self.mmps = {m.id: m for m in p.mmps}
        self.in_flight = {m.id: self.at[m.started] for m in p.mmps if m.started is not None and not m.done}
        self.done = {m.id for m in p.mmps if m.done}
        self.before = {k.id: _progress_before(p, k, self.first) for k in p.key_results}
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
                if s <= q < s + self.mmps[mmp_id].duration and q >= self.first  # before as_of: sunk, not planned
            ]
        return self._running[q]

    def purchased(self, pool: str, q: str) -> Decimal:
        row = self.cap.get((pool, q))
        return row.purchased if row else Decimal(0)

    def used(self, pool: str, q: int) -> Decimal:
        """Units of `pool` the selected MMPs use in quarter position q."""
        return _total_of(m.demand[pool][k] for m, k in self.running(q) if pool in m.demand)

    def spent(self, v: ValueStream, q: int) -> Decimal:
        """A stream's spend in quarter position q: its running MMPs, run cost and its pools' purchases."""
        label = self.p.quarters[q]
        spent = _total_of(m.cost[k] for m, k in self.running(q) if m.value_stream == v.id)
        spent += _expand(v.run_cost, self.T)[q] if q >= self.first else Decimal(0)
        pools = [x for x in self.p.pools if x.value_stream == v.id]
        return spent + _total_of(x.extra_cost * self.purchased(x.id, label) for x in pools)

    def budget_rows(self) -> Iterator[tuple[ValueStream, int, str, BudgetRow]]:
        """(stream, quarter position, quarter, the plan's row) for every row the plan has."""
        for v in self.p.value_streams:
            for q, label in enumerate(self.p.quarters):
                row = self.bud.get((v.id, label))
                if row is not None:
                    yield v, q, label, row

    def allocated(self, label: str) -> Decimal:
        return _total_of(row.allocated for (_, quarter), row in self.bud.items() if quarter == label)

    def shared_purchases(self, label: str) -> Decimal:
        return _total_of(x.extra_cost * self.purchased(x.id, label) for x in self.p.pools if x.value_stream is None)

    def earned(self, m: MMP, start: int) -> Decimal:
        """Outcome value of m started at position `start`: value less cost of delay, at least 0 for a value
        that is not negative."""
        lateness = start - self.at[m.earliest_start or self.p.quarters[0]]
        late = m.outcome_value - m.cost_of_delay * lateness  # a negative value is not floored: delay lowers it
        return late if m.outcome_value < 0 else max(Decimal(0), late)


def _selected(c: _Context) -> Iterator[str]:
    """Each selected row names a known MMP once, starts in a quarter, and echoes its finish, cost and value."""
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
        if s.start not in c.at:
            yield f"selected: MMP {s.mmp} starts in {s.start}, which is not a quarter of the horizon"
            continue
        start = c.at[s.start]
        finish = start + m.duration - 1
        if finish < c.T and s.finish != c.p.quarters[finish]:
            yield f"selected: MMP {s.mmp} finishes in {c.p.quarters[finish]}, not {s.finish}"
        if not _same(s.cost, _total_of(m.cost)):
            yield f"selected: MMP {s.mmp} costs {_total_of(m.cost)}, not {s.cost}"
        if not _same(s.value, c.earned(m, start)):
            yield f"selected: MMP {s.mmp} started in {s.start} is worth {c.earned(m, start)}, not {s.value}"


def _start_window(c: _Context) -> Iterator[str]:
    for mmp_id, start in c.starts.items():
        if mmp_id in c.in_flight:
            continue  # its window is history: the in-flight check holds it to its start
        m, label = c.mmps[mmp_id], c.p.quarters[start]
        finish = start + m.duration - 1
        if finish >= c.T:
            yield f"selected: MMP {mmp_id} starts in {label} and runs past the end of the horizon"
        if m.earliest_start and start < c.at[m.earliest_start]:
            yield f"selected: MMP {mmp_id} starts in {label}, before its earliest start {m.earliest_start}"
        if m.deadline and finish > c.at[m.deadline]:
            yield f"selected: MMP {mmp_id} finishes in {c.quarter(finish)}, after its deadline {m.deadline}"


def _excluded(c: _Context) -> Iterator[str]:
    for mmp_id in c.starts:
        if c.mmps[mmp_id].excluded:
            yield f"selected: MMP {mmp_id} is excluded but selected"


def _mandatory(c: _Context) -> Iterator[str]:
    chosen = {s.mmp for s in c.plan.selected}
    for m in c.p.mmps:
        if m.mandatory and m.id not in chosen and not m.done:
            yield f"mandatory: MMP {m.id} is mandatory but not selected"


def _coverage(c: _Context) -> Iterator[str]:
    chosen = Counter(s.mmp for s in c.plan.selected)
    passed = Counter(n.mmp for n in c.plan.not_selected)
    for mmp_id in sorted(passed.keys() - c.mmps.keys()):
        yield f"not_selected: unknown MMP {mmp_id}"
    done = Counter(c.plan.done)
    for m in c.p.mmps:
        if m.done:
            if chosen[m.id] or passed[m.id] or done[m.id] != 1:
                yield f"coverage: MMP {m.id} is done: listed once in done, neither selected nor not_selected"
        elif done[m.id]:
            yield f"coverage: MMP {m.id} is listed as done but is not"
        elif not chosen[m.id] and not passed[m.id]:
            yield f"coverage: MMP {m.id} is neither selected nor not_selected"
        elif chosen[m.id] and passed[m.id]:
            yield f"coverage: MMP {m.id} is both selected and not_selected"
        elif passed[m.id] > 1:
            yield f"coverage: MMP {m.id} is listed {passed[m.id]} times in not_selected"


def _requires(c: _Context) -> Iterator[str]:
    for mmp_id, start in c.starts.items():
        if mmp_id in c.in_flight:
            continue  # it started before as_of: what it required is history
        for other in c.mmps[mmp_id].requires:
            if other in c.done:
                continue  # finished before as_of, so before this one starts
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


def _capacity_rows(c: _Context) -> Iterator[str]:
    for pool in c.p.pools:
        capacity = _expand(pool.capacity, c.T)
        for q, label in enumerate(c.p.quarters):
            row = c.cap.get((pool.id, label))
            if row is None:
                continue
            used = c.used(pool.id, q)
            where = f"capacity: pool {pool.id} in {label}"
            if not _same(row.used, used):
                yield f"{where}: the plan says {row.used} used, the selected MMPs use {used}"
            if not _same(row.available, capacity[q]):
                yield f"{where}: the plan says {row.available} available, the portfolio has {capacity[q]}"


def _capacity(c: _Context) -> Iterator[str]:
    for pool in c.p.pools:
        capacity, extra = _expand(pool.capacity, c.T), _expand(pool.extra_capacity, c.T)
        for q, label in enumerate(c.p.quarters):
            row = c.cap.get((pool.id, label))
            if row is None:
                continue
            used = c.used(pool.id, q)
            if _above(Decimal(0), row.purchased) or _above(row.purchased, extra[q]):
                where = f"capacity: pool {pool.id} in {label}"
                yield f"{where}: purchases {row.purchased}, outside 0 to its extra capacity {extra[q]}"
            if _above(used, capacity[q] + row.purchased):
                has = f"{capacity[q]} + {row.purchased} purchased"
                yield f"capacity: pool {pool.id} uses {used} in {label} but has {has}"


def _budget_rows(c: _Context) -> Iterator[str]:
    for v in c.p.value_streams:
        low, high = _expand(v.min_budget, c.T), _expand(v.max_budget, c.T)
        for q, label in enumerate(c.p.quarters):
            row = c.bud.get((v.id, label))
            if row is None:
                continue
            spent = c.spent(v, q)
            where = f"budget: value stream {v.id} in {label}"
            if q < c.first:  # history: no limits in the plan
                low[q], high[q] = Decimal(0), None
            if not _same(row.spent, spent):
                yield f"{where}: the plan says {row.spent} spent, MMPs, run cost and purchases make {spent}"
            if not _same(row.min, low[q]):
                yield f"{where}: the row says min {row.min}, the guardrail is {low[q]}"
            if not _same(row.max, high[q]):
                yield f"{where}: the row says max {row.max}, the guardrail is {high[q]}"


def _stream_spend(c: _Context) -> Iterator[str]:
    for v, q, label, row in c.budget_rows():
        spent = c.spent(v, q)
        if _above(spent, row.allocated):
            yield f"budget: value stream {v.id} in {label}: spends {spent} but is allocated only {row.allocated}"


def _stream_min(c: _Context) -> Iterator[str]:
    for v, q, label, row in c.budget_rows():
        low = _expand(v.min_budget, c.T)[q] if q >= c.first else Decimal(0)
        if _above(low, row.allocated):
            yield f"budget: value stream {v.id} in {label}: allocated {row.allocated}, below its min_budget {low}"


def _stream_max(c: _Context) -> Iterator[str]:
    for v, q, label, row in c.budget_rows():
        high = _expand(v.max_budget, c.T)[q] if q >= c.first else None
        if high is not None and _above(row.allocated, high):
            yield f"budget: value stream {v.id} in {label}: allocated {row.allocated}, above its max_budget {high}"


def _total_budget(c: _Context) -> Iterator[str]:
    budget = _expand(c.p.budget, c.T)
    for q, label in enumerate(c.p.quarters):
        allocated, bought = c.allocated(label), c.shared_purchases(label)
        if _above(allocated + bought, budget[q]):
            yield (
                f"total: {label} allocates {allocated} to value streams and {bought} to shared "
                f"capacity, more than its budget {budget[q]}"
            )


def _reserve(c: _Context) -> Iterator[str]:
    budget = _expand(c.p.budget, c.T)
    for q, label in enumerate(c.p.quarters):
        left, row = budget[q] - c.allocated(label) - c.shared_purchases(label), c.res.get(label)
        if row is not None and not _same(row.unallocated, left):
            yield f"reserve: {label} leaves {left} unallocated, not {row.unallocated}"


def _max_change(c: _Context) -> Iterator[str]:
    for v in c.p.value_streams:
        if v.max_change is None:
            continue
        previous, before = v.baseline_budget, "its baseline budget"
        if c.first:  # as of a later quarter: against the last quarter with actual spend for the stream
            spent = [(c.at[a.quarter], a.spent[v.id]) for a in c.p.actuals if v.id in a.spent]
            spent = [(q, amount) for q, amount in spent if q < c.first]
            previous, before = max(spent)[1] if spent else None, "the last actual quarter"
        for label in c.p.quarters[c.first :]:
            row = c.bud.get((v.id, label))
            now = row.allocated if row else None
            if previous is not None and now is not None and _above(abs(now - previous), v.max_change * previous):
                yield (
                    f"max_change: value stream {v.id} gets {now} in {label} after {previous} in {before}, "
                    f"a change of {abs(now - previous)}, more than {v.max_change} of {previous}"
                )
            previous, before = now, label


def _shares(c: _Context) -> Iterator[tuple[InvestmentGuardrail, Decimal, Decimal, str]]:
    """Per guardrail: (guardrail, its category's spend on selected MMPs, all such spend, a description)."""
    spend = {i: _total_of(c.mmps[i].cost) for i in c.starts}
    total = _total_of(spend.values())
    for g in c.p.investment_guardrails:
        share = _total_of(s for i, s in spend.items() if c.mmps[i].category == g.category)
        yield g, share, total, f"investment: category {g.category} gets {share} of {total} spent on selected MMPs"


def _guardrail_min(c: _Context) -> Iterator[str]:
    for g, share, total, where in _shares(c):
        if g.min_share is not None and share < g.min_share * total:
            yield f"{where}, below its min_share {g.min_share}"


def _guardrail_max(c: _Context) -> Iterator[str]:
    for g, share, total, where in _shares(c):
        if g.max_share is not None and share > g.max_share * total:
            yield f"{where}, above its max_share {g.max_share}"


def _key_result_rows(c: _Context) -> Iterator[str]:
    for k in c.p.key_results:
        row = c.krs.get(k.id)
        if row is not None and not _same(row.target, k.target):
            yield f"key results: {k.id} has target {k.target}, not {row.target}"


def _key_result(c: _Context) -> Iterator[str]:
    for k in c.p.key_results:
        row = c.krs.get(k.id)
        if row is None:
            continue
        before = c.before[k.id]
        reach = before + _total_of(c.mmps[i].key_results.get(k.id, Decimal(0)) for i in c.starts)
        if not _same(row.before_as_of, before):
            yield f"key results: {k.id} had {before} achieved before as_of, not {row.before_as_of}"
        if _above(Decimal(0), row.achieved) or _above(row.achieved, k.target):
            yield f"key results: {k.id} achieves {row.achieved}, outside 0 to its target {k.target}"
        if _above(row.achieved, reach):
            yield f"key results: {k.id} achieves {row.achieved} but the selected MMPs contribute only {reach}"


def _objective(c: _Context) -> Iterator[str]:
    mmps = _total_of(c.earned(c.mmps[i], s) for i, s in c.starts.items())
    krs = _total_of(
        k.value_per_unit * (c.krs[k.id].achieved - c.before[k.id]) for k in c.p.key_results if k.id in c.krs
    )
    penalty = c.p.change_penalty * _changes(c, c.starts)
    synergies, groups = _choice_values(c.p, set(c.starts))
    salvage = _total_of(c.mmps[i].salvage_value for i in c.in_flight if i not in c.starts)
    split = c.plan.value
    for name, ours, theirs in (
        ("mmps", mmps, split.mmps),
        ("key_results", krs, split.key_results),
        ("change_penalty", penalty, split.change_penalty),
        ("synergies", synergies, split.synergies),
        ("groups", groups, split.groups),
        ("salvage", salvage, split.salvage),
    ):
        if not _same(ours, theirs):
            yield f"objective: value.{name} should be {ours}, the plan says {theirs}"
    objective = c.plan.objective
    if objective is None:
        yield f"objective: a plan that is {c.plan.status} must state its objective"
        return
    total = mmps + krs + synergies + groups + salvage - penalty
    if not c.scored and not _same(objective, total):
        yield (
            f"objective: should be {mmps} + {krs} + {synergies} + {groups} + {salvage} - {penalty} = {total}, "
            f"not {objective}"
        )
    if c.plan.bound is not None and _above(objective, c.plan.bound):
        yield f"objective: bound {c.plan.bound} is below the objective {objective}"
    if c.plan.gap is not None and not 0 <= c.plan.gap <= 1:
        yield f"objective: gap {c.plan.gap} is outside 0 to 1"


def value_of(c: _Context, starts: dict[str, int]) -> Decimal:
    """The outcome value of a set of starts (MMP id -> quarter position) on the context's portfolio."""
    mmps = _total_of(c.earned(c.mmps[i], s) for i, s in starts.items())
    reach = {k.id: _total_of(c.mmps[i].key_results.get(k.id, Decimal(0)) for i in starts) for k in c.p.key_results}
    krs = _total_of(k.value_per_unit * min(k.target - c.before[k.id], reach[k.id]) for k in c.p.key_results)
    synergies, groups = _choice_values(c.p, set(starts))
    salvage = _total_of(c.mmps[i].salvage_value for i in c.in_flight if i not in starts)
    return mmps + krs + synergies + groups + salvage - c.p.change_penalty * _changes(c, starts)


def _changes(c: _Context, starts: dict[str, int]) -> int:
    """MMPs of the baseline plan not started in their quarter, funded MMPs it does not list (only with a
    baseline plan), and in-flight MMPs stopped that it does not list (a stop is always a change; continuing
    one is none)."""
    baseline = c.p.baseline_plan
    changes = sum(1 for i, q in baseline.items() if starts.get(i) != c.at[q])
    changes += sum(1 for i in starts if i not in baseline and i not in c.in_flight) if baseline else 0
    return changes + sum(1 for i in c.in_flight if i not in starts and i not in baseline)


def _progress_before(p: Portfolio, k: Any, first: int) -> Decimal:
    """Progress of a key result achieved before as_of, capped at its target: the last actual progress recorded
    before as_of, else the contributions of the done MMPs."""
    at = {q: i for i, q in enumerate(p.quarters)}
    recorded = sorted((at[a.quarter], a.key_results[k.id]) for a in p.actuals if k.id in a.key_results)
    recorded = [(q, progress) for q, progress in recorded if q < first]
    if recorded:
        return min(k.target, recorded[-1][1])
    return min(k.target, _total_of(m.key_results.get(k.id, Decimal(0)) for m in p.mmps if m.done))


def _as_of(c: _Context) -> Iterator[str]:
    """Quarters before as_of are history: no MMP starts there but an in-flight one, nothing is allocated or
    bought there."""
    if c.plan.as_of != c.p.as_of:
        yield f"as_of: the plan is as of {c.plan.as_of}, the portfolio as of {c.p.as_of}"
    for mmp_id, start in c.starts.items():
        if start < c.first and mmp_id not in c.in_flight:
            yield f"as_of: MMP {mmp_id} starts in {c.p.quarters[start]}, before as_of {c.p.as_of}"
    for label in c.p.quarters[: c.first]:
        allocated, bought = c.allocated(label), _total_of(r.purchased for (_, q), r in c.cap.items() if q == label)
        if allocated or bought:
            yield f"as_of: {label} is history, but the plan allocates {allocated} and buys {bought} units there"


def _in_flight(c: _Context) -> Iterator[str]:
    """An in-flight MMP keeps its start, and stays funded unless stoppable; the plan's in-flight rows say so."""
    rows = {r.mmp: r for r in c.plan.in_flight}
    for mmp_id, started in c.in_flight.items():
        m, label = c.mmps[mmp_id], c.p.quarters[started]
        if mmp_id in c.starts and c.starts[mmp_id] != started:
            yield f"in_flight: MMP {mmp_id} started in {label} but the plan starts it in {c.quarter(c.starts[mmp_id])}"
        if mmp_id not in c.starts and not m.stoppable:
            yield f"in_flight: MMP {mmp_id} is in flight since {label} and not stoppable, but the plan stops it"
        if mmp_id in c.starts and m.excluded:
            yield f"in_flight: MMP {mmp_id} is excluded, so it must stop"
        row = rows.get(mmp_id)
        remaining = _total_of(x for k, x in enumerate(m.cost) if started + k >= c.first)
        decision = "continue" if mmp_id in c.starts else "stop"
        if row is None or row.decision != decision or row.started != label or not _same(row.remaining_cost, remaining):
            yield f"in_flight: the plan should say {decision} for {mmp_id} (started {label}, {remaining} remaining)"
    if set(rows) - set(c.in_flight):
        yield f"in_flight: rows for MMPs not in flight: {', '.join(sorted(set(rows) - set(c.in_flight)))}"


def _done(c: _Context) -> Iterator[str]:
    """A done MMP is not funded again, and an alternative of it is not funded either."""
    for mmp_id in c.starts:
        if mmp_id in c.done:
            yield f"done: MMP {mmp_id} is done but funded again"
        others = set(c.mmps[mmp_id].excludes) | {d for d in c.done if mmp_id in c.mmps[d].excludes}
        for other in sorted(others & c.done):
            yield f"done: MMP {mmp_id} is funded, but its alternative {other} is done"


def _choice_values(p: Portfolio, funded: set[str]) -> tuple[Decimal, Decimal]:
    """(value of the synergies whose MMPs are all funded, none_value of the groups of which none is)."""
    synergies = _total_of(s.value for s in p.synergies if all(m in funded for m in s.mmps))
    groups = _total_of(g.none_value for g in p.groups if not any(m in funded for m in g.mmps))
    return synergies, groups


def _group_min(c: _Context) -> Iterator[str]:
    for g in c.p.groups:
        funded = [m for m in dict.fromkeys(g.mmps) if m in c.starts]
        if len(funded) < g.min:
            yield f"group_min: group {g.id} needs at least {g.min} of its MMPs funded, has {len(funded)}"


def _group_max(c: _Context) -> Iterator[str]:
    for g in c.p.groups:
        funded = [m for m in dict.fromkeys(g.mmps) if m in c.starts]
        if len(funded) > g.max:
            yield f"group_max: group {g.id} may fund at most {g.max} of its MMPs, funds {', '.join(funded)}"


def _together(c: _Context) -> Iterator[str]:
    for members in c.p.together:
        funded = [m for m in members if m in c.starts]
        if funded and len(funded) < len(set(members)):
            missing = [m for m in members if m not in c.starts]
            yield f"together: {', '.join(funded)} funded without {', '.join(missing)} (all or none)"


def _requires_any(c: _Context) -> Iterator[str]:
    for mmp_id, start in c.starts.items():
        options = c.mmps[mmp_id].requires_any
        if not options or mmp_id in c.in_flight or any(o in c.done for o in options):
            continue  # history, or one of them finished before as_of
        finished = [o for o in options if o in c.starts and c.starts[o] + c.mmps[o].duration - 1 < start]
        if not finished:
            yield (
                f"requires_any: MMP {mmp_id} starts in {c.quarter(start)} but none of {', '.join(options)} "
                "is funded and finished by then"
            )


def _investment_mix(c: _Context) -> Iterator[str]:
    """One row per category an MMP has (and one for MMPs without one), with its spend, share and guardrail."""
    spend: dict[str | None, Decimal] = {m.category: Decimal(0) for m in c.p.mmps}
    for i in c.starts:
        spend[c.mmps[i].category] += _total_of(c.mmps[i].cost)
    total = _total_of(spend.values())
    guardrails = {g.category: g for g in c.p.investment_guardrails}
    rows, problems = _index(c.plan.investment_mix, "investment_mix", lambda r: r.category, list(spend))
    yield from (p.replace("for None", "for uncategorised MMPs") for p in problems)
    for category, row in rows.items():
        where = f"investment_mix: category {category or '(none)'}"
        g = guardrails.get(category) if category is not None else None
        low, high = (g.min_share, g.max_share) if g else (None, None)
        if not _same(row.spend, spend[category]):
            yield f"{where}: the plan says {row.spend} spent, the selected MMPs cost {spend[category]}"
        share = spend[category] / total if total else Decimal(0)
        if not _same(row.share, share):
            yield f"{where}: the plan says a share of {row.share}, it is {share}"
        if not (_same(row.min_share, low) and _same(row.max_share, high)):
            yield f"{where}: the row says min {row.min_share} / max {row.max_share}, the guardrail is {low} / {high}"
        within = (low is None or spend[category] >= low * total) and (high is None or spend[category] <= high * total)
        if row.within != within:
            yield f"{where}: the row says within {row.within}, the guardrail is {'kept' if within else 'broken'}"


def _totals(c: _Context) -> Iterator[str]:
    """Sums over the horizon, recomputed from the portfolio and the plan's per-quarter rows."""
    t = c.plan.totals
    if t is None:
        yield f"totals: a plan that is {c.plan.status} must state its totals"
        return
    rows, problems = _index(t.value_streams, "totals", lambda r: r.value_stream, [v.id for v in c.p.value_streams])
    yield from problems
    for v, row in rows.items():
        mine = [i for i in c.starts if c.mmps[i].value_stream == v]
        stream_rows = [r for (stream, _), r in c.bud.items() if stream == v]
        allocated, spent = _total_of(r.allocated for r in stream_rows), _total_of(r.spent for r in stream_rows)
        expected = {
            "allocated": allocated,
            "spent": spent,
            "unspent": allocated - spent,
            "mmp_cost": _total_of(_total_of(c.mmps[i].cost) for i in mine),
            "funded": Decimal(len(mine)),
            "value": _total_of(c.earned(c.mmps[i], c.starts[i]) for i in mine),
        }
        for name, amount in expected.items():
            if not _same(Decimal(getattr(row, name)), amount):
                yield f"totals: value stream {v} has {name} {amount} over the horizon, not {getattr(row, name)}"
    budget = _total_of(_expand(c.p.budget, c.T))
    allocated = _total_of(r.allocated for r in c.bud.values())
    shared = [x for x in c.p.pools if x.value_stream is None]
    bought = _total_of(x.extra_cost * c.purchased(x.id, q) for x in shared for q in c.p.quarters)
    expected = {
        "budget": budget,
        "allocated": allocated,
        "shared_purchases": bought,
        "unallocated": budget - allocated - bought,
        "spent": _total_of(r.spent for r in c.bud.values()) + bought,
        "mmp_cost": _total_of(_total_of(c.mmps[i].cost) for i in c.starts),
        "funded": Decimal(len(c.starts)),
        "value": _total_of(c.earned(c.mmps[i], s) for i, s in c.starts.items()),
    }
    for name, amount in expected.items():
        if not _same(Decimal(getattr(t.horizon, name)), amount):
            yield f"totals: the horizon has {name} {amount}, not {getattr(t.horizon, name)}"


def _baseline(c: _Context) -> Iterator[str]:
    """The WSJF ranking's plan as the plan states it: real MMPs in the horizon, its value recomputed from the
    portfolio, the uplift and the two lists of differences. (Which plan the ranking finds is the ranking's
    business; that it keeps every rule is checked where it is the returned plan.)"""
    b = c.plan.baseline
    if b is None:
        return
    starts: dict[str, int] = {}
    for mmp_id, quarter in b.starts.items():
        m = c.mmps.get(mmp_id)
        if m is None or quarter not in c.at:
            yield f"baseline: the ranking funds {mmp_id} in {quarter}, which the portfolio does not have"
        elif m.excluded or c.at[quarter] + m.duration > c.T:
            yield f"baseline: the ranking cannot fund {mmp_id} in {quarter} (excluded, or runs past the horizon)"
        else:
            starts[mmp_id] = c.at[quarter]
    for m in c.p.mmps:
        if m.mandatory and m.id not in b.starts and not m.done:
            yield f"baseline: the ranking's plan leaves out the mandatory MMP {m.id}"
    value = value_of(c, starts)
    if not c.scored and not _same(b.value, value):  # over scenarios: `optimizer.validator_scenarios` checks it
        yield f"baseline: the ranking's plan is worth {value}, not {b.value}"
    if c.plan.objective is not None and not _same(b.uplift, c.plan.objective - b.value):
        yield f"baseline: the uplift is {c.plan.objective - b.value}, not {b.uplift}"
    if b.value > 0:
        percent = b.uplift * 100 / b.value
        if b.uplift_percent is None or abs(b.uplift_percent - percent) > Decimal("0.005") + TOL:
            yield f"baseline: the uplift is {percent:.4f} % of the ranking's value, not {b.uplift_percent}"
    elif b.uplift_percent is not None:
        yield "baseline: no uplift percentage when the ranking's value is not positive"
    chosen = set(c.starts)
    for name, listed, expected in (
        ("optimizer_only", b.optimizer_only, [m.id for m in c.p.mmps if m.id in chosen and m.id not in b.starts]),
        ("ranking_only", b.ranking_only, [m.id for m in c.p.mmps if m.id in b.starts and m.id not in chosen]),
    ):
        if sorted(listed) != sorted(expected):
            yield f"baseline: {name} should list {expected}, not {listed}"


def _needs(c: _Context) -> Iterator[str]:
    """What it would take to fund each unfunded MMP (docs/design.md, section 5.10): ranges in order, breakdowns
    that add up to the figure found, and the plan found for it (this plan's starts with `changes`) funds the
    MMP, keeps every rule that starts alone decide (window, exclusions, requirements, alternatives, groups,
    guardrails), fits the capacity and money it could have, and, with the MMP's value at `high` for the value
    need, is worth at least this plan: at that value a re-solve funds it."""
    for row in c.plan.not_selected:
        if row.needs is not None and row.mmp in c.mmps:
            yield from (f"needs: MMP {row.mmp}: {problem}" for problem in _need_problems(c, row))


def _need_problems(c: _Context, row: NotSelected) -> Iterator[str]:
    n, m = row.needs, c.mmps[row.mmp]
    assert n is not None
    for name, need in (("value", n.value), ("budget", n.budget), ("capacity", n.capacity)):
        if need is None:
            continue
        if need.low is not None and need.high is not None and _above(need.low, need.high):
            yield f"{name} low {need.low} is above high {need.high}"
        if name != "value" and any(x is not None and _above(Decimal(0), x) for x in (need.low, need.high)):
            yield f"{name} is below zero"
    money: dict[int, Decimal] = {}
    units: dict[tuple[str, int], Decimal] = {}
    if n.budget is not None:
        money, problems = _breakdown(c, n.budget.quarters, n.budget.high)
        yield from (f"budget {p}" for p in problems)
    if n.capacity is not None:
        known = {x.id for x in c.p.pools}
        for pool, amounts in n.capacity.pools.items():
            if pool not in known:
                yield f"capacity names pool {pool}, which the portfolio does not have"
            by_quarter, problems = _breakdown(c, amounts, None)
            yield from (f"capacity of pool {pool} {p}" for p in problems)
            units |= {(pool, q): u for q, u in by_quarter.items()}
        listed = _total_of(u for amounts in n.capacity.pools.values() for u in amounts.values())
        if n.capacity.high is not None and not _same(listed, n.capacity.high):
            yield f"capacity breakdown adds up to {listed}, not {n.capacity.high}"
    for name, need, valued, more_money, more_units in (
        ("value", n.value, True, {}, {}),
        ("budget", n.budget, False, money, {}),
        ("capacity", n.capacity, False, {}, units),
    ):
        if need is not None and need.high is not None and need.changes:
            value = need.high if valued else None
            yield from (f"{name}: {p}" for p in _witness(c, m, need.changes, value, more_money, more_units))


def _breakdown(c: _Context, amounts: dict[str, Decimal], total: Decimal | None) -> tuple[dict[int, Decimal], list[str]]:
    """Per-quarter amounts by quarter position, with complaints: unknown quarters, amounts not above zero, a
    sum that is not `total`."""
    problems = [f"names {q}, which is not a quarter of the horizon" for q in amounts if q not in c.at]
    problems += [f"gives {q} {a}, not above zero" for q, a in amounts.items() if not _above(a, Decimal(0))]
    if total is not None and not _same(_total_of(amounts.values()), total):
        problems.append(f"breakdown adds up to {_total_of(amounts.values())}, not {total}")
    return {c.at[q]: a for q, a in amounts.items() if q in c.at}, problems


def _witness(
    c: _Context,
    m: MMP,
    changes: dict[str, str | None],
    value: Decimal | None,
    more_money: dict[int, Decimal],
    more_units: dict[tuple[str, int], Decimal],
) -> Iterator[str]:
    """The plan a need was found with: this plan's starts with `changes`, checked as far as starts decide."""
    starts = dict(c.starts)
    for mmp_id, quarter in changes.items():
        if mmp_id not in c.mmps or (quarter is not None and quarter not in c.at):
            yield f"changes name {mmp_id} in {quarter}, which the portfolio does not have"
            return
        if quarter is None:
            starts.pop(mmp_id, None)
        else:
            starts[mmp_id] = c.at[quarter]
    if m.id not in starts:
        yield "the plan found for it does not fund it"
        return
    p = c.p
    if value is not None:  # the MMP's value at `high`
        p = p.model_copy(
            update={"mmps": [x.model_copy(update={"value": value}) if x.id == m.id else x for x in p.mmps]}
        )
    selected = [
        SelectedMMP(mmp=i, start=p.quarters[s], finish=p.quarters[s], value=Decimal(0), cost=Decimal(0))
        for i, s in starts.items()
    ]
    w = _Context(p, Plan(status=SolverStatus.FEASIBLE, selected=selected, solver=c.plan.solver))
    for check in (_start_window, _excluded, _mandatory, _requires, _excludes, _guardrail_min, _guardrail_max):
        yield from check(w)
    for check in (_group_min, _group_max, _together, _requires_any):
        yield from check(w)
    for pool in p.pools:
        capacity, extra = _expand(pool.capacity, w.T), _expand(pool.extra_capacity, w.T)
        for q, label in enumerate(p.quarters):
            has = capacity[q] + extra[q] + more_units.get((pool.id, q), Decimal(0))
            if _above(w.used(pool.id, q), has):
                yield f"pool {pool.id} would use {w.used(pool.id, q)} in {label}, more than the {has} it could have"
    budget = _expand(p.budget, w.T)
    for q, label in enumerate(p.quarters):
        need = Decimal(0)
        for v in p.value_streams:
            spend = (
                _total_of(x.cost[k] for x, k in w.running(q) if x.value_stream == v.id) + _expand(v.run_cost, w.T)[q]
            )
            high = _expand(v.max_budget, w.T)[q]
            lift = more_money.get(q, Decimal(0)) if v.id == m.value_stream else Decimal(0)
            if high is not None and _above(spend, high + lift):
                yield f"value stream {v.id} would spend {spend} in {label}, above its max budget {high + lift}"
            need += max(spend, _expand(v.min_budget, w.T)[q])
        if _above(need, budget[q] + more_money.get(q, Decimal(0))):
            yield f"{label} would need {need}, more than its budget {budget[q] + more_money.get(q, Decimal(0))}"
    worth = _worth(w)
    if c.plan.objective is not None and _above(c.plan.objective, worth):
        yield f"the plan found for it is worth {worth}, less than this plan's {c.plan.objective}"


def _worth(w: _Context) -> Decimal:
    """The outcome value of a plan given by its starts alone (key results credited up to their targets)."""
    mmps = _total_of(w.earned(w.mmps[i], s) for i, s in w.starts.items())
    krs = _total_of(
        k.value_per_unit * min(k.target, _total_of(w.mmps[i].key_results.get(k.id, Decimal(0)) for i in w.starts))
        for k in w.p.key_results
    )
    baseline = w.p.baseline_plan
    changes = sum(1 for i, q in baseline.items() if w.starts.get(i) != w.at[q])
    changes += sum(1 for i in w.starts if i not in baseline) if baseline else 0
    synergies, groups = _choice_values(w.p, set(w.starts))
    return mmps + krs + synergies + groups - w.p.change_penalty * changes


Check = Callable[[_Context], Iterator[str]]

# The plan's own bookkeeping: its rows are complete and echo the portfolio, and its figures add up.
_BOOKKEEPING: tuple[Check, ...] = (_selected, _coverage, _capacity_rows, _budget_rows, _reserve, _key_result_rows)
_BOOKKEEPING += (_objective, _investment_mix, _totals, _baseline, _needs)

CHECKS: dict[RuleKind, Check] = {
    RuleKind.START_WINDOW: _start_window,
    RuleKind.MANDATORY: _mandatory,
    RuleKind.EXCLUDED: _excluded,
    RuleKind.STREAM_SPEND: _stream_spend,
    RuleKind.STREAM_MIN: _stream_min,
    RuleKind.STREAM_MAX: _stream_max,
    RuleKind.TOTAL_BUDGET: _total_budget,
    RuleKind.MAX_CHANGE: _max_change,
    RuleKind.CAPACITY: _capacity,
    RuleKind.REQUIRES: _requires,
    RuleKind.EXCLUDES: _excludes,
    RuleKind.GUARDRAIL_MIN: _guardrail_min,
    RuleKind.GUARDRAIL_MAX: _guardrail_max,
    RuleKind.KEY_RESULT: _key_result,
    RuleKind.GROUP_MIN: _group_min,
    RuleKind.GROUP_MAX: _group_max,
    RuleKind.TOGETHER: _together,
    RuleKind.REQUIRES_ANY: _requires_any,
    RuleKind.AS_OF: _as_of,
    RuleKind.IN_FLIGHT: _in_flight,
    RuleKind.DONE: _done,
}
"""Every business rule and the check of it, read afresh from docs/design.md."""
