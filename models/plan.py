"""The plan: what the optimizer returns (docs/design.md, section 5)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from models.money import amount_text, units_text


def _number(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


Amount = Annotated[Decimal, PlainSerializer(_number, when_used="json")]
"""An exact decimal amount, written to JSON as a plain number."""


class SolverStatus(StrEnum):
    """What the solver found; written to JSON as the plain string."""

    OPTIMAL = "optimal"
    """The best plan, proven."""
    FEASIBLE = "feasible"
    """A plan that keeps every rule, not proven best (time ran out, a heuristic, or a rounded objective)."""
    INFEASIBLE = "infeasible"
    """No plan keeps every rule; the explanation names the rules that cannot hold together."""
    NO_SOLUTION_IN_TIME = "no_solution_in_time"
    """The time limit ran out before any plan was found."""


NO_PLAN: frozenset[SolverStatus] = frozenset({SolverStatus.INFEASIBLE, SolverStatus.NO_SOLUTION_IN_TIME})
"""Statuses that come without a plan (nothing selected, no objective)."""


class Out(BaseModel):
    # A field's docstring (the string literal below it) is its description in the OpenAPI document.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ValueSplit(Out):
    mmps: Amount = Decimal(0)
    """Outcome value of the funded MMPs (value less cost of delay)."""
    key_results: Amount = Decimal(0)
    """Value of the credited key-result progress."""
    change_penalty: Amount = Decimal(0)
    """Charged for the MMPs whose selection or start differs from the baseline plan."""
    synergies: Amount = Decimal(0)
    """Value added (or lost, when negative) by synergies whose MMPs are all funded."""
    groups: Amount = Decimal(0)
    """The `none_value` of every group of which no MMP is funded ("do nothing" has a value too)."""
    salvage: Amount = Decimal(0)
    """The `salvage_value` of every in-flight MMP the plan stops."""

    @property
    def total(self) -> Decimal:
        """The objective: every term, the change penalty taken off."""
        return self.mmps + self.key_results + self.synergies + self.groups + self.salvage - self.change_penalty

    def parts(self) -> list[tuple[str, Decimal]]:
        """Every nonzero term, named and signed as it counts (they sum to `total`), as the CLI's headline and
        the plan workbook's summary show them; the MMPs' value alone when every term is zero."""
        terms = [
            ("MMPs", self.mmps),
            ("key results", self.key_results),
            ("synergies", self.synergies),
            ("groups left unfunded", self.groups),
            ("salvage of stopped MMPs", self.salvage),
            ("change penalty", -self.change_penalty),
        ]
        return [(label, amount) for label, amount in terms if amount] or terms[:1]


class SelectedMMP(Out):
    mmp: str
    """MMP id."""
    start: str
    """Start quarter."""
    finish: str
    """Last quarter of execution."""
    value: Amount
    """Outcome value earned at this start (value less cost of delay)."""
    cost: Amount
    """Total spend over the MMP's duration."""


class ValueNeed(Out):
    """The smallest `value` at which a plan funding the MMP is worth at least every plan without it."""

    low: Amount | None
    """Proven: at a lower value every plan that funds it is worth less than the best plan without it
    (null: nothing proven in time)."""
    high: Amount | None
    """Found: with this value a plan that funds it is worth at least the best plan without it, as far as
    the solve proved that best (null: no such plan found in time, or the solve has no bound). Equal to `low`
    when exact."""
    changes: dict[str, str | None] = Field(default_factory=dict)
    """The plan found at `high`, as changes to this plan: MMP id -> its start quarter there, or null when
    that plan leaves it out (the MMP itself included)."""


class BudgetNeed(Out):
    """The least extra budget with which a plan funds the MMP and is worth at least this plan."""

    low: Amount | None
    """Proven: less extra budget cannot do it (null: nothing proven in time)."""
    high: Amount | None
    """Found: this much extra budget, summed over the quarters, does it (null: not found in time). Equal to
    `low` when exact."""
    quarters: dict[str, Amount] = Field(default_factory=dict)
    """Where `high` goes: quarter label -> extra money, added to the quarter's total budget and to the
    maximum budget of the MMP's value stream (quarters that need none are left out)."""
    changes: dict[str, str | None] = Field(default_factory=dict)
    """The plan found with that budget, as changes to this plan (MMP id -> start quarter, or null)."""


