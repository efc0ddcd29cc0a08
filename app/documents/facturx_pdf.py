"""Embed the CII XML into the PDF/A-3b as `factur-x.xml` (AFRelationship Data) with the Factur-X XMP
extension schema, through the `factur-x` package. Its Schematron option stays off: the check ran before
(validation.py), and factur-x's own one would post to a Saxon server and skip silently without one.

factur-x stamps the moment it runs (its own clock: it takes no date) into the Info dictionary (/CreationDate,
/ModDate), the XMP packet (xmp:CreateDate, xmp:ModifyDate) and the embedded file's /Params /ModDate. Each is
then set to the document's `rendered_at` (dated), the moment the Typst PDF is dated too, so a document is a
function of its data and `rendered_at` alone (a recovered send stores the very bytes the send would have),
and the Info and XMP dates agree, as PDF/A requires.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from facturx import generate_from_binary
from lxml import etree
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from app.documents.cii import xml_text
from app.documents.model import DocumentData, map_text

XMP = "http://ns.adobe.com/xap/1.0/"
XMP_DATES = ("CreateDate", "ModifyDate", "MetadataDate")


def embed(pdf: bytes, xml: bytes, data: DocumentData, rendered_at: datetime) -> bytes:
    data = map_text(data, xml_text)  # the metadata goes into the XMP packet: XML, too
    kind = "Credit note" if data.credit_note else "Invoice"
    metadata = {
        "author": data.seller.name,
        "keywords": f"Factur-X, {kind}",
        "title": f"{data.seller.name}: {kind} {data.number}",
        "subject": (
            f"Factur-X {kind.lower()} {data.number} of {data.issue_date.isoformat()} by {data.seller.name}"
        ),
    }
    embedded = generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=False,
        check_schematron=False,
        pdf_metadata=metadata,
        lang=data.locale,
        afrelationship="data",
    )
    return dated(embedded, rendered_at)


def dated(pdf: bytes, moment: datetime) -> bytes:
    """`pdf` with every date its metadata carries set to `moment` (to the second, in UTC, in the forms
    factur-x writes): the Info dictionary's, the XMP packet's and each embedded file's."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    info_date = moment.strftime("D:%Y%m%d%H%M%S+00'00'")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)), keep_initial_header=True)
    writer.add_metadata({"/CreationDate": info_date, "/ModDate": info_date})
    if writer.xmp_metadata is not None:
        writer.xmp_metadata = _xmp_dated(writer.xmp_metadata.stream.get_data(), moment)
    for spec in _embedded_files(writer):
        for stream in spec.get("/EF", DictionaryObject()).values():
            params = stream.get_object().get("/Params")
            if params is None:
                continue
            params = params.get_object()
            for key in ("/CreationDate", "/ModDate"):
                if key in params:
                    params[NameObject(key)] = TextStringObject(info_date)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _xmp_dated(packet: bytes, moment: datetime) -> bytes:
    """The XMP packet with its xmp: dates set to `moment`; the rest as it was (the xpacket wrapper too)."""
    root = etree.fromstring(packet, etree.XMLParser(remove_blank_text=False, resolve_entities=False))
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    for name in XMP_DATES:
        for element in root.iter(f"{{{XMP}}}{name}"):
            element.text = stamp
    return etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=False)


def _embedded_files(writer: PdfWriter) -> list[Any]:
    """The file specifications of the /EmbeddedFiles name tree (a flat /Names array, as factur-x writes)."""
    names = writer.root_object.get("/Names")
    tree = names.get_object().get("/EmbeddedFiles") if names is not None else None
    if tree is None:
        return []
    pairs = tree.get_object().get("/Names", [])
    return [pairs[i + 1].get_object() for i in range(0, len(pairs) - 1, 2)]
