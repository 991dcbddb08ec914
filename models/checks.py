"""Whole-portfolio checks, run before any solver.

`load_portfolio` turns raw JSON-like data into a :class:`Portfolio` or raises
:class:`PortfolioError` listing *every* problem at once, each with the JSON
path of the offending field and a sentence a portfolio manager understands.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from models import ranges, uncertainty, units
from models.limits import LIMITS
from models.paths import json_path, key
from models.portfolio import MMP, KeyResult, Pool, Portfolio, QuarterActuals, ValueStream, per_quarter
from models.settings import SolverSettings


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (JSON path) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PortfolioError(ValueError):
    """The portfolio was rejected; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def __reduce__(self):  # keep the problems when the error crosses a process boundary
        return (PortfolioError, (self.problems,))


def not_a_quarter(label: object) -> str:
    """The one sentence for a quarter label the portfolio's horizon does not have."""
    return f"{label!r} is not a quarter of the horizon"


def capped(problems: Sequence[Problem], limit: int | None = None) -> list[Problem]:
    """The first `limit` problems (default: the configured cap), and one more line counting the rest: an error
    report stays readable and small however many problems a hostile input has."""
    limit = LIMITS.max_error_details if limit is None else limit
    if len(problems) <= limit or isinstance(problems[-1], MoreProblems):  # short, or capped already
        return list(problems)
    rest = len(problems) - limit
    return [*problems[:limit], MoreProblems("$", f"... and {rest} more problem(s) of the same kinds; fix these first")]


class MoreProblems(Problem):
    """The line that counts the problems a capped report leaves out."""


def load_portfolio(data: Any) -> Portfolio:
    """Parse and check a portfolio; raise PortfolioError with every problem found."""
    try:
        portfolio = Portfolio.model_validate(data)
    except ValidationError as err:
        raise PortfolioError(validation_problems(err.errors(), data)) from None
    problems = check_portfolio(portfolio)
    if problems:
        raise PortfolioError(problems)
    return portfolio


def checked(portfolio: Portfolio, path: str = "$") -> Portfolio:
    """The portfolio, or PortfolioError with every cross-field problem under `path` (its place in a request)."""
    problems = checked_problems(portfolio, path)
    if problems:
        raise PortfolioError(problems)
    return portfolio


def checked_problems(portfolio: Portfolio, path: str = "$") -> list[Problem]:
    """Every cross-field problem of the portfolio, with paths under `path`."""
    return [Problem(path + p.path[1:], p.message) for p in check_portfolio(portfolio)]


def validation_problems(errors: list[Any], data: Any) -> list[Problem]:
    """Pydantic errors for `data` as Problems: one per real problem, with clean JSON paths."""
    walked = [(e, *_walk(e["loc"], data)) for e in errors]
    kept = [(e, loc) for e, loc, tag, value in walked if _on_matching_branch(tag, value)]
    return [_from_pydantic(e, loc) for e, loc in kept or [(e, loc) for e, loc, _, _ in walked]]


def _walk(loc: tuple[Any, ...], data: Any) -> tuple[list[Any], str | None, Any]:
    """Follow `loc` through the input. Parts that are not in the input are union tags that pydantic
    adds (a member type such as 'decimal' or 'list[...]', or a discriminator value such as
    'scale_budget'): drop them from the path. A missing field, the last part, stays.
    Returns the clean path, the first tag met, and the input value where it was met."""
    path: list[Any] = []
    tag, tagged, value = None, None, data
    for n, part in enumerate(loc):
        if _has(value, part):
            value = value[part]
        elif isinstance(part, str) and (n < len(loc) - 1 or not isinstance(value, dict) or _is_tag(value, part)):
            if tag is None:
                tag, tagged = part, value
            continue
        else:
            value = None
        path.append(part)
    return path, tag, tagged


def _is_tag(value: dict, part: str) -> bool:
    """The discriminator value of the object itself (its `kind` or `op`), not a missing field."""
    return part in (value.get("kind"), value.get("op"))


