"""The e-mail problems."""

from __future__ import annotations

from app.core.errors import AppError


class EmailUnavailable(AppError):
    """No SMTP server is configured (SMTP_HOST), so no e-mail can be queued."""

    status, code = 503, "email_unavailable"
