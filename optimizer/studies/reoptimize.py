"""Re-optimization: portfolios re-planned close to the plan teams work on, and what that changes.

Each portfolio is solved with its baseline plan as `baseline_plan` (a change
penalty per MMP whose selection or start differs) and as warm start; with
`compare`, also without the penalty, to show the churn the penalty saves and the
value it costs, in one sentence a planner can read out.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from models.money import money
from models.plan import Plan
from models.scenarios import ScenarioDiff
from models.studies import ReoptimizeRequest, ReplanItem, ReplanOutcome, Variant, WithoutPenalty
from optimizer.studies.core import StudyTask, starts
from optimizer.studies.whatif import diff


class ReoptimizeStudy:
    def tasks(self, request: ReoptimizeRequest) -> list[StudyTask]:
        tasks = []
        for item in request.items:
            baseline = starts(item.baseline)
            tasks.append(
                StudyTask(
                    item.label, item.portfolio, Variant(baseline_plan=baseline, change_penalty=item.change_penalty)
                )
            )
            if request.compare:
                free = Variant(baseline_plan=baseline, change_penalty=Decimal(0))
                tasks.append(StudyTask(f"{item.label} without penalty", item.portfolio, free, comparison=True))
        return tasks

    def assemble(self, request: ReoptimizeRequest, plans: Sequence[Plan | None]) -> list[ReplanOutcome]:
        step = 2 if request.compare else 1
        return [
            outcome(item, plans[k * step], plans[k * step + 1] if request.compare else None, request.compare)
            for k, item in enumerate(request.items)
        ]


def outcome(item: ReplanItem, plan: Plan | None, free: Plan | None, compared: bool) -> ReplanOutcome:
    """What re-planning one portfolio changes against its baseline and, when compared, without the penalty."""
    penalty = item.change_penalty if item.change_penalty is not None else item.portfolio.change_penalty
    changes = diff(item.baseline, plan) if plan is not None and plan.objective is not None else None
    without = None
    if compared:
        free_changes = diff(item.baseline, free) if free is not None and free.objective is not None else None
        without = WithoutPenalty(changed=changed(free_changes), value=outcome_value(free))
    result = ReplanOutcome(
        status=plan.status if plan is not None else None,
        change_penalty=penalty,
        changed=changed(changes),
        changes=changes,
        value=outcome_value(plan),
        baseline_value=outcome_value(item.baseline),
        without_penalty=without,
        summary="",
    )
    result.summary = summary_text(result, item.portfolio.currency)
    return result


def outcome_value(plan: Plan | None) -> Decimal | None:
    """What a plan earns (MMPs and key results), before any change penalty."""
    if plan is None or plan.objective is None:
        return None
    return plan.value.mmps + plan.value.key_results


def changed(changes: ScenarioDiff | None) -> int:
    """MMPs whose selection or start differs from the baseline plan."""
    if changes is None:
        return 0
    return len(changes.added) + len(changes.dropped) + len(changes.moved)


def summary_text(r: ReplanOutcome, currency: str) -> str:
    """One sentence a planner can read out: what changes, what it earns, what the penalty saved (amounts in
    `currency`, rounded to its minor unit)."""
    if r.value is None:
        return "no re-optimized plan: the part did not finish or found no plan"
    text = f"{r.changed} MMP(s) change against the current plan; the new plan earns {money(r.value, currency)}"
    if r.baseline_value is not None:
        text += f" (current plan: {money(r.baseline_value, currency)})"
    w = r.without_penalty
    if w is not None and w.value is not None:
        gain = w.value - r.value
        if w.changed > r.changed and gain > 0:
            text += (
                f"; without the change penalty {w.changed} MMP(s) would change for {money(gain, currency)} more"
                f" value, so the penalty keeps {w.changed - r.changed} more MMP(s) as teams planned them"
            )
        elif w.changed > r.changed:
            text += f"; without the change penalty {w.changed} MMP(s) would change, for no more value"
        elif w.changed == r.changed:
            text += f"; without the change penalty {w.changed} MMP(s) would change too: the penalty changes nothing"
        else:
            text += f"; without the change penalty {w.changed} MMP(s) would change"
    return text + "."
