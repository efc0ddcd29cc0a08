"""A final document is a function of its data and its `rendered_at` alone (API.md section 16): every date
in the PDF, Typst's and those the `factur-x` package writes when it embeds the XML (Info, XMP, the embedded
file's), is `rendered_at`, never the moment a renderer ran; and the Info and XMP dates agree (PDF/A)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import msgspec
import pytest
from pypdf import PdfReader
from pypdf.generic import StreamObject

from app.documents import build
from app.documents.model import Built, Party
from tests.documents.factories import document_data

RENDERED_AT = datetime(2021, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)  # no renderer ever runs at this moment
# A date in a PDF string (D:YYYYMMDDHHmmSS…) or in XMP (YYYY-MM-DDTHH:mm:SS…).
_DATE = re.compile(rb"D:(\d{14})|(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})")


def _factur_x(rendered_at: datetime) -> bytes:
    data = document_data(
        e_invoice="factur-x",
        iban="DE89370400440532013000",
        seller=Party(name="Analytical Engines GmbH", country="DE", vat_id="DE123456789", city="Berlin"),
        buyer=Party(name="Acme SARL", country="FR", vat_id="FR40303265045", city="Paris"),
    )
    built = msgspec.json.decode(build.document(msgspec.json.encode(data), rendered_at), type=Built)
    assert built.pdf is not None, built.report
    return built.pdf


def _every_date(pdf: bytes) -> set[str]:
    """Every date written anywhere in the PDF, as YYYYMMDDHHmmSS: each object's dictionary and each stream's
    decoded content (the XMP packet, the embedded XML), the trailer's Info included."""
    reader = PdfReader(io.BytesIO(pdf))
    numbers = sorted({n for table in reader.xref.values() for n in table} | set(reader.xref_objStm))
    found: set[str] = set()
    for number in numbers:
        obj = reader.get_object(number)
        text = repr(obj).encode("utf-8", "surrogatepass")
        if isinstance(obj, StreamObject):
            text += obj.get_data()
        for match in _DATE.finditer(text):
            found.add(match.group(1).decode() if match.group(1) else b"".join(match.groups()[1:]).decode())
    return found


def test_every_date_in_a_factur_x_pdf_is_its_rendered_at_and_info_and_xmp_agree():
    pdf = _factur_x(RENDERED_AT)
    reader = PdfReader(io.BytesIO(pdf))
    stamp = RENDERED_AT.replace(microsecond=0)
    assert reader.metadata is not None and reader.xmp_metadata is not None
    assert reader.metadata["/CreationDate"] == reader.metadata["/ModDate"] == "D:20210304050607+00'00'"
    assert reader.metadata.creation_date == reader.metadata.modification_date == stamp
    assert (
        reader.xmp_metadata.xmp_create_date
        == reader.xmp_metadata.xmp_modify_date
        == stamp.replace(tzinfo=None)
    )
    [spec] = [spec.get_object() for spec in reader.trailer["/Root"]["/AF"]]
    assert spec["/EF"]["/F"].get_object()["/Params"]["/ModDate"] == "D:20210304050607+00'00'"
    # Nothing else anywhere in the file is dated otherwise (the XML's issue date is a date, not a moment).
    assert _every_date(pdf) == {"20210304050607"}
    # Still PDF/A-3b with the Factur-X XMP, the xpacket wrapper kept.
    packet = reader.xmp_metadata.stream.get_data()
    assert packet.startswith(b"<?xpacket begin=") and packet.rstrip().endswith(b'<?xpacket end="w"?>')
    xmp = reader.xmp_metadata.rdf_root.toxml()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#" in xmp
    assert reader.attachments["factur-x.xml"]


@pytest.mark.parametrize("e_invoice", ["none", "factur-x"])
def test_the_same_data_and_rendered_at_give_the_same_bytes(e_invoice: str):
    if e_invoice == "none":
        data = document_data()

        def render(moment: datetime) -> bytes:
            built = msgspec.json.decode(build.document(msgspec.json.encode(data), moment), type=Built)
            assert built.pdf is not None
            return built.pdf
    else:
        render = _factur_x
    assert render(RENDERED_AT) == render(RENDERED_AT)
    later = render(datetime(2021, 3, 4, 5, 6, 8, tzinfo=UTC))
    assert later != render(RENDERED_AT)
    assert "20210304050608" in _every_date(later) and "20210304050607" not in _every_date(later)
