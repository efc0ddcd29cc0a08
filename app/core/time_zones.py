"""IANA time zone names, checked against the tz database (`tzdata` where the system has none)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Annotated

import msgspec

TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Europe/Berlin"])]


@cache
def _known() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(value: str, field: str) -> str:
    """`value` when it names a zone of the tz database (case as the database spells it), else ValueError."""
    if value not in _known():
        raise ValueError(f"{field}: must be an IANA time zone name such as Europe/Berlin")
    return value
