"""Dates as MongoDB stores them: a BSON datetime at midnight UTC (what Beanie writes for a `date` field)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from pydantic import TypeAdapter

_MIDNIGHT = time(0)
_AS_PYDANTIC_READS: TypeAdapter[date] = TypeAdapter(date)


def stored_date(value: Any) -> date:
    """A date read raw from the driver (stored as a datetime at midnight UTC), as the models read it; anything
    else (not written by this code) as pydantic reads it, error included."""
    if isinstance(value, datetime) and value.time() == _MIDNIGHT:
        return value.date()
    return _AS_PYDANTIC_READS.validate_python(value)
