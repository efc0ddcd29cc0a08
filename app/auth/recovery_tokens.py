"""The one-time tokens an account receives by e-mail: a password reset (30 minutes) and an e-mail
verification (48 hours), one live token of each kind per user (API.md section 20).

Each lives on the user document as `{salt, token_hash, expires_at}` (core/one_time_tokens.py: the token
itself is derived from the salt with the server's secret, by the worker that e-mails it, and stored nowhere).
Issuing one is one conditional update that also takes one of the purpose's sends in its window (three resets
an hour, one verification a minute): a newer token replaces the older, so the older stops working. Using
one is one conditional update too, matching the token's hash while it is unexpired, removing it and making
the change it proves: two uses at once, one wins; the loser, a used, replaced or expired token → 410.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument

from app.auth.errors import TokenInvalid
from app.auth.models import User
from app.config import Settings
from app.core.clock import as_utc, utc_now
from app.core.errors import RateLimited
from app.core.one_time_tokens import token_hash, token_of
from app.db import versions
from app.db.repository import to_bson
from app.mail.notices import Notice, link

INVALID = "This link is expired, used or replaced by a newer one"


@dataclass(frozen=True)
class Purpose:
    field: str  # the user's live token of this purpose
    sent: str  # the user's last issues: SentNotice, newest last, `sends` kept
    prefix: str  # of the token: says what it is for where it shows up
    page: str  # the SPA's page that takes it: {PUBLIC_URL}/{page}/{token}
    lifetime: timedelta
    sends: int  # at most this many issued per `window`
    window: timedelta


PASSWORD_RESET = Purpose(
    "password_reset",
    "password_reset_sent",
    "orbix_rst_",
    "reset-password",
    lifetime=timedelta(minutes=30),
    sends=3,
    window=timedelta(hours=1),
)
EMAIL_VERIFICATION = Purpose(
    "email_verification",
    "verification_sent",
    "orbix_ver_",
    "verify-email",
    lifetime=timedelta(hours=48),
    sends=1,
    window=timedelta(minutes=1),
)
# What issuing and the e-mail's job read of the user.
PROJECTION = {"email": 1, "name": 1, "email_verified": 1, "password_reset": 1, "email_verification": 1}


def token(purpose: Purpose, secret: str, salt: str) -> str:
    return token_of(secret, salt, purpose.prefix)


async def issue(purpose: Purpose, secret: str, match: dict[str, Any], salt: str) -> dict[str, Any] | None:
    """Give the user `match` finds a new token derived from `salt`, replacing their older one, when fewer than
    `purpose.sends` were issued within `purpose.window` and none from this salt yet. The user as stored
    after, or None when nothing matched (no such user, too many issued, or this salt's issued already)."""
    now = utc_now()
    stored = {
        "salt": salt,
        "token_hash": token_hash(token(purpose, secret, salt)),
        "expires_at": now + purpose.lifetime,
    }
    found: dict[str, Any] | None = await User.get_motor_collection().find_one_and_update(
        {
            **match,
            f"{purpose.sent}.salt": {"$ne": salt},
            "$nor": [
                {
                    f"{purpose.sent}.{purpose.sends - 1}": {"$exists": True},
                    f"{purpose.sent}.0.at": {"$gt": now - purpose.window},
                }
            ],
        },
        {
            "$set": {purpose.field: stored},
            "$push": {purpose.sent: {"$each": [{"at": now, "salt": salt}], "$slice": -purpose.sends}},
        },
        projection=PROJECTION,
        return_document=ReturnDocument.AFTER,
    )
    return found


def is_live(purpose: Purpose, user: dict[str, Any], salt: str) -> bool:
    """Whether the user's token of `purpose` is still the one from `salt`, unused and unexpired: what an
    e-mail's job checks before sending it (a replaced or used one is not sent)."""
    current = user.get(purpose.field) or {}
    expires_at = current.get("expires_at")
    return current.get("salt") == salt and expires_at is not None and as_utc(expires_at) > utc_now()


def notice(
    purpose: Purpose,
    settings: Settings,
    user: dict[str, Any] | None,
    salt: str,
    subject: str,
    text: Callable[[str], str],
) -> Notice | None:
    """The e-mail of the user's token from `salt` (`text` of its link), or None when that token is no longer
    live (used, replaced or expired before it went out)."""
    if user is None or not is_live(purpose, user, salt):
        return None
    url = link(settings, purpose.page, token(purpose, settings.jwt_secret, salt))
    return Notice(to=user["email"], subject=subject, text=text(url))


def _holding(purpose: Purpose, given: str) -> dict[str, Any]:
    field = purpose.field
    return {f"{field}.token_hash": token_hash(given), f"{field}.expires_at": {"$gt": utc_now()}}


async def check(purpose: Purpose, given: str) -> None:
    """410 unless `given` is a live token of `purpose` (before costly work; `use` decides)."""
    if not await User.get_motor_collection().count_documents(_holding(purpose, given), limit=1):
        raise TokenInvalid(INVALID)


async def use(purpose: Purpose, given: str, change: dict[str, Any]) -> dict[str, Any]:
    """Use the live token `given` once, making `change` (update operators) in the same atomic update; the
    user after, or 410."""
    operation = versions.bump({**change, "$set": {**change.get("$set", {}), "updated_at": utc_now()}})
    operation["$unset"] = {purpose.field: ""}
    raw: dict[str, Any] | None = await User.get_motor_collection().find_one_and_update(
        _holding(purpose, given), to_bson(operation), return_document=ReturnDocument.AFTER
    )
    if raw is None:
        raise TokenInvalid(INVALID)
    return raw


def too_soon(purpose: Purpose, sent: list[dict[str, Any]], what: str) -> RateLimited:
    """The 429 of an issue refused by the window: Retry-After when the oldest issue kept leaves it."""
    now = utc_now()
    oldest: datetime = as_utc(sent[0]["at"]) if sent else now
    wait = max(1, math.ceil((oldest + purpose.window - now).total_seconds()))
    return RateLimited(f"{what}: try again in {wait} seconds", headers={"Retry-After": str(wait)})


async def find_user(match: dict[str, Any]) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await User.get_motor_collection().find_one(
        match, {**PROJECTION, PASSWORD_RESET.sent: 1, EMAIL_VERIFICATION.sent: 1}
    )
    return found
