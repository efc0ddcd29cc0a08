"""The worker side of invitations: e-mail the link with its token (API.md section 19)."""

from __future__ import annotations

from typing import Any

from app.config import Settings
from app.core.clock import as_utc, utc_now
from app.db.repository import parse_object_id
from app.mail.delivery import sender_address
from app.mail.notices import Notice, link, register_notice
from app.organizations import invitations
from app.organizations import service as organizations
from app.organizations.models import Invitation
from app.worker import PermanentFailure


def register(settings: Settings) -> None:
    register_notice(settings, invitations.JOB_KIND, compose)


async def compose(settings: Settings, payload: dict[str, Any]) -> Notice | None:
    oid = parse_object_id(payload.get("invitation_id", ""))
    raw = await Invitation.get_motor_collection().find_one({"_id": oid}) if oid else None
    if raw is None:
        raise PermanentFailure("no such invitation")
    invitation = Invitation.model_validate(raw)
    if invitation.status != "pending" or as_utc(invitation.expires_at) <= utc_now():
        return None  # accepted, revoked or expired before it went out: nothing to send
    organization = await organizations.books(invitation.owner_id)
    if organization is None:
        return None
    token = invitations.token_of(settings.jwt_secret, invitation.salt)
    return Notice(
        to=invitation.email,
        subject=f"You are invited to join {organization.name} on Orbix",
        text=(
            f"You have been invited to join {organization.name} as {invitation.role.value}.\n\n"
            f"Accept the invitation: {link(settings, 'invitations', token)}\n\n"
            f"The link works once and expires on {as_utc(invitation.expires_at):%Y-%m-%d %H:%M} UTC.\n"
        ),
        sender=sender_address(settings, organization),
    )
