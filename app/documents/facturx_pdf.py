"""Embed the CII XML into the PDF/A-3b as `factur-x.xml` (AFRelationship Data) with the Factur-X XMP
extension schema, through the `factur-x` package. Its Schematron option stays off: the check ran before
(validation.py), and factur-x's own one would post to a Saxon server and skip silently without one.
"""

from __future__ import annotations

from facturx import generate_from_binary

from app.documents.cii import xml_text
from app.documents.model import DocumentData, map_text


def embed(pdf: bytes, xml: bytes, data: DocumentData) -> bytes:
    data = map_text(data, xml_text)  # the metadata goes into the XMP packet: XML, too
    metadata = {
        "author": data.seller.name,
        "keywords": "Factur-X, Invoice",
        "title": f"{data.seller.name}: Invoice {data.number}",
        "subject": f"Factur-X invoice {data.number} of {data.issue_date.isoformat()} by {data.seller.name}",
    }
    return generate_from_binary(
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
