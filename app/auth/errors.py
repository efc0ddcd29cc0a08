"""The account problems."""

from __future__ import annotations

from app.core.errors import Conflict


class EmailTaken(Conflict):
    code = "email_taken"