def _has(value: Any, part: Any) -> bool:
    if isinstance(value, dict):
        return part in value
    return isinstance(value, list) and isinstance(part, int) and -len(value) <= part < len(value)


def _from_pydantic(error: Any, loc: list[Any]) -> Problem:
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check its spelling)"
    elif error["type"] == "missing":
        message = "this field is required"
    elif error["type"] == "value_error":  # our validators' own sentence, without pydantic's "Value error, "
        message = message.removeprefix("Value error, ")
    return Problem(json_path(loc), message)


def _on_matching_branch(tag: str | None, value: Any) -> bool:
    """Keep a union member's error only if the input has that member's shape.

    A per-quarter field is `number | list[number]`; pydantic reports a failure
    against every member, so `budget: -1` would also say "Input should be a valid
    list". Keep the list member's errors for a list input and the scalar member's
    errors otherwise (never the `None` member's). Discriminated unions report one
    member only, so their errors are always kept.
    """
    if tag is None or not (tag.startswith(("list", "function-")) or tag in _TYPE_TAGS):
        return True
    if isinstance(value, list):
        return tag.startswith("list")
    return not tag.startswith("list") and tag != "none"


_TYPE_TAGS = {"decimal", "str", "int", "float", "bool", "dict", "function-after", "none"}


def check_portfolio(p: Portfolio) -> list[Problem]:
    """Every cross-field problem of a parsed portfolio (empty list: it is sound and the solver can
    count it at its automatic money resolution)."""
    problems: list[Problem] = []
    problems += _check_horizon(p)
    problems += _check_unique_ids(p)
    problems += _check_value_streams(p)
    problems += _check_pools(p)
    problems += _check_mmps(p)
    problems += _check_requires_acyclic(p) or _check_requires_any_reachable(p)
    problems += _check_guardrails(p)
    problems += _check_key_results(p)
    problems += _check_baseline(p)
    problems += _check_choices(p)
    problems += [Problem(path, message) for path, message in uncertainty.problems(p)]
    problems += _check_cycle(p)
    # Counting needs sound references and profiles: only a sound portfolio is counted.
    return problems or _check_model_size(p) or check_solvable(p)


def start_variables(p: Portfolio) -> int:
    """How many start variables the solver would create: per MMP not excluded, the quarters it may start in."""
    index = {q: i for i, q in enumerate(p.quarters)}
    last = len(p.quarters) - 1
    total = 0
    as_of = index.get(p.as_of, 0) if p.as_of else 0
    for m in p.mmps:
        if m.in_flight:
            total += 1
        elif not m.excluded and not m.done:
            first = max(as_of, index[m.earliest_start] if m.earliest_start else 0)
            end = index[m.deadline] if m.deadline else last
            total += max(0, end - m.duration + 2 - first)
    return total


def _check_model_size(p: Portfolio) -> list[Problem]:
    """A cap on the model, checked before anything is built: every solve stays finite in time and memory."""
    n = start_variables(p)
    if n > LIMITS.max_start_variables:
        message = (
            f"the model would have {n:,} start variables (each MMP times the quarters it may start in); this "
            f"server solves at most {LIMITS.max_start_variables:,}: narrow the start windows (earliest_start, "
            "deadline), shorten the horizon or split the portfolio"
        )
        return [Problem("$.mmps", message)]
    scenarios = uncertainty.scenario_count(p)
    if n * scenarios > LIMITS.max_scenario_terms:
        message = (
            f"{n:,} start variables times {scenarios:,} scenarios make {n * scenarios:,} terms; this server scores "
            f"at most {LIMITS.max_scenario_terms:,}: use fewer scenarios (scenario_count) or narrow the start windows"
        )
        return [Problem("$.scenario_count" if scenarios > len(p.scenarios) else "$.scenarios", message)]
    return []


SETTINGS_RESOLUTION = "$.settings.money_resolution"


