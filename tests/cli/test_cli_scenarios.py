"""`vmo whatif`, `vmo frontier` and `vmo serve --help` through typer's CliRunner.

The expected values come from solving the same portfolios in this process, so the tests check what the
commands print, not particular numbers. Solves use one process (`--workers 1`) and short time limits.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from cli.render import money
from models import Plan, SolverSettings, load_portfolio
from models.scenarios import Change
from optimizer import solve, validate
from optimizer.studies.frontier import knee, with_total_budget
from optimizer.studies.whatif import apply_changes
from tests.support.cli import assert_rejected, invoke
from tests.support.paths import FIXTURES

pytestmark = pytest.mark.slow  # solves the insurance fixture's scenarios and frontier in process pools

INSURANCE = FIXTURES / "insurance-fy27.json"
TIME_LIMIT = "20"  # the insurance fixture is proven optimal in about 2 s; the limit only bounds a slow machine

SCENARIOS = [
    {"name": "budget -10%", "changes": [{"op": "scale_budget", "factor": 0.9}]},
    {"name": "extra claims team", "changes": [{"op": "change_capacity", "pool": "claims-team-1", "delta": 6}]},
    {"name": "no IFRS 17", "changes": [{"op": "force_mmp", "mmp": "ifrs17-reporting", "mode": "out"}]},
]


def write(tmp_path: Path, data: Any, name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


@cache
def insurance():
    return load_portfolio(json.loads(INSURANCE.read_text()))


@cache
def reference(index: int | None = None, total: str | None = None) -> Plan:
    """The base plan (index None), a scenario's plan, or the plan at a total budget, solved here."""
    portfolio = insurance()
    if index is not None:
        changes = [_change(c) for c in SCENARIOS[index]["changes"]]
        portfolio = apply_changes(portfolio, changes)
    if total is not None:
        portfolio = with_total_budget(portfolio, Decimal(total))
    plan = solve(portfolio, SolverSettings(time_limit_s=float(TIME_LIMIT), workers=2))
    assert validate(portfolio, plan) == []
    assert plan.status in ("optimal", "infeasible")
    return plan


