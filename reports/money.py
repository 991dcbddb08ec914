"""Amounts as a person reads them (the rules live in `models.money`, shared with the optimizer's sentences),
and the compact and percent forms of headlines and charts."""

from __future__ import annotations

from decimal import Decimal

from models.money import grouped, money, places, rounded, units

__all__ = ["compact", "money", "percent", "places", "units"]


def compact(amount: Decimal | float | int | None, currency: str | None = None, sign: bool = False) -> str:
    """'58.5 M USD', '750 k USD', '1.2 bn USD': for headlines and chart labels."""
    if amount is None:
        return "-"
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    for size, suffix in ((Decimal(10) ** 9, " bn"), (Decimal(10) ** 6, " M"), (Decimal(10) ** 3, " k")):
        if abs(value) >= size:
            text = grouped(rounded(value / size, 1), 1, sign) + suffix
            break
    else:
        text = grouped(rounded(value, places(currency)), places(currency), sign)
    return f"{text} {currency}" if currency else text


def percent(fraction: Decimal | float | None, digits: int = 1, sign: bool = False) -> str:
    """0.1234 -> '12.3 %'."""
    if fraction is None:
        return "-"
    value = rounded(Decimal(str(fraction)) * 100, digits)
    return f"{grouped(value, digits, sign, keep_zeros=True)} %"
