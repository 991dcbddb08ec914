"""Helpers shared by the CLI commands: reading input, failing with one line per problem, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from models import PortfolioError, Problem, SolverSettings, json_path, load_portfolio, validation_problems
from models.portfolio import Portfolio

err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

EXIT_INPUT = 2
EXIT_NO_PLAN = 1


def fail(problems: list[Problem] | list[str]) -> None:
    for problem in problems:
        err.print(f"error: {problem}", markup=False)
    raise typer.Exit(EXIT_INPUT)


def read_portfolio(path: Path, name_file: bool = False) -> Portfolio:
    """The checked portfolio in `path`, or exit 2; `name_file`: problems name the file (many files at once)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        fail([f"{path}: no such file"])
    except IsADirectoryError:
        fail([f"{path}: is a directory, not a portfolio file"])
    except UnicodeDecodeError:
        fail([f"{path}: not a text file (expected UTF-8 JSON)"])
    except OSError as exc:
        fail([f"{path}: cannot read: {exc.strerror}"])
    except json.JSONDecodeError as exc:
        fail([f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"])
    except RecursionError:
        fail([f"{path}: JSON nested too deeply"])
    except ValueError as exc:  # e.g. an integer literal too long to convert
        fail([f"{path}: not valid JSON: {exc}"])
    try:
        return load_portfolio(data)
    except PortfolioError as exc:
        fail([f"{path}: {problem}" for problem in exc.problems] if name_file else exc.problems)
    raise AssertionError("unreachable")


def solver_settings(**values: Any) -> SolverSettings:
    try:
        return SolverSettings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        fail([Problem(json_path(("settings", *e["loc"])), e["msg"]) for e in exc.errors()])
    raise AssertionError("unreachable")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        fail([f"{path}: no such file"])
    except (OSError, UnicodeDecodeError) as exc:
        fail([f"{path}: cannot read: {exc}"])
    except (ValueError, RecursionError) as exc:
        fail([f"{path}: not valid JSON: {exc}"])
    raise AssertionError("unreachable")


def parse(model, data: Any, what: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fail([p for p in validation_problems(exc.errors(), data) if not p.path.startswith("$.portfolio")])
    raise AssertionError("unreachable")


def or_fail(work):
    try:
        return work()
    except PortfolioError as exc:
        fail(exc.problems)
    raise AssertionError("unreachable")


def width() -> int | None:
    return None if sys.stdout.isatty() else 120
