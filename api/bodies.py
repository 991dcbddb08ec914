"""What a parsing process runs (api/parsing.py): every JSON body the API takes, parsed, validated and checked
from its raw bytes.

It imports the models and nothing of the web side (FastAPI, storage, keys), so a parsing process starts on
a third of the web process's imports: the service, and every app a test starts, is ready sooner, and each
parsing process holds less memory.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from models import PortfolioError, Problem, checked_problems, json_path, validation_problems
from models.checks import capped
from models.cycle import ActualsBody, CommitRequest, ReplanRequest
from models.jobs import JobRequest
from models.portfolio import Portfolio
from models.requests import CheckRequest, SolveRequest, StorePlanRequest
from models.scenarios import FrontierRequest, WhatIfRequest

PARENT_POLL_S = 1.0  # how often a parsing process checks that the web process is still there

# Every JSON body the API takes, by name: the parsing process looks its model up here. The second item says
# where the body's portfolio is checked across fields (None: the route's study checks it).
BODIES: dict[str, tuple[Any, Callable[[Any], list[Problem]] | None]] = {
    "solve": (SolveRequest, lambda body: checked_problems(body.portfolio, "$.portfolio")),
    "check": (CheckRequest, lambda body: checked_problems(body.portfolio, "$.portfolio")),
    "portfolio": (Portfolio, lambda body: checked_problems(body, "$")),
    "whatif": (WhatIfRequest, None),
    "frontier": (FrontierRequest, None),
    "job": (JobRequest, None),
    "plan": (StorePlanRequest | None, None),
    "commit": (CommitRequest, None),
    "actuals": (ActualsBody, None),
    "replan": (ReplanRequest, None),
}
_ADAPTERS: dict[str, TypeAdapter] = {}


class MalformedBody(ValueError):
    """The body is not JSON (a duplicate key is an input problem instead, with its path)."""


def parse_body(kind: str, raw: bytes) -> Any:
    """The validated and checked body of `kind`, or PortfolioError (capped) or MalformedBody."""
    model, check = BODIES[kind]
    data = _load_json(raw)
    adapter = _ADAPTERS.get(kind) or _ADAPTERS.setdefault(kind, TypeAdapter(model))
    try:
        body = adapter.validate_python(data)
    except ValidationError as err:
        errors = err.errors(include_url=False, include_context=False)
        raise PortfolioError(capped(validation_problems(errors, data))) from None
    problems = check(body) if check is not None and body is not None else []
    if problems:
        raise PortfolioError(capped(problems))
    return body


class _Object(dict):
    """A JSON object that had a key twice (marked, so its path can be named)."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    data = dict(pairs)
    if len(data) == len(pairs):
        return data
    seen: set[str] = set()
    marked = _Object(data)
    marked.duplicates = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    return marked


def _load_json(raw: bytes) -> Any:
    try:
        data = json.loads(raw, object_pairs_hook=_pairs)
    except RecursionError:
        raise MalformedBody("the request body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, invalid UTF-8, an integer too long to convert
        raise MalformedBody(f"the request body is not valid JSON: {str(exc)[:200]}") from None
    duplicates = list(_duplicates(data, ()))
    if duplicates:
        raise PortfolioError(capped(duplicates))
    return data


def _duplicates(value: Any, loc: tuple) -> Any:
    """Problems for every object that had a key twice (walked only when the parse found one)."""
    stack = [(value, loc)]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, _Object):
            for name in dict.fromkeys(value.duplicates):
                yield Problem(json_path((*loc, name)), f"the key {name!r} appears more than once in this object")
        if isinstance(value, dict):
            stack += [(v, (*loc, k)) for k, v in value.items() if isinstance(v, dict | list)]
        elif isinstance(value, list):
            stack += [(v, (*loc, i)) for i, v in enumerate(value) if isinstance(v, dict | list)]


def end_with_parent(parent_pid: int) -> None:
    """Run in each parsing process as it starts: end it when the web process is gone. Nothing else would: a
    killed web process (kill -9) leaves the executor's queue open in its children, which wait on it forever
    (with the resource tracker they keep alive), holding memory for nobody."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
