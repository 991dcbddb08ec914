"""Whole-portfolio checks, run before any solver.

`load_portfolio` turns raw JSON-like data into a :class:`Portfolio` or raises
:class:`PortfolioError` listing *every* problem at once, each with the JSON
path of the offending field and a sentence a portfolio manager understands.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from models.portfolio import Portfolio, per_quarter


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


def json_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """Render a location like ('mmps', 3, 'cost', 0) as '$.mmps[3].cost[0]'."""
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else key(str(part))
    return path


def key(name: str) -> str:
    """One path step for an object key: `.name`, or `["..."]` when the key is not a plain word."""
    return f".{name}" if _PLAIN_KEY.fullmatch(name) else f"[{json.dumps(name)}]"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")


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
    return Problem(json_path(loc), message)


def _on_matching_branch(tag: str | None, value: Any) -> bool:
    """Keep a union member's error only if the input has that member's shape.

    A per-quarter field is `number | list[number]`; pydantic reports a failure
    against every member, so `budget: -1` would also say "Input should be a valid
    list". Keep the list member's errors for a list input and the scalar member's
    errors otherwise (never the `None` member's). Discriminated unions report one
    member only, so their errors are always kept.
    """
    if tag is None or not (tag.startswith("list") or tag in _TYPE_TAGS):
        return True
    if isinstance(value, list):
        return tag.startswith("list")
    return not tag.startswith("list") and tag != "none"


_TYPE_TAGS = {"decimal", "str", "int", "float", "bool", "dict", "function-after", "none"}


def check_portfolio(p: Portfolio) -> list[Problem]:
    """Every cross-field problem of a parsed portfolio (empty list: it is sound)."""
    problems: list[Problem] = []
    problems += _check_horizon(p)
    problems += _check_unique_ids(p)
    problems += _check_value_streams(p)
    problems += _check_pools(p)
    problems += _check_mmps(p)
    problems += _check_requires_acyclic(p)
    problems += _check_guardrails(p)
    problems += _check_key_results(p)
    problems += _check_baseline(p)
    return problems


def _check_horizon(p: Portfolio) -> list[Problem]:
    if not p.quarters:
        return [Problem("$.quarters", "the planning horizon is empty: list at least one quarter")]
    problems = [
        Problem(f"$.quarters[{i}]", f"quarter {q!r} is listed twice")
        for i, q in enumerate(p.quarters)
        if q in p.quarters[:i]
    ]
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
    for field, items in (
        ("value_streams", p.value_streams),
        ("pools", p.pools),
        ("mmps", p.mmps),
        ("key_results", p.key_results),
    ):
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
        if m.value is None and m.wsjf is None:
            problems.append(Problem(f"{base}.value", f"MMP {m.id} needs a value or WSJF scores"))
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
                problems.append(Problem(f"{base}.{field}", f"{label!r} is not a quarter of the horizon"))
        for field in ("requires", "excludes"):
            for j, other in enumerate(getattr(m, field)):
                if other == m.id:
                    problems.append(Problem(f"{base}.{field}[{j}]", f"MMP {m.id} names itself"))
                elif other not in mmps:
                    problems.append(Problem(f"{base}.{field}[{j}]", f"unknown MMP {other!r}"))
        for kr in m.key_results:
            if kr not in krs:
                problems.append(Problem(f"{base}.key_results{key(kr)}", f"unknown key result {kr!r}"))
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


def _check_baseline(p: Portfolio) -> list[Problem]:
    mmps = {m.id for m in p.mmps}
    quarters = set(p.quarters)
    problems = []
    for mmp, quarter in p.baseline_plan.items():
        if mmp not in mmps:
            problems.append(Problem(f"$.baseline_plan{key(mmp)}", f"unknown MMP {mmp!r}"))
        if quarter not in quarters:
            problems.append(Problem(f"$.baseline_plan{key(mmp)}", f"{quarter!r} is not a quarter of the horizon"))
    return problems
