"""API.md section 22, per-line tax: a line's own tax_rate / tax_category (section 8's rules per line, with
`lines[i].…` fields), each line's effective VAT in responses, `tax_breakdown`, per-group rounding, the
exemption reason's rules over the lines, and PATCH of the invoice's rate (lines without their own follow)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from beanie import PydanticObjectId
from bson import ObjectId

from app.invoices.models import Invoice
from tests.conftest import assert_problem
from tests.documents.factories import set_business, worked_example
from tests.invoices.factories import create_invoice
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry


def line(description: str, price: str, **tax: str) -> dict[str, Any]:
    return {"description": description, "quantity": "1", "unit_price": price, **tax}


def group(category: str, rate: str, taxable: str, tax: str) -> dict[str, str]:
    return {"category": category, "rate": rate, "taxable_amount": taxable, "tax": tax}


async def test_lines_at_7_and_19_percent_are_taxed_and_rounded_per_group(client, auth):
    invoice = await create_invoice(
        client,
        auth,
        tax_rate="19",
        discount_rate="10",
        lines=[
            line("Books", "33.33", tax_rate="7"),
            line("Consulting", "33.33"),
            line("More books", "10.01", tax_rate="7", tax_category="S"),
        ],
    )
    assert [(x["tax_rate"], x["tax_category"]) for x in invoice["lines"]] == [
        ("7", "S"),
        ("19", "S"),
        ("7", "S"),
    ]
    # S 7: 43.34 − round(4.334) = 39.01 → round(2.7307) = 2.73; S 19: 33.33 − round(3.333) = 30.00 → 5.70.
    assert invoice["tax_breakdown"] == [group("S", "7", "39.01", "2.73"), group("S", "19", "30.00", "5.70")]
    assert (invoice["subtotal"], invoice["discount"], invoice["tax"], invoice["total"]) == (
        "76.67", "7.66", "8.43", "77.44",
    )  # fmt: skip
    # The list (the lean raw read path) shows the same lines and groups as the read by id.
    listed = (await client.get("/api/invoices", headers=auth)).json()["items"]
    assert [item for item in listed if item["id"] == invoice["id"]] == [invoice]
    fetched = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    assert fetched == invoice


async def test_tax_breakdown_is_ordered_by_category_then_rate_numerically(client, auth):
    invoice = await create_invoice(
        client,
        auth,
        tax_rate="5.5",
        tax_exemption_reason="Exonération de TVA, article 262 ter I du CGI",
        lines=[
            line("a", "10.00", tax_rate="20"),
            line("b", "10.00", tax_category="E"),
            line("c", "10.00"),
            line("d", "10.00", tax_rate="10"),
            line("e", "10.00", tax_category="AE"),
        ],
    )
    assert [(g["category"], g["rate"]) for g in invoice["tax_breakdown"]] == [
        ("AE", "0"), ("E", "0"), ("S", "5.5"), ("S", "10"), ("S", "20"),
    ]  # fmt: skip


async def test_a_line_without_its_own_tax_is_stored_without_and_follows_a_patch_of_the_invoice(client, auth):
    invoice = await create_invoice(
        client, auth, tax_rate="19", lines=[line("own", "100.00", tax_rate="7"), line("follows", "100.00")]
    )
    raw = await Invoice.get_motor_collection().find_one({"_id": ObjectId(invoice["id"])})
    assert [(x.get("tax_rate"), x.get("tax_category")) for x in raw["lines"]] == [
        (raw["lines"][0]["tax_rate"], "S"),
        (None, None),
    ]
    assert Decimal(str(raw["lines"][0]["tax_rate"])) == Decimal(7)
    patched = await client.patch(f"/api/invoices/{invoice['id']}", json={"tax_rate": "20"}, headers=auth)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert [(x["tax_rate"], x["tax_category"]) for x in body["lines"]] == [("7", "S"), ("20", "S")]
    assert body["tax_breakdown"] == [group("S", "7", "100.00", "7.00"), group("S", "20", "100.00", "20.00")]
    assert body["total"] == "227.00"
    # To 0: the following line becomes E (the default of rate 0); the own one stays S 7.
    zero = (await client.patch(f"/api/invoices/{invoice['id']}", json={"tax_rate": "0"}, headers=auth)).json()
    assert [(x["tax_rate"], x["tax_category"]) for x in zero["lines"]] == [("7", "S"), ("0", "E")]


async def test_lines_from_time_entries_take_the_invoices_tax(client, auth):
    project = await create_project(client, auth, hourly_rate="80.00")
    entry = await create_time_entry(client, auth, project["id"])
    response = await client.post(
        "/api/invoices",
        json={
            "client_id": project["client_id"],
            "time_entry_ids": [entry["id"]],
            "tax_rate": "19",
            "lines": [line("Hosting", "10.00", tax_rate="7")],
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    lines = response.json()["lines"]
    assert [(x["time_entry_id"] is None, x["tax_rate"]) for x in lines] == [(True, "7"), (False, "19")]


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([line("a", "1.00"), line("b", "1.00", tax_category="S", tax_rate="0")], "lines[1].tax_category"),
        ([line("a", "1.00", tax_category="Z", tax_rate="7")], "lines[0].tax_rate"),
        ([line("a", "1.00", tax_category="E", tax_rate="19")], "lines[0].tax_rate"),
        ([line("a", "1.00", tax_category="S")], "lines[0].tax_rate"),
        ([line("a", "1.00", tax_rate="100.01")], "lines[0].tax_rate"),
        ([line("a", "1.00", tax_rate="-1")], "lines[0].tax_rate"),
        ([line("a", "1.00", tax_rate="7.00001")], "lines[0].tax_rate"),
        ([line("a", "1.00"), line("b", "1.00", tax_category="X")], "lines[1].tax_category"),
    ],
)
async def test_each_lines_category_and_rate_follow_section_8(client, auth, lines, field):
    buyer = (await client.post("/api/clients", json={"name": "Acme"}, headers=auth)).json()
    body = {"client_id": buyer["id"], "tax_rate": "19", "lines": lines}
    problem = assert_problem(
        await client.post("/api/invoices", json=body, headers=auth), 400, "validation_error"
    )
    assert [error["field"] for error in problem["errors"]] == [field]
    draft = await create_invoice(client, auth, buyer["id"])
    patch = await client.patch(f"/api/invoices/{draft['id']}", json={"lines": lines}, headers=auth)
    problem = assert_problem(patch, 400, "validation_error")
    assert [error["field"] for error in problem["errors"]] == [field]


@pytest.mark.parametrize(
    ("tax", "stored"),
    [
        ({"tax_rate": "0"}, ("0", "E")),
        ({"tax_category": "Z"}, ("0", "Z")),
        ({"tax_category": "G"}, ("0", "G")),
    ],
)
async def test_a_lines_missing_rate_or_category_takes_section_8s_default(client, auth, tax, stored):
    invoice = await create_invoice(
        client, auth, tax_rate="19", lines=[line("a", "1.00", **tax)], tax_exemption_reason=None
    )
    assert (invoice["lines"][0]["tax_rate"], invoice["lines"][0]["tax_category"]) == stored


async def test_the_exemption_reason_is_refused_when_every_line_is_s_or_z(client, auth):
    buyer = (await client.post("/api/clients", json={"name": "Acme"}, headers=auth)).json()
    body = {
        "client_id": buyer["id"],
        "tax_rate": "0",
        "tax_category": "E",
        "tax_exemption_reason": "Exempt",
        "lines": [line("a", "1.00", tax_rate="19"), line("b", "1.00", tax_category="Z")],
    }
    problem = assert_problem(
        await client.post("/api/invoices", json=body, headers=auth), 400, "validation_error"
    )
    assert [error["field"] for error in problem["errors"]] == ["tax_exemption_reason"]
    # One exempt line (here: taking the invoice's E) is enough.
    body["lines"].append(line("c", "1.00"))
    created = await client.post("/api/invoices", json=body, headers=auth)
    assert created.status_code == 201, created.text
    # An S invoice with one E line may carry it too.
    mixed = await create_invoice(
        client,
        auth,
        buyer["id"],
        tax_rate="19",
        tax_exemption_reason="Exempt",
        lines=[line("a", "1.00"), line("b", "1.00", tax_category="E")],
    )
    assert mixed["tax_exemption_reason"] == "Exempt"
    # A PATCH that leaves every line taxed, keeping the reason, is refused the same way.
    patch = await client.patch(
        f"/api/invoices/{mixed['id']}", json={"lines": [line("a", "1.00")]}, headers=auth
    )
    problem = assert_problem(patch, 400, "validation_error")
    assert [error["field"] for error in problem["errors"]] == ["tax_exemption_reason"]


async def test_an_exempt_line_needs_the_reason_at_send_when_e_invoicing(client, auth):
    await set_business(client, auth)
    draft = await worked_example(
        client, auth, tax_rate="19", lines=[line("a", "100.00"), line("b", "50.00", tax_category="E")]
    )
    problem = assert_problem(
        await client.post(f"/api/invoices/{draft['id']}/send", headers=auth), 422, "e_invoice_invalid"
    )
    assert "BR-E-10" in {error["rule"] for error in problem["errors"]}
    fixed = await client.patch(
        f"/api/invoices/{draft['id']}", json={"tax_exemption_reason": "Exempt (§ 4 UStG)"}, headers=auth
    )
    assert fixed.status_code == 200, fixed.text
    sent = await client.post(f"/api/invoices/{draft['id']}/send", headers=auth)
    assert sent.status_code == 200, sent.text
    # Without e-invoicing nothing is required at send.
    await set_business(client, auth, e_invoice="none")
    plain = await worked_example(client, auth, tax_rate="19", lines=[line("b", "50.00", tax_category="E")])
    assert (await client.post(f"/api/invoices/{plain['id']}/send", headers=auth)).status_code == 200


async def test_an_invoice_stored_before_section_22_shows_its_one_group(client, auth):
    invoice = await create_invoice(client, auth, tax_rate="19", discount_rate="10")
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(invoice["id"])}, {"$unset": {"tax_breakdown": ""}}
    )
    old = (await client.get(f"/api/invoices/{invoice['id']}", headers=auth)).json()
    assert old["tax_breakdown"] == [group("S", "19", "90.00", "17.10")]
    listed = (await client.get("/api/invoices", headers=auth)).json()["items"]
    assert listed == [old]
    stored = await Invoice.get(PydanticObjectId(invoice["id"]))
    assert stored is not None and stored.tax_breakdown is None
