"""The portfolio a spreadsheet would plan an uncertain year with: the worst figure of every scenario.

The WSJF ranking knows one set of figures. To give it a fair chance of a plan that holds in every scenario, it
ranks with each MMP's expected value and funds within the least budget and capacity, the highest costs, the
highest stream minimum and the lowest stream maximum of all scenarios. (Investment shares move with costs, so
its plan is still checked in every scenario, and dropped when it breaks a rule in one.)
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from models.portfolio import Portfolio, per_quarter
from optimizer.uncertain.worlds import Worlds


def cautious_portfolio(p: Portfolio, worlds: Worlds) -> Portfolio | None:
    """The worst figures of every scenario, with expected values; None when they contradict each other (a
    stream minimum above another scenario's maximum)."""
    rules = [w.portfolio for w in worlds.rule_worlds]
    T = len(p.quarters)
    budget = [min(per_quarter(r.budget, T)[q] for r in rules) for q in range(T)]
    pools = [
        pool.model_copy(update={"capacity": _lowest([per_quarter(r.pools[k].capacity, T) for r in rules])})
        for k, pool in enumerate(rules[0].pools)
    ]
    streams = []
    for k, vs in enumerate(rules[0].value_streams):
        lows = [per_quarter(r.value_streams[k].min_budget, T) for r in rules]
        highs = [per_quarter(r.value_streams[k].max_budget, T) for r in rules]
        least = [max(column) for column in zip(*lows)]
        most = [min((h for h in column if h is not None), default=None) for column in zip(*highs)]
        if any(m is not None and lo > m for lo, m in zip(least, most)):
            return None
        capped = None if all(m is None for m in most) else most
        streams.append(vs.model_copy(update={"min_budget": least, "max_budget": capped}))
    expected = _expected_values(worlds)
    mmps = [
        m.model_copy(update={"cost": _highest([r.mmps[i].cost for r in rules]), "value": expected[m.id]})
        for i, m in enumerate(rules[0].mmps)
    ]
    return rules[0].model_copy(update={"budget": budget, "pools": pools, "value_streams": streams, "mmps": mmps})


def _lowest(profiles: list[list[Decimal]]) -> list[Decimal]:
    return [min(column) for column in zip(*profiles)]


def _highest(profiles: list[list[Decimal]]) -> list[Decimal]:
    return [max(column) for column in zip(*profiles)]


def _expected_values(worlds: Worlds) -> dict[str, Decimal]:
    """Each MMP's expected value over the scenarios (rounded to the money unit, for ranking only)."""
    # The samples of one explicit scenario are equally likely: sum their values exactly, weigh the sums once.
    sums: dict[tuple[int, str], Decimal] = {}
    likelihood: dict[int, Fraction] = {}
    for w in worlds.worlds:
        likelihood[w.rules] = w.probability
        for m in w.explicit.mmps:  # a sampled value, else the explicit scenario's own
            sums[w.rules, m.id] = sums.get((w.rules, m.id), Decimal(0)) + w.sampled.get(m.id, m.outcome_value)
    totals: dict[str, Fraction] = {}
    for (rules, mmp), total in sums.items():
        totals[mmp] = totals.get(mmp, Fraction(0)) + likelihood[rules] * Fraction(total)
    unit = worlds.money_resolution
    return {mmp: (Decimal(v.numerator) / Decimal(v.denominator)).quantize(unit) for mmp, v in totals.items()}
