"""A send that dies anywhere is finished by the worker's recovery with the very document an uninterrupted
send stores (API.md sections 14 and 16), and one stuck send that cannot be finished holds up no other
(section 24).

A final document depends on the invoice, the business, the client and the moment of its send (`sent_at`,
which dates the document: its `rendered_at` and every date in the PDF, the Factur-X metadata included); so
each run sends an identical invoice (same business, client, lines and dates) from a fresh account, where it
becomes INV-0001 like the reference's, with the send's clock fixed. An invoice's id is on no final document.
Every document is then compared byte for byte, its PDF and its XML."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pypdf import PdfReader

from app.core.clock import as_utc, utc_now
from app.documents import service as documents_service
from app.documents.models import StoredDocument
from app.events.models import EventSequence
from app.events.sequencer import STATE_ID
from app.invoices import lifecycle
from app.invoices.models import Invoice
from app.recovery import recover
from tests.conftest import Account, register
from tests.documents.factories import set_business, worked_example
from tests.faults import Died, Fault, fault_fixture  # noqa: F401 (the `fault` fixture)

MAX_STEPS = 40
SENT_AT = datetime(2026, 5, 4, 9, 30, 15, 250_000, tzinfo=UTC)
DATES = {"issue_date": "2026-05-04", "due_date": "2026-06-03"}


@pytest.fixture(autouse=True)
def fixed_send_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every send claims its invoice "at" SENT_AT (its `sent_at`, which dates its document)."""
    monkeypatch.setattr(lifecycle, "utc_now", lambda: SENT_AT)
    yield


def _pdf_dates(pdf: bytes) -> set[datetime]:
    """Every date the PDF's metadata carries: Info, XMP, and each embedded file's."""
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata is not None
    dates = {reader.metadata.creation_date, reader.metadata.modification_date}
    if reader.xmp_metadata is not None:
        dates |= {reader.xmp_metadata.xmp_create_date, reader.xmp_metadata.xmp_modify_date}
    for name in reader.attachments:
        [spec] = [s.get_object() for s in reader.trailer["/Root"]["/AF"] if s.get_object()["/F"] == name]
        params = spec["/EF"]["/F"].get_object()["/Params"]
        dates.add(datetime.strptime(params["/ModDate"][2:16], "%Y%m%d%H%M%S"))
    return {as_utc(moment) for moment in dates}


def _assert_same_document(stored: dict[str, Any], reference: dict[str, Any], where: str) -> None:
    for field in ("e_invoice", "xml", "pdf", "sha256", "size", "rendered_at"):
        assert stored[field] == reference[field], f"{field} {where}"


async def _recover() -> None:
    """A new process: the dead one's sequencer lease has expired; the recovery runs with the cutoff now
    (the dead request is not running any more)."""
    await EventSequence.get_motor_collection().update_one({"_id": STATE_ID}, {"$set": {"holder": None}})
    await recover(utc_now())


async def _account(http: Any, e_invoice: str = "factur-x") -> Account:
    account = await register(http, f"{ObjectId()}@example.com")
    # locale de, an IBAN (a QR code), and with Factur-X the XML embedded
    await set_business(http, account.headers, e_invoice=e_invoice)
    return account


async def _draft(http: Any, account: Account) -> dict[str, Any]:
    return await worked_example(http, account.headers, **DATES)


async def _stored(invoice_id: str) -> dict[str, Any]:
    stored = await StoredDocument.get_motor_collection().find_one({"invoice_id": ObjectId(invoice_id)})
    assert stored is not None, "no document stored"
    for kind in ("pdf", "xml"):  # the driver's Binary, as plain bytes
        stored[kind] = None if stored.get(kind) is None else bytes(stored[kind])
    return stored  # type: ignore[no-any-return]


async def _invoice(invoice_id: str) -> dict[str, Any]:
    invoice = await Invoice.get_motor_collection().find_one({"_id": ObjectId(invoice_id)})
    assert invoice is not None
    return invoice  # type: ignore[no-any-return]


