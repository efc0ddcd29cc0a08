from __future__ import annotations

from litestar import Controller


class InvoiceController(Controller):
    path = "/invoices"
    tags = ["invoices"]
