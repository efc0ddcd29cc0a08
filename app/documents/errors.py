"""The document problems."""

from __future__ import annotations

from app.core.errors import AppError, RuleError


class EInvoiceInvalid(AppError):
    """Sending would produce an e-invoice that breaks the EN 16931 rules
    (docs/documents-and-e-invoicing.md)."""

    status, code = 422, "e_invoice_invalid"

    @classmethod
    def rules(cls, errors: list[RuleError]) -> EInvoiceInvalid:
        names = ", ".join(sorted({error.rule for error in errors}))
        return cls(f"The e-invoice breaks EN 16931 rule(s) {names}; the invoice stays a draft", errors=errors)
