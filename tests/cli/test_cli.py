"""The `vmo` command line: output contracts, exit codes and input errors.

Exit codes: 0 a plan was found, 1 infeasible or no plan in time, 2 the input was
rejected with one line per problem on stderr (never a stack trace). `--json`
prints exactly one plan document on stdout and nothing else.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from cli.common import as_given
from models import Plan, load_portfolio
from optimizer import validate
from tests.support.cli import assert_rejected, error_lines, invoke


def small_portfolio() -> dict[str, Any]:
    """Two quarters, two streams, one shared pool: alpha and beta fit, gamma does not (budget)."""
    return {
        "name": "Tiny Co FY27",
        "currency": "USD",
        "quarters": ["2027Q1", "2027Q2"],
        "budget": 1000,
        "value_streams": [{"id": "claims"}, {"id": "policy"}],
        "pools": [{"id": "team", "capacity": 4}],
        "mmps": [
            {"id": "alpha", "value_stream": "claims", "value": 500, "cost": [300], "demand": {"team": [2]}},
            {"id": "beta", "value_stream": "policy", "value": 400, "cost": [200, 200], "demand": {"team": [2, 2]}},
            {"id": "gamma", "value_stream": "policy", "value": 10, "cost": [900, 900]},
        ],
    }


def infeasible_portfolio() -> dict[str, Any]:
    """Three mandatory single-quarter MMPs need 5 + 5 + 4 = 14 units of a pool of 10."""
    return {
        "name": "Overbooked",
        "quarters": ["2027Q1"],
        "budget": 1000,
        "value_streams": [{"id": "claims"}],
        "pools": [{"id": "team", "capacity": 10}],
        "mmps": [
            {"id": m, "value_stream": "claims", "value": 1, "cost": [1], "demand": {"team": [u]}, "mandatory": True}
            for m, u in (("m-a", 5), ("m-b", 5), ("m-c", 4))
        ],
    }


def write(tmp_path: Path, data: Any, name: str = "portfolio.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def plan_from_stdout(result: Result) -> Plan:
    """stdout must be exactly one JSON document: the plan."""
    json.loads(result.stdout)  # a second document or stray text would fail here
    return Plan.model_validate_json(result.stdout)


# ---------------------------------------------------------------------------
# solve --json
# ---------------------------------------------------------------------------


def test_json_prints_exactly_one_valid_plan(tmp_path: Path) -> None:
    data = small_portfolio()
    result = invoke("solve", write(tmp_path, data), "--json")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    plan = plan_from_stdout(result)
    assert plan.status == "optimal"
    assert validate(load_portfolio(data), plan) == []
    assert {s.mmp for s in plan.selected} == {"alpha", "beta"}
    assert [n.mmp for n in plan.not_selected] == ["gamma"]
    assert plan.objective == 900
    # Nothing before or after the document besides the trailing newline.
    assert result.stdout.lstrip().startswith("{")
    assert result.stdout.rstrip().endswith("}")


def test_default_settings_are_echoed(tmp_path: Path) -> None:
    plan = plan_from_stdout(invoke("solve", write(tmp_path, small_portfolio()), "--json"))
    assert plan.solver.backend == "auto"
    assert plan.solver.time_limit_s == 10
    assert plan.solver.seed == 0
    assert plan.solver.workers == 2
    assert plan.solver.relative_gap == 0


def test_solver_options_are_echoed_in_the_plan(tmp_path: Path) -> None:
    args = ["--time-limit", "7.5", "--seed", "42", "--workers", "3", "--gap", "0.05", "--backend", "cp-sat"]
    result = invoke("solve", write(tmp_path, small_portfolio()), "--json", *args)

    assert result.exit_code == 0, result.stderr
    plan = plan_from_stdout(result)
    assert plan.status in ("optimal", "feasible")
    assert plan.solver.time_limit_s == 7.5
    assert plan.solver.seed == 42
    assert plan.solver.workers == 3
    assert plan.solver.relative_gap == 0.05
    assert plan.solver.backend == "cp-sat"


def test_same_seed_gives_the_same_plan(tmp_path: Path) -> None:
    path = write(tmp_path, small_portfolio())
    plans = [plan_from_stdout(invoke("solve", path, "--json", "--seed", "7", "--workers", "1")) for _ in range(2)]
    first, second = (p.model_dump(exclude={"solver": {"time_s"}}) for p in plans)
    assert first == second


# ---------------------------------------------------------------------------
# solve, default (readable) output
# ---------------------------------------------------------------------------


def test_default_output_is_readable(tmp_path: Path) -> None:
    result = invoke("solve", write(tmp_path, small_portfolio()))

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "optimal" in out
    assert "Tiny Co FY27" in out
    for value_stream in ("claims", "policy"):
        assert value_stream in out
    for mmp in ("alpha", "beta"):
        assert mmp in out
    assert "2 of 3 MMPs funded" in out
    assert "Not funded" in out
    not_funded = out[out.index("Not funded") :]
    assert "gamma" in not_funded
    assert "budget" in not_funded  # the reason is shown, not just the id
    assert "{" not in out.splitlines()[0]  # not JSON


def test_names_and_ids_are_printed_literally_not_as_markup(tmp_path: Path) -> None:
    """Portfolio text is data: rich markup ([...]) and emoji codes (:name:) must not be interpreted.

    A closing tag such as `[/b]` in an id makes rich raise MarkupError (a crash),
    `[red]` silently disappears from the name, and `:cat:` turns into an emoji.
    """
    data = small_portfolio()
    data["name"] = "R&D [red]FY27[/red] :cat:"
    data["value_streams"][0]["id"] = "claims[/b]"
    for mmp in data["mmps"]:
        if mmp["value_stream"] == "claims":
            mmp["value_stream"] = "claims[/b]"
    data["mmps"][1]["id"] = "[bold]beta"
    data["mmps"][2]["id"] = "gamma:cat:"

    result = invoke("solve", write(tmp_path, data))

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for text in ("R&D [red]FY27[/red] :cat:", "claims[/b]", "[bold]beta", "gamma:cat:"):
        assert text in out, text
    assert "\N{CAT FACE}" not in out


# ---------------------------------------------------------------------------
# settings errors
# ---------------------------------------------------------------------------


def test_unknown_backend_is_rejected(tmp_path: Path) -> None:
    result = invoke("solve", write(tmp_path, small_portfolio()), "--backend", "nonsense")
    lines = assert_rejected(result, "backend")
    assert len(lines) == 1
    assert "cp-sat" in lines[0]  # says what is allowed


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--time-limit", "-1"),
        ("--time-limit", "0"),
        ("--time-limit", "nan"),
        ("--time-limit", "inf"),
        ("--seed", "-1"),
        ("--workers", "0"),
        ("--gap", "2"),
        ("--gap", "-0.1"),
    ],
)
def test_out_of_range_setting_is_rejected_naming_the_option(tmp_path: Path, option: str, value: str) -> None:
    """The line names the option the user gave, not where the settings document keeps it."""
    result = invoke("solve", write(tmp_path, small_portfolio()), option, value)
    lines = assert_rejected(result)
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {option}: "), lines
    assert "$" not in lines[0], lines


def test_bad_file_and_bad_setting_together_are_rejected(tmp_path: Path) -> None:
    """A bad file and a bad setting: still exit 2, every line a problem, no crash."""
    data = small_portfolio()
    data["budget"] = -1
    result = invoke("solve", write(tmp_path, data), "--time-limit", "0")
    assert_rejected(result)


# ---------------------------------------------------------------------------
# bad input files
# ---------------------------------------------------------------------------


def _portfolio_with(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        data = copy.deepcopy(small_portfolio())
        change(data)
        return write(tmp_path, data)

    return make


def _raw(content: str | bytes, name: str = "portfolio.json") -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _nan_literal(tmp_path: Path) -> Path:
    text = json.dumps(small_portfolio()).replace('"value": 400', '"value": NaN')
    assert "NaN" in text
    json.loads(text)  # Python's json accepts it; the CLI must not.
    return _raw(text)(tmp_path)


def _infinity_literal(tmp_path: Path) -> Path:
    text = json.dumps(small_portfolio()).replace('"budget": 1000', '"budget": Infinity')
    assert "Infinity" in text
    return _raw(text)(tmp_path)


BAD_FILES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    # case: (make the file, texts each expected on exactly one error line); "{file}" is the file's path
    "missing file": (lambda tmp: tmp / "nope.json", ["{file}"]),
    "directory": (lambda tmp: tmp, ["{file}"]),
    "invalid json": (_raw('{"name": "x",'), ["{file}"]),
    "trailing garbage after json": (_raw(json.dumps(small_portfolio()) + " }"), ["{file}"]),
    "json list": (_raw("[1, 2, 3]"), ["$"]),
    "json string": (_raw('"portfolio"'), ["$"]),
    "unknown value stream": (
        _portfolio_with(_set(("mmps", 0, "value_stream"), "nope")),
        ["$.mmps[0].value_stream"],
    ),
    "unknown required mmp": (_portfolio_with(_set(("mmps", 1, "requires"), ["ghost"])), ["$.mmps[1].requires[0]"]),
    "negative budget": (_portfolio_with(_set(("budget",), -5)), ["$.budget"]),
    "negative capacity": (_portfolio_with(_set(("pools", 0, "capacity"), -3)), ["$.pools[0].capacity"]),
    "nan literal": (_nan_literal, ["$.mmps[1].value"]),
    "infinity literal": (_infinity_literal, ["$.budget"]),
    "misspelled field": (_portfolio_with(_set(("budgett",), 5)), ["$.budgett"]),
    "binary garbage": (_raw(bytes(range(256)) * 8), ["{file}"]),
    "binary garbage, valid utf-8": (_raw("\x00\x01\x02\u00ff\ufffd"), ["{file}"]),
    "empty file": (_raw(""), ["{file}"]),
    "whitespace only": (_raw("  \n\t\n"), ["{file}"]),
    "deeply nested json": (_raw("[" * 100_000 + "]" * 100_000), ["{file}"]),
    "integer with too many digits": (
        _raw(json.dumps(small_portfolio()).replace('"budget": 1000', '"budget": 1' + "0" * 5000)),
        ["{file}"],
    ),
}


@pytest.mark.parametrize("command", ["solve", "check"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_input_is_rejected_with_one_line_per_problem(tmp_path: Path, case: str, command: str) -> None:
    make, expected = BAD_FILES[case]
    path = make(tmp_path)
    result = invoke(command, path)
    lines = assert_rejected(result, *(text.replace("{file}", str(path)) for text in expected))
    assert len(lines) == len(expected), lines


def test_several_reference_problems_are_listed_one_line_each(tmp_path: Path) -> None:
    data = small_portfolio()
    data["mmps"][0]["value_stream"] = "nope"
    data["mmps"][0]["demand"] = {"ghost-pool": [1]}
    data["mmps"][1]["requires"] = ["ghost"]
    data["mmps"][2]["deadline"] = "2031Q9"
    expected = [
        "$.mmps[0].value_stream",
        "$.mmps[0].demand.ghost-pool",
        "$.mmps[1].requires[0]",
        "$.mmps[2].deadline",
    ]
    lines = assert_rejected(invoke("solve", write(tmp_path, data)), *expected)
    assert len(lines) == len(expected), lines


def test_several_field_problems_are_listed_one_line_each(tmp_path: Path) -> None:
    data = small_portfolio()
    data["budget"] = -1
    data["pools"][0]["capacity"] = "lots"
    data["mmps"][2]["cost"] = []
    data["mmps"][1]["valu"] = 3
    expected = ["$.budget", "$.pools[0].capacity", "$.mmps[2].cost", "$.mmps[1].valu"]
    lines = assert_rejected(invoke("solve", write(tmp_path, data), "--json"), *expected)
    assert len(lines) == len(expected), lines


def test_a_newline_inside_a_key_does_not_split_a_problem_over_two_lines(tmp_path: Path) -> None:
    """One line per problem even when a JSON key (echoed in the path) contains a line break."""
    data = small_portfolio()
    data["foo\nbar"] = 1
    data["mmps"][0]["demand"] = {"ghost\npool": [1]}
    result = invoke("solve", write(tmp_path, data))
    assert result.exit_code == 2
    lines = error_lines(result)
    assert all(line.startswith("error: $") for line in lines), lines


def test_problem_lines_are_not_rewritten_as_emoji(tmp_path: Path) -> None:
    data = small_portfolio()
    data["mmps"][0]["value_stream"] = ":cat:"
    lines = assert_rejected(invoke("solve", write(tmp_path, data)), "$.mmps[0].value_stream")
    assert "':cat:'" in lines[0]


def test_huge_amounts_do_not_crash(tmp_path: Path) -> None:
    """Amounts far beyond any real budget are either solved or rejected, never a stack trace."""
    data = small_portfolio()
    data["budget"] = 10**30
    data["mmps"][0]["value"] = 10**30
    result = invoke("solve", write(tmp_path, data), "--json")
    if result.exit_code == 2:
        assert_rejected(result)
    else:
        assert result.exit_code == 0, result.stderr
        assert validate(load_portfolio(data), plan_from_stdout(result)) == []


# ---------------------------------------------------------------------------
# infeasible portfolios
# ---------------------------------------------------------------------------


def test_infeasible_portfolio_prints_the_explanation(tmp_path: Path) -> None:
    result = invoke("solve", write(tmp_path, infeasible_portfolio()))

    assert result.exit_code == 1
    out = result.stdout
    assert "Overbooked" in out
    assert "infeasible" in out
    explanation = out[out.index("infeasible") :]
    for text in ("m-a", "m-b", "m-c", "14", "10", "team"):
        assert text in explanation, text


def test_infeasible_portfolio_in_json_mode(tmp_path: Path) -> None:
    data = infeasible_portfolio()
    result = invoke("solve", write(tmp_path, data), "--json")

    assert result.exit_code == 1
    plan = plan_from_stdout(result)
    assert plan.status == "infeasible"
    assert plan.selected == []
    assert plan.explanation.infeasibility
    assert validate(load_portfolio(data), plan) == []
    # The explanation also goes to stderr, one line per reason, never mixed into stdout.
    err = error_lines(result)
    assert len(err) == len(plan.explanation.infeasibility)
    assert all(line.startswith("infeasible: ") for line in err), err
    assert "14" in result.stderr and "10" in result.stderr and "team" in result.stderr


# ---------------------------------------------------------------------------
# solve: the value and its parts
# ---------------------------------------------------------------------------


def every_term_portfolio() -> dict[str, Any]:
    """a + b fit the budget (100), c does not: the plan earns MMP value, key-result credit, a synergy, the
    none_value of c's group, less the change penalty of dropping c from the baseline plan."""
    return {
        "name": "Every term",
        "quarters": ["2027Q1"],
        "budget": 100,
        "value_streams": [{"id": "s"}],
        "key_results": [{"id": "k", "target": 5, "value_per_unit": 2}],
        "mmps": [
            {"id": "a", "value_stream": "s", "value": 50, "cost": [40], "key_results": {"k": 5}},
            {"id": "b", "value_stream": "s", "value": 30, "cost": [30]},
            {"id": "c", "value_stream": "s", "value": 10, "cost": [50]},
        ],
        "synergies": [{"id": "ab", "mmps": ["a", "b"], "value": 5}],
        "groups": [{"id": "g", "mmps": ["c"], "max": 1, "none_value": 7}],
        "baseline_plan": {"a": "2027Q1", "b": "2027Q1", "c": "2027Q1"},
        "change_penalty": 3,
    }


