"""Numbers the solver cannot hold: coefficients of the rows built with fractions, checked before any solve.

`models.units.too_large` bounds the money the solver counts; this module bounds the
other integers the formulation forms from exact fractions (`optimizer/formulation.py`):

* a budget change row multiplies allocations by `max_change`'s numerator and
  denominator, so a `max_change` with many digits overflows on large budgets;
* a key result's reach is counted in steps of 1 / d (d: the least common multiple of the
  denominators of the target left and the contributions), and its credit is pinned to
  `value_per_unit * reach` by rows that multiply the reach, at most `d * target`, by the
  numerator of `value_per_unit` (in money units) and the credit by its denominator times d;
* an investment guardrail row multiplies each MMP's exact cost by the share's
  denominator and by the least common multiple of the costs' denominators.

It mirrors that arithmetic (exact integers, no solver import), so when the rows change
this module changes with them. Each problem names the field to change.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import localcontext
from fractions import Fraction

from models import units
from models.portfolio import Portfolio

LIMIT = units.INT_LIMIT


def problems(p: Portfolio, c: units.Counting) -> list[tuple[str, str]]:
    """(JSON path, sentence) for every row whose integers would leave the solver's 64 bits."""
    with localcontext(prec=units.PRECISION):
        return [*_max_change(p, c), *_key_results(p, c), *_guardrails(p, c)]


def _max_change(p: Portfolio, c: units.Counting) -> Iterator[tuple[str, str]]:
    ceiling = units.money_ceiling(p, c) * c.allocation_scale
    for v, vs in enumerate(p.value_streams):
        if vs.max_change is None:
            continue
        m = Fraction(vs.max_change)
        if (m.numerator + m.denominator) * max(ceiling, 1) >= LIMIT:
            yield (
                f"$.value_streams[{v}].max_change",
                f"max_change {vs.max_change} has too many digits to count exactly with these budgets; "
                f"round it (for example to {round(float(vs.max_change), 4)})",
            )


def _key_results(p: Portfolio, c: units.Counting) -> Iterator[tuple[str, str]]:
    for k, kr in enumerate(p.key_results):
        per_unit = Fraction(kr.value_per_unit) / Fraction(c.money)
        target = Fraction(kr.target - p.progress_before(kr))
        contributions = [Fraction(m.key_results[kr.id]) for m in p.mmps if m.key_results.get(kr.id)]
        steps = math.lcm(*(x.denominator for x in (target, *contributions)))
        pinned = per_unit.numerator * steps * max(target, Fraction(1))  # either side of the rows that pin the credit
        if pinned >= LIMIT or steps * sum(contributions) >= LIMIT:
            yield (
                f"$.key_results[{k}]",
                f"key result {kr.id}: target {kr.target}, value_per_unit {kr.value_per_unit} and the MMPs' "
                f"contributions cannot be counted exactly (money in units of {c.money}); state progress in a "
                "larger unit (fewer decimals in target and contributions) or lower value_per_unit",
            )


def _guardrails(p: Portfolio, c: units.Counting) -> Iterator[tuple[str, str]]:
    costs = [Fraction(sum(m.cost)) / Fraction(c.money) for m in p.mmps]
    scale = math.lcm(*(x.denominator for x in costs)) if costs else 1
    total = sum(costs) * scale
    for g, guardrail in enumerate(p.investment_guardrails):
        for field in ("min_share", "max_share"):
            share = getattr(guardrail, field)
            if share is None:
                continue
            s = Fraction(share)
            if (s.numerator + s.denominator) * max(total, 1) >= LIMIT:
                yield (
                    f"$.investment_guardrails[{g}].{field}",
                    f"{field} {share} has too many digits to compare exactly with these MMP costs; "
                    f"round it (for example to {round(float(share), 4)})",
                )
