"""The order the test files run in (tests/support/durations.py): longest first, from measured seconds."""

from __future__ import annotations

from tests.support.durations import file_seconds, measured
from tests.support.paths import ROOT


def test_seconds_are_summed_per_file_longest_first(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        "<testsuites><testsuite>"
        '<testcase classname="tests.api.test_a" name="one" time="1.25"/>'
        '<testcase classname="tests.cli.test_b" name="two" time="3.0"/>'
        '<testcase classname="tests.api.test_a" name="three" time="0.5"/>'
        "</testsuite></testsuites>"
    )
    assert list(measured(report).items()) == [("tests/cli/test_b.py", 3.0), ("tests/api/test_a.py", 1.8)]


def test_every_file_measured_still_exists():
    """A renamed or removed file would keep its old place in the order: refresh the figures (see durations.py)."""
    assert file_seconds()
    assert [path for path in file_seconds() if not (ROOT / path).exists()] == []
