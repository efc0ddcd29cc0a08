"""The lean read path: `GET /api/invoices` and `GET /api/invoices/{id}` read the driver's documents straight
into InvoiceOut. Each answer must be byte for byte (ETag included) what the model path gives: the same route
with the Beanie model loaded and converted by `InvoiceOut.from_document`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from bson import Decimal128, ObjectId

from app.core.clock import today_utc
from app.db import pagination
from app.db import repository as core_documents
from app.invoices import service
from app.invoices.models import Invoice
from tests.clients.factories import create_client
from tests.conftest import assert_problem
from tests.invoices.factories import add_payment, create_invoice, send_invoice
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry


async def _model_page(model: Any, query: Any, params: Any, sorts: Any, view: Any) -> Any:
    """The reference: the same query through paginate() and the Beanie model, then from_document."""
    return (await pagination.paginate(model, query, params, sorts)).map(view.from_document)


async def _model_get(model: Any, id_: str, owner_id: Any, view: Any) -> Any:
    return view.from_document(await core_documents.get_owned(model, id_, owner_id))


async def both_paths(http: Any, monkeypatch: pytest.MonkeyPatch, url: str, headers: dict[str, str]) -> Any:
    """(raw-path response, model-path response) of one GET."""
    raw = await http.get(url, headers=headers)
    with monkeypatch.context() as patched:
        patched.setattr(service, "paginate_raw", _model_page)
        patched.setattr(service, "get_owned_view", _model_get)
        model = await http.get(url, headers=headers)
    return raw, model


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _stored_before_the_newer_fields(owner_id: ObjectId, client_id: str) -> ObjectId:
    """A sent invoice inserted raw with the fields the model requires and nothing else: no tax category,
    totals, version, status, notes or payment method, as a document written by an older release."""
    required = {name for name, field in Invoice.model_fields.items() if field.is_required()}
    oid = ObjectId()
    issued = today_utc() - timedelta(days=40)
    document = {
        "_id": oid,
        "owner_id": owner_id,
        "number_slot": f"draft:{oid}",
        "client_id": ObjectId(client_id),
        "currency": "EUR",
        "issue_date": _midnight(issued),
        "due_date": _midnight(issued + timedelta(days=14)),
        "tax_rate": Decimal128("8.875"),
        "discount_rate": Decimal128("0"),
        "created_at": datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "updated_at": datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "lines": [
            {
                "description": "Old line",
                "quantity": Decimal128("1.50"),
                "unit_price_cents": 3333,
                "amount_cents": 5000,
            }
        ],
        "payments": [
            {
                "id": ObjectId(),
                "amount_cents": 1234,
                "paid_on": _midnight(issued),
                "created_at": datetime(2025, 1, 3, tzinfo=UTC),
            }
        ],
    }
    assert required <= set(document) | {"owner_id"}, "a required field is missing from the old document"
    await Invoice.get_motor_collection().insert_one(document)
    return oid


async def _varied_invoices(http: Any, headers: dict[str, str], owner_id: ObjectId) -> list[str]:
    """Drafts, sent, part-paid, paid, void, overdue and due-today invoices, several tax categories, a discount, a project,
    lines from time entries, and one stored before the newer fields existed. Returns their ids."""
    acme = (await create_client(http, headers, name="Acme", currency="EUR"))["id"]
    other = (await create_client(http, headers, name="Other", currency="USD"))["id"]
    project = await create_project(http, headers, acme, hourly_rate="87.50")
    entry = await create_time_entry(http, headers, project["id"], description="Design")
    lines = [
        {"description": "Consulting", "quantity": "1.5", "unit_price": "150.00"},
        {"description": "Rounding", "quantity": "0.3333", "unit_price": "10.01"},
    ]
    past = today_utc() - timedelta(days=30)
    made = [
        await create_invoice(http, headers, acme, lines=lines, tax_rate="19", discount_rate="12.5"),
        await create_invoice(
            http,
            headers,
            acme,
            lines=[],
            time_entry_ids=[entry["id"]],
            project_id=project["id"],
            notes="From time",
        ),
        await create_invoice(
            http,
            headers,
            other,
            tax_rate="0",
            tax_category="AE",
            tax_exemption_reason="Reverse charge",
            lines=lines,
        ),
        await create_invoice(http, headers, other, tax_rate="0", tax_category="Z"),
        await create_invoice(
            http, headers, acme, tax_rate="7", issue_date=str(past), due_date=str(past + timedelta(days=5))
        ),
    ]
    made.append(await create_invoice(http, headers, acme, issue_date=str(past), due_date=str(today_utc())))
    ids = [invoice["id"] for invoice in made]
    part_paid = await send_invoice(http, headers, ids[0])
    await add_payment(
        http, headers, part_paid["id"], "10.00", method="bank_transfer", note="First part", paid_on=str(past)
    )
    paid = await send_invoice(http, headers, ids[2])
    await add_payment(http, headers, paid["id"], paid["amount_due"])
    assert (await http.post(f"/api/invoices/{ids[3]}/void", headers=headers)).status_code == 200
    await send_invoice(http, headers, ids[4])  # sent, due in the past: overdue
    await send_invoice(http, headers, ids[5])  # sent, due today: not yet overdue
    ids.append(str(await _stored_before_the_newer_fields(owner_id, acme)))
    return ids


@pytest.fixture
async def varied(client: Any, user: Any) -> list[str]:
    return await _varied_invoices(client, user.headers, ObjectId(user.id))


async def test_every_invoice_read_raw_is_byte_identical_to_the_model_path(client, auth, varied, monkeypatch):
    seen = []
    for invoice_id in varied:
        raw, model = await both_paths(client, monkeypatch, f"/api/invoices/{invoice_id}", auth)
        assert raw.status_code == model.status_code == 200, raw.text
        assert raw.content == model.content
        assert raw.headers["etag"] == model.headers["etag"]
        seen.append(raw.json())
    # The data covers what the raw path converts: every status, categories, discounts, time lines, payments,
    # a stored document, an overdue invoice, and the old one (default category, zero totals, version 0).
    assert {invoice["status"] for invoice in seen} == {"draft", "sent", "paid", "void"}
    assert {invoice["tax_category"] for invoice in seen} >= {"S", "AE", "Z", "E"}
    assert any(line["time_entry_id"] for invoice in seen for line in invoice["lines"])
    assert any(payment["method"] for invoice in seen for payment in invoice["payments"])
    assert any(invoice["document"] for invoice in seen) and any(invoice["is_overdue"] for invoice in seen)
    old = seen[-1]
    assert old["tax_category"] == "S" and old["tax_rate"] == "8.875" and old["total"] == "0.00"
    assert old["lines"][0]["quantity"] == "1.50" and old["payments"][0]["method"] is None
    assert (await client.get(f"/api/invoices/{varied[-1]}", headers=auth)).headers["etag"].startswith('"0-')


@pytest.mark.parametrize(
    "query",
    [
        "limit=100",
        "limit=2&offset=1&sort=-total",
        "sort=issue_date",
        "sort=-number",
        "status=sent",
        "overdue=true",
        "overdue=false&sort=due_date",
        "q=INV",
    ],
)
async def test_the_invoice_list_read_raw_is_byte_identical_to_the_model_path(
    client, auth, varied, monkeypatch, query
):
    raw, model = await both_paths(client, monkeypatch, f"/api/invoices?{query}", auth)
    assert raw.status_code == model.status_code == 200, raw.text
    assert raw.content == model.content
    assert raw.json()["items"], "the comparison must see invoices"


async def test_a_raw_read_keeps_the_etag_and_if_none_match(client, auth, varied):
    first = await client.get(f"/api/invoices/{varied[0]}", headers=auth)
    again = await client.get(
        f"/api/invoices/{varied[0]}", headers={**auth, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


async def test_a_raw_read_of_another_users_invoice_is_404(client, auth, varied, other_user, monkeypatch):
    raw, model = await both_paths(client, monkeypatch, f"/api/invoices/{varied[0]}", other_user.headers)
    problems = [assert_problem(answer, 404, "not_found") for answer in (raw, model)]
    for problem in problems:
        problem.pop("request_id")  # each request's own
    assert problems[0] == problems[1]
    listed = await client.get("/api/invoices", headers=other_user.headers)
    assert listed.json()["items"] == [] and listed.json()["total"] == 0
