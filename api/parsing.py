"""Request bodies are parsed, validated and checked in separate processes, never on the event loop.

json.loads and pydantic's validation run in C and Rust without releasing the GIL:
an 8 MiB body held any thread of the web process for most of a second, so a thread
was not enough to keep /healthz answering. A small pool of spawned processes
(`VMO_PARSER_PROCESSES`) does the whole work on the raw bytes and sends back the
validated request, or the problems (capped), or why the body is no JSON:

* duplicate keys in an object are refused (JSON leaves them undefined; Python keeps the last);
* the portfolio of a solve, check or stored portfolio is checked across fields here too.

`ParsedRoute` is the FastAPI route class that hands a JSON body to the pool and then
lets FastAPI see the validated model (pydantic does not validate a model instance
twice), so the OpenAPI document is unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Annotated, Any, get_args, get_origin

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from api.auth import identify
from models import PortfolioError, Problem, checked_problems, json_path, validation_problems
from models.checks import capped
from models.cycle import ActualsBody, CommitRequest, ReplanRequest
from models.jobs import JobRequest
from models.portfolio import Portfolio
from models.requests import CheckRequest, SolveRequest, StorePlanRequest
from models.scenarios import FrontierRequest, WhatIfRequest

PARENT_POLL_S = 1.0  # how often a parsing process checks that the web process is still there

log = logging.getLogger("vmo.api")

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


class ParserUnavailable(RuntimeError):
    """A parsing process died (out of memory on a hostile body); the pool has been replaced."""


# ---------------------------------------------------------------- inside a parsing process


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


# ---------------------------------------------------------------- in the web process


class Parsers:
    """The parsing processes. `parse` answers the validated body, or raises what `parse_body` raised."""

    def __init__(self, processes: int):
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the processes now (and import the models there), so the first request does not wait for it."""
        pool = self._started()
        for future in [pool.submit(parse_body, "plan", b"null") for _ in range(self.processes)]:
            future.result()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:  # also for an app called without its lifespan (some tests)
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_end_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def parse(self, kind: str, raw: bytes) -> Any:
        pool = self._started()
        try:
            return await asyncio.wrap_future(pool.submit(parse_body, kind, raw))
        except BrokenProcessPool:
            log.error("a parsing process died (a %d-byte %s body); replacing the pool", len(raw), kind)
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise ParserUnavailable() from None


def _end_with_parent(parent_pid: int) -> None:
    """Run in each parsing process as it starts: end it when the web process is gone. Nothing else would: a
    killed web process (kill -9) leaves the executor's queue open in its children, which wait on it forever
    (with the resource tracker they keep alive), holding memory for nobody."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def body_kind(route: APIRoute) -> str | None:
    """Which entry of BODIES the route's JSON body is (None: no JSON body, e.g. an upload)."""
    field = route.body_field
    if field is None:
        return None
    annotation = field.field_info.annotation
    for kind, (model, _) in BODIES.items():
        if annotation == (get_args(model)[0] if get_origin(model) is Annotated else model):
            return kind
    return None


class ParsedRoute(APIRoute):
    """A route whose JSON body is parsed, validated and checked by the parsing processes (see the module)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        kind = body_kind(self)
        if kind is None:
            return handler

        async def parse_then_handle(request: Request) -> Response:
            # Who calls is known before the body is parsed: an anonymous client costs no parser process.
            await run_in_threadpool(identify, request)
            raw = await request.body()
            if raw and _is_json(request.headers.get("content-type", "")):
                # FastAPI reads request.json() next: it finds the validated model, which pydantic passes through
                # without validating it again (Starlette keeps the parsed body in `_json`).
                request._json = await request.app.state.parsers.parse(kind, raw)
            return await handler(request)

        return parse_then_handle


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
