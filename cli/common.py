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


# Where the commands put an option in the documents they build from it (the solver settings, a frontier's
# range, a re-plan's as-of portfolio): a problem found there is the option's, and is said so.
OPTION_AT = {
    "$.settings.time_limit_s": "--time-limit",
    "$.settings.backend": "--backend",
    "$.settings.seed": "--seed",
    "$.settings.workers": "--workers",
    "$.settings.relative_gap": "--gap",
    "$.range.from": "--from",
    "$.range.to": "--to",
    "$.range.steps": "--steps",
    "as-of portfolio: $.change_penalty": "--change-penalty",
}


def fail(problems: list[Problem] | list[str], files: dict[str, str] | None = None) -> None:
    """One line per problem on stderr (at most the configured number, then a count of the rest), exit 2.

    Every command's problems pass here, so this is where a problem is put in the user's terms: an option
    they gave (`--time-limit: ...`), or a file and the path inside it. `files` maps where a command put a
    file's content in the document it built to that file and the path there (`{"$.scenarios": "s.json: $"}`).
    """
    for problem in capped(problems):  # type: ignore[arg-type]
        err.print(f"error: {as_given(str(problem), files or {})}", markup=False)
    raise typer.Exit(EXIT_INPUT)


def as_given(line: str, files: dict[str, str]) -> str:
    """A problem line (`[source: ]path: message`) with the path named as the user gave it."""
    for at, option in OPTION_AT.items():
        if line.startswith(f"{at}: "):
            return option + line[len(at) :]
    for at, file in files.items():
        if line.startswith(at) and line[len(at) : len(at) + 1] in (".", "[", ":"):
            return file + line[len(at) :]
    return line


def read_portfolio(path: Path, name_file: bool = False, backlog: Backlog | None = None) -> Portfolio:
    """The checked portfolio in `path` (JSON, an .xlsx backlog workbook or a .csv backlog), or exit 2;
    `name_file`: problems name the file (many files at once); `backlog`: what a CSV backlog lacks."""
    from workbooks import kind_of

    if kind_of(path.name) != "csv" and backlog is not None:
        refuse_backlog_options(path, backlog)
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
    currency: str | None = None  # None: USD
    name: str | None = None

    def given(self) -> list[str]:
        """The options given on the command line."""
        options = (("--quarters", self.quarters), ("--budget", self.budget), ("--currency", self.currency))
        return [option for option, value in (*options, ("--name", self.name)) if value is not None]


def refuse_backlog_options(path: Path, backlog: Backlog) -> None:
    """A JSON portfolio or a workbook states its own horizon, budget, currency and name: an option that would
    be silently ignored is refused instead."""
    given = backlog.given()
    if given:
        fail([f"{option}: only applies to a CSV input; {path} states its own {option[2:]}" for option in given])


def read_backlog(path: Path, backlog: Backlog, name_file: bool = False) -> Portfolio:
    """The checked portfolio of a backlog workbook or CSV; every problem at its cell (`mmps!D7: ...`), exit 2."""
    from workbooks import kind_of, read_csv, read_workbook

    data = read_bytes(path)
    try:
        if kind_of(path.name) == "csv":
            name = backlog.name or path.stem
            return read_csv(
                data,
                backlog.quarters,
                backlog.budget,
                name=name,
                currency=backlog.currency or "USD",
                source=str(path),
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


def parse(model, data: Any, what: str, files: dict[str, str] | None = None):
    """`data` as a `model`, or exit 2 (`files`: see `fail`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fail([p for p in validation_problems(exc.errors(), data) if not p.path.startswith("$.portfolio")], files)
    raise AssertionError("unreachable")


def or_fail(work, files: dict[str, str] | None = None):
    """What `work()` returns, or exit 2 with the problems of the input it rejects (`files`: see `fail`)."""
    try:
        return work()
    except PortfolioError as exc:
        fail(exc.problems, files)
    raise AssertionError("unreachable")


def width() -> int | None:
    return None if sys.stdout.isatty() else 120
