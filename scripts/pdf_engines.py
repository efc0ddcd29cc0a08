"""Compare PDF engines that install with pip alone: render time (1 and 200 lines), installed footprint,
PDF/A-3 support and text extractability (read back with pypdf). Prints one table; docs/benchmarks.md
keeps the numbers. Usage: .venv/bin/python scripts/pdf_engines.py [rounds]
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pypdf import PdfReader

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
NUMBER, TOTAL = "INV-0042", "1.234,56 €"


def lines(count: int) -> list[tuple[str, str, str]]:
    return [(f"Beratung Größe {i} — café", "1,50", "150,00 €") for i in range(count)]


TYPST_TEMPLATE = """
#let d = json(bytes(sys.inputs.data))
#set page(paper: "a4", margin: 2cm)
#set text(size: 10pt, lang: "de")
= Rechnung #d.number
#table(columns: (1fr, auto, auto), ..d.lines.flatten())
*Gesamt: #d.total*
"""


def render_typst(rows: list[tuple[str, str, str]]) -> bytes:
    import typst

    with tempfile.NamedTemporaryFile("w", suffix=".typ", delete=False) as template:
        template.write(TYPST_TEMPLATE)
    data = json.dumps({"number": NUMBER, "total": TOTAL, "lines": rows})
    return typst.compile(  # type: ignore[no-any-return]
        template.name, sys_inputs={"data": data}, pdf_standards=["a-3b"], ignore_system_fonts=True
    )


def render_fpdf2(rows: list[tuple[str, str, str]]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    # Its core fonts are Latin-1 only (no "—") and never embedded; a TTF is needed. fpdf2 ships none,
    # so this borrows ReportLab's Bitstream Vera (the fpdf2 footprint below does not count it).
    pdf.add_font("vera", fname=str(Path(reportlab_fonts(), "Vera.ttf")))
    pdf.set_font("vera", size=10)
    pdf.cell(0, 10, f"Rechnung {NUMBER}", new_x="LMARGIN", new_y="NEXT")
    with pdf.table(first_row_as_headings=False) as table:
        for row in rows:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.set_font("vera", size=10)
    pdf.cell(0, 10, f"Gesamt: {TOTAL}")
    return bytes(pdf.output())


def reportlab_fonts() -> str:
    import reportlab

    return str(Path(reportlab.__file__).parent / "fonts")


def render_reportlab(rows: list[tuple[str, str, str]]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table

    buffer = io.BytesIO()
    # The built-in Helvetica is not embedded (never PDF/A) and lacks "—": register the bundled Vera.
    pdfmetrics.registerFont(TTFont("Vera", str(Path(reportlab_fonts(), "Vera.ttf"))))
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = "Vera"
    table = Table(rows, style=[("FONTNAME", (0, 0), (-1, -1), "Vera")])
    story = [Paragraph(f"Rechnung {NUMBER}", styles["Heading1"]), table, Paragraph(f"Gesamt: {TOTAL}")]
    SimpleDocTemplate(buffer, pagesize=A4).build(story)
    return buffer.getvalue()


def footprint(*distributions: str) -> float:
    """Installed size in MB of the distributions' files (what pip puts in site-packages)."""
    total = 0
    for name in distributions:
        for file in importlib.metadata.distribution(name).files or []:
            path = Path(file.locate())
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def timed(render: Callable[[list[tuple[str, str, str]]], bytes], count: int) -> tuple[float, bytes]:
    render(lines(count))  # warm-up: imports, font loading
    samples, pdf = [], b""
    for _ in range(ROUNDS):
        start = time.perf_counter()
        pdf = render(lines(count))
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), pdf


def pdfa_part(pdf: bytes) -> str:
    xmp = PdfReader(io.BytesIO(pdf)).xmp_metadata
    if xmp is None:
        return "no"
    part = xmp.rdf_root.getElementsByTagNameNS("http://www.aiim.org/pdfa/ns/id/", "part")
    return f"PDF/A-{part[0].firstChild.data}" if part and part[0].firstChild else "no"


def extractable(pdf: bytes) -> str:
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return "yes" if NUMBER in text and "Größe" in text and "€" in text else "partly"


ENGINES = {
    "typst": (render_typst, ("typst",)),
    "fpdf2": (render_fpdf2, ("fpdf2", "fonttools", "defusedxml", "pillow")),
    "reportlab": (render_reportlab, ("reportlab", "pillow", "charset-normalizer")),
}


def main() -> None:
    print(f"median of {ROUNDS} renders after one warm-up, on {sys.platform}")
    header = "engine", "1 line ms", "200 lines ms", "pages", "installed MB", "PDF/A out of the box", "text"
    print(" | ".join(header))
    for name, (render, distributions) in ENGINES.items():
        one, _ = timed(render, 1)
        many, pdf = timed(render, 200)
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        row = (name, f"{one:.1f}", f"{many:.1f}", str(pages), f"{footprint(*distributions):.1f}")
        print(" | ".join((*row, pdfa_part(pdf), extractable(pdf))))


if __name__ == "__main__":
    main()