def headline_value(out: str) -> tuple[Decimal, dict[str, Decimal]]:
    """The value on the `value ...` line and its parts: 'value 19,800,000 EUR (MMPs 18,000,000, ...); ...'."""
    line = next(line for line in out.splitlines() if line.startswith("value "))
    value = Decimal(line.split()[1].replace(",", ""))
    inside = line[line.index("(") + 1 : line.index(")")]
    parts = {}
    for part in inside.split(", "):
        label, amount = part.rsplit(" ", 1)
        parts[label] = Decimal(amount.replace(",", ""))
    return value, parts


@pytest.mark.parametrize("fixture", ["multiple-choice.json", "insurance-fy27.json", None])
def test_headline_parts_add_up_to_the_value(tmp_path: Path, fixtures_dir: Path, fixture: str | None) -> None:
    """Synergies, groups left unfunded, key results and the change penalty are all in the split."""
    path = fixtures_dir / fixture if fixture else write(tmp_path, every_term_portfolio())
    result = invoke("solve", path, "--time-limit", "5", "--no-what-it-takes")
    assert result.exit_code == 0, result.stderr

    value, parts = headline_value(result.stdout)
    assert sum(parts.values()) == value, parts
    assert all(parts.values()), parts  # zero terms are left out
    if fixture is None:
        assert parts == {
            "MMPs": 80,
            "key results": 10,
            "synergies": 5,
            "groups left unfunded": 7,
            "change penalty": -3,
        }


