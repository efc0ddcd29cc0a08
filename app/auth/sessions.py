"""Sessions: one per login or registration (API.md section 20). The token carries the session's id (`sid`);
the user document keeps the ids of the live sessions (newest LIVE_SESSIONS_KEPT), which the one authenticating
lookup reads, so ending a session is refused on the next request through any process. The session documents
hold what a user sees of their devices; `last_active_at` is written at most once a minute per session and
process, after the answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo import ASCENDING, IndexModel

from app.auth.models import User
from app.core.clock import utc_now
from app.core.errors import NotFound, ValidationFailed
from app.db.pagination import Page, PageParams, Sorts, paginate
from app.db.repository import TimestampedDocument, parse_object_id

LIVE_SESSIONS_KEPT = 50  # a login beyond it ends the user's oldest session
USER_AGENT_KEPT = 300


class Session(TimestampedDocument):
    user_id: PydanticObjectId
    user_agent: str | None = None
    ip: str | None = None
    last_active_at: datetime
    expires_at: datetime
    cookie: bool = False

    class Settings:
        name = "sessions"
        indexes = [
            # a user's live sessions in either order of each sort (pagination adds _id in the same direction)
            IndexModel(
                [("user_id", ASCENDING), ("last_active_at", ASCENDING), ("_id", ASCENDING)],
                name="user_last_active",
            ),
            IndexModel(
                [("user_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)], name="user_created"
            ),
            # gone once expired (MongoDB's TTL monitor); its token expired with it
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="session_expiry_ttl"),
        ]


def to_the_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def new_session(
    user_id: ObjectId, user_agent: str | None, ip: str | None, lifetime: timedelta, *, cookie: bool
) -> Session:
    now = utc_now()
    return Session(
        user_id=PydanticObjectId(user_id),
        user_agent=user_agent[:USER_AGENT_KEPT] if user_agent else None,
        ip=ip,
        last_active_at=to_the_minute(now),
        expires_at=now + lifetime,
        cookie=cookie,
    )


async def open_session(session: Session) -> None:
    """Store the session, then make it live on the user (the newest LIVE_SESSIONS_KEPT stay live). Killed
    between the two, the session is never live: its token was never handed out."""
    await session.insert()
    await User.get_motor_collection().update_one(
        {"_id": session.user_id},
        {"$push": {"live_sessions": {"$each": [session.id], "$slice": -LIVE_SESSIONS_KEPT}}},
    )


async def end_session(user_id: ObjectId, session_id: str) -> None:
    """That device's token is refused from its next request; 404 unless it is one of the user's live ones."""
    oid = parse_object_id(session_id)
    ended = await User.get_motor_collection().update_one(
        {"_id": user_id, "live_sessions": oid}, {"$pull": {"live_sessions": oid}}
    )
    if oid is None or not ended.modified_count:
        raise NotFound(f"No session with id {session_id!r}")


SORTS = Sorts({"last_active_at": "last_active_at", "created_at": "created_at"})


async def list_sessions(user: User, params: PageParams) -> Page[Session]:
    """The user's live sessions (a session ended or pushed out of the live list is not shown)."""
    assert user.id is not None
    if params.after is not None:
        raise ValidationFailed.field("after", "this list pages by offset only")
    return await paginate(Session, {"user_id": user.id, "_id": {"$in": user.live_sessions}}, params, SORTS)


_last_written: dict[ObjectId, datetime] = {}
_REMEMBERED = 10_000


def activity_to_record(sid: ObjectId, now: datetime) -> datetime | None:
    """The minute to write as the session's last activity, once per minute per session in this process."""
    minute = to_the_minute(now)
    if _last_written.get(sid) == minute:
        return None
    if len(_last_written) >= _REMEMBERED:
        _last_written.clear()
    _last_written[sid] = minute
    return minute


async def record_activity(sid: ObjectId, minute: datetime) -> None:
    await Session.get_motor_collection().update_one({"_id": sid}, {"$max": {"last_active_at": minute}})


def csrf_token(secret: str, sid: str) -> str:
    """The double-submit token of a cookie session: derived from its id, so nothing more is stored."""
    digest = hmac.new(secret.encode(), f"csrf:{sid}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_matches(secret: str, sid: str, sent: str | None) -> bool:
    """Constant-time; compared as bytes, so a header that is not ASCII is simply no match (never a 500)."""
    if sent is None:
        return False
    return hmac.compare_digest(csrf_token(secret, sid).encode(), sent.encode("utf-8", "surrogateescape"))
