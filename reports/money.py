"""Amounts as a person reads them: rounded to the currency's minor unit, grouped, never `-0`, never a raw
decimal such as 166,666.6666666666666666666667."""

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


def places(currency: str | None) -> int:
    code = (currency or "").upper()
    return 0 if code in NO_MINOR_UNIT else 3 if code in THREE_DECIMALS else 2


def money(amount: Decimal | float | int | None, currency: str | None = None, sign: bool = False) -> str:
    """'1,200,000 USD', '166,666.67 USD'; whole amounts without decimals; `sign` writes '+' before gains."""
    if amount is None:
        return "-"
    text = _grouped(_rounded(amount, places(currency)), places(currency), sign)
    return f"{text} {currency}" if currency else text


def compact(amount: Decimal | float | int | None, currency: str | None = None, sign: bool = False) -> str:
    """'58.5 M USD', '750 k USD', '1.2 bn USD': for headlines and chart labels."""
    if amount is None:
        return "-"
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    for size, suffix in ((Decimal(10) ** 9, " bn"), (Decimal(10) ** 6, " M"), (Decimal(10) ** 3, " k")):
        if abs(value) >= size:
            text = _grouped(_rounded(value / size, 1), 1, sign) + suffix
            break
    else:
        text = _grouped(_rounded(value, places(currency)), places(currency), sign)
    return f"{text} {currency}" if currency else text


def units(amount: Decimal | float | int | None) -> str:
    """Capacity units and key-result progress: up to two decimals, no trailing zeros."""
    if amount is None:
        return "-"
    return f"{_rounded(amount, 2).normalize():,f}"


def percent(fraction: Decimal | float | None, digits: int = 1, sign: bool = False) -> str:
    """0.1234 -> '12.3 %'."""
    if fraction is None:
        return "-"
    value = _rounded(Decimal(str(fraction)) * 100, digits)
    return f"{_grouped(value, digits, sign, keep_zeros=True)} %"


def _rounded(amount: Decimal | float | int, digits: int) -> Decimal:
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    try:
        value = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # beyond 28 significant digits: no portfolio has such amounts, show it whole
        value = value.to_integral_value()
    return value.copy_abs() if value.is_zero() else value  # no -0


def _grouped(value: Decimal, digits: int, sign: bool, keep_zeros: bool = False) -> str:
    text = f"{value:,.{digits}f}"
    if digits and not keep_zeros and value == value.to_integral_value():
        text = text.split(".")[0]
    return "+" + text if sign and value > 0 else text