def test_an_uncertain_headline_says_the_value_is_the_risk_measure_and_what_the_split_is(fixtures_dir: Path) -> None:
    """The objective is the risk measure; the split is of the portfolio's own figures (docs/design.md 5.9),
    on its own line, so that it does not read as parts of the risk measure that fail to add up."""
    path = fixtures_dir / "insurance-fy27-risk.json"
    result = invoke("solve", path, "--time-limit", "5", "--no-what-it-takes")
    assert result.exit_code == 0, result.stderr

    value_line = next(line for line in result.stdout.splitlines() if line.startswith("value "))
    assert "(the risk measure over the scenarios, below)" in value_line
    split = next(line for line in result.stdout.splitlines() if "the plan is worth" in line)
    assert split.startswith("with the portfolio's own figures (scenario budget-as-planned, likely values)")
    worth = Decimal(split.split("the plan is worth ")[1].split()[0].replace(",", ""))
    inside = split[split.rindex("(") + 1 : split.rindex(")")]
    parts = [Decimal(part.rsplit(" ", 1)[1].replace(",", "")) for part in inside.split(", ")]
    assert sum(parts) == worth


# ---------------------------------------------------------------------------
# CSV-only options
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["solve", "check"])
@pytest.mark.parametrize(
    "options",
    [
        ["--quarters", "2028Q1,2028Q2"],
        ["--budget", "5"],
        ["--currency", "EUR"],
        ["--quarters", "2028Q1", "--budget", "5"],
    ],
)
def test_csv_options_are_refused_for_a_json_portfolio(tmp_path: Path, command: str, options: list[str]) -> None:
    """A JSON portfolio has its own horizon, budget and currency: an option that would be ignored is an error."""
    path = write(tmp_path, small_portfolio())
    lines = assert_rejected(invoke(command, path, *options))
    given = [option for option in options if option.startswith("--")]
    assert lines == [
        f"error: {option}: only applies to a CSV input; {path} states its own {option[2:]}" for option in given
    ]


