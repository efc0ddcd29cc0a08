"""The invoice arithmetic (API.md section 8), exactly, half-up to the cent."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from app.invoices.time_lines import hours as to_hours
from app.invoices.totals import PricedLine, compute_totals


def totals_of(pairs, *, discount_rate, tax_rate, payments=()):
    """Section 8's single-rate invoice: every line at the invoice's rate."""
    category = "S" if tax_rate else "E"
    return compute_totals(
        [PricedLine(quantity, price, category, tax_rate) for quantity, price in pairs],
        discount_rate=discount_rate,
        payments=payments,
    )


def test_compute_totals_worked_example():
    totals = totals_of(
        [(D("3"), D("19.99")), (D("1.5"), D("100")), (D("0.3333"), D("10"))],
        discount_rate=D("10"),
        tax_rate=D("8.875"),
    )
    assert totals.line_amounts == (D("59.97"), D("150.00"), D("3.33"))
    assert totals.subtotal == D("213.30")
    assert totals.discount == D("21.33")  # 21.330
    assert totals.tax == D("17.04")  # 191.97 x 8.875 % = 17.0373...
    assert totals.total == D("209.01")
    assert totals.amount_paid == D("0.00")
    assert totals.amount_due == D("209.01")
    assert totals.stored() == {
        "tax_breakdown": [
            {
                "category": "S",
                "rate": D("8.875"),
                "taxable_cents": 19197,
                "tax_cents": 1704,
                "discount_cents": 2133,
            }
        ],
        "subtotal_cents": 21330,
        "discount_cents": 2133,
        "tax_cents": 1704,
        "total_cents": 20901,
        "amount_paid_cents": 0,
        "amount_due_cents": 20901,
    }


@pytest.mark.parametrize(
    "quantity, unit_price, amount",
    [
        ("1", "0.005", "0.01"),  # half-up, not banker's rounding
        ("1", "0.015", "0.02"),
        ("1", "0.025", "0.03"),  # banker's would give 0.02
        ("1", "2.675", "2.68"),  # binary float would give 2.67
        ("1", "0.0049", "0.00"),
        ("0.5", "0.01", "0.01"),  # 0.005
        ("0.0001", "0.01", "0.00"),
        ("3", "0.335", "1.01"),  # 1.005
        ("1.1", "1.1", "1.21"),  # float gives 1.2100000000000002
        ("1000000", "999999.99", "999999990000.00"),
    ],
)
def test_compute_totals_line_amount_rounds_half_up(quantity, unit_price, amount):
    totals = totals_of([(D(quantity), D(unit_price))], discount_rate=D(0), tax_rate=D(0))
    assert totals.line_amounts == (D(amount),)
    assert str(totals.subtotal) == amount
    assert str(totals.total) == amount


def test_compute_totals_rounds_each_line_before_summing():
    # 3 x 0.005 summed unrounded would be 0.015 -> 0.02; per-line rounding gives 3 x 0.01
    totals = totals_of([(D(1), D("0.005"))] * 3, discount_rate=D(0), tax_rate=D(0))
    assert totals.subtotal == D("0.03")


def test_compute_totals_discount_and_tax_round_half_up():
    # discount 10.005 -> 10.01; tax on 90.045 at 10 % = 9.0045 -> 9.00
    totals = totals_of([(D(1), D("100.05"))], discount_rate=D(10), tax_rate=D(10))
    assert (totals.discount, totals.tax, totals.total) == (D("10.01"), D("9.00"), D("99.04"))
    # tax of 0.05 at 10 % = 0.005 -> 0.01
    totals = totals_of([(D(1), D("0.05"))], discount_rate=D(0), tax_rate=D(10))
    assert (totals.tax, totals.total) == (D("0.01"), D("0.06"))


def test_compute_totals_tax_applies_after_discount():
    totals = totals_of([(D(1), D(200))], discount_rate=D(50), tax_rate=D(20))
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == (
        D("200.00"),
        D("100.00"),
        D("20.00"),
        D("120.00"),
    )


def test_compute_totals_full_discount_and_full_tax():
    totals = totals_of([(D(2), D("12.34"))], discount_rate=D(100), tax_rate=D(100))
    assert (totals.discount, totals.tax, totals.total) == (D("24.68"), D("0.00"), D("0.00"))


def test_compute_totals_payments_reduce_amount_due():
    totals = totals_of(
        [(D(1), D("100.00"))], discount_rate=D(0), tax_rate=D(0), payments=[D("30.10"), D("19.90")]
    )
    assert (totals.amount_paid, totals.amount_due) == (D("50.00"), D("50.00"))


def test_compute_totals_of_no_lines_is_zero_with_two_places():
    totals = totals_of([], discount_rate=D(10), tax_rate=D("8.875"))
    assert totals.line_amounts == ()
    assert [
        str(v) for v in (totals.subtotal, totals.discount, totals.tax, totals.total, totals.amount_due)
    ] == ["0.00"] * 5


@pytest.mark.parametrize(
    "seconds, hours",
    [
        (9000, "2.50"),
        (5400, "1.50"),
        (3600, "1.00"),
        (1000, "0.28"),
        (18, "0.01"),
        (17, "0.00"),
        (90, "0.03"),
        (86400, "24.00"),
    ],
)
def test_time_entry_hours_round_half_up_to_two_places(seconds, hours):
    assert str(to_hours(seconds)) == hours


def test_compute_totals_groups_lines_by_category_and_rate_and_rounds_per_group():
    lines = [
        PricedLine(D(1), D("10.05"), "S", D(19)),
        PricedLine(D(1), D("20.00"), "S", D(7)),
        PricedLine(D(1), D("0.10"), "S", D(19)),
        PricedLine(D(1), D("5.00"), "E", D(0)),
    ]
    totals = compute_totals(lines, discount_rate=D(5))
    assert [(g.category, g.rate, g.base, g.discount, g.taxable, g.tax) for g in totals.groups] == [
        ("E", D(0), D("5.00"), D("0.25"), D("4.75"), D("0.00")),
        ("S", D(7), D("20.00"), D("1.00"), D("19.00"), D("1.33")),
        ("S", D(19), D("10.15"), D("0.51"), D("9.64"), D("1.83")),  # 0.5075 -> 0.51; 1.8316 -> 1.83
    ]
    assert (totals.subtotal, totals.discount, totals.tax) == (D("35.15"), D("1.76"), D("3.16"))
    assert totals.total == D("36.55")


def test_compute_totals_orders_groups_by_rate_numerically_not_as_text():
    lines = [PricedLine(D(1), D(1), "S", D(rate)) for rate in ("19", "7", "5.5", "20")]
    rates = [g.rate for g in compute_totals(lines, discount_rate=D(0)).groups]
    assert rates == [D("5.5"), D(7), D(19), D(20)]


def test_compute_totals_one_group_per_rate_however_the_rate_is_written():
    lines = [PricedLine(D(1), D(1), "S", D("20")), PricedLine(D(1), D(1), "S", D("20.00"))]
    (group,) = compute_totals(lines, discount_rate=D(0)).groups
    assert str(group.rate) == "20"  # as written: never 2E+1, which the e-invoice's decimal type refuses


def test_compute_totals_credits_reduce_amount_due_and_overpayment_is_refund_due():
    lines = [PricedLine(D(1), D(100), "E", D(0))]
    totals = compute_totals(lines, discount_rate=D(0), payments=[D(60)], amount_credited=D(30))
    assert (totals.amount_due, totals.refund_due) == (D("10.00"), D("0.00"))
    totals = compute_totals(lines, discount_rate=D(0), payments=[D(100)], amount_credited=D(30))
    assert (totals.amount_due, totals.refund_due) == (D("0.00"), D("30.00"))
