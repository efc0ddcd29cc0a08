"""A send that dies anywhere is finished by the worker's recovery with the very document an uninterrupted
send stores (API.md sections 14 and 16), and one stuck send that cannot be finished holds up no other
(section 24).

A final document depends on the invoice, the business, the client and the moment it was rendered (the PDF's
creation date); so each run sends an identical invoice (same business, client, lines and dates) from a fresh
account, where it becomes INV-0001 like the reference's, with the rendering clock (`rendered_at`) fixed. An
invoice's id is on no final document. A plain PDF is then compared byte for byte. A Factur-X PDF also carries
the wall-clock time at which the `factur-x` package embedded the XML (Info /CreationDate and /ModDate, XMP
CreateDate and ModifyDate: it reads the rendering process's own clock, not `rendered_at`), so two renders a
second apart differ there only: it is compared object by object, every stream decoded, with those time
stamps masked, and its XML byte for byte."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

from app.core.clock import utc_now
from app.documents import service as documents_service
from app.documents.documents import StoredDocument
from app.events.documents import EventSequence
from app.events.sequencer import STATE_ID
from app.invoices.documents import Invoice
from app.recovery import recover
from tests.conftest import Account, register
from tests.documents.factories import set_business, worked_example
from tests.faults import Died, Fault, fault_fixture  # noqa: F401 (the `fault` fixture)

MAX_STEPS = 40
RENDERED_AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
DATES = {"issue_date": "2026-05-04", "due_date": "2026-06-03"}
# The time stamps of a PDF (Info dictionary) and of its XMP metadata, in the UTC form both writers use.
_STAMP = re.compile(rb"D:\d{14}\+00'00'|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00")


@pytest.fixture(autouse=True)
def fixed_render_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every document is rendered "at" RENDERED_AT, the request's and the recovery's alike."""
    monkeypatch.setattr(documents_service, "utc_now", lambda: RENDERED_AT)
    yield


def _without_stamps(pdf: bytes) -> Any:
    """Every object of the PDF by its number (references as numbers, streams decoded), and the trailer, with
    the time stamps masked: equal for two PDFs that differ in nothing but when they were written."""
    reader = PdfReader(io.BytesIO(pdf))

    def form(obj: Any) -> Any:
        if isinstance(obj, IndirectObject):
            return ("ref", obj.idnum)
        if isinstance(obj, StreamObject):
            encoding = ("/Length", "/Filter", "/DecodeParms")
            head = {str(k): form(v) for k, v in obj.items() if k not in encoding}
            return ("stream", head, _STAMP.sub(b"<stamp>", obj.get_data()))
        if isinstance(obj, DictionaryObject):
            return {str(k): form(v) for k, v in obj.items()}
        if isinstance(obj, ArrayObject):
            return [form(v) for v in obj]
        return _STAMP.sub(b"<stamp>", str(obj).encode("utf-8", "surrogatepass"))

    numbers = sorted({n for table in reader.xref.values() for n in table} | set(reader.xref_objStm))
    return {n: form(reader.get_object(n)) for n in numbers}, form(reader.trailer)


def _assert_same_document(stored: dict[str, Any], reference: dict[str, Any], where: str) -> None:
    assert stored["e_invoice"] == reference["e_invoice"], where
    if reference["e_invoice"] == "none":
        assert stored["pdf"] == reference["pdf"], where
        assert stored["sha256"] == reference["sha256"], where
    else:
        assert stored["xml"] == reference["xml"], where
        assert _without_stamps(stored["pdf"]) == _without_stamps(reference["pdf"]), where


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

    async def first_cannot_render(data: Any) -> Any:
        tried.append(data.invoice_id)
        if data.invoice_id == first["id"]:
            raise ValueError("this invoice cannot be rendered")
        return await render_final(data)

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
