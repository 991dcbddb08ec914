"""Each report, and the API docs, in a real browser (headless Chromium): the charts are drawn, nothing is
fetched from outside the page, the console stays clean, and the screenshot is not blank."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from models import SolverSettings
from models.scenarios import FrontierRequest, WhatIfRequest
from optimizer.studies.frontier import FrontierStudy
from optimizer.studies.whatif import WhatIfStudy
from reports import frontier_report, plan_report, whatif_report
from tests.support.browser import chromium, colours, visit
from tests.support.solving import solve_valid
from tests.support.studies import run_study_here
from tests.support.workbooks import fixture_portfolio

pytestmark = pytest.mark.slow


STUDY_SETTINGS = SolverSettings(time_limit_s=20, workers=1, what_it_takes=False)  # as the CLI runs studies


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, tuple[str, list[str]]]:
    """Report name -> (file URL, the charts it must show)."""
    folder = tmp_path_factory.mktemp("reports")
    p = fixture_portfolio("insurance-fy27.json")
    scenarios = [{"name": "budget -10%", "changes": [{"op": "scale_budget", "factor": Decimal("0.9")}]}]
    whatif = run_study_here(WhatIfStudy(), WhatIfRequest(portfolio=p, scenarios=scenarios), STUDY_SETTINGS).response
    frontier_request = FrontierRequest(portfolio=p, budgets=[24000000, 30000000])
    frontier = run_study_here(FrontierStudy(), frontier_request, STUDY_SETTINGS).response
    reports = {
        "plan": (
            plan_report(p, solve_valid(p)),
            ["uplift", "budget", "roadmap", "capacity", "investment_mix", "key_results"],
        ),
        "whatif": (whatif_report(p, whatif), ["scenarios"]),
        "frontier": (frontier_report(p, frontier), ["frontier"]),
    }
    out = {}
    for name, (html, charts) in reports.items():
        path = folder / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        out[name] = (path.as_uri(), charts)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with chromium() as driver:
        yield driver


@pytest.mark.parametrize("name", ["plan", "whatif", "frontier"])
def test_each_report_renders_its_charts_offline(browser, pages, name, tmp_path):
    url, charts = pages[name]
    seen = visit(browser, url)
    assert seen.requests == [url], "the page fetched something besides itself"
    assert [m for m in seen.console if m["level"] in ("SEVERE", "WARNING")] == []
    for chart in charts:
        size = browser.execute_script(
            "const e = document.querySelector(`svg[data-chart='${arguments[0]}']`); if (!e) return null;"
            "const r = e.getBoundingClientRect(); return [r.width, r.height, e.querySelectorAll('text').length];",
            chart,
        )
        assert size is not None, f"chart {chart} missing"
        width, height, texts = size
        assert width > 600 and height > 80 and texts > 2, (chart, size)
    assert browser.execute_script("return document.querySelectorAll('table').length") >= 1
    (tmp_path / f"{name}.png").write_bytes(seen.screenshot)
    assert len(seen.screenshot) > 20_000 and colours(seen.screenshot) > 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """The API on 127.0.0.1 (no solver pool: the docs need none), stopped afterwards."""
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings
    from storage.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('docs') / 'vmo.db'}")
    db.migrate()
    port = _free_port()
    config = uvicorn.Config(
        create_app(ApiSettings(pool_size=1), db), host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "the API server did not start"
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
    db.dispose()


@pytest.mark.parametrize(
    ("page", "selector"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "[role=navigation], .menu-content")]
)
def test_the_api_docs_work_without_internet(browser, server, page, selector):
    def ready(driver):
        return driver.execute_script(f"return document.querySelector({selector!r}) !== null")

    seen = visit(browser, server + page, ready)
    outside = [u for u in seen.requests if not u.startswith((server + "/", "data:", "blob:"))]
    assert outside == []
    assert f"{server}/openapi.json" in seen.requests
    assert [m for m in seen.console if m["level"] == "SEVERE"] == []
    assert colours(seen.screenshot) > 20