class CapacityNeed(Out):
    """The least extra capacity with which a plan funds the MMP and is worth at least this plan."""

    low: Amount | None
    """Proven: fewer extra units, summed over pools and quarters, cannot do it (null: nothing proven)."""
    high: Amount | None
    """Found: this many extra units do it (null: not found in time). Equal to `low` when exact."""
    pools: dict[str, dict[str, Amount]] = Field(default_factory=dict)
    """Where `high` goes: pool id -> quarter label -> extra units (on top of what may be bought)."""
    changes: dict[str, str | None] = Field(default_factory=dict)
    """The plan found with that capacity, as changes to this plan (MMP id -> start quarter, or null)."""


class Needs(Out):
    """What it would take to fund an MMP, worked out by re-solves bounded in time (docs/design.md,
    section 5.10)."""

    value: ValueNeed | None = None
    """The value at which it would be funded; null when no value is enough (see `notes`)."""
    budget: BudgetNeed | None = None
    """The budget it lacks; null when more budget alone is not enough or was not worked out."""
    capacity: CapacityNeed | None = None
    """The capacity it lacks; null when more capacity alone is not enough or was not worked out."""
    notes: list[str] = Field(default_factory=list)
    """What could not be worked out, in words (no plan funds it at any value, not worked out in time)."""


def _range(low: Decimal | None, high: Decimal | None, fmt: Callable[[Decimal], str]) -> str:
    """'1,200' when exact, '1,000 to 1,200' as a range, 'at least 1,000' when nothing was found."""
    if high is None:
        return f"at least {fmt(low)}" if low is not None else "an unknown amount"
    if low is None:
        return f"at most {fmt(high)}"
    return fmt(high) if low == high else f"{fmt(low)} to {fmt(high)}"


def _instead(changes: dict[str, str | None]) -> str:
    """', in place of a, b' for the MMPs the plan found leaves out (three named at most)."""
    dropped = [m for m, q in changes.items() if q is None]
    if not dropped:
        return ""
    more = f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
    return f", in place of {', '.join(dropped[:3])}{more}"


class NotSelected(Out):
    mmp: str
    """MMP id."""
    reason: str
    """Why it is not funded, in a portfolio manager's words."""
    needs: Needs | None = None
    """What it would take to fund it (section 5.10); null when it was not worked out: excluded by the user,
    no quarter it could start in, the `what_it_takes` setting off, the `wsjf-greedy` backend."""

    def what_it_takes(self, currency: str | None = None) -> str:
        """What it would take to fund this MMP, in words, as the CLI, the reports and the plan workbook show it,
        amounts rounded to `currency`'s minor unit (`models.money`). Empty when not worked out."""
        n = self.needs
        if n is None:
            return ""
        money, units = partial(amount_text, currency=currency), units_text
        parts = []
        if n.value is not None:
            parts.append(f"a value of {_range(n.value.low, n.value.high, money)}{_instead(n.value.changes)}")
        if n.budget is not None:
            where = ", ".join(f"{q} {money(a)}" for q, a in n.budget.quarters.items())
            more = _range(n.budget.low, n.budget.high, money)
            parts.append(f"{more} more budget" + (f" ({where})" if where else "") + _instead(n.budget.changes))
        if n.capacity is not None:
            where = ", ".join(f"{p} {q} {units(u)}" for p, qs in n.capacity.pools.items() for q, u in qs.items())
            more = _range(n.capacity.low, n.capacity.high, units)
            parts.append(
                f"{more} more capacity units" + (f" ({where})" if where else "") + _instead(n.capacity.changes)
            )
        # "No value is enough" leads: the budget or capacity that follows is then the way to fund it.
        first = [note for note in n.notes if note.startswith("no value")]
        rest = [note for note in n.notes if note not in first]
        return "; ".join(first + ["; or ".join(parts)] * bool(parts) + rest)


