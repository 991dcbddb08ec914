"""The business rules a plan must keep (docs/design.md, section 4), one member each.

A rule is a unit: every kind has exactly one function in the formulation
(`optimizer.formulation.RULES`), a sentence for an infeasibility core or the
reason it never appears in one (`optimizer.infeasibility.SENTENCES`), its words
in a plan's explanation (`optimizer.explain.EXPLANATIONS`), the way the WSJF
ranking keeps it (`optimizer.greedy.HONOURED_BY`) and a check in the
independent validator (`optimizer.validator.CHECKS`). A test asserts all five,
so a rule cannot be added half-way.
"""

from __future__ import annotations

from enum import StrEnum


class RuleKind(StrEnum):
    START_WINDOW = "start_window"
    """An MMP starts at most once, not before its earliest start, and finishes by its deadline and
    inside the horizon."""
    MANDATORY = "mandatory"
    """A mandatory MMP is selected."""
    EXCLUDED = "excluded"
    """An MMP the user excluded is not selected."""
    STREAM_SPEND = "stream_spend"
    """A value stream's MMP cost, run cost and purchased capacity fit inside its allocation."""
    STREAM_MIN = "stream_min"
    """A value stream gets at least its min_budget in every quarter."""
    STREAM_MAX = "stream_max"
    """A value stream gets at most its max_budget in every quarter."""
    TOTAL_BUDGET = "total_budget"
    """Allocations plus shared-pool purchases fit the quarter's total budget."""
    MAX_CHANGE = "max_change"
    """A value stream's allocation changes by at most max_change a quarter (the first quarter against
    its baseline_budget)."""
    CAPACITY = "capacity"
    """Demand on a pool fits its capacity plus the capacity bought, which is at most its extra_capacity."""
    REQUIRES = "requires"
    """An MMP starts only after every MMP it requires has finished."""
    EXCLUDES = "excludes"
    """Of two mutually exclusive MMPs at most one is selected."""
    GUARDRAIL_MIN = "guardrail_min"
    """A category gets at least its min_share of the spend on selected MMPs."""
    GUARDRAIL_MAX = "guardrail_max"
    """A category gets at most its max_share of the spend on selected MMPs."""
    KEY_RESULT = "key_result"
    """Key-result progress is credited only as far as selected MMPs contribute, and up to the target."""
    GROUP_MIN = "group_min"
    """At least a group's `min` of its MMPs are selected."""
    GROUP_MAX = "group_max"
    """At most a group's `max` of its MMPs are selected (the alternatives of one initiative)."""
    TOGETHER = "together"
    """The MMPs of a together-set are selected all or none."""
    REQUIRES_ANY = "requires_any"
    """An MMP with `requires_any` starts only after at least one of those MMPs has finished."""
    AS_OF = "as_of"
    """Quarters before `as_of` are history: no MMP starts there (but an in-flight one on its start), nothing is
    allocated or bought there, and the cost and demand an in-flight MMP had there are sunk."""
    IN_FLIGHT = "in_flight"
    """An in-flight MMP keeps its start and stays funded, unless it is stoppable: then it may stop, freeing its
    remaining cost and demand, forfeiting its value but its salvage value (a stop counts as a change)."""
    DONE = "done"
    """A done MMP is never funded again, counts as finished for what requires it and as funded for its
    alternatives; its key-result contributions count as progress achieved before `as_of`."""
