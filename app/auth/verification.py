"""E-mail verification (API.md section 20).

Registration stores the user with `verification_mailed: false`, answers, and (when SMTP is configured) then
issues a verification token and queues its e-mail, and notes it queued. None of that can fail or slow the
registration: an error is logged, and a periodic task issues and queues the e-mail of every user still
unmailed a while after registering (within the token's 48 hours), so a crash between storing the user and
queueing costs a delay, never the e-mail. Resending issues a new token (the older one stops working) at most
once a minute. The job sends the link while its token is the user's live one and the address unverified.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from app.auth import recovery_tokens
from app.auth.models import User
from app.auth.recovery_tokens import EMAIL_VERIFICATION
from app.config import Settings
from app.core.clock import utc_now
from app.core.one_time_tokens import new_salt
from app.db.repository import parse_object_id
from app.mail.errors import EmailUnavailable
from app.mail.notices import Notice
from app.worker import enqueue

JOB_KIND = "verification_email"
NO_SMTP = "E-mail is not configured on this server (SMTP_HOST is not set)"
# How long after registering an unmailed user is left to its own request (which may still be running).
GRACE = timedelta(seconds=120)
REQUEUE_EVERY_SECONDS = 60.0

log = logging.getLogger("orbix.auth")


async def after_register(settings: Settings, user_id: Any) -> None:
    """Registration's e-mail: never a reason for registering to fail (the periodic task catches up)."""
    if not settings.smtp_configured:
        return
    try:
        await send_verification(settings, user_id)
    except Exception:
        log.exception("the verification e-mail of user %s was not queued; it will be later", user_id)


async def send_verification(settings: Settings, user_id: Any) -> bool:
    """Issue a token and queue its e-mail; False when the user is verified or had one within the minute."""
    salt = new_salt()
    match = {"_id": user_id, "email_verified": False}
    if await recovery_tokens.issue(EMAIL_VERIFICATION, settings.jwt_secret, match, salt) is None:
        return False
    await enqueue(JOB_KIND, {"user_id": str(user_id), "salt": salt}, dedupe_key=f"{JOB_KIND}:{salt}")
    await User.get_motor_collection().update_one({"_id": user_id}, {"$set": {"verification_mailed": True}})
    return True


async def resend(settings: Settings, user_id: Any) -> None:
    """202 when queued or nothing to verify; 503 without SMTP; 429 within a minute of the last one."""
    if not settings.smtp_configured:
        raise EmailUnavailable(NO_SMTP)
    if await send_verification(settings, user_id):
        return
    user = await recovery_tokens.find_user({"_id": user_id})
    if user is None or user.get("email_verified"):
        return
    raise recovery_tokens.too_soon(
        EMAIL_VERIFICATION, user.get(EMAIL_VERIFICATION.sent) or [], "A verification e-mail was just sent"
    )


async def compose(settings: Settings, payload: dict[str, Any]) -> Notice | None:
    salt = str(payload["salt"])
    user = await recovery_tokens.find_user({"_id": parse_object_id(str(payload["user_id"]))})
    if user is None or user.get("email_verified"):
        return None
    return recovery_tokens.notice(
        EMAIL_VERIFICATION,
        settings,
        user,
        salt,
        "Confirm your e-mail address for Orbix",
        lambda url: (
            f"Welcome to Orbix, {user.get('name', '')}.\n\n"
            f"Confirm that {user['email']} is your address: {url}\n\n"
            "The link works once, within 48 hours.\n"
        ),
    )


async def verify(given: str) -> None:
    await recovery_tokens.use(EMAIL_VERIFICATION, given, {"$set": {"email_verified": True}})


async def requeue_unmailed(settings: Settings, cutoff: datetime | None = None) -> None:
    """The e-mails of the users registered between the token's lifetime and GRACE ago whose request died
    before queueing one."""
    if not settings.smtp_configured:
        return
    cutoff = cutoff or utc_now() - GRACE
    async for raw in User.get_motor_collection().find(
        {
            "verification_mailed": False,
            "created_at": {"$lte": cutoff, "$gt": cutoff - EMAIL_VERIFICATION.lifetime},
        },
        {"_id": 1},
    ):
        await _requeue(settings, raw["_id"])


async def _requeue(settings: Settings, user_id: ObjectId) -> None:
    if not await send_verification(settings, user_id):  # verified meanwhile: nothing to send, ever
        await User.get_motor_collection().update_one(
            {"_id": user_id, "email_verified": True}, {"$set": {"verification_mailed": True}}
        )