def check_solvable(p: Portfolio, settings: SolverSettings | None = None) -> list[Problem]:
    """What the solver cannot count exactly in a sound portfolio at the money resolution `settings`
    asks for (automatic without one; see `models.units`).

    Problems caused by an explicit `settings.money_resolution` are reported at
    `$.settings.money_resolution` (settings sit beside the portfolio in every request); the others at
    their place in the portfolio."""
    stated = settings.money_resolution if settings else None
    if not p.uncertain:
        return _countable(p, stated, stated is not None)
    # Every scenario is counted in one money unit (values of different scenarios are added up).
    money = uncertainty.money_resolution(p, stated)
    for world in uncertainty.counting_worlds(p):
        problems = _countable(world, money, stated is not None)
        if problems:
            return problems
    return []


def _countable(p: Portfolio, money: Decimal | None, stated: bool) -> list[Problem]:
    """What the solver cannot count exactly in one certain portfolio with money in units of `money` (None:
    the automatic unit)."""
    c = units.counting(p, money)
    if units.too_large(p, c):  # the money itself: the other rows are judged once it can be counted
        return [Problem(SETTINGS_RESOLUTION if stated else "$", _too_large(c, stated))]
    problems = [Problem(path, message) for path, message in ranges.problems(p, c)]
    if problems:  # the grid check below needs those rows sound
        return problems
    for v in units.baselines_off_grid(p, c):
        where = SETTINGS_RESOLUTION if stated else f"$.value_streams[{v}].baseline_budget"
        problems.append(Problem(where, _off_grid(p.value_streams[v], c, stated)))
    return problems


def _too_large(c: units.Counting, stated: bool) -> str:
    if stated:
        return (
            f"the amounts span too many digits to plan exactly with money counted in units of {c.money} "
            "(settings.money_resolution); choose a larger money_resolution or state money in a larger unit"
        )
    return (
        f"the amounts span too many digits to plan exactly (money counted in units of {c.money}); "
        "state money in a larger unit (for example thousands) or lower the largest amounts"
    )


def _off_grid(vs: ValueStream, c: units.Counting, stated: bool) -> str:
    unit = f"{c.allocation_unit:f}"
    limit = (
        f"with max_change {vs.max_change}, {vs.id}'s first-quarter budget must stay within "
        f"{vs.max_change:.0%} of {vs.baseline_budget}, and no multiple of the solver's counting unit"
    )
    if stated:
        return (
            f"{limit} ({unit}, from settings.money_resolution) lies there; "
            "choose a finer money_resolution or allow a larger max_change"
        )
    return (
        f"{limit} for this portfolio ({unit}, forced by its largest amounts) lies there; "
        "round the baseline budget to that unit or allow a larger max_change"
    )


def _check_horizon(p: Portfolio) -> list[Problem]:
    if not p.quarters:
        return [Problem("$.quarters", "the planning horizon is empty: list at least one quarter")]
    seen: set[str] = set()  # a set, not a slice per label: the check stays linear in the horizon
    problems = []
    for i, q in enumerate(p.quarters):
        if q in seen:
            problems.append(Problem(f"$.quarters[{i}]", f"quarter {q!r} is listed twice"))
        seen.add(q)
    problems += _check_profile(p, "$.budget", p.budget, "total budget")
    return problems


def _check_profile(p: Portfolio, path: str, amount: Any, what: str) -> list[Problem]:
    """A per-quarter list must have one entry per quarter of the horizon."""
    if isinstance(amount, list) and len(amount) != len(p.quarters):
        return [
            Problem(
                path,
                f"{what} lists {len(amount)} quarters but the horizon has {len(p.quarters)}; "
                "give one number for every quarter or one per quarter",
            )
        ]
    return []


def _check_unique_ids(p: Portfolio) -> list[Problem]:
    problems = []
    groups: list[tuple[str, Sequence[ValueStream | Pool | MMP | KeyResult]]] = [
        ("value_streams", p.value_streams),
        ("pools", p.pools),
        ("mmps", p.mmps),
        ("key_results", p.key_results),
    ]
    for field, items in groups:
        counts = Counter(item.id for item in items)
        seen: set[str] = set()
        for i, item in enumerate(items):
            if counts[item.id] > 1 and item.id in seen:
                problems.append(Problem(f"$.{field}[{i}].id", f"id {item.id!r} is used more than once"))
            seen.add(item.id)
    return problems


