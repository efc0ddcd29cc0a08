"""The account problems."""

from __future__ import annotations

from app.core.errors import AppError, Conflict


class EmailTaken(Conflict):
    code = "email_taken"


class TokenInvalid(AppError):
    """A password reset or e-mail verification token that is expired, used, replaced or unknown."""

    status, code = 410, "token_invalid"
