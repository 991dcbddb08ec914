"""Request bodies are parsed, validated and checked in separate processes, never on the event loop.

json.loads and pydantic's validation run in C and Rust without releasing the GIL:
an 8 MiB body held any thread of the web process for most of a second, so a thread
was not enough to keep /healthz answering. A small pool of spawned processes
(`VMO_PARSER_PROCESSES`) does the whole work on the raw bytes (api/bodies.py) and sends
back the validated request, or the problems (capped), or why the body is no JSON:

* duplicate keys in an object are refused (JSON leaves them undefined; Python keeps the last);
* the portfolio of a solve, check or stored portfolio is checked across fields here too.

`ParsedRoute` is the FastAPI route class that hands a JSON body to the pool and then
lets FastAPI see the validated model (pydantic does not validate a model instance
twice), so the OpenAPI document is unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Annotated, Any, get_args, get_origin

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api.auth import identify
from api.bodies import BODIES, end_with_parent, parse_body

log = logging.getLogger("vmo.api")


class ParserUnavailable(RuntimeError):
    """A parsing process died (out of memory on a hostile body); the pool has been replaced."""


class Parsers:
    """The parsing processes. `parse` answers the validated body, or raises what `parse_body` raised."""

    def __init__(self, processes: int):
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._warming: list[Future] = []

    def start(self) -> None:
        """Start the processes now (they import the models), so the first request does not wait for them;
        `wait_ready` waits for them, meanwhile the web process can start its solver processes."""
        pool = self._started()
        self._warming = [pool.submit(parse_body, "plan", b"null") for _ in range(self.processes)]

    def wait_ready(self) -> None:
        for future in self._warming:
            future.result()
        self._warming = []

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:  # also for an app called without its lifespan (some tests)
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=end_with_parent,
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