def _check_value_streams(p: Portfolio) -> list[Problem]:
    problems = []
    if not p.value_streams:
        problems.append(Problem("$.value_streams", "at least one value stream is required"))
    n = len(p.quarters)
    for i, vs in enumerate(p.value_streams):
        base = f"$.value_streams[{i}]"
        profile_problems: list[Problem] = []
        for field in ("min_budget", "max_budget", "run_cost"):
            amount = getattr(vs, field)
            profile_problems += _check_profile(p, f"{base}.{field}", amount, f"{field} of {vs.id}")
        problems += profile_problems
        # Compare min and max quarter by quarter only when this stream's own profiles line up.
        if profile_problems or vs.max_budget is None:
            continue
        for q, (lo, hi) in enumerate(zip(per_quarter(vs.min_budget, n), per_quarter(vs.max_budget, n))):
            if lo > hi:
                problems.append(
                    Problem(
                        f"{base}.min_budget",
                        f"min_budget {lo} of {vs.id} exceeds its max_budget {hi} in {p.quarters[q]}",
                    )
                )
    return problems


def _check_pools(p: Portfolio) -> list[Problem]:
    streams = {vs.id for vs in p.value_streams}
    problems = []
    for i, pool in enumerate(p.pools):
        base = f"$.pools[{i}]"
        if pool.value_stream is not None and pool.value_stream not in streams:
            problems.append(Problem(f"{base}.value_stream", f"unknown value stream {pool.value_stream!r}"))
        problems += _check_profile(p, f"{base}.capacity", pool.capacity, f"capacity of {pool.id}")
        problems += _check_profile(p, f"{base}.extra_capacity", pool.extra_capacity, f"extra_capacity of {pool.id}")
    return problems


def _check_mmps(p: Portfolio) -> list[Problem]:
    streams = {vs.id for vs in p.value_streams}
    pools = {pool.id for pool in p.pools}
    mmps = {m.id for m in p.mmps}
    krs = {k.id for k in p.key_results}
    quarters = set(p.quarters)
    problems = []
    for i, m in enumerate(p.mmps):
        base = f"$.mmps[{i}]"
        if m.value_stream not in streams:
            problems.append(Problem(f"{base}.value_stream", f"unknown value stream {m.value_stream!r}"))
        if m.value is None and m.wsjf is None and m.value_range is None:
            problems.append(Problem(f"{base}.value", f"MMP {m.id} needs a value, a value range or WSJF scores"))
        for pool, profile in m.demand.items():
            if pool not in pools:
                problems.append(Problem(f"{base}.demand{key(pool)}", f"unknown pool {pool!r}"))
            if len(profile) != m.duration:
                problems.append(
                    Problem(
                        f"{base}.demand{key(pool)}",
                        f"demand lists {len(profile)} quarters but cost lists {m.duration}; "
                        "they must have the same length (the MMP's duration)",
                    )
                )
        for field in ("earliest_start", "deadline"):
            label = getattr(m, field)
            if label is not None and label not in quarters:
                problems.append(Problem(f"{base}.{field}", not_a_quarter(label)))
        for field in ("requires", "excludes", "requires_any"):
            for j, other in enumerate(getattr(m, field)):
                if other == m.id:
                    problems.append(Problem(f"{base}.{field}[{j}]", f"MMP {m.id} names itself"))
                elif other not in mmps:
                    problems.append(Problem(f"{base}.{field}[{j}]", f"unknown MMP {other!r}"))
        for kr in m.key_results:
            if kr not in krs:
                problems.append(Problem(f"{base}.key_results{key(kr)}", f"unknown key result {kr!r}"))
    return problems


