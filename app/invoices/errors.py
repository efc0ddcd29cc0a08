"""The invoice problems."""

from __future__ import annotations

from app.core.errors import Conflict


class TooManyPayments(Conflict):
    """An invoice keeps at most MAX_PAYMENTS payments (so that no document nears MongoDB's 16 MiB)."""

    code = "too_many_payments"
