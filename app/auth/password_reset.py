"""Password reset by e-mail (API.md section 20).

Asking for a reset does the same work for every address, known or not, so that neither its answer nor its
time tells whether an account exists: the request checks that e-mail can go out and queues one job naming
the address and a new random salt; the worker does the rest. The job issues the token (one conditional
update: the user by address, at most three issued an hour, and not from this salt yet) and e-mails the link
while that token is still the user's live one; an unknown address, the fourth reset in an hour, a token
replaced by a newer one before it went out: nothing is sent. A retried job finds its salt among the issued
ones and sends the same link again (delivery is at least once), never a new token.

Confirming checks the token before hashing the new password (a bad token costs no bcrypt), then uses it in one
atomic update that sets the password, clears the password failures, bumps `token_version` (every session
ends, as logout does) and marks the address verified (the link came to it).
"""

from __future__ import annotations

from typing import Any

from app.auth import recovery_tokens
from app.auth.passwords import PasswordHasher
from app.auth.recovery_tokens import PASSWORD_RESET
from app.auth.schemas import PasswordResetConfirmIn
from app.config import Settings
from app.core.one_time_tokens import new_salt
from app.mail.errors import EmailUnavailable
from app.mail.notices import Notice
from app.worker import enqueue

JOB_KIND = "password_reset_email"
NO_SMTP = "E-mail is not configured on this server (SMTP_HOST is not set)"


async def request_reset(settings: Settings, email: str) -> None:
    if not settings.smtp_configured:
        raise EmailUnavailable(NO_SMTP)
    salt = new_salt()
    await enqueue(JOB_KIND, {"email": email, "salt": salt}, dedupe_key=f"{JOB_KIND}:{salt}")


async def compose(settings: Settings, payload: dict[str, Any]) -> Notice | None:
    """The job: issue the token (or find the one this job issued before) and the e-mail carrying it."""
    email, salt = str(payload["email"]), str(payload["salt"])
    user = await recovery_tokens.issue(PASSWORD_RESET, settings.jwt_secret, {"email": email}, salt)
    if user is None:  # no such address, three resets within the hour, or this job's retry
        user = await recovery_tokens.find_user({"email": email})
    return recovery_tokens.notice(
        PASSWORD_RESET,
        settings,
        user,
        salt,
        "Reset your Orbix password",
        lambda url: (
            f"Someone (we hope you) asked to reset the password of your Orbix account {email}.\n\n"
            f"Choose a new password: {url}\n\n"
            "The link works once, within 30 minutes, and every session of the account ends when it is used.\n"
            "If you did not ask for it, ignore this e-mail: your password stays as it is.\n"
        ),
    )


async def confirm(hasher: PasswordHasher, data: PasswordResetConfirmIn) -> None:
    await recovery_tokens.check(PASSWORD_RESET, data.token)
    password_hash = await hasher.hash(data.new_password)
    await recovery_tokens.use(
        PASSWORD_RESET,
        data.token,
        {
            "$set": {
                "password_hash": password_hash,
                "password_failures": [],
                "email_verified": True,
                "live_sessions": [],  # every session ends with its tokens (auth/sessions.py)
            },
            "$inc": {"token_version": 1},
        },
    )
