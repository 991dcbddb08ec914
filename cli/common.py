"""Helpers shared by the CLI commands: reading input, failing with one line per problem, exit codes."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from models import PortfolioError, Problem, SolverSettings, json_path, load_portfolio, validation_problems
from models.checks import capped
from models.portfolio import Portfolio

err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

EXIT_INPUT = 2
EXIT_NO_PLAN = 1


def fail(problems: list[Problem] | list[str]) -> None:
    """One line per problem on stderr (at most the configured number, then a count of the rest), exit 2."""
    for problem in capped(problems):  # type: ignore[arg-type]
        err.print(f"error: {problem}", markup=False)
    raise typer.Exit(EXIT_INPUT)


def read_portfolio(path: Path, name_file: bool = False, backlog: Backlog | None = None) -> Portfolio:
    """The checked portfolio in `path` (JSON, an .xlsx backlog workbook or a .csv backlog), or exit 2;
    `name_file`: problems name the file (many files at once); `backlog`: what a CSV backlog lacks."""
    from workbooks import kind_of

    if kind_of(path.name) is not None:
        return read_backlog(path, backlog or Backlog(), name_file)
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


@dataclass(frozen=True)
class Backlog:
    """What a CSV backlog (the mmps sheet alone) needs from the command line."""

    quarters: str | None = None
    budget: str | None = None
    currency: str = "USD"
    name: str | None = None


def read_backlog(path: Path, backlog: Backlog, name_file: bool = False) -> Portfolio:
    """The checked portfolio of a backlog workbook or CSV; every problem at its cell (`mmps!D7: ...`), exit 2."""
    from workbooks import kind_of, read_csv, read_workbook

    data = read_bytes(path)
    try:
        if kind_of(path.name) == "csv":
            name = backlog.name or path.stem
            return read_csv(
                data, backlog.quarters, backlog.budget, name=name, currency=backlog.currency, source=str(path)
            )
        return read_workbook(data, source=str(path))
    except PortfolioError as exc:
        fail([f"{path}: {problem}" for problem in exc.problems] if name_file else exc.problems)
    raise AssertionError("unreachable")


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        fail([f"{path}: no such file"])
    except IsADirectoryError:
        fail([f"{path}: is a directory, not a file"])
    except OSError as exc:
        fail([f"{path}: cannot read: {exc.strerror}"])
    raise AssertionError("unreachable")


def write_output(path: Path, data: bytes | str) -> None:
    """Write a whole output file, or exit 2 naming the file."""
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as exc:
        fail([f"{path}: cannot write: {exc.strerror or exc}"])


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
