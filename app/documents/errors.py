"""The document problems."""

from __future__ import annotations

from app.core.errors import AppError, RuleError


class EInvoiceInvalid(AppError):
    """Sending would produce an e-invoice that breaks the EN 16931 rules
    (docs/documents-and-e-invoicing.md)."""

    status, code = 422, "e_invoice_invalid"

    @classmethod
    def rules(cls, errors: list[RuleError], kept: str = "the invoice stays a draft") -> EInvoiceInvalid:
        names = ", ".join(sorted({error.rule for error in errors}))
        return cls(f"The e-invoice breaks EN 16931 rule(s) {names}; {kept}", errors=errors)


class DocumentTooLarge(AppError):
    """The rendered document has more pages than DOCUMENT_MAX_PAGES (API.md section 24): nothing is stored."""

    status, code = 422, "document_too_large"

    @classmethod
    def pages(cls, pages: int, limit: int) -> DocumentTooLarge:
        return cls(f"The document would have {pages} pages; at most {limit} are allowed (DOCUMENT_MAX_PAGES)")


class RenderTimeout(AppError):
    """A render or validation ran longer than RENDER_TIMEOUT_SECONDS: its process was replaced (pool.py)."""

    status, code = 503, "render_timeout"
