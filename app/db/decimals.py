"""Non-money decimals as MongoDB stores them: Decimal128 written, Decimal read back. Rates and quantities are
never compared in a query, so they need no cents; money itself is integer cents (app/core/money.py)."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Annotated, Any

from bson.decimal128 import Decimal128
from pydantic import BeforeValidator, TypeAdapter


def from_storage(value: Any) -> Any:
    """Decimal128 (what MongoDB gives back) -> Decimal; anything else is left to pydantic."""
    if isinstance(value, Decimal128):
        return _decimal_of(value.bid)
    return value


@functools.lru_cache(maxsize=4096)
def _decimal_of(bid: bytes) -> Decimal:
    """Decimal128.to_decimal() costs about 10 µs of pure Python per value (a page of 20 invoices reads some
    60 of them); the few rates and quantities a business uses repeat, and a Decimal is immutable."""
    return Decimal128.from_bid(bid).to_decimal()


# The field type for non-money decimals on Beanie documents: written as Decimal128, read back as Decimal.
StoredDecimal = Annotated[Decimal, BeforeValidator(from_storage)]
_AS_PYDANTIC_READS: TypeAdapter[Decimal] = TypeAdapter(StoredDecimal)


def stored_decimal(value: Any) -> Decimal:
    """A StoredDecimal read raw from the driver, as the models read it: Decimal128 -> Decimal, anything else
    (not written by this code, but possible in a hand-edited document) as pydantic reads it."""
    if isinstance(value, Decimal128):
        return _decimal_of(value.bid)
    return _AS_PYDANTIC_READS.validate_python(value)