def _check_choices(p: Portfolio) -> list[Problem]:
    """Groups, synergies and together-sets name known MMPs, each once; group ids share the MMPs' namespace
    and a group's min and max are possible."""
    mmps = {m.id for m in p.mmps}
    problems = []
    seen: set[str] = set()
    for g, group in enumerate(p.groups):
        base = f"$.groups[{g}]"
        if group.id in mmps or group.id in seen:
            problems.append(Problem(f"{base}.id", f"id {group.id!r} is already used by an MMP or another group"))
        seen.add(group.id)
        problems += _members(f"{base}.mmps", group.mmps, mmps)
        if group.min > group.max:
            problems.append(Problem(f"{base}.min", f"min {group.min} exceeds max {group.max}"))
        elif group.min > len(set(group.mmps)):
            problems.append(Problem(f"{base}.min", f"min {group.min} exceeds the group's {len(set(group.mmps))} MMPs"))
    synergy_ids: set[str] = set()
    for s, synergy in enumerate(p.synergies):
        base = f"$.synergies[{s}]"
        if synergy.id in synergy_ids:
            problems.append(Problem(f"{base}.id", f"synergy id {synergy.id!r} is used more than once"))
        synergy_ids.add(synergy.id)
        problems += _members(f"{base}.mmps", synergy.mmps, mmps)
    for k, members in enumerate(p.together):
        problems += _members(f"$.together[{k}]", members, mmps)
    return problems


def _members(path: str, members: list[str], mmps: set[str]) -> list[Problem]:
    """Every member a known MMP, listed once."""
    problems, seen = [], set()
    for j, member in enumerate(members):
        if member not in mmps:
            problems.append(Problem(f"{path}[{j}]", f"unknown MMP {member!r}"))
        elif member in seen:
            problems.append(Problem(f"{path}[{j}]", f"MMP {member!r} is listed twice"))
        seen.add(member)
    return problems


