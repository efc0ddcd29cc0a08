"""The lean read path: `GET /api/clients` reads the driver's documents straight into ClientOut. Its answer must
be byte for byte what the model path gives: the same query through paginate() and `ClientOut.from_document`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId

from app.clients import service
from app.clients.models import Client
from app.db import pagination
from tests.clients.factories import create_client

EVERY_FIELD = {
    "name": "Müller & Söhne GmbH",
    "email": "billing@mueller.example",
    "company": "Müller Holding",
    "phone": "+49 30 1234567",
    "address": {
        "line1": "Hauptstraße 1",
        "line2": "Hinterhaus",
        "city": "Berlin",
        "state": "BE",
        "postal_code": "10115",
        "country": "de",
    },
    "tax_id": "DE123456789",
    "currency": "CHF",
    "payment_terms_days": 0,
    "notes": "Pays late\nbut pays",
}


async def _model_page(model: Any, query: Any, params: Any, sorts: Any, view: Any) -> Any:
    """The reference: the same query through paginate() and the Beanie model, then from_document."""
    return (await pagination.paginate(model, query, params, sorts)).map(view.from_document)


async def _stored_before_the_newer_fields(owner_id: ObjectId) -> None:
    """A client inserted raw with the fields the model requires, an address missing keys, and no version,
    notes or contact fields, as a document written by an older release."""
    required = {name for name, field in Client.model_fields.items() if field.is_required()}
    moment = datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)
    document = {
        "_id": ObjectId(),
        "owner_id": owner_id,
        "name": "Old client",
        "currency": "GBP",
        "payment_terms_days": 45,
        "address": {"city": "Leeds"},
        "created_at": moment,
        "updated_at": moment,
    }
    assert required <= set(document), "a required field is missing from the old document"
    await Client.get_motor_collection().insert_one(document)


@pytest.fixture
async def varied(client: Any, user: Any) -> None:
    full = await create_client(client, user.headers, **EVERY_FIELD)
    await create_client(client, user.headers, name="Bare")
    edited = await create_client(client, user.headers, name="Edited", email="a@b.example")
    patch = {"email": None, "address": {"line1": "Only a line"}, "notes": "changed"}
    assert (
        await client.patch(f"/api/clients/{edited['id']}", json=patch, headers=user.headers)
    ).status_code == 200
    assert full["address"]["country"] == "DE" and full["email"] == EVERY_FIELD["email"]
    await _stored_before_the_newer_fields(ObjectId(user.id))


@pytest.mark.parametrize(
    "query",
    [
        "limit=100",
        "sort=name",
        "sort=-name&limit=2&offset=1",
        "sort=created_at",
        "q=m%C3%BCller",
        "q=example",
    ],
)
async def test_the_client_list_read_raw_is_byte_identical_to_the_model_path(
    client, auth, varied, monkeypatch, query
):
    raw = await client.get(f"/api/clients?{query}", headers=auth)
    with monkeypatch.context() as patched:
        patched.setattr(service, "paginate_raw", _model_page)
        model = await client.get(f"/api/clients?{query}", headers=auth)
    assert raw.status_code == model.status_code == 200, raw.text
    assert raw.content == model.content
    assert raw.json()["items"], "the comparison must see clients"


async def test_the_raw_list_shows_every_field_and_the_old_documents_defaults(client, auth, varied):
    items = {
        item["name"]: item
        for item in (await client.get("/api/clients?limit=100", headers=auth)).json()["items"]
    }
    assert items["Müller & Söhne GmbH"]["address"]["state"] == "BE" and items["Müller & Söhne GmbH"]["notes"]
    assert items["Bare"]["address"] is None and items["Bare"]["email"] is None
    old = items["Old client"]
    assert old["notes"] == "" and old["email"] is None and old["payment_terms_days"] == 45
    assert old["address"] == {
        "line1": None,
        "line2": None,
        "city": "Leeds",
        "state": None,
        "postal_code": None,
        "country": None,
    }
    assert old["created_at"] == "2024-02-29T23:59:59.999000Z"


async def test_the_raw_list_is_the_callers_own(client, varied, other_user):
    listed = (await client.get("/api/clients", headers=other_user.headers)).json()
    assert listed["items"] == [] and listed["total"] == 0
