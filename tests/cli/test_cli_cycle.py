"""`vmo solve` on an as-of portfolio, `vmo replan` and `vmo variance` on files and against a running service
(an in-process uvicorn on a free port, over a real socket)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import Result

from api.app import create_app
from api.settings import ApiSettings
from models import Plan, load_portfolio
from models.cycle import Replan, Variance
from optimizer import validate
from storage.db import Database
from tests.api.test_api_cycle import Q1, Q2, Q3, Q4, year
from tests.support.auth import bearer, new_key
from tests.support.cli import assert_rejected, invoke
from tests.support.paths import FIXTURES
from tests.support.waiting import wait_for

ACTUALS = [
    {
        "quarter": Q1,
        "spent": {"claims": 45, "digital": 70},
        "mmps": {"portal": {"status": "done", "realized_value": 150}, "api": {"status": "running"}},
        "key_results": {"nps": 4},
    },
    {
        "quarter": Q2,
        "spent": {"claims": 50, "digital": 30},
        "mmps": {"api": {"status": "done"}, "ml": {"status": "not_started"}, "mobile": {"status": "running"}},
        "key_results": {"nps": 8},
    },
]


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_solve_prints_which_in_flight_work_continues_and_which_stops():
    result = invoke("solve", FIXTURES / "insurance-fy27-q3-replan.json", "--time-limit", "60")
    assert result.exit_code == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "as of 2027Q3: the quarters before it are history" in out
    assert "In flight as of 2027Q3" in out
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 4}
    in_flight = [
        line for line in result.stdout.splitlines() if "│ 2027Q" in line and ("stop" in line or "continue" in line)
    ]
    assert any("stop " in line and "700,000" in line for line in in_flight), in_flight  # fnol-app, 700,000 to go
    assert sum("continue" in line for line in in_flight) == 3
    assert rows and "stopped (in flight" in out and "persevere" in out and "not stoppable" in out


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    portfolio = write(tmp_path / "year.json", year())
    solved = invoke("solve", portfolio, "--json", "--workers", "1")
    assert solved.exit_code == 0, solved.stderr
    plan = tmp_path / "plan.json"
    plan.write_text(solved.stdout, encoding="utf-8")
    return {"portfolio": portfolio, "plan": plan, "actuals": write(tmp_path / "actuals.json", ACTUALS)}


def test_replan_on_files(files: dict[str, Path], tmp_path: Path):
    out = tmp_path / "as-of.json"
    args = ("--plan", files["plan"], "--actuals", files["actuals"], "--as-of", Q3, "--workers", "1")
    result = invoke("replan", files["portfolio"], *args, "--json", "--portfolio-out", out)
    assert result.exit_code == 0, result.stderr
    answer = Replan.model_validate_json(result.stdout)
    as_of = load_portfolio(json.loads(out.read_text()))
    assert validate(as_of, answer.plan) == []
    assert answer.plan.done == ["api", "portal"]
    assert answer.comparison.moved == {"ml": Q3}
    assert {s.mmp: s.start for s in answer.plan.selected}["mobile"] == Q1  # in flight: keeps its start
    shown = invoke("replan", files["portfolio"], *args)
    assert shown.exit_code == 0 and "Against the plan of record" in shown.stdout


def test_variance_on_files(files: dict[str, Path]):
    result = invoke("variance", files["portfolio"], "--plan", files["plan"], "--actuals", files["actuals"], "--json")
    assert result.exit_code == 0, result.stderr
    report = Variance.model_validate_json(result.stdout)
    assert [(m.mmp, m.late_by) for m in report.late] == [("ml", 1)]
    assert [(r.value_stream, r.ratio) for r in report.realization] == [("digital", Decimal("0.75"))]
    shown = invoke("variance", files["portfolio"], "--plan", files["plan"], "--actuals", files["actuals"])
    assert "Late against the plan of record" in shown.stdout


def test_replan_on_files_needs_the_plan_of_record(files: dict[str, Path]):
    assert_rejected(invoke("replan", files["portfolio"], "--as-of", Q3), "needs --plan")


def replan_with(files: dict[str, Path], *args: str | Path) -> Result:
    return invoke("replan", files["portfolio"], "--time-limit", "5", "--workers", "1", *args)


def test_a_bad_actuals_file_is_rejected_with_its_name_and_the_index(files: dict[str, Path], tmp_path: Path):
    bad = write(tmp_path / "bad.json", [{"quarter": Q1}, {"quarter": Q2, "spent": {"claims": -1}}])
    result = replan_with(files, "--plan", files["plan"], "--actuals", bad, "--as-of", Q3)
    assert assert_rejected(result) == [f"error: {bad}: $[1].spent.claims: Input should be greater than or equal to 0"]
    wrapped = write(tmp_path / "wrapped.json", {"actuals": [{"quarter": Q1, "mmps": {"api": {"status": "late"}}}]})
    result = invoke("variance", files["portfolio"], "--plan", files["plan"], "--actuals", wrapped)
    assert_rejected(result, f"error: {wrapped}: $.actuals[0].mmps.api.status: ")


def test_actuals_are_checked_as_the_service_checks_them(files: dict[str, Path], tmp_path: Path):
    """Unknown quarters and ids and a quarter twice: every one a line naming the file and the path, none
    dropped in silence. A quarter not before --as-of is recorded early, as the service takes it."""
    actuals = [
        {"quarter": "2027Q9", "spent": {"nope": 1}, "mmps": {"zz": {"status": "done"}}, "key_results": {"k": 2}},
        {"quarter": Q1},
        {"quarter": Q1},
        {"quarter": Q3},
    ]
    bad = write(tmp_path / "bad.json", actuals)
    expected = [
        f"error: {bad}: $[0].quarter: '2027Q9' is not a quarter of the horizon",
        f"error: {bad}: $[0].spent.nope: unknown value stream 'nope'",
        f"error: {bad}: $[0].mmps.zz: unknown MMP 'zz'",
        f"error: {bad}: $[0].key_results.k: unknown key result 'k'",
        f"error: {bad}: $[2].quarter: 2027Q1 has actuals more than once",
    ]
    replanned = replan_with(files, "--plan", files["plan"], "--actuals", bad, "--as-of", Q3)
    assert assert_rejected(replanned) == expected
    varied = invoke("variance", files["portfolio"], "--plan", files["plan"], "--actuals", bad)
    assert assert_rejected(varied) == expected


def test_the_plan_file_is_named_in_its_problems(files: dict[str, Path]):
    result = replan_with(files, "--plan", files["portfolio"], "--as-of", Q3)
    lines = assert_rejected(result, f"error: {files['portfolio']}: $.status: this field is required")
    assert all(line.startswith(f"error: {files['portfolio']}: $.") for line in lines), lines


def test_a_plan_without_a_solution_cannot_be_the_plan_of_record(files: dict[str, Path], tmp_path: Path):
    plan = json.loads(files["plan"].read_text())
    plan |= {"status": "infeasible", "objective": None, "selected": [], "budget": [], "capacity": []}
    infeasible = tmp_path / "infeasible-plan.json"
    infeasible.write_text(json.dumps(plan), encoding="utf-8")
    lines = assert_rejected(replan_with(files, "--plan", infeasible, "--as-of", Q3))
    assert lines == [f"error: {infeasible}: $.status: the plan is infeasible: it funds nothing"]


def test_a_plan_of_another_portfolio_is_refused(files: dict[str, Path], tmp_path: Path):
    other = year()
    for m in other["mmps"]:
        m["id"] = f"other-{m['id']}"
    solved = invoke("solve", write(tmp_path / "other.json", other), "--json", "--workers", "1")
    plan = tmp_path / "other-plan.json"
    plan.write_text(solved.stdout, encoding="utf-8")
    lines = assert_rejected(replan_with(files, "--plan", plan, "--as-of", Q3))
    assert (
        f"error: {plan}: $.selected[0].mmp: MMP 'other-api' is not in the portfolio: a plan of another portfolio"
        in lines
    )
    assert all("a plan of another portfolio" in line for line in lines), lines


def test_a_plan_as_of_a_later_quarter_is_a_plan_of_a_later_version(files: dict[str, Path], tmp_path: Path):
    """A re-plan as of Q3 counts what finished before Q3 as done; the portfolio as of Q1 does not."""
    replanned = replan_with(files, "--plan", files["plan"], "--actuals", files["actuals"], "--as-of", Q3, "--json")
    assert replanned.exit_code == 0, replanned.stderr
    later = tmp_path / "replan.json"
    later.write_text(replanned.stdout, encoding="utf-8")  # {"plan": ...}: the path says so
    why = "the plan is as of 2027Q3, the portfolio as of 2027Q1: a plan of a later version of it"
    assert assert_rejected(replan_with(files, "--plan", later, "--as-of", Q4)) == [
        f"error: {later}: $.plan.as_of: {why}"
    ]


def test_as_of_is_a_quarter_not_before_the_portfolios_own(files: dict[str, Path], tmp_path: Path):
    result = replan_with(files, "--plan", files["plan"], "--as-of", "2099Q3")
    assert assert_rejected(result) == ["error: --as-of: '2099Q3' is not a quarter of the horizon"]
    as_of = tmp_path / "as-of.json"
    args = ("--actuals", files["actuals"], "--as-of", Q3, "--portfolio-out", as_of)
    assert replan_with(files, "--plan", files["plan"], *args).exit_code == 0
    earlier = invoke("replan", as_of, "--plan", files["plan"], "--as-of", Q2)
    reason = f"2027Q2 is before {as_of}'s as_of 2027Q3: the quarters before it are history already"
    assert assert_rejected(earlier) == [f"error: --as-of: {reason}"]


def test_an_unwritable_portfolio_out_is_one_line(files: dict[str, Path], tmp_path: Path):
    out = tmp_path / "missing" / "as-of.json"
    result = replan_with(files, "--plan", files["plan"], "--as-of", Q3, "--portfolio-out", out)
    assert assert_rejected(result) == [f"error: {out}: cannot write: No such file or directory"]


# ---------------------------------------------------------------- against a running service


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The API on a free port, and a key of it."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('cycle') / 'vmo.db'}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ApiSettings(pool_size=1), db)
    key = new_key(app)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, "the API to be ready")
    try:
        yield url, key
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        db.dispose()


@pytest.mark.slow
def test_replan_and_variance_against_a_service(service: tuple[str, str]):
    url, key = service
    with httpx.Client(base_url=url, timeout=60, headers=bearer(key)) as http:
        pid = http.post("/v1/portfolios", json=year()).json()["id"]
        plan_id = http.post(f"/v1/portfolios/{pid}/plans", json={"settings": {"workers": 1}}).json()["id"]
        assert http.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": plan_id}).status_code == 201
        for actual in ACTUALS:
            body = {k: v for k, v in actual.items() if k != "quarter"}
            assert http.put(f"/v1/portfolios/{pid}/actuals/{actual['quarter']}", json=body).status_code == 200
    result = invoke("replan", pid, "--url", url, "--key", key, "--as-of", Q3, "--json", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    answer = Replan.model_validate_json(result.stdout)
    assert answer.parent_id == plan_id and answer.plan_id is not None
    assert isinstance(answer.plan, Plan) and answer.comparison.done == ["api", "portal"]
    report = invoke("variance", pid, "--url", url, "--key", key)
    assert report.exit_code == 0 and "Late against the plan of record" in report.stdout
    missing = invoke("variance", "nope", "--url", url, "--key", key)
    assert_rejected(missing, "404")