class BudgetRow(Out):
    value_stream: str
    """Value stream id."""
    quarter: str
    """Quarter label."""
    allocated: Amount
    """Budget allocated to the stream."""
    spent: Amount
    """Spend of the stream: its running MMPs, run cost and bought capacity."""
    min: Amount
    """The stream's min_budget guardrail."""
    max: Amount | None
    """None: no guardrail, only the total budget binds."""


class ReserveRow(Out):
    quarter: str
    """Quarter label."""
    unallocated: Amount
    """Total budget left after the allocations and shared purchases."""


class CapacityRow(Out):
    pool: str
    """Pool id."""
    quarter: str
    """Quarter label."""
    used: Amount
    """Units used by the running MMPs."""
    available: Amount
    """The pool's own capacity."""
    purchased: Amount
    """Units bought on top."""


class KeyResultRow(Out):
    id: str
    """Key result id."""
    achieved: Amount
    """Credited progress (capped at the target), progress achieved before `as_of` included."""
    target: Amount
    """The key result's target."""
    before_as_of: Amount = Decimal(0)
    """Progress achieved before `as_of` (capped at the target): it earns no value in this plan."""


class InFlightRow(Out):
    """What the plan does with an MMP that started before `as_of`."""

    mmp: str
    """MMP id."""
    started: str
    """The quarter it began."""
    decision: Literal["continue", "stop"]
    """It continues on its start, or the plan stops it (only a stoppable MMP)."""
    remaining_cost: Amount
    """Its cost from `as_of` on: spent when it continues, freed when it stops."""
    value: Amount
    """Its outcome value: earned when it continues, forfeited (less the salvage value) when it stops."""
    salvage_value: Amount
    """Value kept if it is stopped."""


class Floor(Out):
    """A plan a solve starts from and never falls below."""

    source: Literal["warm_start", "ranking"]
    """`warm_start`: the plan the caller gave (a scenario's base plan, a frontier's previous point, the plan
    a re-optimization stays close to); `ranking`: the WSJF ranking's plan."""
    value: Amount
    """Its outcome value on this portfolio."""


class SolverInfo(Out):
    backend: str
    """The backend that solved."""
    time_s: float
    """Wall-clock seconds of the whole solve."""
    time_limit_s: float
    """The time limit that applied."""
    seed: int
    """Random seed."""
    relative_gap: float
    """The relative gap the solver could stop at."""
    workers: int
    """Solver threads."""
    money_resolution: Amount
    """The currency amount one solver unit stood for."""
    exact: bool = True
    """Every amount was counted exactly at `money_resolution`. False only when the model's 64-bit integers
    could not hold the portfolio's figures: amounts finer than the unit were then rounded on the safe
    side, the plan still keeps every rule in exact decimals, and it is never called optimal."""
    least_money: bool | None = None
    """Among plans of this value, the money allocated is proven the least (true), or is the least that pays
    for this plan's own selection, the search for a cheaper plan of equal value having run out of time
    (false); null without a plan."""
    what_it_takes: bool = False
    """The `what_it_takes` setting: whether the solve was asked to work out what it would take to fund each MMP
    left out (`not_selected[].needs`). False in plans stored before the setting existed."""
    floor: Floor | None = None
    """The best plan the solve was given or built before searching (a warm start such as a scenario's base
    plan or the current plan, or the WSJF ranking's plan), when it keeps every rule of this portfolio:
    the plan returned is worth at least as much. Null when there was none."""


class Explanation(Out):
    infeasibility: list[str] = Field(default_factory=list)
    """Why no plan exists (the smallest set of rules found that cannot hold together), or why none was found in time."""
    binding: list[str] = Field(default_factory=list)
    """The limits that hold the plan back."""


class Baseline(Out):
    """The WSJF ranking's plan on the same portfolio (the `wsjf-greedy` backend): what the optimizer adds."""

    value: Amount
    """Outcome value of the ranking's plan, counted like `objective` (MMP value less cost of delay, plus
    key-result value, less change penalties)."""
    uplift: Amount
    """`objective` less the ranking's `value`: the value the optimizer finds beyond the ranking."""
    uplift_percent: Amount | None
    """`uplift` as a percentage of the ranking's value, rounded to two decimals; null when that value is not
    positive."""
    starts: dict[str, str]
    """The MMPs the ranking funds, each with its start quarter."""
    optimizer_only: list[str]
    """MMPs this plan funds that the ranking does not, in portfolio order."""
    ranking_only: list[str]
    """MMPs the ranking funds that this plan does not, in portfolio order."""


