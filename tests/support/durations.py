"""Seconds each test file took, measured: the order in which the two xdist workers take the files.

`--dist loadfile` hands out files in collection order; a long file handed out last runs alone at the end
while the other worker idles (a minute of a twelve-minute run). tests/conftest.py puts the files that took
longest first. The figures only order the files: stale ones cost time, never a result. Refresh them after
a full run with

    .venv/bin/pytest --junitxml=/tmp/junit.xml
    .venv/bin/python -m tests.support.durations /tmp/junit.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

FILE_SECONDS = Path(__file__).with_name("file_seconds.json")


def file_seconds() -> dict[str, float]:
    """Measured seconds by test file path (relative to the repository), or nothing when none were measured."""
    return json.loads(FILE_SECONDS.read_text()) if FILE_SECONDS.exists() else {}


def measured(junit_xml: Path) -> dict[str, float]:
    """Seconds per test file in a JUnit report (its test cases' times: setup, call and teardown)."""
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit_xml).iter("testcase"):
        seconds[case.get("classname", "").replace(".", "/") + ".py"] += float(case.get("time", 0))
    return {path: round(total, 1) for path, total in sorted(seconds.items(), key=lambda item: -item[1])}


if __name__ == "__main__":
    FILE_SECONDS.write_text(json.dumps(measured(Path(sys.argv[1])), indent=1) + "\n")
