"""Invoice arithmetic: pure functions, Decimal only, half-up to the cent (docs/api-conventions.md).

Lines are taxed in groups of one (category, rate) each (API section 22). Per group:
group.discount = round(Σ line.amount × discount_rate / 100); group.taxable = Σ line.amount − group.discount;
group.tax = round(group.taxable × rate / 100). Then discount = Σ group.discount, tax = Σ group.tax and
total = subtotal − discount + tax. With one group this is exactly section 8's single-rate formula.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from app.core.money import ZERO, multiply, percent_of, plain_rate, round_money, to_cents


@dataclass(frozen=True)
class PricedLine:
    """One line as the arithmetic sees it: its category and rate already resolved (a line's own, or the
    invoice's when the line names none)."""

    quantity: Decimal
    unit_price: Decimal
    tax_category: str
    tax_rate: Decimal


@dataclass(frozen=True)
class TaxGroup:
    category: str
    rate: Decimal
    base: Decimal  # Σ line.amount of the group, before the discount
    discount: Decimal
    taxable: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    line_amounts: tuple[Decimal, ...]
    groups: tuple[TaxGroup, ...]
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    amount_paid: Decimal
    amount_credited: Decimal
    amount_due: Decimal
    refund_due: Decimal

    def stored(self) -> dict[str, object]:
        """The `*_cents` fields and the `tax_breakdown` of an Invoice document."""
        return {
            "tax_breakdown": [
                {
                    "category": group.category,
                    "rate": group.rate,
                    "taxable_cents": to_cents(group.taxable),
                    "tax_cents": to_cents(group.tax),
                    "discount_cents": to_cents(group.discount),
                }
                for group in self.groups
            ],
            "subtotal_cents": to_cents(self.subtotal),
            "discount_cents": to_cents(self.discount),
            "tax_cents": to_cents(self.tax),
            "total_cents": to_cents(self.total),
            "amount_paid_cents": to_cents(self.amount_paid),
            "amount_due_cents": to_cents(self.amount_due),
        }


def group_order(category: str, rate: Decimal) -> tuple[str, Decimal]:
    """`tax_breakdown` order: by category code alphabetically, then by rate numerically."""
    return (category, rate)


def tax_groups(
    amounts: Iterable[tuple[Decimal, str, Decimal]], discount_rate: Decimal
) -> tuple[TaxGroup, ...]:
    """(line.amount, category, rate) triples → one TaxGroup per (category, rate), in `tax_breakdown` order."""
    bases: dict[tuple[str, Decimal], Decimal] = {}
    for amount, category, rate in amounts:
        key = (category, plain_rate(rate))  # 19.00 and 19 are one group, written "19" (never 2E+1)
        bases[key] = bases.get(key, ZERO) + amount
    groups = []
    for category, rate in sorted(bases, key=lambda key: group_order(*key)):
        base = round_money(bases[(category, rate)])
        discount = percent_of(base, discount_rate)
        taxable = round_money(base - discount)
        groups.append(TaxGroup(category, rate, base, discount, taxable, percent_of(taxable, rate)))
    return tuple(groups)


def amount_due_of(total: Decimal, amount_paid: Decimal, amount_credited: Decimal) -> tuple[Decimal, Decimal]:
    """(amount_due, refund_due): what is still owed, and what was paid beyond it (section 22)."""
    owed = round_money(total - amount_paid - amount_credited)
    return (owed, ZERO) if owed >= 0 else (ZERO, -owed)


def compute_totals(
    lines: Iterable[PricedLine],
    *,
    discount_rate: Decimal,
    payments: Iterable[Decimal] = (),
    amount_credited: Decimal = ZERO,
) -> Totals:
    """Every amount of an invoice from its lines; every rounding is half-up to the cent.

    line.amount = round(quantity × unit_price); subtotal = Σ line.amount; groups, discount, tax and total
    as in the module docstring; amount_due = max(0, total − Σ payments − amount_credited).
    """
    lines = tuple(lines)
    amounts = tuple(round_money(multiply(line.quantity, line.unit_price)) for line in lines)
    groups = tax_groups(
        ((amount, line.tax_category, line.tax_rate) for amount, line in zip(amounts, lines, strict=True)),
        discount_rate,
    )
    subtotal = round_money(sum(amounts, ZERO))
    discount = round_money(sum((group.discount for group in groups), ZERO))
    tax = round_money(sum((group.tax for group in groups), ZERO))
    total = round_money(subtotal - discount + tax)
    amount_paid = round_money(sum(payments, ZERO))
    amount_due, refund_due = amount_due_of(total, amount_paid, amount_credited)
    return Totals(
        line_amounts=amounts,
        groups=groups,
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        total=total,
        amount_paid=amount_paid,
        amount_credited=round_money(amount_credited),
        amount_due=amount_due,
        refund_due=refund_due,
    )