def _change(data: dict[str, Any]) -> Change:
    from pydantic import TypeAdapter

    return TypeAdapter(Change).validate_python(data)


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The rows of a rich table keyed by their first cell. Cells are split on the box-drawing bar; a line whose
    second cell (status) is empty continues the row above (rich wraps long cells onto more lines)."""
    rows: list[list[str]] = []
    for line in stdout.splitlines():
        if "│" not in line:
            continue
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if rows and len(cells) == len(rows[-1]) and not cells[1]:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return {row[0]: row for row in rows}


# ---------------------------------------------------------------- vmo whatif


@pytest.fixture(scope="module")
def whatif_result(tmp_path_factory) -> Result:
    tmp = tmp_path_factory.mktemp("whatif")
    scenarios = write(tmp, SCENARIOS, "scenarios.json")
    return invoke("whatif", INSURANCE, scenarios, "--workers", "1", "--time-limit", TIME_LIMIT)


def test_whatif_table_shows_each_scenario_status_and_delta(whatif_result):
    result = whatif_result
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    assert "What-if on" in result.stdout
    rows = table_rows(result.stdout)
    base = reference()
    assert rows["base"][1] == base.status
    assert rows["base"][2] == money(base.objective)
    for i, scenario in enumerate(SCENARIOS):
        assert scenario["name"] in rows, (scenario["name"], result.stdout)
        row = rows[scenario["name"]]
        plan = reference(i)
        assert row[1] == plan.status == "optimal"
        assert row[2] == money(plan.objective)
        assert row[3] == f"{plan.objective - base.objective:+,.0f}"
    assert rows["budget -10%"][3].startswith(("-", "+0"))  # a smaller budget never increases value


def test_a_scenario_without_a_plan_says_why_and_changes_nothing(tmp_path):
    scenarios = write(tmp_path, [{"name": "no money", "changes": [{"op": "set_budget", "amount": 1}]}], "s.json")
    report = tmp_path / "whatif.html"
    result = invoke("whatif", INSURANCE, scenarios, "--workers", "1", "--time-limit", TIME_LIMIT, "--report", report)
    assert result.exit_code == 0, result.stderr
    row = table_rows(result.stdout)["no money"]
    assert row[1] == "infeasible" and row[6:] == ["-", "-", "-"]  # no plan: nothing added, dropped or moved
    said = " ".join(result.stdout.split())  # rich wraps the line
    assert "no money: no plan: the total budget of 2027Q1 is 1 but" in said
    assert "<b>no money</b>: no plan: the total budget of 2027Q1 is 1 but" in report.read_text()


def test_whatif_accepts_an_object_with_scenarios(tmp_path):
    scenarios = write(tmp_path, {"scenarios": SCENARIOS[:1]}, "scenarios.json")
    result = invoke("whatif", INSURANCE, scenarios, "--workers", "1", "--time-limit", TIME_LIMIT)
    assert result.exit_code == 0, result.stderr
    assert "budget -10%" in table_rows(result.stdout)


def test_whatif_unknown_ids_exit_2_naming_the_file_and_its_paths(tmp_path):
    scenarios = [
        {"name": "fine", "changes": [{"op": "scale_budget", "factor": 0.9}]},
        {"name": "typo", "changes": [{"op": "change_capacity", "pool": "claims-team-9", "delta": 1}]},
        {"name": "ghost", "changes": [{"op": "scale_budget", "factor": 1}, {"op": "remove_mmp", "mmp": "ghost-mmp"}]},
    ]
    path = write(tmp_path, scenarios, "s.json")
    result = invoke("whatif", INSURANCE, path, "--workers", "1", "--time-limit", "5")
    lines = assert_rejected(result, f"{path}: $[1].changes[0].pool", f"{path}: $[2].changes[1].mmp")
    assert len(lines) == 2
    assert "claims-team-9" in lines[0] and "ghost-mmp" in lines[1]


def test_whatif_bad_change_fields_exit_2_with_json_paths(tmp_path):
    """Paths of a change's own fields must not carry the union tag (`scale_budget`)."""
    scenarios = [{"name": "typo", "changes": [{"op": "scale_budget", "factr": 0.9}]}]
    result = invoke("whatif", INSURANCE, write(tmp_path, scenarios, "s.json"), "--workers", "1", "--time-limit", "5")
    lines = assert_rejected(result)
    assert sorted(line.split(": ")[2] for line in lines) == [
        "$[0].changes[0].factor",
        "$[0].changes[0].factr",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[", "not valid JSON"),
        ("[]", "s.json: $: "),
        ('{"name": "x"}', "s.json: $.scenarios: "),
        ('{"scenarios": [{"name": ""}]}', "s.json: $.scenarios[0].name: "),
        ('[{"name": "", "changes": []}]', "s.json: $[0].name: "),
        ('[{"name": "x", "changes": [{"op": "nope"}]}]', "s.json: $[0].changes[0]: "),
    ],
)
def test_whatif_bad_scenario_files_exit_2_naming_the_file(tmp_path, content, expected):
    """A problem in the scenarios file names the file and the path in it (a list: `$[0]`), not the request's."""
    result = invoke("whatif", INSURANCE, write(tmp_path, content, "s.json"), "--workers", "1", "--time-limit", "5")
    assert_rejected(result, expected)


def test_whatif_missing_scenario_file_exits_2(tmp_path):
    assert_rejected(invoke("whatif", INSURANCE, tmp_path / "none.json", "--workers", "1"), "no such file")


# ---------------------------------------------------------------- vmo frontier

TOTALS = ("20000000", "30000000", "40000000")


@pytest.fixture(scope="module")
def frontier_result() -> Result:
    args = ("--from", TOTALS[0], "--to", TOTALS[-1], "--steps", "3", "--workers", "1", "--time-limit", TIME_LIMIT)
    return invoke("frontier", INSURANCE, *args)


