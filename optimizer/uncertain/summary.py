"""What a plan over scenarios reports (docs/design.md, section 5.9): its risk figures, the decision in every
scenario, the priority list, and how robust each MMP's funding is."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from models import units
from models.plan import Plan, RiskSummary, RobustnessRow, ScenarioOutcome
from models.portfolio import Portfolio
from optimizer.uncertain import measures
from optimizer.uncertain.joint import priority_units
from optimizer.uncertain.worlds import Worlds

if TYPE_CHECKING:
    from optimizer.uncertain.solve import OwnOptimum, Priced

PROBABILITY_DIGITS = 12


def describe(
    plan: Plan,
    p: Portfolio,
    worlds: Worlds,
    decision: Priced,
    own: list[OwnOptimum | str | None] | None,
    single: tuple[Priced, bool] | None,
    dist: list[list[Fraction]] | None,
) -> None:
    """Fill the plan's risk, scenarios, priority and robustness. `own`: every scenario's own optimum (or None
    where not found); `single`: the best single plan and whether it is proven."""
    from optimizer.uncertain.solve import OwnOptimum

    found = [o if isinstance(o, OwnOptimum) else None for o in own or [None] * len(worlds.worlds)]
    complete = all(o is not None for o in found)
    plan.risk = _risk(p, worlds, decision, found if complete else None, single, dist)
    plan.scenarios = [
        ScenarioOutcome(
            id=w.id,
            probability=_probability(w.probability),
            values=dict(w.sampled),
            funded={w.inst.mmps[i].id: w.inst.quarters[s] for i, s in sorted(starts.items())},
            value=amount(value),
            own_value=amount(o.value) if o is not None else None,
        )
        for w, starts, value, o in zip(worlds.worlds, decision.starts, decision.values, found)
    ]
    if p.decision == "priority":
        plan.priority = ranking(worlds, decision)
    if complete:
        plan.robustness = _robustness(worlds, found)  # type: ignore[arg-type]


def _risk(p, worlds: Worlds, decision: Priced, own, single, dist) -> RiskSummary:
    d = decision.distribution(worlds)
    alpha = Fraction(p.risk.alpha)
    out = RiskSummary(
        measure=p.risk.measure,
        decision=p.decision,
        expected=amount(measures.expectation(d)),
        p10=amount(measures.quantile(d, Fraction(1, 10))),
        p50=amount(measures.quantile(d, Fraction(1, 2))),
        p90=amount(measures.quantile(d, Fraction(9, 10))),
        alpha=p.risk.alpha,
        var=amount(measures.quantile(d, 1 - alpha)),
        cvar=amount(measures.cvar(d, alpha)),
    )
    if p.risk.measure == "wasserstein":
        worst = measures.worst_case(d, dist, Fraction(p.risk.radius))
        out.worst_case, out.multiplier = amount(worst.value), amount(worst.multiplier)
    if own is not None:
        wait_and_see = sum((w.probability * o.value for w, o in zip(worlds.worlds, own)), Fraction(0))
        out.wait_and_see = amount(wait_and_see)
        if single is not None:
            best, proven = single
            out.value_of_information = amount(wait_and_see - measures.expectation(best.distribution(worlds)))
            out.information_proven = proven and all(o.proven for o in own)
    return out


def ranking(worlds: Worlds, decision: Priced) -> list[str]:
    """The units in priority order: those funded in more scenarios (by probability) first; the scenarios'
    funded sets are nested, so each is a prefix. Units funded nowhere follow, by value per unit of cost."""
    inst = worlds.worlds[0].inst
    units_ = priority_units(inst)
    mass = {
        u.id: sum(
            (w.probability for w, s in zip(worlds.worlds, decision.starts) if any(i in s for i in u.members)),
            Fraction(0),
        )
        for u in units_
    }

    def density(members: list[int]) -> Fraction:
        return max(
            Fraction(max(inst.mmps[i].value_at.values(), default=0), max(inst.mmps[i].total_cost, 1)) for i in members
        )

    order = {u.id: n for n, u in enumerate(units_)}
    funded = sorted((u for u in units_ if mass[u.id]), key=lambda u: (-mass[u.id], order[u.id]))
    rest = sorted((u for u in units_ if not mass[u.id]), key=lambda u: (-density(u.members), order[u.id]))
    return [u.id for u in funded + rest]


def _robustness(worlds: Worlds, own: list[OwnOptimum]) -> list[RobustnessRow]:
    inst = worlds.worlds[0].inst
    rows = []
    for i, m in enumerate(inst.mmps):
        share = sum((w.probability for w, o in zip(worlds.worlds, own) if i in o.starts), Fraction(0))
        label: Literal["core", "borderline", "exterior"] = (
            "core" if share == 1 else "exterior" if share == 0 else "borderline"
        )
        rows.append(RobustnessRow(mmp=m.id, share=amount(share), label=label))
    return rows


def amount(x: Fraction) -> Decimal:
    """An exact fraction as a decimal: exact when it terminates, else to 10 decimal places."""
    with localcontext(prec=units.PRECISION):
        d = (Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal("1e-10"))
        whole = d.to_integral_value()
        return whole if d == whole else d.normalize()


def _probability(x: Fraction) -> Decimal:
    with localcontext(prec=PROBABILITY_DIGITS):
        return Decimal(x.numerator) / Decimal(x.denominator)
