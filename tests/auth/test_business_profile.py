"""API.md section 4 (business profile fields) and section 5 (ISO country codes), old values readable."""

from __future__ import annotations

import pytest
from bson import ObjectId

from app.clients.models import Client
from app.organizations.models import Organization
from tests.clients.factories import create_client
from tests.conftest import assert_problem


async def test_business_fields_are_checked_and_canonicalised(client, auth):
    response = await client.patch(
        "/api/auth/me",
        json={
            "business": {
                "email": " Billing@Example.COM ",
                "phone": "+49 30 1234567",
                "tax_number": "12/345/67890",
                "iban": "de89 3704 0044 0532 0130 00",
                "bic": "cobadeffxxx",
                "locale": "de",
                "e_invoice": "factur-x",
                "address": {
                    "line1": "Hauptstr. 1",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "de",
                },
            }
        },
        headers=auth,
    )
    assert response.status_code == 200, response.text
    business = response.json()["business"]
    assert business["email"] == "billing@example.com"
    assert business["iban"] == "DE89370400440532013000"
    assert business["bic"] == "COBADEFFXXX"
    assert (business["locale"], business["e_invoice"]) == ("de", "factur-x")
    assert business["tax_number"] == "12/345/67890" and business["phone"] == "+49 30 1234567"
    assert business["address"]["country"] == "DE"

    cleared = await client.patch("/api/auth/me", json={"business": {"iban": None, "bic": None}}, headers=auth)
    assert cleared.json()["business"]["iban"] is None and cleared.json()["business"]["locale"] == "de"


@pytest.mark.parametrize(
    ("business", "field"),
    [
        ({"iban": "DE89370400440532013001"}, "iban"),  # wrong check digits
        ({"iban": "not an iban"}, "iban"),
        ({"bic": "COBAZZFF"}, "bic"),  # no such country
        ({"bic": "12"}, "bic"),
        ({"locale": "es"}, "locale"),
        ({"e_invoice": "xrechnung"}, "e_invoice"),
        ({"email": "not-an-email"}, "email"),
        ({"address": {"country": "Germany"}}, "country"),
        ({"address": {"country": "XX"}}, "country"),
        ({"address": {"country": "D"}}, "country"),
    ],
)
async def test_bad_business_fields_are_400(client, auth, business, field):
    response = await client.patch("/api/auth/me", json={"business": business}, headers=auth)
    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["detail"]


@pytest.mark.parametrize("country", ["Germany", "XX", "deu"])
async def test_client_country_must_be_iso_alpha2(client, auth, country):
    response = await client.post(
        "/api/clients", json={"name": "Acme", "address": {"country": country}}, headers=auth
    )
    assert_problem(response, 400, "validation_error")


async def test_client_country_is_upper_cased(client, auth):
    created = await create_client(client, auth, address={"city": "Paris", "country": "fr"})
    assert created["address"]["country"] == "FR"


async def test_countries_stored_before_the_rule_stay_readable(client, auth, user):
    """Old data: a free-text country saved before ISO codes were enforced is shown as stored, never a 500."""
    created = await create_client(client, auth)
    await Client.get_motor_collection().update_one(
        {"_id": ObjectId(created["id"])}, {"$set": {"address": {"city": "Berlin", "country": "Germany"}}}
    )
    await Organization.get_motor_collection().update_one(  # the personal organisation has the user's id
        {"_id": ObjectId(user.id)}, {"$set": {"business.address": {"country": "Deutschland"}}}
    )
    one = await client.get(f"/api/clients/{created['id']}", headers=auth)
    assert one.status_code == 200 and one.json()["address"]["country"] == "Germany"
    listed = await client.get("/api/clients", headers=auth)
    assert listed.status_code == 200
    me = await client.get("/api/auth/me", headers=auth)
    assert me.status_code == 200 and me.json()["business"]["address"]["country"] == "Deutschland"