class InvestmentMixRow(Out):
    """One investment category's share of the spend on selected MMPs, against its guardrail."""

    category: str | None
    """The category; null for the MMPs that have none."""
    spend: Amount
    """Total cost over the horizon of the selected MMPs of this category."""
    share: Amount
    """`spend` as a fraction of the total cost of all selected MMPs (0 when nothing is spent)."""
    min_share: Amount | None
    """The guardrail's minimum share, if any."""
    max_share: Amount | None
    """The guardrail's maximum share, if any."""
    within: bool
    """The share keeps the guardrail (always true without one)."""


class StreamTotals(Out):
    """One value stream over the whole horizon."""

    value_stream: str
    """Value stream id."""
    allocated: Amount
    """Budget allocated to the stream, summed over the quarters."""
    spent: Amount
    """Spend of the stream summed over the quarters: its selected MMPs, run cost and purchased capacity."""
    unspent: Amount
    """`allocated` less `spent`."""
    mmp_cost: Amount
    """Cost of the stream's selected MMPs."""
    funded: int
    """Number of the stream's selected MMPs."""
    value: Amount
    """Outcome value of the stream's selected MMPs (without key results or change penalties)."""


class HorizonTotals(Out):
    """The whole portfolio over the whole horizon."""

    budget: Amount
    """Total budget of all quarters."""
    allocated: Amount
    """Allocated to value streams, all quarters."""
    shared_purchases: Amount
    """Paid for capacity bought in shared pools (straight from the total budget)."""
    unallocated: Amount
    """The reserve: `budget` less `allocated` less `shared_purchases`."""
    spent: Amount
    """Spend of every value stream plus `shared_purchases`."""
    mmp_cost: Amount
    """Cost of all selected MMPs."""
    funded: int
    """Number of selected MMPs."""
    value: Amount
    """Outcome value of the selected MMPs (without key results or change penalties)."""


class Totals(Out):
    """Money and value summed over the horizon."""

    value_streams: list[StreamTotals]
    """One row per value stream, in portfolio order."""
    horizon: HorizonTotals
    """The whole portfolio."""


class RiskSummary(Out):
    """The plan's value over the scenarios of an uncertain portfolio (docs/design.md, section 4.7)."""

    measure: Literal["expectation", "cvar", "wasserstein"]
    """The risk measure the plan was chosen by."""
    decision: Literal["plan", "priority", "per_scenario"]
    """What was decided: one plan, a priority list, or each scenario's own optimum."""
    expected: Amount
    """Expected value over the scenarios."""
    p10: Amount
    """The value the plan reaches or exceeds with 90 % probability (the lowest value whose cumulative
    probability is at least 10 %)."""
    p50: Amount
    """The median value (cumulative probability at least 50 %)."""
    p90: Amount
    """The value with cumulative probability at least 90 %."""
    alpha: Amount
    """The level of `var` and `cvar`."""
    var: Amount
    """Value at risk: the lowest value whose cumulative probability is at least 1 - alpha."""
    cvar: Amount
    """The expected value over the worst 1 - alpha of the probability mass (a scenario on the boundary counts
    in part)."""
    worst_case: Amount | None = None
    """wasserstein: the worst expected value over the distributions within `radius` of the scenarios'
    probabilities; null otherwise."""
    multiplier: Amount | None = None
    """wasserstein: the optimal dual multiplier gamma of the distance budget (value per unit of distance)."""
    wait_and_see: Amount | None = None
    """Expected value of every scenario's own optimum (null when they were not all found in time)."""
    value_of_information: Amount | None = None
    """`wait_and_see` less the expected value of the best single plan: what knowing the scenario in advance
    would be worth (null when either is unknown)."""
    information_proven: bool = False
    """Whether every own optimum and the best single plan behind `value_of_information` are proven."""


