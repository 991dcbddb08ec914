"""docs/design.md is the contract: code points at its numbered sections, and its tables list every
field of the input and output schemas, so a field added to `models/` without a row fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from models import cycle, plan, portfolio, settings
from tests.support.paths import README, ROOT

DESIGN = ROOT / "docs" / "design.md"
SECTIONS = [
    "1. Purpose",
    "2. Layout",
    "3. The portfolio (input)",
    "4. The formulation",
    "5. The plan (output)",
    "6. Statuses",
    "7. Correctness",
    "8. Service",
    "9. Security",
]
SCHEMAS: list[type[BaseModel]] = [
    portfolio.Portfolio,
    portfolio.ValueStream,
    portfolio.Pool,
    portfolio.MMP,
    portfolio.WSJF,
    portfolio.InvestmentGuardrail,
    portfolio.KeyResult,
    portfolio.Group,
    portfolio.Synergy,
    portfolio.RiskScenario,
    portfolio.StreamBounds,
    portfolio.ValueRange,
    portfolio.Risk,
    portfolio.QuarterActuals,
    portfolio.MMPActual,
    settings.SolverSettings,
    plan.Plan,
    plan.ValueSplit,
    plan.SelectedMMP,
    plan.NotSelected,
    plan.Needs,
    plan.ValueNeed,
    plan.BudgetNeed,
    plan.CapacityNeed,
    plan.BudgetRow,
    plan.ReserveRow,
    plan.CapacityRow,
    plan.KeyResultRow,
    plan.InFlightRow,
    plan.SolverInfo,
    plan.Floor,
    plan.Explanation,
    plan.Baseline,
    plan.InvestmentMixRow,
    plan.Totals,
    plan.RiskSummary,
    plan.ScenarioOutcome,
    plan.RobustnessRow,
    plan.StreamTotals,
    plan.HorizonTotals,
    cycle.CommitRequest,
    cycle.PlanOfRecordCommit,
    cycle.PlanOfRecord,
    cycle.PlanOfRecordHistory,
    cycle.ActualsBody,
    cycle.RecordedActuals,
    cycle.ActualsList,
    cycle.ReplanRequest,
    cycle.Replan,
    cycle.Comparison,
    cycle.Variance,
    cycle.StreamVariance,
    cycle.LateMMP,
    cycle.KeyResultVariance,
    cycle.RealizationRow,
]
REFERENCE = re.compile(r"docs/design\.md, sections? (\d+)(?: to (\d+))?")


def sources() -> list[Path]:
    """The README and every Python file of the repository (not the virtual environment)."""
    files = [p for p in ROOT.rglob("*.py") if not p.relative_to(ROOT).parts[0].startswith(".")]
    return [README, *files]


def fields_in_table(schema: type[BaseModel]) -> set[str]:
    """The first-column names of the table that follows the line ending in ': `Schema`'."""
    lines = DESIGN.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(f": `{schema.__name__}`"))
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return {row.split("|")[1].strip().strip("`") for row in table[2:]}


def test_the_numbered_sections_are_the_ones_code_points_at():
    assert re.findall(r"^## (.+)$", DESIGN.read_text(), re.MULTILINE) == SECTIONS


@pytest.mark.slow
def test_every_reference_names_a_section_that_exists():
    for path in sources():
        for match in REFERENCE.finditer(path.read_text()):
            numbers = [int(n) for n in match.groups() if n]
            assert all(1 <= n <= len(SECTIONS) for n in numbers), f"{path}: {match.group(0)}"


def test_nothing_points_outside_the_repository_for_the_contract():
    for path in sources():
        text = path.read_text()
        assert not re.search(r"\.\./shared|DESIGN\.md", text), f"{path} points at the old contract"


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema.__name__)
def test_every_field_has_a_row(schema):
    assert fields_in_table(schema) == set(schema.model_fields)
