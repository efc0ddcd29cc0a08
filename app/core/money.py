"""The one money type: Decimal in Python, integer cents in MongoDB, a 2-place string on the wire.

Money is stored as integer minor units (`*_cents` fields) so that MongoDB can compare, sort, $inc and
$sum it exactly. Non-money decimals that are never compared (rates, quantities) are stored as Decimal128
through `app.db.decimals.StoredDecimal`. Arithmetic runs in a 34-digit context and rounds half-up to the cent.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal
from typing import overload

CENT = Decimal("0.01")
HOURS_PLACES = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # a trillion minus a cent: far above any invoice, inside Decimal128
MAX_QUANTITY = Decimal("1000000")
ZERO = Decimal("0.00")

MONEY_CONTEXT = decimal.Context(prec=34, rounding=ROUND_HALF_UP, traps=[decimal.InvalidOperation])


def round_money(value: Decimal) -> Decimal:
    """Half-up to the cent: Decimal('2.675') -> Decimal('2.68')."""
    return value.quantize(CENT, context=MONEY_CONTEXT)


def format_money(value: Decimal) -> str:
    """The wire form: always exactly two places, never an exponent."""
    return f"{round_money(value):f}"


@overload
def format_cents(cents: int) -> str: ...
@overload
def format_cents(cents: None) -> None: ...
def format_cents(cents: int | None) -> str | None:
    """Stored integer cents -> the wire form ("1234.50"); no amount stays None."""
    return None if cents is None else format_money(from_cents(cents))


def format_rate(value: Decimal) -> str:
    """Percentages as given, without trailing zeros or exponents: '20', '8.875' (and never '-0')."""
    if value.is_zero():
        return "0"
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def plain_rate(value: Decimal) -> Decimal:
    """A rate as written: `20`, `8.875`, never `2E+1` (a normalised Decimal), which XML's xs:decimal refuses;
    19 and 19.00 become the same value."""
    return Decimal(format_rate(value))


def multiply(a: Decimal, b: Decimal) -> Decimal:
    return MONEY_CONTEXT.multiply(a, b)


def percent_of(amount: Decimal, rate: Decimal) -> Decimal:
    """round(amount × rate / 100), half-up to the cent."""
    return round_money(MONEY_CONTEXT.divide(MONEY_CONTEXT.multiply(amount, rate), Decimal(100)))


def to_cents(value: Decimal) -> int:
    """Money -> integer minor units for storage (rounds half-up to the cent first)."""
    return int(round_money(value).scaleb(2))


def from_cents(cents: int) -> Decimal:
    """Integer minor units -> money with exactly two places."""
    return Decimal(int(cents)).scaleb(-2)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def check_decimal(
    value: Decimal,
    field: str,
    *,
    minimum: Decimal = Decimal(0),
    maximum: Decimal = MAX_AMOUNT,
    exclusive_minimum: bool = False,
    places: int = 2,
) -> Decimal:
    """Validate a decoded Decimal for a request struct; the error names the field (see core.errors)."""
    if not value.is_finite():
        raise ValueError(f"{field}: must be a finite number")
    if exclusive_minimum and value <= minimum:
        raise ValueError(f"{field}: must be greater than {minimum}")
    if value < minimum:
        raise ValueError(f"{field}: must be greater than or equal to {minimum}")
    if value > maximum:
        raise ValueError(f"{field}: must be at most {maximum}")
    if _places(value) > places:
        raise ValueError(f"{field}: must have at most {places} decimal places")
    return value


def check_money(value: Decimal, field: str, *, positive: bool = False) -> Decimal:
    return check_decimal(value, field, exclusive_minimum=positive)


def check_rate(value: Decimal, field: str) -> Decimal:
    """A percentage from 0 to 100 with up to 4 decimal places ('8.875')."""
    return check_decimal(value, field, maximum=Decimal(100), places=4)


def check_quantity(value: Decimal, field: str) -> Decimal:
    return check_decimal(value, field, maximum=MAX_QUANTITY, exclusive_minimum=True, places=4)
