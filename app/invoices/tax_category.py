"""EN 16931 VAT category codes (BT-151) and the rules on an invoice's and each line's rate and the exemption
reason.

S (standard) needs a rate above 0; every other category needs 0 — for the invoice and for each line that
carries its own tax (section 22). An exemption reason (BT-120) is refused when every line is S or Z (with no
lines: when the invoice is); E, AE, G and O need one only when the business sends e-invoices, and that is
checked at send by the EN 16931 rules (422), not here.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def check_rate_category(category: TaxCategory, tax_rate: Decimal, prefix: str = "") -> None:
    """400 (on `{prefix}tax_category` / `{prefix}tax_rate`) for a category the rate contradicts."""
    if category is TaxCategory.STANDARD and tax_rate <= 0:
        raise ValidationFailed.field(f"{prefix}tax_category", "S (standard rate) needs a tax_rate above 0")
    if category is not TaxCategory.STANDARD and tax_rate != 0:
        raise ValidationFailed.field(f"{prefix}tax_rate", f"must be 0 for tax_category {category.value}")


def check_reason(categories: Iterable[TaxCategory], reason: str | None) -> None:
    """400 for an exemption reason on an invoice whose every line is taxed (S or Z)."""
    taxed = sorted({category.value for category in categories})
    if reason and all(category in NO_REASON for category in taxed):
        raise ValidationFailed.field(
            "tax_exemption_reason", f"is not allowed for tax_category {'/'.join(taxed)} (it is taxed)"
        )


def line_tax(
    category: TaxCategory | None, tax_rate: Decimal | None, prefix: str
) -> tuple[TaxCategory, Decimal] | None:
    """A line's own (category, rate) as it is stored, from what it was given; None when it gave neither (it
    is taxed as the invoice, whatever the invoice's becomes). A missing category is the default of the
    line's rate (section 8: S above 0, else E); a missing rate is 0 for every category but S, which is
    refused without one (it would silently take the invoice's). 400 on `{prefix}tax_*` as
    check_rate_category."""
    if category is None and tax_rate is None:
        return None
    if tax_rate is None:
        if category is TaxCategory.STANDARD:
            raise ValidationFailed.field(f"{prefix}tax_rate", "is required with tax_category S")
        tax_rate = Decimal(0)
    if category is None:
        category = default_category(tax_rate)
    check_rate_category(category, tax_rate, prefix)
    return category, tax_rate