def test_frontier_table(frontier_result):
    result = frontier_result
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    assert "Budget frontier of" in result.stdout
    rows = table_rows(result.stdout)
    plans = [reference(total=t) for t in TOTALS]
    previous = None
    for total, plan in zip(TOTALS, plans, strict=True):
        row = rows[money(Decimal(total))]
        assert row[1] == plan.status == "optimal"
        assert row[2] == money(plan.objective)
        assert row[4] == str(len(plan.selected))
        if previous is None:
            assert row[5] == "-"
        else:
            marginal = (plan.objective - previous.objective) / (
                Decimal(total) - Decimal(TOTALS[TOTALS.index(total) - 1])
            )
            assert row[5] == f"{float(marginal):.3f}"
        previous = plan
    objectives = [p.objective for p in plans]
    assert objectives == sorted(objectives)


def test_frontier_knee_line(frontier_result):
    pairs = [(Decimal(t), reference(total=t).objective) for t in TOTALS]
    expected = knee(pairs)
    assert expected is not None  # 30M lies above the chord from 20M to 40M
    lines = [line for line in frontier_result.stdout.splitlines() if line.startswith("knee:")]
    assert lines == [f"knee: extra money buys markedly less beyond a total budget of {money(expected, 'USD')}"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--from", "1", "--to", "2", "--steps", "1"), "--steps"),
        (("--from", "1", "--to", "2", "--steps", "51"), "--steps"),
        (("--from", "-1", "--to", "2"), "--from"),
        (("--from", "1", "--to", "1e30"), "--to"),
        (("--from", "1", "--to", "2", "--time-limit", "0"), "--time-limit"),
        (("--from", "nan", "--to", "2"), "--from"),
        (("--from", "1", "--to", "inf"), "--to"),
    ],
)
def test_frontier_bad_options_exit_2_naming_the_option(args, expected):
    lines = assert_rejected(invoke("frontier", INSURANCE, *args, "--workers", "1"))
    assert lines == [lines[0]] and lines[0].startswith(f"error: {expected}: "), lines


def test_frontier_needs_from_and_to():
    result = invoke("frontier", INSURANCE, "--from", "1")
    assert result.exit_code == 2
    assert "--to" in result.stderr


# ---------------------------------------------------------------- both commands


@pytest.mark.parametrize("command", ["whatif", "frontier"])
def test_negative_workers_exit_2(tmp_path, command):
    """`--workers -1` is a rejected setting (exit 2, one line on stderr), not a stack trace."""
    args = (write(tmp_path, SCENARIOS[:1], "s.json"),) if command == "whatif" else ("--from", "1", "--to", "2")
    result = invoke(command, FIXTURES / "wsjf-backlog.json", *args, "--workers", "-1", "--time-limit", "5")
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "workers" in result.stderr


def test_extreme_amounts_within_the_schema_do_not_crash(tmp_path):
    """Every amount is within the schema's 10**15, but a key result is worth 10**30 in total."""
    data = {
        "name": "extreme",
        "quarters": ["2027Q1"],
        "budget": 10**15,
        "value_streams": [{"id": "s"}],
        "pools": [{"id": "p", "capacity": 10}],
        "mmps": [{"id": "m", "value_stream": "s", "value": 50, "cost": [10], "key_results": {"kr": 10**15}}],
        "key_results": [{"id": "kr", "target": 10**15, "value_per_unit": 10**15}],
    }
    path = write(tmp_path, data, "extreme.json")
    scenarios = write(tmp_path, [{"name": "half", "changes": [{"op": "scale_budget", "factor": 0.5}]}], "s.json")
    result = invoke("whatif", path, scenarios, "--workers", "1", "--time-limit", "5")
    assert result.exit_code in (0, 1, 2), (result.stdout, result.stderr)
    result = invoke(
        "frontier", path, "--from", "0", "--to", "1000", "--steps", "2", "--workers", "1", "--time-limit", "5"
    )
    assert result.exit_code in (0, 1, 2), (result.stdout, result.stderr)


# ---------------------------------------------------------------- vmo serve


def test_serve_help():
    result = invoke("serve", "--help")
    assert result.exit_code == 0, result.stderr
    assert "--host" in result.stdout and "--port" in result.stdout


def test_help_lists_the_scenario_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("whatif", "frontier", "serve"):
        assert command in result.stdout