@pytest.mark.parametrize(("command", "options"), [("check", ["--currency", "EUR"]), ("import", ["--name", "x"])])
def test_csv_options_are_refused_for_a_workbook(tmp_path: Path, command: str, options: list[str]) -> None:
    workbook = tmp_path / "backlog.xlsx"
    assert invoke("template", workbook).exit_code == 0
    lines = assert_rejected(invoke(command, workbook, *options))
    assert len(lines) == 1 and lines[0].startswith(f"error: {options[0]}: only applies to a CSV input"), lines


def test_template_names_every_sheet_it_writes(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    workbook = tmp_path / "backlog.xlsx"
    result = invoke("template", workbook)
    assert result.exit_code == 0, result.stderr
    sheets = load_workbook(workbook, read_only=True).sheetnames
    assert {"groups", "synergies", "together", "scenarios"} <= set(sheets)
    assert result.stdout.strip() == f"{workbook}: sheets {', '.join(sheets)}"


# ---------------------------------------------------------------------------
# vmo check, help
# ---------------------------------------------------------------------------


def test_check_accepts_a_valid_file(tmp_path: Path) -> None:
    result = invoke("check", write(tmp_path, small_portfolio()))

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ok")
    assert "Tiny Co FY27" in lines[0]
    assert "3 MMPs" in lines[0]


def test_check_accepts_the_shipped_fixture(fixtures_dir: Path) -> None:
    result = invoke("check", fixtures_dir / "insurance-fy27.json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_check_rejects_a_bad_file(tmp_path: Path) -> None:
    data = small_portfolio()
    data["mmps"][0]["value_stream"] = "nope"
    data["mmps"][1]["requires"] = ["ghost"]
    lines = assert_rejected(invoke("check", write(tmp_path, data)), "$.mmps[0].value_stream", "$.mmps[1].requires[0]")
    assert len(lines) == 2


@pytest.mark.parametrize("args", [["--help"], ["solve", "--help"], ["check", "--help"]])
def test_help(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_solve_help_lists_every_option() -> None:
    out = invoke("solve", "--help").stdout
    for option in ("--time-limit", "--backend", "--seed", "--workers", "--gap", "--json"):
        assert option in out, option


# ---------------------------------------------------------------------------
# the installed console script
# ---------------------------------------------------------------------------


def _vmo_executable() -> str:
    beside_python = Path(sys.executable).parent / "vmo"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("vmo")
    assert found, "the vmo console script is not installed (pip install -e .)"
    return found


@pytest.mark.slow
def test_installed_console_script(tmp_path: Path) -> None:
    vmo = _vmo_executable()
    data = small_portfolio()
    good = write(tmp_path, data)

    done = subprocess.run(
        [vmo, "solve", str(good), "--json", "--time-limit", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    plan = Plan.model_validate_json(done.stdout)
    assert plan.status == "optimal"
    assert validate(load_portfolio(data), plan) == []

    bad = write(tmp_path, {**data, "budget": -1}, "bad.json")
    done = subprocess.run([vmo, "solve", str(bad)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: $.budget: "), lines


# ---------------------------------------------------------------------------
# problems named as the user gave them
# ---------------------------------------------------------------------------


def test_a_problem_of_the_as_of_portfolio_at_the_change_penalty_is_the_options() -> None:
    """`vmo replan --change-penalty -5` puts the option into the as-of portfolio it builds."""
    line = "as-of portfolio: $.change_penalty: Input should be greater than or equal to 0"
    assert as_given(line, {}) == "--change-penalty: Input should be greater than or equal to 0"
    assert as_given("$.change_penalty: negative", {}) == "$.change_penalty: negative"  # a portfolio file's own


def test_a_validator_message_has_no_pydantic_prefix(tmp_path: Path) -> None:
    data = small_portfolio()
    data["name"] = "R&D\u0000"
    lines = assert_rejected(invoke("check", write(tmp_path, data)), "$.name")
    assert lines == ["error: $.name: contains a NUL character (\\u0000)"], lines
