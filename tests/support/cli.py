"""Running the `vmo` command in-process and reading what it printed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from cli.main import app

runner = CliRunner()


def invoke(*args: str | Path) -> Result:
    """Run the CLI in-process; any exception other than a clean exit is a crash (a stack trace for users)."""
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"vmo {' '.join(map(str, args))} crashed") from result.exception
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream
    return result


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_rejected(result: Result, *expected: str) -> list[str]:
    """Exit 2, nothing on stdout, one `error:` line per problem, each expected text on its own line."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = error_lines(result)
    assert lines, "no problem reported"
    assert all(line.startswith("error: ") for line in lines), lines
    assert len(lines) == len(set(lines)), lines
    for text in expected:
        assert sum(text in line for line in lines) == 1, (text, lines)
    return lines
