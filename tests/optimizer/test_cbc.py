"""CBC runs as a process this code owns: no library module is patched, and a killed run leaves
no CBC process behind, whether a stop or the watchdog killed it."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from pulp.apis import coin_api, core

from bench.generator import random_portfolio
from models import SolverSettings, load_portfolio
from optimizer import cbc, stopping
from optimizer.formulation import build
from optimizer.instance import build_instance
from tests.support.processes import children
from tests.support.waiting import wait_for

LONG = (1, 600, 8, 6)  # random_portfolio arguments: with one thread, CBC runs far past a minute on it
STOP_WITHIN_S = 8.0


@pytest.fixture
def clean_stopping():
    stopping.clear()
    yield
    stopping.clear()


def test_importing_the_optimizer_leaves_pulps_subprocess_module_alone():
    import optimizer  # noqa: F401  (imports optimizer.cbc)

    assert coin_api.subprocess is subprocess
    assert core.subprocess is subprocess


def test_a_cbc_run_killed_on_a_stop_leaves_no_cbc_process(clean_stopping):
    f = build(build_instance(load_portfolio(random_portfolio(*LONG))))
    results = []
    run = threading.Thread(target=lambda: results.append(cbc.solve_cbc(f, SolverSettings(workers=1), 120, {})))
    run.start()
    wait_for(lambda: children("cbc"), "CBC to start", timeout=60)
    started = time.monotonic()
    stopping.request_stop()
    run.join(STOP_WITHIN_S)
    assert not run.is_alive()
    assert time.monotonic() - started < STOP_WITHIN_S
    assert results[0].status == "no_solution_in_time"
    assert children("cbc") == []


def test_a_cbc_run_past_its_limit_is_killed_and_leaves_no_process():
    started = time.monotonic()
    assert cbc._run_watched(lambda: cbc._CbcProcess(["sleep", "30"]).wait(), 0.5) is False
    assert time.monotonic() - started < 5
    assert children("sleep") == []