def _check_requires_acyclic(p: Portfolio) -> list[Problem]:
    """Iterative depth-first search for a cycle in `requires`; name the first one found."""
    graph = {m.id: [r for r in m.requires if r != m.id] for m in p.mmps}
    index = {m.id: i for i, m in enumerate(p.mmps)}
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path, on_path = [root], {root}
        stack = [iter(graph[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif nxt in on_path:
                cycle = [*path[path.index(nxt) :], nxt]
                message = "requires forms a cycle: " + " -> ".join(cycle) + "; no MMP in it can ever start"
                return [Problem(f"$.mmps[{index[cycle[0]]}].requires", message)]
            elif nxt in graph and nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(graph[nxt]))
    return []


def _check_requires_any_reachable(p: Portfolio) -> list[Problem]:
    """With `requires` acyclic, an MMP can still never start when every option of its `requires_any` leads
    back to it (a -> b -> a through one option, or all of them). Which MMPs can start, budgets and capacity
    aside, is found by a worklist (linear in MMPs and references): those done or started, then each MMP once
    its prerequisites all can and, when it has options, one option can. An MMP is named at its
    `requires_any` when its prerequisites can start and none of its options can: the MMPs that wait on it
    are not (their own fields are fine)."""
    ids = {m.id for m in p.mmps}
    needs: dict[str, int] = {}  # what an MMP still waits for: prerequisites, plus one for "an option"
    waiting: dict[str, list[tuple[str, bool]]] = defaultdict(list)  # -> (the MMP waiting on it, as an option)
    for m in p.mmps:
        prerequisites = {r for r in m.requires if r in ids and r != m.id}  # unknown or self: reported elsewhere
        options = {o for o in m.requires_any if o in ids and o != m.id}
        needs[m.id] = len(prerequisites) + bool(options)
        for r in prerequisites:
            waiting[r].append((m.id, False))
        for o in options:
            waiting[o].append((m.id, True))
    ready = [m.id for m in p.mmps if m.done or m.started is not None or needs[m.id] == 0]
    startable, served = set(ready), set()  # served: MMPs one of whose options can start (one is enough)
    while ready:
        for mmp, as_option in waiting[ready.pop()]:
            if as_option:
                if mmp in served:
                    continue
                served.add(mmp)
            needs[mmp] -= 1
            if needs[mmp] == 0 and mmp not in startable:
                startable.add(mmp)
                ready.append(mmp)
    stuck = {m.id for m in p.mmps if m.id not in startable}
    return [
        Problem(
            f"$.mmps[{i}].requires_any",
            f"MMP {m.id!r} can never start: each of its options ({', '.join(m.requires_any)}) requires it, "
            "directly or through others",
        )
        for i, m in enumerate(p.mmps)
        if m.id in stuck
        and any(o in ids and o != m.id for o in m.requires_any)
        and not any(r in stuck for r in m.requires if r in ids and r != m.id)
    ]


def _check_guardrails(p: Portfolio) -> list[Problem]:
    categories = {m.category for m in p.mmps if m.category}
    seen: set[str] = set()
    problems = []
    for i, g in enumerate(p.investment_guardrails):
        base = f"$.investment_guardrails[{i}]"
        if g.category not in categories:
            problems.append(Problem(f"{base}.category", f"no MMP has category {g.category!r}"))
        if g.category in seen:
            problems.append(Problem(f"{base}.category", f"category {g.category!r} has two guardrails"))
        seen.add(g.category)
        if g.min_share is None and g.max_share is None:
            problems.append(Problem(base, "give min_share, max_share or both"))
        elif g.min_share is not None and g.max_share is not None and g.min_share > g.max_share:
            problems.append(Problem(f"{base}.min_share", f"min_share {g.min_share} exceeds max_share {g.max_share}"))
    return problems


def _check_key_results(p: Portfolio) -> list[Problem]:
    return [
        Problem(f"$.key_results[{i}].target", "target must be greater than zero")
        for i, k in enumerate(p.key_results)
        if k.target <= 0
    ]


def _check_cycle(p: Portfolio) -> list[Problem]:
    """The planning cycle (docs/design.md, section 3.15): `as_of` is a quarter; in-flight MMPs started before it,
    still run at it and inside the horizon; done MMPs take no part in choices; actuals are past quarters naming
    known streams, MMPs and key results."""
    index = {q: i for i, q in enumerate(p.quarters)}
    problems = []
    if p.as_of is not None and p.as_of not in index:
        return [Problem("$.as_of", not_a_quarter(p.as_of))]
    as_of = index.get(p.as_of, 0) if p.as_of else 0
    for i, m in enumerate(p.mmps):
        base = f"$.mmps[{i}]"
        if m.started is not None:
            started = index.get(m.started)
            if started is None:
                problems.append(Problem(f"{base}.started", not_a_quarter(m.started)))
            elif started >= as_of:
                problems.append(
                    Problem(
                        f"{base}.started",
                        f"MMP {m.id} started in {m.started}, which is not before as_of "
                        f"{p.as_of or p.quarters[0]}: only work begun in a past quarter is in flight",
                    )
                )
            elif m.in_flight and started + m.duration <= as_of:
                problems.append(
                    Problem(
                        f"{base}.cost",
                        f"MMP {m.id} started in {m.started} and runs {m.duration} quarter(s), so it ended before "
                        f"{p.as_of}: mark it done, or list its cost for the quarters it still runs (it slipped)",
                    )
                )
            elif m.in_flight and started + m.duration > len(p.quarters):
                problems.append(Problem(f"{base}.cost", f"in-flight MMP {m.id} runs past the end of the horizon"))
            elif m.earliest_start is not None and m.earliest_start in index and index[m.earliest_start] > started:
                problems.append(
                    Problem(f"{base}.started", f"MMP {m.id} started in {m.started}, before its earliest start")
                )
        if m.done and as_of == 0:
            problems.append(Problem(f"{base}.done", f"MMP {m.id} is done, but nothing is before as_of: set as_of"))
        if m.in_flight and m.excluded and not m.stoppable:
            problems.append(
                Problem(f"{base}.excluded", f"in-flight MMP {m.id} cannot be excluded unless it is stoppable")
            )
        if m.in_flight and m.id in p.baseline_plan and p.baseline_plan[m.id] != m.started:
            problems.append(
                Problem(f"$.baseline_plan{key(m.id)}", f"in-flight MMP {m.id} started in {m.started}, it cannot move")
            )
    done = {m.id for m in p.mmps if m.done}
    problems += _in_flight_beside_done_alternative(p, done)
    for g, group in enumerate(p.groups):
        problems += _not_done(f"$.groups[{g}].mmps", group.mmps, done)
    for z, synergy in enumerate(p.synergies):
        problems += _not_done(f"$.synergies[{z}].mmps", synergy.mmps, done)
    for k, members in enumerate(p.together):
        problems += _not_done(f"$.together[{k}]", members, done)
    return problems + actuals_problems(p, p.actuals, as_of)


def _in_flight_beside_done_alternative(p: Portfolio, done: set[str]) -> list[Problem]:
    """Alternatives exclude each other: one cannot be done while the other is under way."""
    in_flight = {m.id for m in p.mmps if m.in_flight}
    problems = []
    for i, m in enumerate(p.mmps):
        if not (m.in_flight or m.done):
            continue
        for j, other in enumerate(m.excludes):
            if m.in_flight and other in done:
                problems.append(
                    Problem(f"$.mmps[{i}].excludes[{j}]", f"in-flight MMP {m.id} excludes {other}, which is done")
                )
            elif m.done and other in in_flight:
                problems.append(
                    Problem(f"$.mmps[{i}].excludes[{j}]", f"done MMP {m.id} excludes {other}, which is in flight")
                )
    return problems


def _not_done(path: str, members: list[str], done: set[str]) -> list[Problem]:
    """A done MMP is history: it takes no part in groups, synergies or together-sets of a plan."""
    return [
        Problem(f"{path}[{j}]", f"MMP {member} is done: remove it from this set (it is no longer a choice)")
        for j, member in enumerate(members)
        if member in done
    ]


def actuals_problems(
    p: Portfolio, actuals: Sequence[QuarterActuals], as_of: int, base: str = "$.actuals"
) -> list[Problem]:
    """Actuals are for past quarters of the horizon (before its `as_of`-th; `len(p.quarters)`: any of them),
    each once, naming known value streams, MMPs and key results. One rule for a portfolio's own actuals and
    the actuals file of `vmo replan` and `vmo variance`; `base` is the list's path."""
    index = {q: i for i, q in enumerate(p.quarters)}
    problems, seen = [], set()
    for a, actual in enumerate(actuals):
        at = f"{base}[{a}]"
        if actual.quarter not in index:
            problems.append(Problem(f"{at}.quarter", not_a_quarter(actual.quarter)))
        elif index[actual.quarter] >= as_of:
            problems.append(
                Problem(
                    f"{at}.quarter",
                    f"{actual.quarter} is not before as_of {p.quarters[as_of]}: actuals are for past quarters",
                )
            )
        elif actual.quarter in seen:
            problems.append(Problem(f"{at}.quarter", f"{actual.quarter} has actuals more than once"))
        seen.add(actual.quarter)
        problems += unknown_ids(p, actual, at)
    return problems


def unknown_ids(p: Portfolio, actual: QuarterActuals, base: str) -> list[Problem]:
    """The value streams, MMPs and key results one quarter's actuals name must be the portfolio's."""
    streams = {vs.id for vs in p.value_streams}
    mmps = {m.id for m in p.mmps}
    krs = {k.id for k in p.key_results}
    return [
        *(Problem(f"{base}.spent{key(v)}", f"unknown value stream {v!r}") for v in actual.spent if v not in streams),
        *(Problem(f"{base}.mmps{key(m)}", f"unknown MMP {m!r}") for m in actual.mmps if m not in mmps),
        *(
            Problem(f"{base}.key_results{key(k)}", f"unknown key result {k!r}")
            for k in actual.key_results
            if k not in krs
        ),
    ]


def _check_baseline(p: Portfolio) -> list[Problem]:
    mmps = {m.id for m in p.mmps}
    quarters = set(p.quarters)
    problems = []
    for mmp, quarter in p.baseline_plan.items():
        if mmp not in mmps:
            problems.append(Problem(f"$.baseline_plan{key(mmp)}", f"unknown MMP {mmp!r}"))
        if quarter not in quarters:
            problems.append(Problem(f"$.baseline_plan{key(mmp)}", not_a_quarter(quarter)))
    return problems
