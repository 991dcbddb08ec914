"""Shared route helpers: the solvers, the settings, the database."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from api.settings import ApiSettings
from api.solvers import Solvers
from models.portfolio import clean_text
from models.settings import SolverSettings
from storage.db import Database


def database(request: Request) -> Database:
    return request.app.state.db


def solvers(request: Request) -> Solvers:
    return request.app.state.solvers


def api_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


Solving = Annotated[Solvers, Depends(solvers)]
Store = Annotated[Database, Depends(database)]
Server = Annotated[ApiSettings, Depends(api_settings)]
# A stored portfolio's, plan's or job's id in a path: never longer than the ids the service makes, and never a
# NUL, which PostgreSQL cannot even compare (it was a 500); either is a 422 at $.path.<name>.
StoredId = Annotated[str, Path(min_length=1, max_length=64), AfterValidator(clean_text)]


def one_value_per_query_parameter(request: Request) -> None:
    """A query parameter of the route given twice (`?action=a&action=b`) is a 422 at $.query.<name>: none of
    the API's query parameters is a list, and silently keeping one value would answer another question."""
    route = request.scope.get("route")
    declared = {p.alias for p in route.dependant.query_params} if route is not None else set()
    counts = Counter(key for key, _ in request.query_params.multi_items() if key in declared)
    repeated = [
        {"type": "value_error", "loc": ("query", key), "msg": f"given {n} times: give it once", "input": None}
        for key, n in sorted(counts.items())
        if n > 1
    ]
    if repeated:
        raise RequestValidationError(repeated)


def capped(settings: SolverSettings, server: ApiSettings) -> SolverSettings:
    """The request's settings with the time limit and the solver threads capped by the server; the solver
    pool then shares the cores among the solves running at once."""
    return settings.model_copy(
        update={
            "time_limit_s": min(settings.time_limit_s, server.max_time_limit_s),
            "workers": min(settings.workers, server.solver_workers),
        }
    )


def for_summaries(settings: SolverSettings) -> SolverSettings:
    """Settings for a study that answers with summaries (what-if, frontier): what it would take to fund each MMP
    left out is not in a summary, so it is not worked out unless the request asks for it."""
    if "what_it_takes" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"what_it_takes": False})
