"""The worker side of invitations: e-mail the link with its token (API.md section 19)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from app.config import Settings
from app.core.clock import as_utc, utc_now
from app.db.repository import parse_object_id
from app.mail.delivery import describe, is_permanent, send, sender_address
from app.organizations import invitations
from app.organizations import service as organizations
from app.organizations.models import Invitation
from app.worker import PermanentFailure, register_handler

MAX_ATTEMPTS = 12


def register(settings: Settings) -> None:
    register_handler(invitations.JOB_KIND, handler(settings), max_attempts=MAX_ATTEMPTS)


def handler(settings: Settings) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def deliver(payload: dict[str, Any]) -> None:
        oid = parse_object_id(payload.get("invitation_id", ""))
        raw = await Invitation.get_motor_collection().find_one({"_id": oid}) if oid else None
        if raw is None:
            raise PermanentFailure("no such invitation")
        invitation = Invitation.model_validate(raw)
        if invitation.status != "pending" or as_utc(invitation.expires_at) <= utc_now():
            return  # accepted, revoked or expired before it went out: nothing to send
        organization = await organizations.books(invitation.owner_id)
        if organization is None:
            return
        if not settings.smtp_configured:
            raise RuntimeError("SMTP_HOST is not set in the worker's environment")  # retried later
        message = build_message(settings, organization, invitation)
        try:
            await send(settings, message, [invitation.email])
        except (aiosmtplib.SMTPException, OSError) as error:
            if is_permanent(error):
                raise PermanentFailure(describe(error)) from error
            raise

    return deliver


def build_message(settings: Settings, organization: Any, invitation: Invitation) -> EmailMessage:
    token = invitations.token_of(settings.jwt_secret, invitation.salt)
    link = f"{settings.public_url.rstrip('/')}/invitations/{token}"
    message = EmailMessage()
    message["From"] = sender_address(settings, organization)
    message["To"] = invitation.email
    message["Subject"] = f"You are invited to join {organization.name} on Orbix"
    message.set_content(
        f"You have been invited to join {organization.name} as {invitation.role.value}.\n\n"
        f"Accept the invitation: {link}\n\n"
        f"The link works once and expires on {as_utc(invitation.expires_at):%Y-%m-%d %H:%M} UTC.\n"
    )
    return message
