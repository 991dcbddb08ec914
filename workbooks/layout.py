"""The backlog workbook's layout: its sheets, their columns and what each cell holds.

One table drives the reader, the writer and the template, so the three cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "id", "ids", "number", "numbers", "int", "bool", "share"]


@dataclass(frozen=True)
class Column:
    """One column of a table sheet (or one row of the `portfolio` sheet)."""

    name: str
    kind: Kind
    note: str
    required: bool = False


PORTFOLIO = "portfolio"
VALUE_STREAMS = "value_streams"
POOLS = "pools"
MMPS = "mmps"
KEY_RESULTS = "key_results"
GUARDRAILS = "investment_guardrails"
GROUPS = "groups"
SYNERGIES = "synergies"
TOGETHER = "together"
SCENARIOS = "scenarios"
ACTUALS = "actuals"
NOTES = "notes"

# `portfolio` is a sheet of rows: a field name in column A, its value in column B.
PORTFOLIO_ROWS = (
    Column("name", "text", "The portfolio's name.", required=True),
    Column("currency", "text", "Currency code of every amount (default USD)."),
    Column("quarters", "ids", "The planning horizon, in order, comma-separated.", required=True),
    Column("budget", "numbers", "Total funding per quarter: one number, or one per quarter.", required=True),
    Column("change_penalty", "number", "Value charged per MMP whose start differs from baseline_start."),
    Column("scenario_count", "int", "How many scenarios the value ranges are sampled into (default 100)."),
    Column("decision", "id", "plan (default: one plan for every scenario), priority or per_scenario."),
    Column("risk_measure", "id", "expectation (default), cvar or wasserstein: how a plan is scored over scenarios."),
    Column("risk_weight", "share", "cvar: the weight of CVaR beside the expected value (0 to 1)."),
    Column("risk_alpha", "share", "cvar: CVaR is the mean of the worst 1 - alpha of the probability (default 0.95)."),
    Column("risk_radius", "number", "wasserstein: how far the probabilities may move (Euclidean distances)."),
    Column("as_of", "id", "The first quarter still to plan: earlier quarters are history (empty: the first)."),
)
RISK_ROWS = {"risk_measure": "measure", "risk_weight": "weight", "risk_alpha": "alpha", "risk_radius": "radius"}

VALUE_STREAM_COLUMNS = (
    Column("id", "id", "Value stream id, used by pools and MMPs.", required=True),
    Column("name", "text", "Display name."),
    Column("min_budget", "numbers", "Least allocation per quarter: one number, or one per quarter."),
    Column("max_budget", "numbers", "Most allocation per quarter (empty: only the total budget binds)."),
    Column("run_cost", "numbers", "Fixed spend per quarter (support, licences)."),
    Column("baseline_budget", "number", "Last quarter's allocation, the start for max_change."),
    Column("max_change", "share", "Largest change between quarters, as a fraction (0.25 or 25%)."),
)

POOL_COLUMNS = (
    Column("id", "id", "Pool (team or skill) id; MMPs use it in a demand:<pool> column.", required=True),
    Column("name", "text", "Display name."),
    Column("value_stream", "id", "The stream that pays for bought capacity (empty: a shared pool)."),
    Column("capacity", "numbers", "Units per quarter: one number, or one per quarter.", required=True),
    Column("extra_capacity", "numbers", "Units that can be bought per quarter."),
    Column("extra_cost", "number", "Money per bought unit."),
)

MMP_COLUMNS = (
    Column("id", "id", "MMP id.", required=True),
    Column("name", "text", "Display name."),
    Column("value_stream", "id", "The value stream that funds it.", required=True),
    Column("value", "number", "Expected outcome value if delivered on time (empty: the WSJF cost of delay)."),
    Column("cost", "number", "Total cost, spread evenly over duration (or give cost_q1..cost_qN instead)."),
    Column("duration", "int", "Quarters of execution (default 1; with cost_q1.. the number given)."),
    Column("earliest_start", "id", "First quarter it may start."),
    Column("deadline", "id", "Quarter by which it must be finished."),
    Column("cost_of_delay", "number", "Value lost per quarter it starts later than earliest_start."),
    Column("mandatory", "bool", "yes: must be funded."),
    Column("excluded", "bool", "yes: must not be funded."),
    Column("requires", "ids", "MMPs that must be finished before it starts, comma-separated."),
    Column("requires_any", "ids", "At least one of these MMPs must be funded and finished before it starts."),
    Column("excludes", "ids", "Alternatives: at most one of them is funded, comma-separated."),
    Column("category", "id", "Investment category (see investment_guardrails)."),
    Column("business_value", "number", "WSJF user/business value."),
    Column("time_criticality", "number", "WSJF time criticality."),
    Column("risk_reduction", "number", "WSJF risk reduction / opportunity enablement."),
    Column("job_size", "number", "WSJF job size (default 1)."),
    Column("baseline_start", "id", "Start quarter in the plan teams work on now (re-optimization)."),
    Column("value_low", "number", "Value range instead of value: the value at worst."),
    Column("value_likely", "number", "Value range: the most likely value."),
    Column("value_high", "number", "Value range: the value at best."),
    Column("value_shape", "id", "Value range: pert (default) or triangular."),
    Column("started", "id", "The quarter before as_of in which it began: it is in flight and keeps that start."),
    Column("stoppable", "bool", "yes: once in flight the optimizer may stop it (its remaining cost is freed)."),
    Column("salvage_value", "number", "Value kept when it is stopped in flight."),
    Column("done", "bool", "yes: finished before as_of (its key-result contributions count as achieved)."),
)
VALUE_RANGE = {"value_low": "low", "value_likely": "likely", "value_high": "high", "value_shape": "shape"}
CYCLE_MMP_COLUMNS = ("started", "stoppable", "salvage_value", "done")
COST_Q = re.compile(r"cost_q([1-9][0-9]*)")
DEMAND = "demand:"
KR = "kr:"
DEMAND_NOTE = "Units of the pool per quarter of execution: one number, or one per quarter of the MMP's duration."
KR_NOTE = "The MMP's contribution to the key result."
COST_Q_NOTE = "Cost in the MMP's n-th quarter of execution (instead of cost and duration)."
WSJF_FIELDS = ("business_value", "time_criticality", "risk_reduction", "job_size")

KEY_RESULT_COLUMNS = (
    Column("id", "id", "Key result id; MMPs contribute in a kr:<id> column.", required=True),
    Column("name", "text", "Display name."),
    Column("target", "number", "Progress worth anything (more earns nothing).", required=True),
    Column("value_per_unit", "number", "Value of one unit of progress up to the target.", required=True),
)

GUARDRAIL_COLUMNS = (
    Column("category", "id", "An MMP category.", required=True),
    Column("min_share", "share", "Least share of the spend on funded MMPs (0.15 or 15%)."),
    Column("max_share", "share", "Largest share of that spend."),
)

GROUP_COLUMNS = (
    Column("id", "id", "Group id (shares one namespace with the MMP ids).", required=True),
    Column("mmps", "ids", "The alternatives, comma-separated MMP ids.", required=True),
    Column("min", "int", "At least this many of them funded (default 0)."),
    Column("max", "int", "At most this many of them funded (default 1)."),
    Column("none_value", "number", "Value of funding none of them ('do nothing' has a value too)."),
)

SYNERGY_COLUMNS = (
    Column("id", "id", "Synergy id.", required=True),
    Column("mmps", "ids", "MMPs that must all be funded, comma-separated.", required=True),
    Column("value", "number", "Value added when they all are (negative: value lost).", required=True),
)

TOGETHER_COLUMNS = (Column("mmps", "ids", "MMPs funded all or none, comma-separated.", required=True),)

SCENARIO_COLUMNS = (
    Column("id", "id", "Scenario id.", required=True),
    Column("probability", "number", "Its probability; the scenarios' probabilities sum to 1.", required=True),
    Column("budget", "numbers", "Its total budget per quarter (empty: the portfolio's)."),
)
# A scenario's own figures, one column per MMP, pool or stream it changes: prefix -> (field, kind, what it names).
SCENARIO_FIGURES = {
    "value:": ("value", "number", "MMP"),
    "cost:": ("cost", "numbers", "MMP"),
    "capacity:": ("capacity", "numbers", "pool"),
    "min_budget:": ("min_budget", "numbers", "value stream"),
    "max_budget:": ("max_budget", "numbers", "value stream"),
}
SCENARIO_FIGURES_NOTE = (
    "value:<MMP id>, cost:<MMP id> (per quarter of execution), capacity:<pool id>, min_budget:<stream id>, "
    "max_budget:<stream id>: the scenario's own figure (empty: the portfolio's)."
)

ACTUALS_COLUMNS = (
    Column("quarter", "id", "A past quarter (before as_of).", required=True),
    Column("value_stream", "id", "A value stream: give its spent (one of value_stream, mmp, key_result per row)."),
    Column("mmp", "id", "An MMP: give its status, and its spent and realized_value where known."),
    Column("key_result", "id", "A key result: give its progress so far."),
    Column("spent", "number", "Money spent in the quarter (by the value stream, or on the MMP)."),
    Column("status", "id", "The MMP at the end of the quarter: done, running, stopped or not_started."),
    Column("realized_value", "number", "The outcome value the finished MMP realized."),
    Column("progress", "number", "Key-result progress achieved so far (cumulative)."),
)

TABLES = {
    VALUE_STREAMS: VALUE_STREAM_COLUMNS,
    POOLS: POOL_COLUMNS,
    MMPS: MMP_COLUMNS,
    KEY_RESULTS: KEY_RESULT_COLUMNS,
    GUARDRAILS: GUARDRAIL_COLUMNS,
    GROUPS: GROUP_COLUMNS,
    SYNERGIES: SYNERGY_COLUMNS,
    TOGETHER: TOGETHER_COLUMNS,
    SCENARIOS: SCENARIO_COLUMNS,
    ACTUALS: ACTUALS_COLUMNS,
}
REQUIRED_SHEETS = (PORTFOLIO, VALUE_STREAMS, MMPS)
SHEET_NOTES = {
    PORTFOLIO: "One field per row: its name in column A, its value in column B.",
    VALUE_STREAMS: "One value stream per row.",
    POOLS: "One team or skill per row (optional sheet: no pools, no capacity limits).",
    MMPS: "One MMP per row, plus a demand:<pool id> column per pool and a kr:<key result id> column per key result.",
    KEY_RESULTS: "Optional: OKR key results with diminishing returns.",
    GUARDRAILS: "Optional: bounds on a category's share of the spend on funded MMPs.",
    GROUPS: "Optional: alternatives of one initiative, at least min and at most max of them funded.",
    SYNERGIES: "Optional: value added (or lost) when every MMP of a set is funded.",
    TOGETHER: "Optional: sets of MMPs funded all or none, one set per row.",
    SCENARIOS: "Optional: ways the future may turn out, one per row, with a column per figure a scenario changes.",
    ACTUALS: "Optional: what happened in past quarters, one fact per row (a stream's spend, an MMP, a key result).",
}
