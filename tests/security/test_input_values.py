"""What a value must be (issue 8, findings 4, 5 and 7): numbers in strings are ASCII, an email is one
ASCII address however it is spelled, currencies are ISO 4217 codes, and every date lies in 1900-2999."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem
from tests.security.world import World, unique_email

# Python's Decimal takes all of these; the contract takes none.
NOT_ASCII_NUMBERS = [
    "1_000.50",
    "١٢.٥٠",
    "１２",
    "१२",
    "1e3",
    "1E+2",
    " 12",
    "12 ",
    "+12",
    ".5",
    "5.",
    "Infinity",
]


def _fields(response) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


@pytest.mark.parametrize("text", NOT_ASCII_NUMBERS)
async def test_money_quantity_and_rate_strings_must_be_ascii_digits(client, user, text):
    client_id = await World(client, user.headers).id("clients")
    for line, field in (
        ({"description": "x", "quantity": "1", "unit_price": text}, "lines[0].unit_price"),
        ({"description": "x", "quantity": text, "unit_price": "1"}, "lines[0].quantity"),
    ):
        response = await client.post(
            "/api/invoices", json={"client_id": client_id, "lines": [line]}, headers=user.headers
        )
        assert_problem(response, 400, "validation_error")
        assert field in _fields(response), response.text
    response = await client.patch(
        "/api/auth/me", json={"business": {"default_tax_rate": text}}, headers=user.headers
    )
    assert_problem(response, 400, "validation_error")


async def test_ascii_number_strings_and_json_numbers_are_accepted(client, user):
    client_id = await World(client, user.headers).id("clients")
    response = await client.post(
        "/api/invoices",
        json={
            "client_id": client_id,
            "tax_rate": "8.875",
            "lines": [
                {"description": "a", "quantity": "1.5", "unit_price": "1000.50"},
                {"description": "b", "quantity": 2, "unit_price": 12.5},
            ],
        },
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["subtotal"] == "1525.75"


# ---------------------------------------------------------------- email


@pytest.mark.parametrize(
    "variant",
    [
        lambda e: e.upper(),
        lambda e: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in e),  # fullwidth
        lambda e: f"  {e}  ",
    ],
    ids=["upper", "fullwidth", "padded"],
)
async def test_spellings_of_one_email_are_one_account(client, variant):
    email = unique_email("ada")
    first = await client.post("/api/auth/register", json={"email": email, "password": "p" * 10, "name": "A"})
    assert first.status_code == 201, first.text
    response = await client.post(
        "/api/auth/register", json={"email": variant(email), "password": "p" * 10, "name": "A"}
    )
    assert_problem(response, 409, "email_taken")
    login = await client.post("/api/auth/login", json={"email": variant(email).strip(), "password": "p" * 10})
    assert login.status_code == 200, login.text
    assert login.json()["user"]["email"] == email


@pytest.mark.parametrize(
    "email",
    [
        "İda@example.com",  # folds to a look-alike of ida@
        "ida\u0301@example.com",  # NFD
        "i\u200bda@example.com",  # zero-width space
        "ida\x00@example.com",
        "ida@exam\u202eple.com",
        "josé@example.com",
        "not-an-email",
        "ida@example",
        "ida@@example.com",
        "ida..x@example.com",
        ".ida@example.com",
        "ida @example.com",
        "ida@-example.com",
        "a" * 65 + "@example.com",
    ],
)
async def test_an_email_that_is_not_one_ascii_address_is_refused(client, email):
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": "p" * 10, "name": "A"}
    )
    assert_problem(response, 400, "validation_error")
    assert _fields(response) == ["email"]


async def test_a_client_email_must_be_an_address(client, user):
    response = await client.post(
        "/api/clients", json={"name": "Acme", "email": "not-an-email"}, headers=user.headers
    )
    assert_problem(response, 400, "validation_error")
    assert _fields(response) == ["email"]
    response = await client.post(
        "/api/clients", json={"name": "Acme", "email": " Billing@ACME.test "}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["email"] == "billing@acme.test"
    response = await client.patch(
        f"/api/clients/{response.json()['id']}", json={"email": "a@b"}, headers=user.headers
    )
    assert_problem(response, 400, "validation_error")


# ---------------------------------------------------------------- codes


@pytest.mark.parametrize("code", ["ZZZ", "ABC", "usd", "US", "EURO"])
async def test_currency_must_be_an_iso_4217_code_in_use(client, user, code):
    for method, url, body in (
        ("POST", "/api/clients", {"name": "Acme", "currency": code}),
        ("PATCH", "/api/auth/me", {"business": {"default_currency": code}}),
    ):
        response = await client.request(method, url, json=body, headers=user.headers)
        problem = assert_problem(response, 400, "validation_error")
        assert "ISO 4217" in problem["detail"], problem


async def test_iso_4217_codes_are_accepted(client, user):
    for code in ("EUR", "JPY", "CHF", "INR"):
        response = await client.post(
            "/api/clients", json={"name": "Acme", "currency": code}, headers=user.headers
        )
        assert response.status_code == 201, response.text


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "3000-01-01", "9999-12-31"])
async def test_every_date_lies_between_1900_and_2999(client, user, day):
    world = World(client, user.headers)
    client_id = await world.id("clients")
    invoice_id = await world.id("invoices")
    for method, url, body, field in (
        ("POST", "/api/contracts", {"client_id": client_id, "title": "MSA", "start_date": day}, "start_date"),
        ("POST", "/api/contracts", {"client_id": client_id, "title": "MSA", "end_date": day}, "end_date"),
        ("POST", "/api/invoices", {"client_id": client_id, "issue_date": day}, "issue_date"),
        ("PATCH", f"/api/invoices/{invoice_id}", {"due_date": day}, "due_date"),
    ):
        response = await client.request(method, url, json=body, headers=user.headers)
        assert_problem(response, 400, "validation_error")
        assert field in _fields(response), (url, response.text)


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "3000-01-01"])
async def test_every_timestamp_lies_between_1900_and_2999(client, user, day):
    project_id = await World(client, user.headers).id("projects")
    response = await client.post(
        "/api/time-entries",
        json={"project_id": project_id, "started_at": f"{day}T10:00:00Z", "ended_at": f"{day}T11:00:00Z"},
        headers=user.headers,
    )
    assert_problem(response, 400, "validation_error")
    assert "started_at" in _fields(response)


async def test_the_edges_of_the_range_are_accepted(client, user):
    client_id = await World(client, user.headers).id("clients")
    response = await client.post(
        "/api/contracts",
        json={"client_id": client_id, "title": "MSA", "start_date": "1900-01-01", "end_date": "2999-12-31"},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text


async def test_a_default_due_date_past_2999_is_refused(client, user):
    response = await client.post(
        "/api/clients", json={"name": "Slow payer", "payment_terms_days": 365}, headers=user.headers
    )
    client_id = response.json()["id"]
    response = await client.post(
        "/api/invoices", json={"client_id": client_id, "issue_date": "2999-12-31"}, headers=user.headers
    )
    assert_problem(response, 400, "validation_error")
    assert _fields(response) == ["due_date"]
    response = await client.post(
        "/api/invoices",
        json={"client_id": client_id, "issue_date": "2999-12-31", "due_date": "2999-12-31"},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
