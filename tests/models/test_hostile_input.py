"""Issue 13 at the model layer: every input the service cannot hold is refused as an input problem with its
JSON path, before any solver runs, and the checks stay linear in the input.

Each test here failed before the fix it names: the input was accepted (and a solve crashed, or storage failed),
or the check took quadratic time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from models import PortfolioError, Problem, SolverSettings, load_portfolio
from models.checks import capped, check_solvable
from models.limits import LIMITS
from models.requests import SolveRequest


def tiny(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "hostile",
        "quarters": ["q1", "q2"],
        "budget": 1000,
        "value_streams": [{"id": "s"}],
        "mmps": [{"id": "a", "value_stream": "s", "value": 100, "cost": [10]}],
    }
    data.update(fields)
    return data


def problems(data: dict[str, Any]) -> list[Problem]:
    with pytest.raises(PortfolioError) as err:
        load_portfolio(data)
    return err.value.problems


def paths(data: dict[str, Any]) -> list[str]:
    return [p.path for p in problems(data)]


def test_duplicate_quarters_are_found_in_linear_time():
    """Was `q in p.quarters[:i]`: 60,000 labels took about a minute. The cap refuses the list at once, and the
    duplicate check itself is linear (checked below the cap with a generous bound)."""
    started = time.monotonic()
    assert paths(tiny(quarters=[f"q{i}" for i in range(60_000)])) == ["$.quarters"]
    assert time.monotonic() - started < 2
    labels = [f"q{i}" for i in range(LIMITS.max_quarters)]
    labels[-1] = "q0"
    assert paths(tiny(quarters=labels, budget=1)) == [f"$.quarters[{LIMITS.max_quarters - 1}]"]


def test_a_million_bad_amounts_stop_at_the_cap():
    """Was 1,000,001 problems (93 MB of 422): a per-quarter list longer than the horizon cap fails as one problem."""
    started = time.monotonic()
    found = problems(tiny(budget=[-1] * 10**6))
    assert time.monotonic() - started < 2
    assert [p.path for p in found] == ["$.budget"]
    assert "at most" in found[0].message


def test_a_million_unknown_requires_stop_at_the_cap():
    mmps = [{"id": "a", "value_stream": "s", "value": 1, "cost": [1], "requires": [f"x{i}" for i in range(10**6)]}]
    assert paths(tiny(mmps=mmps)) == ["$.mmps[0].requires"]


def test_error_details_are_capped_with_a_count_of_the_rest():
    many = [Problem(f"$.mmps[{i}].requires[0]", "unknown MMP 'x'") for i in range(5000)]
    shown = capped(many)
    assert len(shown) == LIMITS.max_error_details + 1
    assert shown[-1].path == "$" and f"{5000 - LIMITS.max_error_details} more" in shown[-1].message


@pytest.mark.parametrize(
    ("field", "size"),
    [("mmps", LIMITS.max_mmps), ("pools", LIMITS.max_pools), ("value_streams", LIMITS.max_value_streams)],
)
def test_list_caps(field, size):
    item = {"mmps": {"id": "m", "value_stream": "s", "value": 1, "cost": [1]}, "pools": {"id": "p", "capacity": 1}}
    item["value_streams"] = {"id": "s"}
    data = tiny(**{field: [{**item[field], "id": f"x{i}"} for i in range(size + 1)]})
    found = problems(data)
    assert found[0].path == f"$.{field}" and f"at most {size}" in found[0].message


def test_model_size_is_capped_before_building():
    """400 quarters x 2,000 MMPs ran 54 s past a 10 s limit and took 1 GiB: the start variables are capped."""
    quarters = [f"q{i}" for i in range(LIMITS.max_quarters)]
    per_mmp = LIMITS.max_quarters
    n = LIMITS.max_start_variables // per_mmp + 1
    mmps = [{"id": f"m{i}", "value_stream": "s", "value": 1, "cost": [1]} for i in range(n)]
    (problem,) = problems(tiny(quarters=quarters, mmps=mmps))
    assert problem.path == "$.mmps" and "start variables" in problem.message
    assert f"{n * per_mmp:,}" in problem.message


@pytest.mark.parametrize(
    ("mutation", "path"),
    [
        (lambda d: d["value_streams"][0].update(max_change=1e300), "$.value_streams[0].max_change"),
        (
            lambda d: (d.update(budget=10**9), d["value_streams"][0].update(max_change="0.1234567891234567")),
            "$.value_streams[0].max_change",
        ),
        (
            lambda d: (
                d.update(key_results=[{"id": "k", "target": 1e-30, "value_per_unit": 1e15}]),
                d["mmps"][0].update(key_results={"k": 1}),
            ),
            "$.key_results[0]",
        ),
        (
            lambda d: (
                d.update(investment_guardrails=[{"category": "c", "min_share": "0.1234567890123456789"}]),
                d["mmps"][0].update(category="c", cost=["0.123456789"]),
            ),
            "$.investment_guardrails[0].min_share",
        ),
    ],
    ids=["max-change-1e300", "max-change-digits", "key-result-coefficient", "guardrail-digits"],
)
def test_numbers_the_solver_cannot_hold_are_refused_at_their_path(mutation, path):
    """Each of these was accepted and crashed the solve (CP-SAT integer overflow, float coefficients): a 500."""
    data = tiny()
    mutation(data)
    assert path in paths(data)


@pytest.mark.parametrize("resolution", [1e-300, "9e999999", "1e-300", 0])
def test_money_resolution_out_of_range_is_refused(resolution):
    """Was decimal.Overflow inside the solve (a 500)."""
    with pytest.raises(ValueError, match="money_resolution"):
        SolveRequest.model_validate({"portfolio": tiny(), "settings": {"money_resolution": resolution}})


def test_a_stated_resolution_too_fine_for_the_amounts_is_blamed():
    portfolio = load_portfolio(tiny(budget=10**15))
    found = check_solvable(portfolio, SolverSettings(money_resolution="0.000001"))
    assert [p.path for p in found] == ["$.settings.money_resolution"]


@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b", "\udfff"])
@pytest.mark.parametrize("where", ["name", "id", "quarter", "key"])
def test_nul_and_lone_surrogates_are_refused(text, where):
    """A lone surrogate in a name was a 500 on POST /v1/portfolios; a NUL, a 500 on PostgreSQL."""
    data = tiny()
    expected = {"name": "$.name", "id": "$.mmps[0].id", "quarter": "$.quarters[1]", "key": "$.mmps[0].demand"}
    if where == "name":
        data["name"] = text
    elif where == "id":
        data["mmps"][0]["id"] = text
    elif where == "quarter":
        data["quarters"][1] = text
    else:
        data["pools"] = [{"id": "p", "capacity": 1}]
        data["mmps"][0]["demand"] = {text: [1]}
    found = problems(data)
    assert any(
        p.path.startswith(expected[where]) and any(w in p.message for w in ("NUL", "surrogate", "unicode"))
        for p in found
    )


def test_names_are_bounded_like_the_tables():
    """A 201-character name failed on PostgreSQL's String(200) column (a 500)."""
    assert paths(tiny(name="n" * 201)) == ["$.name"]
    data = tiny()
    data["mmps"][0]["name"] = "n" * 201
    assert paths(data) == ["$.mmps[0].name"]
    load_portfolio(tiny(name="n" * 200))


@pytest.mark.parametrize("amount", ["", " ", " 1", "1_000", "1e99999", True])
def test_numbers_are_plain(amount):
    """`""` and other strings that are no plain number are not amounts."""
    assert paths(tiny(budget=amount)) == ["$.budget"]


@pytest.mark.parametrize(
    "settings", [{"seed": 1.0}, {"seed": "1"}, {"workers": "2"}, {"workers": True}, {"time_limit_s": "5"}]
)
def test_solver_settings_are_strict(settings):
    with pytest.raises(ValueError):
        SolverSettings.model_validate(settings)
    SolverSettings.model_validate({"seed": 1, "workers": 2, "time_limit_s": 5})
