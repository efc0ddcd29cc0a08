"""API.md section 24, "Any text renders": every character a field accepts prints in the PDF, in any script,
with the fonts the project ships (PDF/A-3b kept); one no shipped font has prints as U+FFFD, never a 500.
Section 16: the Factur-X XML of such an invoice still passes the XSD and the official Schematron."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from bson import ObjectId
from lxml import etree
from pypdf import PdfReader

from app.clients.models import Client
from app.documents import fonts
from app.documents.cii import xml_text
from app.documents.model import Party
from app.documents.pdf import render_pdf
from app.invoices.models import Invoice
from tests.documents.factories import document_data, pdf_text, set_business, worked_example
from tests.documents.test_factur_x import NS

REPLACEMENT = "\ufffd"
# Read back exactly: scripts whose characters pypdf extracts one for one, in order.
EXACT = {
    "Latin": "Ærøskøbing Straße, Tiếng Việt",
    "Greek": "Ελληνικά τιμολόγια",
    "Cyrillic": "Консультация по проекту",
    "Chinese": "软件开发服务",
    "Japanese": "株式会社トヨタ",
    "Korean": "소프트웨어 개발",
    "Emoji": "Deploy 🚀",
}
# Shaped or right-to-left: extraction reorders them, so the PDF is checked for their characters, for the
# face that set them (Hebrew: the body font, Libertinus Serif, has it) and for no replacement mark.
SHAPED = {
    "Hebrew": ("פיתוח תוכנה", None),
    "Arabic": ("تطوير البرمجيات", "NotoSansArabic"),
    "Thai": ("พัฒนาซอฟต์แวร์", "NotoSansThai"),
    "Devanagari": ("सॉफ़्टवेयर विकास", "NotoSansDevanagari"),
}
LINES = [*EXACT.values(), *(text for text, _ in SHAPED.values())]


def embedded_fonts(pdf: bytes) -> set[str]:
    """The base names of the fonts the pages use, without their subset tags."""
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]).lstrip("/").split("+", 1)[-1])
    return names


def assert_every_script_printed(pdf: bytes) -> None:
    text = pdf_text(pdf)
    for script, written in EXACT.items():
        assert written in text, script
    used = embedded_fonts(pdf)
    for script, (written, face) in SHAPED.items():
        assert set(written) <= set(text), script
        assert face is None or any(name.startswith(face) for name in used), (script, used)
    assert any(name.startswith("NotoSansCJKjp") for name in used)  # kana in the document: Japanese first
    assert any(name.startswith("NotoEmoji") for name in used)
    assert REPLACEMENT not in text


async def test_every_script_renders_in_the_draft_the_sent_pdf_and_the_e_invoice(client, auth):
    await set_business(client, auth, company_name="Ελληνικά Λογισμικά Α.Ε.")
    draft = await worked_example(
        client,
        auth,
        client_fields={"company": "株式会社トヨタ", "address": {"line1": "東京都港区1-2-3", "country": "JP"}},
        lines=[{"description": text, "quantity": "1", "unit_price": "10"} for text in LINES],
        notes="Спасибо! شكرا 감사합니다 ขอบคุณ 🙏",
    )

    preview = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)
    assert preview.status_code == 200
    assert_every_script_printed(preview.content)
    assert "Ελληνικά Λογισμικά Α.Ε." in pdf_text(preview.content)

    report = (await client.post(f"/api/invoices/{draft['id']}/validate", headers=auth)).json()
    assert report["valid"] is True, report["errors"]

    sent = await client.post(f"/api/invoices/{draft['id']}/send", headers=auth)
    assert sent.status_code == 200, sent.text
    stored = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)
    assert stored.status_code == 200
    assert_every_script_printed(stored.content)
    xmp = PdfReader(io.BytesIO(stored.content)).xmp_metadata.rdf_root.toxml()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp
    again = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)
    assert again.content == stored.content

    xml = (await client.get(f"/api/invoices/{draft['id']}/e-invoice", headers=auth)).content
    names = etree.fromstring(xml).xpath("//ram:SpecifiedTradeProduct/ram:Name/text()", namespaces=NS)
    assert names == LINES  # the XML carries the text as written, every script
    assert "株式会社トヨタ" in xml.decode()


async def test_a_character_no_shipped_font_has_prints_as_the_replacement(client, auth):
    await set_business(client, auth, e_invoice="none")
    # Private use (planes 0 and 15) means nothing outside its agreement; U+0378 is unassigned; U+0F40
    # (Tibetan KA) is a real letter no shipped font draws.
    line = "Logo \ue000 \U000f0000 \u0378 \u0f40 end"
    lines = [{"description": line, "quantity": "1", "unit_price": "5"}]
    draft = await worked_example(client, auth, lines=lines)
    preview = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)
    assert preview.status_code == 200
    assert f"Logo {REPLACEMENT} {REPLACEMENT} {REPLACEMENT} {REPLACEMENT} end" in pdf_text(preview.content)
    sent = await client.post(f"/api/invoices/{draft['id']}/send", headers=auth)
    assert sent.status_code == 200, sent.text
    stored = await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)
    assert f"Logo {REPLACEMENT}" in pdf_text(stored.content)


async def test_characters_xml_cannot_hold_become_the_replacement_in_the_e_invoice(client, auth):
    """U+FFFE and U+FFFF are not XML 1.0 characters; stored text holding them (whatever the input rules
    are now) still validates, sends and prints, with U+FFFD in their place in the XML and the PDF."""
    await set_business(client, auth)
    draft = await worked_example(client, auth)
    await Invoice.get_motor_collection().update_one(
        {"_id": ObjectId(draft["id"])},
        {"$set": {"lines.0.description": "Widgets \ufffe", "notes": "Thanks \uffff"}},
    )
    await Client.get_motor_collection().update_one(
        {"_id": ObjectId(draft["client_id"])}, {"$set": {"company": "Acme \uffff SARL"}}
    )

    xml = await client.get(f"/api/invoices/{draft['id']}/e-invoice", headers=auth)
    assert xml.status_code == 200
    assert f"Widgets {REPLACEMENT}" in xml.text and f"Acme {REPLACEMENT} SARL" in xml.text
    report = await client.post(f"/api/invoices/{draft['id']}/validate", headers=auth)
    assert report.status_code == 200 and report.json()["valid"] is True, report.text
    sent = await client.post(f"/api/invoices/{draft['id']}/send", headers=auth)
    assert sent.status_code == 200, sent.text
    pdf = (await client.get(f"/api/invoices/{draft['id']}/pdf", headers=auth)).content
    assert f"Acme {REPLACEMENT} SARL" in pdf_text(pdf)
    attached = PdfReader(io.BytesIO(pdf)).attachments["factur-x.xml"][0]
    assert f"Widgets {REPLACEMENT}".encode() in attached


async def test_a_long_name_in_a_wide_script_still_gets_its_epc_qr_code(client, auth):
    """70 emoji are 280 bytes of UTF-8, more than an EPC payload holds: the name is cut to fit."""
    await set_business(client, auth, e_invoice="none", company_name="🚀" * 70)
    sent = await client.post(f"/api/invoices/{(await worked_example(client, auth))['id']}/send", headers=auth)
    assert sent.status_code == 200, sent.text
    text = pdf_text((await client.get(f"/api/invoices/{sent.json()['id']}/pdf", headers=auth)).content)
    assert "GiroCode" in text and "🚀" in text


def test_no_code_point_breaks_the_pdf():
    """A sample of every plane's code points, each of them printed or replaced: Typst never refuses one."""
    points = [*range(0x20, 0x3_0000, 7), *range(0xE_0000, 0x11_0000, 257), 0xFFFE, 0xFFFF]
    text = "".join(chr(point) for point in points if not 0xD800 <= point <= 0xDFFF)
    data = document_data(notes=text, seller=Party(name=text[:200]))
    pdf = render_pdf(data, rendered_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert PdfReader(io.BytesIO(pdf)).pages


def test_the_font_list_puts_the_texts_own_cjk_face_first():
    def first_cjk(texts: list[str], locale: str = "en") -> str:
        return next(face for face in fonts.families(texts, locale) if face in fonts.CJK)

    assert first_cjk(["株式会社トヨタ"]) == "Noto Sans CJK JP"
    assert first_cjk(["삼성전자"]) == "Noto Sans CJK KR"
    assert first_cjk(["北京软件有限公司"]) == "Noto Sans CJK SC"
    assert first_cjk(["北京軟件有限公司"], "zh_TW") == "Noto Sans CJK TC"
    assert fonts.families([], "de")[0] == "Libertinus Serif"  # Latin text looks as it always did


def test_what_prints_and_what_is_replaced():
    assert fonts.printable("株式会社トヨタ Ελληνικά Deploy 🚀") == "株式会社トヨタ Ελληνικά Deploy 🚀"
    # Variation selectors (emoji, ideographic) and skin-tone modifiers stay: Typst shapes them.
    assert fonts.printable("❤️ 👍🏽 葛\U000e0100") == "❤️ 👍🏽 葛\U000e0100"
    assert fonts.printable("a\ue000b\U0010fffdc\u0378d\ufffe") == "a\ufffdb\ufffdc\ufffdd\ufffd"
    assert fonts.printable("tab\tnew\nline") == "tab\tnew\nline"
    # Private use is legal XML: the e-invoice keeps it as written.
    assert xml_text("a\ufffe\uffff\x0bb\t\n\ue000") == "a\ufffd\ufffd\ufffdb\t\n\ue000"
