"""Every generated mapper gives the same response from the driver's raw document (the lean read path) as from
the Beanie model loaded from it (app/http/mapping.py): dates stored as midnight datetimes and decimals stored
as Decimal128 are read on the raw path as the model reads them."""

from __future__ import annotations

from typing import Any

import msgspec

from app.clients.models import Client
from app.clients.schemas import ClientOut
from app.contracts.models import Contract
from app.contracts.schemas import ContractOut
from app.core.clock import in_zone
from app.invoices.models import Invoice
from app.invoices.schemas import InvoiceOut
from app.projects.models import Project
from app.projects.schemas import ProjectOut
from app.time_entries.models import TimeEntry
from app.time_entries.schemas import TimeEntryOut
from tests.contracts.factories import create_contract
from tests.invoices.factories import add_payment, create_sent_invoice
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry

PAIRS: list[tuple[Any, Any]] = [
    (Client, ClientOut),
    (Project, ProjectOut),
    (TimeEntry, TimeEntryOut),
    (Invoice, InvoiceOut),
    (Contract, ContractOut),
]


async def test_each_mapper_reads_a_stored_document_alike_raw_and_through_its_model(client, user):
    h = user.headers
    business = {"company_name": "Acme", "default_tax_rate": "19.5", "invoice_prefix": "AC"}
    assert (await client.patch("/api/auth/me", json={"business": business}, headers=h)).status_code == 200
    project = await create_project(client, h, budget_hours="12.5", hourly_rate="80.00")
    await create_time_entry(client, h, project["id"])
    invoice = await create_sent_invoice(client, h, tax_rate="8.875", discount_rate="2.5")
    await add_payment(client, h, invoice["id"], "10.00")
    await create_contract(client, h)

    for model, out in PAIRS:
        with in_zone("UTC"):  # what a request acting in the organisation names (an invoice's is_overdue)
            await _alike(model, out)


async def _alike(model: Any, out: Any) -> None:
    raws = await model.get_motor_collection().find({}, projection=out.STORED).to_list(None)
    assert raws, model.__name__
    for raw in raws:
        full = await model.get_motor_collection().find_one({"_id": raw["_id"]})
        from_model = out.from_document(model.model_validate(full))
        assert msgspec.json.encode(out.from_raw(raw)) == msgspec.json.encode(from_model), model.__name__
