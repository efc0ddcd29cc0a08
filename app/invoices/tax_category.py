"""EN 16931 VAT category codes (BT-151) and the rules on an invoice's rate and exemption reason.

S (standard) needs a rate above 0; every other category needs 0. An exemption reason (BT-120) is refused
for S and Z; E, AE, G and O need one only when the business sends e-invoices, and that is checked at send
by the EN 16931 rules (422), not here.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from app.core.errors import ValidationFailed


class TaxCategory(StrEnum):
    STANDARD = "S"
    ZERO_RATED = "Z"
    EXEMPT = "E"
    REVERSE_CHARGE = "AE"
    EXPORT_OUTSIDE_EU = "G"
    OUTSIDE_SCOPE = "O"


DEFAULTS = frozenset({TaxCategory.STANDARD, TaxCategory.EXEMPT})
NO_REASON = frozenset({TaxCategory.STANDARD, TaxCategory.ZERO_RATED})


def default_category(tax_rate: Decimal) -> TaxCategory:
    return TaxCategory.STANDARD if tax_rate > 0 else TaxCategory.EXEMPT


def stored_category(category: str | None, tax_rate: Decimal) -> TaxCategory:
    """Invoices stored before categories existed read as the default of their rate."""
    return TaxCategory(category) if category else default_category(tax_rate)


def follow_rate(category: TaxCategory, tax_rate: Decimal) -> TaxCategory:
    """The category after a PATCH of the rate alone: the defaults (S, E) follow the rate; a category
    chosen on purpose (Z, AE, G, O) stays, so a contradicting rate is a 400, never a silent switch."""
    return default_category(tax_rate) if category in DEFAULTS else category


def check_tax(category: TaxCategory, tax_rate: Decimal, reason: str | None) -> None:
    """400 for a category the rate or the exemption reason contradicts."""
    if category is TaxCategory.STANDARD and tax_rate <= 0:
        raise ValidationFailed.field("tax_category", "S (standard rate) needs a tax_rate above 0")
    if category is not TaxCategory.STANDARD and tax_rate != 0:
        raise ValidationFailed.field("tax_rate", f"must be 0 for tax_category {category.value}")
    if reason and category in NO_REASON:
        raise ValidationFailed.field(
            "tax_exemption_reason", f"is not allowed for tax_category {category.value} (it is taxed)"
        )
