"""The organisations' own problems."""

from __future__ import annotations

from app.core.errors import AppError


class InvitationInvalid(AppError):
    """The invitation token is expired, revoked, already used, or names no invitation (API.md section 19)."""

    status, code = 410, "invitation_invalid"
