"""Amounts as a person reads them: rounded to the currency's minor unit, grouped, never `-0`, never a raw
decimal such as 166,666.6666666666666666666667.

Here, below the optimizer, so that the sentences it writes (the reasons, the binding constraints, the
infeasibility explanation) format amounts exactly as the CLI and the reports do (`reports.money`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not the cent.
NO_MINOR_UNIT = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "VND",
    "VUV",
    "XAF",
    "XOF",
}
THREE_DECIMALS = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
UNIT_PLACES = 2  # capacity units and key-result progress


def places(currency: str | None) -> int:
    code = (currency or "").upper()
    return 0 if code in NO_MINOR_UNIT else 3 if code in THREE_DECIMALS else 2


def money(amount: Decimal | float | int | None, currency: str | None = None, sign: bool = False) -> str:
    """'1,200,000 USD', '166,666.67 USD'; whole amounts without decimals; `sign` writes '+' before gains."""
    if amount is None:
        return "-"
    text = grouped(rounded(amount, places(currency)), places(currency), sign)
    return f"{text} {currency}" if currency else text


def units(amount: Decimal | float | int | None) -> str:
    """Capacity units and key-result progress: up to two decimals, no trailing zeros."""
    if amount is None:
        return "-"
    return f"{rounded(amount, UNIT_PLACES).normalize():,f}"


def amount_text(amount: Decimal | None, currency: str | None, sign: bool = False) -> str:
    """An amount in a table cell or a sentence, without the currency code (the title or the headline has it):
    like `money`, except that an amount smaller than the currency's minor unit keeps the digits it needs
    (0.0003, not a misleading 0)."""
    if amount is None:
        return "-"
    digits = places(currency)
    tiny = _below(amount, digits)
    if tiny is not None:
        return "+" + tiny if sign and amount > 0 else tiny
    return grouped(rounded(amount, digits), digits, sign)


def units_text(amount: Decimal) -> str:
    """Units inside a sentence: like `units`, except that less than a hundredth keeps its digits."""
    return _below(amount, UNIT_PLACES) or units(amount)


def _below(amount: Decimal, digits: int) -> str | None:
    """All the digits of an amount that is not zero but rounds to zero at `digits` places; None otherwise."""
    value = Decimal(amount)
    if value.is_zero() or not rounded(value, digits).is_zero():
        return None
    return f"{value.normalize():f}"


def rounded(amount: Decimal | float | int, digits: int) -> Decimal:
    """To `digits` places, half to even, never -0."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    try:
        value = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # beyond 28 significant digits: no portfolio has such amounts, show it whole
        value = value.to_integral_value()
    return value.copy_abs() if value.is_zero() else value  # no -0


def grouped(value: Decimal, digits: int, sign: bool, keep_zeros: bool = False) -> str:
    """'1,234.50'; a whole amount without its zero decimals unless `keep_zeros`."""
    text = f"{value:,.{digits}f}"
    if digits and not keep_zeros and value == value.to_integral_value():
        text = text.split(".")[0]
    return "+" + text if sign and value > 0 else text
