"""Codes and bank identifiers checked on input: ISO 3166-1 countries, IBAN and BIC (schwifty).

Each check returns the canonical form (upper case, no spaces) or raises ValueError with the field's name,
so msgspec turns it into a 400 from a struct's __post_init__. Stored values are never re-checked on read.
"""

from __future__ import annotations

import pycountry
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException


def country_code(value: str, field: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{field}: must be an ISO 3166-1 alpha-2 country code such as DE, FR or US")
    return code


def iban(value: str, field: str = "iban") -> str:
    try:
        return IBAN(value).compact
    except SchwiftyException as error:
        raise ValueError(f"{field}: not a valid IBAN ({error})") from None


def bic(value: str, field: str = "bic") -> str:
    try:
        return BIC(value).compact
    except SchwiftyException as error:
        raise ValueError(f"{field}: not a valid BIC ({error})") from None


OBJECT_ID_PATTERN = "^[0-9a-f]{24}$"  # an id on the wire: 24 lowercase hex digits
