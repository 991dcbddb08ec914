"""Shared route helpers: the runner, the settings, and the checks every route applies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.runner import SolverRunner
from api.settings import ApiSettings
from models import PortfolioError, Problem, check_portfolio
from models.portfolio import Portfolio
from models.settings import SolverSettings
from storage.db import Database


def database(request: Request) -> Database:
    return request.app.state.db


def runner(request: Request) -> SolverRunner:
    return request.app.state.runner


def api_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


Runner = Annotated[SolverRunner, Depends(runner)]
Store = Annotated[Database, Depends(database)]
Server = Annotated[ApiSettings, Depends(api_settings)]


def checked(portfolio: Portfolio, path: str = "$.portfolio") -> Portfolio:
    """Cross-field checks (references, cycles, lengths) with paths inside the request body."""
    problems = check_portfolio(portfolio)
    if problems:
        raise PortfolioError([Problem(path + p.path[1:], p.message) for p in problems])
    return portfolio


def capped(settings: SolverSettings, server: ApiSettings) -> SolverSettings:
    """The request's settings with the time limit capped by the server maximum and the
    solver threads set by the server (the pool owns the cores)."""
    return settings.model_copy(
        update={
            "time_limit_s": min(settings.time_limit_s, server.max_time_limit_s),
            "workers": server.solver_workers,
        }
    )