async def _uninterrupted(http: Any, e_invoice: str) -> dict[str, Any]:
    account = await _account(http, e_invoice)
    draft = await _draft(http, account)
    response = await http.post(f"/api/invoices/{draft['id']}/send", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["number"] == "INV-0001"
    return await _stored(draft["id"])


@pytest.mark.parametrize("e_invoice", ["none", "factur-x"])
async def test_a_send_that_dies_after_any_write_is_recovered_with_the_document_it_would_have_stored(
    client: Any, fault: Fault, e_invoice: str
) -> None:
    """Dies after write 1, 2, … of the send; a payment lands on the half-sent invoice (it is `sent` from its
    claim on); the recovery runs. The stored document is the reference's: numbered, not a DRAFT, with its
    Factur-X XML when enabled, showing the invoice as it was sent (nothing paid)."""
    reference = await _uninterrupted(client, e_invoice)
    assert (reference["xml"] is not None) == (e_invoice == "factur-x")
    # Dated by the send alone: not by the moment any renderer (Typst, factur-x) ran.
    assert as_utc(reference["rendered_at"]) == SENT_AT
    assert _pdf_dates(reference["pdf"]) == {SENT_AT.replace(microsecond=0)}
    cut_short = 0
    for step in range(1, MAX_STEPS):
        account = await _account(client, e_invoice)
        draft = await _draft(client, account)
        fault.arm(step)
        try:
            await client.post(f"/api/invoices/{draft['id']}/send", headers=account.headers)
            died = False
        except Died:
            died = True
        fault.disarm()
        if (await _invoice(draft["id"])).get("document") is None:
            cut_short += 1
            paid = await client.post(
                f"/api/invoices/{draft['id']}/payments", json={"amount": "10.00"}, headers=account.headers
            )
            assert paid.status_code == 201, paid.text
        await _recover()

        where = f"after dying at write {step}"
        invoice = await _invoice(draft["id"])
        stored = await _stored(draft["id"])
        assert invoice["number"] == "INV-0001" and not invoice.get("sending_at"), where
        assert as_utc(invoice["sent_at"]) == SENT_AT, where
        _assert_same_document(stored, reference, where)
        assert invoice["document"]["sha256"] == hashlib.sha256(stored["pdf"]).hexdigest(), where
        download = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=account.headers)
        assert download.content == stored["pdf"], where
        if not died:
            break
    else:
        raise AssertionError("the send never completed")
    assert cut_short >= 4  # died after its claim, the counter's hold, the number, the counter's release


async def test_one_stuck_send_that_cannot_be_finished_holds_up_no_other(
    client: Any, fault: Fault, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    account = await _account(client)
    first, second = await _draft(client, account), await _draft(client, account)
    for draft in (first, second):  # both die right after their claim: numbers and documents are recovery's
        fault.arm(1)
        with pytest.raises(Died):
            await client.post(f"/api/invoices/{draft['id']}/send", headers=account.headers)
        fault.disarm()

    render_final = documents_service.render_final
    tried: list[str] = []

    async def first_cannot_render(org_id: Any, data: Any, rendered_at: datetime, **options: Any) -> Any:
        tried.append(data.invoice_id)
        if data.invoice_id == first["id"]:
            raise ValueError("this invoice cannot be rendered")
        return await render_final(org_id, data, rendered_at, **options)

    monkeypatch.setattr(documents_service, "render_final", first_cannot_render)
    with caplog.at_level(logging.ERROR, logger="orbix.recovery"):
        await _recover()

    assert tried == [first["id"], second["id"]]  # the first claimed is tried first, and fails
    finished = await _invoice(second["id"])
    assert finished["status"] == "sent" and finished["document"] and not finished.get("sending_at")
    assert (await _stored(second["id"]))["pdf"]
    stuck = await _invoice(first["id"])
    assert stuck.get("sending_at") and stuck["document"] is None  # skipped: the next pass tries again
    [logged] = [r for r in caplog.records if r.name == "orbix.recovery"]
    assert first["id"] in logged.getMessage() and "cannot be rendered" in logged.getMessage()
    assert logged.item_id == first["id"]  # type: ignore[attr-defined]

    monkeypatch.setattr(documents_service, "render_final", render_final)
    await _recover()
    recovered = await _invoice(first["id"])
    assert recovered["document"] and not recovered.get("sending_at")
    assert [(await _invoice(d["id"]))["number"] for d in (first, second)] == ["INV-0001", "INV-0002"]


@pytest.mark.parametrize("e_invoice", ["none", "factur-x"])
async def test_a_document_first_rendered_by_a_download_is_the_one_the_send_would_have_stored(
    client: Any, e_invoice: str
) -> None:
    """A numbered invoice whose document was never kept (its send cut short after the number), paid on
    since: the first download renders and keeps the document as the invoice was sent (nothing paid, the
    total due), dated by its send: the very bytes the send would have stored."""
    account = await _account(client, e_invoice)
    draft = await _draft(client, account)
    sent = await client.post(f"/api/invoices/{draft['id']}/send", headers=account.headers)
    assert sent.status_code == 200, sent.text
    reference = await _stored(draft["id"])
    await StoredDocument.get_motor_collection().delete_many({"invoice_id": ObjectId(draft["id"])})
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(draft["id"])}, {"$set": {"document": None}}
    )
    paid = await client.post(
        f"/api/invoices/{draft['id']}/payments", json={"amount": "10.00"}, headers=account.headers
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount_paid"] == "10.00"

    download = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=account.headers)
    assert download.status_code == 200
    assert download.content == reference["pdf"]
    _assert_same_document(await _stored(draft["id"]), reference, "rendered by the first download")
    invoice = await _invoice(draft["id"])
    assert invoice["document"]["sha256"] == reference["sha256"]