class ScenarioOutcome(Out):
    """The decision in one scenario."""

    id: str
    """Scenario id: the explicit scenario's, `sample-n` for the n-th sample of the value ranges, or both
    (`cut10/sample-3`)."""
    probability: Amount
    """Its probability (12 significant digits; the exact one is the explicit scenario's over the number of
    samples)."""
    values: dict[str, Amount] = Field(default_factory=dict)
    """MMP id -> the value sampled from its value range for this scenario (empty without value ranges)."""
    funded: dict[str, str]
    """MMP id -> start quarter of every MMP funded in this scenario."""
    value: Amount
    """Outcome value of the decision in this scenario, counted like `objective` of a certain portfolio."""
    own_value: Amount | None = None
    """Value of this scenario's own optimum (null when not found in time)."""


class RobustnessRow(Out):
    """How much one MMP's funding depends on the estimates."""

    mmp: str
    """MMP id."""
    share: Amount
    """Probability mass of the scenarios whose own optimum funds it (0 to 1)."""
    label: Literal["core", "borderline", "exterior"]
    """core: funded in every scenario's optimum; exterior: in none; borderline: in some."""


class Plan(Out):
    """A funding plan with its value, proof of quality and explanation."""

    status: SolverStatus
    """optimal, feasible, infeasible or no_solution_in_time."""
    objective: Amount | None = None
    """Outcome value of the plan: MMP value less cost of delay, plus key-result value, less change penalties."""
    bound: Amount | None = None
    """Proven upper bound on the objective."""
    gap: float | None = None
    """(bound - objective) / max(|bound|, 1)."""
    value: ValueSplit = Field(default_factory=ValueSplit)
    """The objective split into its three terms."""
    selected: list[SelectedMMP] = Field(default_factory=list)
    """Funded MMPs, by start quarter."""
    not_selected: list[NotSelected] = Field(default_factory=list)
    """Every MMP not funded, with the reason."""
    budget: list[BudgetRow] = Field(default_factory=list)
    """One row per value stream and quarter."""
    reserve: list[ReserveRow] = Field(default_factory=list)
    """One row per quarter."""
    capacity: list[CapacityRow] = Field(default_factory=list)
    """One row per pool and quarter."""
    key_results: list[KeyResultRow] = Field(default_factory=list)
    """One row per key result."""
    solver: SolverInfo
    """The settings that applied and the time taken."""
    explanation: Explanation = Field(default_factory=Explanation)
    """Why there is no plan, and what binds."""
    baseline: Baseline | None = None
    """What the optimizer adds over the WSJF ranking on the same portfolio; null for the `wsjf-greedy`
    backend itself, when the ranking found no plan, or when this plan has none."""
    investment_mix: list[InvestmentMixRow] = Field(default_factory=list)
    """The achieved spend per investment category against its guardrails (empty when there is no plan)."""
    totals: Totals | None = None
    """Money and value over the whole horizon, per value stream and in all (null when there is no plan)."""
    risk: RiskSummary | None = None
    """For an uncertain portfolio (scenarios or value ranges): the plan's value over the scenarios; null
    otherwise."""
    scenarios: list[ScenarioOutcome] = Field(default_factory=list)
    """For an uncertain portfolio: the decision in every scenario, in order."""
    priority: list[str] | None = None
    """With decision `priority`: the ranked units (group ids for groups of alternatives, else MMP ids); every
    scenario funds a prefix of it."""
    robustness: list[RobustnessRow] = Field(default_factory=list)
    """For an uncertain portfolio: per MMP, how often the scenarios' own optima fund it (empty when they were
    not all found in time)."""
    as_of: str | None = None
    """The first planned quarter: rows of earlier quarters are history (nothing allocated, spent or used)."""
    in_flight: list[InFlightRow] = Field(default_factory=list)
    """Every MMP that started before `as_of`: continued or stopped, and what a stop frees."""
    done: list[str] = Field(default_factory=list)
    """MMPs finished before `as_of`: neither funded nor left out, in portfolio order."""
