from __future__ import annotations

from decimal import Decimal

import pytest
from bson.decimal128 import Decimal128

from app.core.money import (
    check_money,
    check_quantity,
    check_rate,
    format_money,
    format_rate,
    from_cents,
    multiply,
    percent_of,
    round_money,
    to_cents,
)
from app.db.decimals import from_storage, stored_decimal


@pytest.mark.parametrize(
    "value, rounded",
    [
        ("2.675", "2.68"),
        ("2.665", "2.67"),
        ("0.005", "0.01"),
        ("0.0049", "0.00"),
        ("-1.005", "-1.01"),
        ("1.999", "2.00"),
        ("10", "10.00"),
    ],
)
def test_round_money_is_half_up_to_the_cent(value, rounded):
    assert str(round_money(Decimal(value))) == rounded


def test_products_are_exact():
    assert round_money(multiply(Decimal("0.3333"), Decimal("10"))) == Decimal("3.33")
    assert round_money(multiply(Decimal("1.5"), Decimal("100"))) == Decimal("150.00")
    assert percent_of(Decimal("191.97"), Decimal("8.875")) == Decimal("17.04")
    assert percent_of(Decimal("213.30"), Decimal("10")) == Decimal("21.33")
    # 0.1 + 0.2 style float traps do not exist here
    assert round_money(Decimal("0.1") + Decimal("0.2")) == Decimal("0.30")


@pytest.mark.parametrize("value", ["0.00", "0.01", "209.01", "999999999999.99", "-5.10", "1234.50"])
def test_cents_round_trip(value):
    cents = to_cents(Decimal(value))
    assert isinstance(cents, int)
    assert from_cents(cents) == Decimal(value)
    assert format_money(from_cents(cents)) == value


def test_format_money_has_exactly_two_places_and_no_exponent():
    assert format_money(Decimal("1E+3")) == "1000.00"
    assert format_money(Decimal("0")) == "0.00"
    assert format_money(Decimal("12.5")) == "12.50"


def test_format_rate_keeps_given_precision_without_trailing_zeros():
    assert [format_rate(Decimal(v)) for v in ("20", "8.8750", "0", "0.0", "1E+1", "100")] == [
        "20",
        "8.875",
        "0",
        "0",
        "10",
        "100",
    ]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "sNaN", "-0.01", "1.001", "1E+13"])
def test_check_money_rejects_non_finite_negative_precise_or_huge(bad):
    with pytest.raises(ValueError, match="^price: "):
        check_money(Decimal(bad), "price")


def test_check_money_positive_rejects_zero():
    with pytest.raises(ValueError, match="greater than 0"):
        check_money(Decimal("0"), "amount", positive=True)
    assert check_money(Decimal("0.01"), "amount", positive=True) == Decimal("0.01")


@pytest.mark.parametrize("bad", ["-1", "100.0001", "101", "8.87501", "NaN"])
def test_check_rate_is_a_percentage_with_four_places(bad):
    with pytest.raises(ValueError, match="^tax_rate: "):
        check_rate(Decimal(bad), "tax_rate")


@pytest.mark.parametrize("bad", ["0", "-1", "0.00001", "1000001", "Infinity"])
def test_check_quantity(bad):
    with pytest.raises(ValueError, match="^quantity: "):
        check_quantity(Decimal(bad), "quantity")
    assert check_quantity(Decimal("0.3333"), "quantity") == Decimal("0.3333")


async def test_stored_decimals_round_trip_through_the_database(client):
    """Rates are Decimal128 in MongoDB; they come back as the same Decimal."""
    from app.auth.models import BusinessProfile, User

    user = User(
        email="r@example.com",
        name="R",
        password_hash="x",
        business=BusinessProfile(default_tax_rate=Decimal("8.875")),
    )
    await user.insert()
    raw = await User.get_motor_collection().find_one({"_id": user.id})
    assert str(raw["business"]["default_tax_rate"]) == "8.875"
    assert type(raw["business"]["default_tax_rate"]).__name__ == "Decimal128"
    loaded = await User.get(user.id)
    assert loaded is not None and loaded.business.default_tax_rate == Decimal("8.875")


@pytest.mark.parametrize(
    "stored", ["8.875", "1.50", "1.5", "0", "-0", "0E-10", "1E+5", "0.3333", "999999999999.99", "-12.340"]
)
def test_a_stored_decimal_reads_back_exactly_as_the_driver_gives_it(stored):
    """The raw read path and the models read Decimal128 through one remembered conversion: it must give the
    very Decimal (digits and exponent, so "1.50" stays "1.50") that Decimal128.to_decimal gives, every time."""
    value = Decimal128(stored)
    for _ in range(2):  # the second read comes from the remembered conversion
        assert stored_decimal(value).as_tuple() == value.to_decimal().as_tuple()
        assert from_storage(value).as_tuple() == value.to_decimal().as_tuple()
    assert stored_decimal(3) == Decimal(3) and stored_decimal("2.5") == Decimal("2.5")
