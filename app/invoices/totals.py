"""Invoice arithmetic: one pure function, Decimal only, half-up to the cent (docs/api-conventions.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from app.core.money import ZERO, multiply, percent_of, round_money, to_cents


@dataclass(frozen=True)
class Totals:
    line_amounts: tuple[Decimal, ...]
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    amount_paid: Decimal
    amount_due: Decimal

    def stored(self) -> dict[str, int]:
        """The `*_cents` fields of an Invoice document."""
        return {
            "subtotal_cents": to_cents(self.subtotal),
            "discount_cents": to_cents(self.discount),
            "tax_cents": to_cents(self.tax),
            "total_cents": to_cents(self.total),
            "amount_paid_cents": to_cents(self.amount_paid),
            "amount_due_cents": to_cents(self.amount_due),
        }


def compute_totals(
    lines: Iterable[tuple[Decimal, Decimal]],
    *,
    discount_rate: Decimal,
    tax_rate: Decimal,
    payments: Iterable[Decimal] = (),
) -> Totals:
    """`lines` are (quantity, unit_price) pairs; every rounding is half-up to the cent.

    line.amount = round(quantity * unit_price); subtotal = sum(line.amount);
    discount = round(subtotal * discount_rate / 100); tax = round((subtotal - discount) * tax_rate / 100);
    total = subtotal - discount + tax; amount_due = total - sum(payments).
    """
    amounts = tuple(round_money(multiply(quantity, unit_price)) for quantity, unit_price in lines)
    subtotal = round_money(sum(amounts, ZERO))
    discount = percent_of(subtotal, discount_rate)
    tax = percent_of(subtotal - discount, tax_rate)
    total = round_money(subtotal - discount + tax)
    amount_paid = round_money(sum(payments, ZERO))
    return Totals(
        line_amounts=amounts,
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        total=total,
        amount_paid=amount_paid,
        amount_due=round_money(total - amount_paid),
    )
