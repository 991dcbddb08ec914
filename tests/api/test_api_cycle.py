"""The quarterly planning cycle through the HTTP API over a whole year, on SQLite and PostgreSQL: solve, commit,
record Q1 and Q2 actuals (one MMP slips, one finishes early, one stream spends 10 % under plan), re-plan as of
Q3, commit the re-plan; and the refusals with their paths (docs/design.md, section 8.8)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from models import Plan, load_portfolio
from models.auth import DEFAULT_TENANT
from models.settings import SolverSettings
from optimizer import validate
from storage import repo
from storage.db import Database
from tests.support.auth import keyed

Q1, Q2, Q3, Q4 = "2027Q1", "2027Q2", "2027Q3", "2027Q4"
SETTINGS = {"time_limit_s": 30, "workers": 1}


def year() -> dict[str, Any]:
    """Four quarters with room for everything, so every MMP starts at its earliest start (cost of delay):
    api (claims, Q1-Q2), portal (digital, Q1-Q2: it finishes early), ml (claims, planned Q2-Q3: it slips),
    mobile (digital, Q1-Q3, stoppable), legacy (claims, Q3). Key result nps: target 12."""

    def mmp(mid: str, stream: str, value: int, cost: list[int], earliest: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": mid,
            "value_stream": stream,
            "value": value,
            "cost": cost,
            "demand": {"team": [1] * len(cost)},
            "earliest_start": earliest,
            "cost_of_delay": 10,
            **fields,
        }

    return {
        "name": "FY27 cycle",
        "quarters": [Q1, Q2, Q3, Q4],
        "budget": 400,
        "value_streams": [{"id": "claims"}, {"id": "digital"}],
        "pools": [{"id": "team", "capacity": 5}],
        "mmps": [
            mmp("api", "claims", 300, [50, 50], Q1, key_results={"nps": 4}),
            mmp("portal", "digital", 200, [40, 40], Q1, key_results={"nps": 4}),
            mmp("ml", "claims", 250, [60, 60], Q2),
            mmp("mobile", "digital", 150, [30, 30, 30], Q1, stoppable=True, salvage_value=20, key_results={"nps": 4}),
            mmp("legacy", "claims", 80, [20], Q3),
        ],
        "key_results": [{"id": "nps", "target": 12, "value_per_unit": 10}],
    }


@pytest.fixture
def client(database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(pool_size=1), database), raise_server_exceptions=False) as c:
        yield keyed(c)


def ok(response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:2000])
    return response.json()


def refused(response, *paths: str) -> list[dict[str, str]]:
    assert response.status_code == 422, (response.status_code, response.text[:2000])
    details = response.json()["error"]["details"]
    assert sorted(d["path"] for d in details) == sorted(paths), details
    return details


def allocation(plan: dict[str, Any], stream: str, quarter: str) -> Decimal:
    return next(
        Decimal(str(r["allocated"])) for r in plan["budget"] if (r["value_stream"], r["quarter"]) == (stream, quarter)
    )


@pytest.mark.slow
def test_a_year_of_planning_solve_commit_record_replan(client: TestClient, database: Database):
    pid = ok(client.post("/v1/portfolios", json=year()), 201)["id"]
    stored = ok(client.post(f"/v1/portfolios/{pid}/plans", json={"settings": SETTINGS}), 201)
    plan = stored["plan"]
    assert plan["status"] == "optimal"
    assert validate(load_portfolio(year()), Plan.model_validate(plan)) == []
    starts = {s["mmp"]: s["start"] for s in plan["selected"]}
    assert starts == {"api": Q1, "portal": Q1, "ml": Q2, "mobile": Q1, "legacy": Q3}

    ok(client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": stored["id"], "note": "FY27 plan"}), 201)
    record = ok(client.get(f"/v1/portfolios/{pid}/plan-of-record"))
    assert (record["plan_id"], record["note"], record["version"]) == (stored["id"], "FY27 plan", 1)

    # Q1: claims spends 10 % under plan; portal finishes early (planned for two quarters), below its estimate.
    claims_q1 = allocation(plan, "claims", Q1) * Decimal("0.9")
    q1 = {
        "spent": {"claims": str(claims_q1), "digital": str(allocation(plan, "digital", Q1))},
        "mmps": {
            "api": {"status": "running", "spent": 50},
            "portal": {"status": "done", "spent": 40, "realized_value": 150},
            "mobile": {"status": "running"},
        },
        "key_results": {"nps": 4},
    }
    ok(client.put(f"/v1/portfolios/{pid}/actuals/{Q1}", json=q1))
    # Q2: api finishes as planned; ml slips (not started though planned for Q2); mobile runs on.
    q2 = {
        "spent": {"claims": 50, "digital": 30},
        "mmps": {
            "api": {"status": "done", "realized_value": 240},
            "ml": {"status": "not_started"},
            "mobile": {"status": "running"},
        },
        "key_results": {"nps": 8},
    }
    ok(client.put(f"/v1/portfolios/{pid}/actuals/{Q2}", json=q2))
    assert [a["quarter"] for a in ok(client.get(f"/v1/portfolios/{pid}/actuals"))["actuals"]] == [Q1, Q2]

    variance = ok(client.get(f"/v1/portfolios/{pid}/variance"))
    claims = next(r for r in variance["streams"] if (r["value_stream"], r["quarter"]) == ("claims", Q1))
    assert Decimal(str(claims["difference"])) == -allocation(plan, "claims", Q1) / 10
    assert [(m["mmp"], m["status"], m["late_by"]) for m in variance["late"]] == [("ml", "not_started", 1)]
    assert variance["key_results"] == [{"id": "nps", "planned": 12, "achieved": 8}]
    ratios = {r["value_stream"]: r["ratio"] for r in variance["realization"]}
    assert ratios == {"claims": 0.8, "digital": 0.75}  # 240 of 300, 150 of 200: the estimates were optimistic

    answer = ok(
        client.post(f"/v1/portfolios/{pid}/replan", json={"as_of": Q3, "change_penalty": 10, "settings": SETTINGS}), 201
    )
    replan = Plan.model_validate(answer["plan"])
    assert answer["parent_id"] == stored["id"] and answer["status"] == "optimal"
    as_of = load_portfolio(ok(client.get(f"/v1/portfolios/{pid}"))["portfolio"])
    assert as_of.as_of == Q3 and validate(as_of, replan) == []
    assert replan.done == ["api", "portal"]
    in_flight = {r.mmp: r for r in replan.in_flight}
    assert set(in_flight) == {"mobile"}
    new_starts = {s.mmp: s.start for s in replan.selected}
    for mmp, start in new_starts.items():
        if mmp in in_flight:
            assert start == in_flight[mmp].started == Q1  # in flight: keeps its start
        else:
            assert as_of.quarters.index(start) >= 2, f"{mmp} starts in {start}, before as_of"
    assert new_starts["ml"] == Q3  # slipped: re-planned from as_of on
    assert replan.key_results[0].before_as_of == 8  # achieved progress counts: only 4 left to earn
    comparison = answer["comparison"]
    assert comparison["done"] == ["api", "portal"] and comparison["stopped"] == []
    assert comparison["moved"] == {"ml": Q3}

    stored_replan = ok(client.get(f"/v1/plans/{answer['plan_id']}"))
    assert stored_replan["parent_id"] == stored["id"]
    ok(
        client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": answer["plan_id"], "note": "Q3 re-plan"}),
        201,
    )
    history = ok(client.get(f"/v1/portfolios/{pid}/plan-of-record/history"))["commits"]
    assert [(c["plan_id"], c["note"]) for c in history] == [
        (stored["id"], "FY27 plan"),
        (answer["plan_id"], "Q3 re-plan"),
    ]

    # Q1 is still measured against the FY27 plan, which planned it (the re-plan as of Q3 plans nothing there).
    after = ok(client.get(f"/v1/portfolios/{pid}/variance"))
    assert after["plan_id"] == answer["plan_id"]
    claims = next(r for r in after["streams"] if (r["value_stream"], r["quarter"]) == ("claims", Q1))
    assert Decimal(str(claims["difference"])) == -allocation(plan, "claims", Q1) / 10

    with database.reading() as session:  # a re-optimization now starts from the plan of record
        assert repo.current_plan(session, DEFAULT_TENANT, pid).id == answer["plan_id"]


@pytest.mark.slow
def test_a_stop_is_reported_with_the_money_it_frees(client: TestClient):
    # Planned with room for all; mid-year the Q3 budget is cut to 150 and legacy (due in Q3, 90) is now worth
    # 300. No actuals: the plan of record is taken as executed, so ml (60 in Q3) and mobile (30) are in flight.
    # Stopping mobile (40, salvage 20) makes room for legacy: 300 + 20 beats 40.
    data = year()
    data["mmps"][4] |= {"cost": [90], "deadline": Q3}
    pid = ok(client.post("/v1/portfolios", json=data), 201)["id"]
    stored = ok(client.post(f"/v1/portfolios/{pid}/plans", json={"settings": SETTINGS}), 201)
    assert {s["mmp"]: s["start"] for s in stored["plan"]["selected"]}["mobile"] == Q1
    ok(client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": stored["id"]}), 201)
    data["budget"] = [400, 400, 150, 400]
    data["mmps"][3]["value"] = 40
    data["mmps"][4]["value"] = 300
    ok(client.post(f"/v1/portfolios/{pid}/versions", json=data), 201)
    answer = ok(client.post(f"/v1/portfolios/{pid}/replan", json={"as_of": Q3, "settings": SETTINGS}), 201)
    plan = answer["plan"]
    assert [(r["mmp"], r["decision"]) for r in plan["in_flight"]] == [("ml", "continue"), ("mobile", "stop")]
    assert answer["comparison"]["stopped"] == ["mobile"]
    assert answer["comparison"]["money_freed"] == 30
    assert plan["value"]["salvage"] == 20
    reason = next(n["reason"] for n in plan["not_selected"] if n["mmp"] == "mobile")
    assert reason.startswith("stopped (in flight since 2027Q1)")


@pytest.mark.slow
def test_cycle_refusals_have_paths(client: TestClient, database: Database):
    pid = ok(client.post("/v1/portfolios", json=year()), 201)["id"]
    assert client.get(f"/v1/portfolios/{pid}/plan-of-record").json()["error"]["code"] == "not_found"
    assert client.post(f"/v1/portfolios/{pid}/replan", json={"as_of": Q3}).status_code == 404
    refused(
        client.put(
            f"/v1/portfolios/{pid}/actuals/2030Q1", json={"spent": {"claimz": 1}, "mmps": {"x": {"status": "done"}}}
        ),
        "$.path.quarter",
        "$.spent.claimz",
        "$.mmps.x",
    )
    refused(client.put(f"/v1/portfolios/{pid}/actuals/{Q1}", json={"spent": {"claims": -5}}), "$.spent.claims")
    refused(
        client.put(f"/v1/portfolios/{pid}/actuals/{Q1}", json={"mmps": {"api": {"status": "late"}}}),
        "$.mmps.api.status",
    )
    other = ok(client.post("/v1/portfolios", json=year()), 201)["id"]
    solved = ok(client.post(f"/v1/portfolios/{other}/plans", json={"settings": SETTINGS}), 201)
    refused(client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": solved["id"]}), "$.plan_id")
    assert client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": "nope"}).status_code == 404

    # A what-if scenario's plan: its portfolio is stored as the next version before the commit names it.
    with database.session() as session:
        version = repo.get_version(session, DEFAULT_TENANT, pid)
        changes = [{"op": "scale_budget", "factor": 0.5}]
        plan = Plan.model_validate(solved["plan"])  # any solved plan: the commit reads its variant
        scenario_id = repo.add_plan(session, version, plan, SolverSettings(), variant={"changes": changes}).id
    commit = ok(client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": scenario_id}), 201)
    assert commit["version"] == 2
    assert Decimal(ok(client.get(f"/v1/portfolios/{pid}"))["portfolio"]["budget"]) == 200


def test_a_replan_before_the_latest_versions_as_of_is_refused_at_as_of(client: TestClient):
    """Re-planning as of Q2 stores an as-of-Q2 version; Q1 is history there (api is done): a re-plan as of Q1
    is one problem at the request's as_of, not the as-of portfolio's problems at paths never sent."""
    pid = ok(client.post("/v1/portfolios", json=year()), 201)["id"]
    stored = ok(client.post(f"/v1/portfolios/{pid}/plans", json={"settings": SETTINGS}), 201)
    ok(client.post(f"/v1/portfolios/{pid}/plan-of-record", json={"plan_id": stored["id"]}), 201)
    ok(client.put(f"/v1/portfolios/{pid}/actuals/{Q1}", json={"mmps": {"api": {"status": "done"}}}))
    ok(client.post(f"/v1/portfolios/{pid}/replan", json={"as_of": Q2, "settings": SETTINGS}), 201)
    (detail,) = refused(client.post(f"/v1/portfolios/{pid}/replan", json={"as_of": Q1}), "$.as_of")
    assert detail["message"].startswith("2027Q1 is before the latest version's as_of 2027Q2"), detail
    (detail,) = refused(client.post(f"/v1/portfolios/{pid}/replan", json={"as_of": "2099Q3"}), "$.as_of")
    assert detail["message"] == "'2099Q3' is not a quarter of the horizon"
    ok(client.post(f"/v1/portfolios/{pid}/replan", json={"as_of": Q2, "settings": SETTINGS}), 201)  # Q2 again


def test_recorded_actuals_name_known_ids(client: TestClient):
    pid = ok(client.post("/v1/portfolios", json=year()), 201)["id"]
    body = {"spent": {"claims": 1, "nope": 1}, "mmps": {"zz": {"status": "done"}}, "key_results": {"k": 2}}
    details = refused(
        client.put(f"/v1/portfolios/{pid}/actuals/2027Q9", json=body),
        "$.path.quarter",
        "$.spent.nope",
        "$.mmps.zz",
        "$.key_results.k",
    )
    assert [d["message"] for d in details][1:] == [
        "unknown value stream 'nope'",
        "unknown MMP 'zz'",
        "unknown key result 'k'",
    ]
