from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from beanie import PydanticObjectId
from bson import ObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from app.core.clock import utc_now
from app.core.roles import Role
from app.db.outbox import OUTBOX_INDEX, PendingEvent
from app.db.repository import TimestampedDocument
from app.organizations.models import Actor, BusinessProfile, Organization


class Membership(BaseModel):
    organization_id: PydanticObjectId
    role: Role
    joined_at: datetime = Field(default_factory=utc_now)


class OneTimeToken(BaseModel):
    """A live password reset or e-mail verification token (auth/recovery_tokens.py): the salt it is derived
    from with the server's secret and its SHA-256, never the token."""

    salt: str
    token_hash: str
    expires_at: datetime


class SentNotice(BaseModel):
    """When a token's e-mail was issued, and the salt of that token (a retried job knows its own)."""

    at: datetime
    salt: str


class User(TimestampedDocument):
    email: str
    name: str
    password_hash: str
    # Bumped by logout and change-password: every token carrying an older `ver` is refused.
    token_version: int = 0
    email_verified: bool = False
    # Every organisation the user belongs to, with their role: read by the one lookup that authenticates a
    # request, so a removal is effective on the next request on every process. The personal one has the
    # user's id.
    memberships: list[Membership] = Field(default_factory=list)
    default_organization_id: PydanticObjectId | None = None
    # The ids of the live sessions, newest last (auth/sessions.py): a token's `sid` must be one of them.
    live_sessions: list[PydanticObjectId] = Field(default_factory=list)
    # The profile before organisations existed: `migrate` moves it to the personal organisation.
    business: BusinessProfile | None = None
    # When current_password was last checked by change-password (newest five, a right guess removed).
    password_failures: list[datetime] = Field(default_factory=list)
    # The one live password reset token (a newer one replaces it) and the last resets issued (newest three).
    password_reset: OneTimeToken | None = None
    password_reset_sent: list[SentNotice] = Field(default_factory=list)
    # The same for e-mail verification (the newest one issued: at most one a minute).
    email_verification: OneTimeToken | None = None
    verification_sent: list[SentNotice] = Field(default_factory=list)
    # False until registration's verification e-mail is queued: a periodic task queues it for a user whose
    # request died before (auth/verification.py). Users stored before it existed lack it and are left alone.
    verification_mailed: bool = False
    # `member.*` events of changes to `memberships`, each naming its organisation (db/outbox.py).
    outbox: list[PendingEvent] = Field(default_factory=list)

    class Settings:
        name = "users"
        indexes = [
            IndexModel([("email", ASCENDING)], name="email_unique", unique=True),
            IndexModel(
                [("memberships.organization_id", ASCENDING), ("memberships.joined_at", ASCENDING)],
                name="membership_organization",
            ),
            # The member list's other sorts (auth/memberships.members).
            IndexModel(
                [("memberships.organization_id", ASCENDING), ("name", ASCENDING)], name="membership_name"
            ),
            IndexModel(
                [("memberships.organization_id", ASCENDING), ("email", ASCENDING)], name="membership_email"
            ),
            # What a reset or a verification looks its token up by; only the users holding one.
            IndexModel([("password_reset.token_hash", ASCENDING)], name="password_reset_token", sparse=True),
            IndexModel(
                [("email_verification.token_hash", ASCENDING)], name="email_verification_token", sparse=True
            ),
            IndexModel(
                [("verification_mailed", ASCENDING), ("created_at", ASCENDING)],
                name="verification_unmailed",
                partialFilterExpression={"verification_mailed": False},
            ),
            OUTBOX_INDEX,
        ]


class Owner(Protocol):
    """What a service scoping its queries needs of the caller: the id of the organisation the request acts
    in (stored on every business document as `owner_id`)."""

    @property
    def id(self) -> ObjectId | None: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking and where: what the auth middleware gives every authenticated route. `id` is the
    organisation the request acts in, the scope of every query; `organization` its profile, loaded (in the
    same lookup as the user) for the routes that name `caller`; `profile` the whole user, for routes that
    name `current_user`.

    An API key (API.md section 20) is a Caller too: `key_id` its id, `scopes` what it may (None for a user:
    no limit but the role), role admin, no user (`user_id`, `email` and `profile` None)."""

    id: ObjectId
    user_id: ObjectId | None
    role: Role
    email: str | None
    organization: Organization | None = None
    profile: User | None = None
    sid: str | None = None  # the session of the token (none on tokens issued before sessions)
    cookie: bool = False  # the session cookie authenticated the request (not a bearer header)
    scopes: frozenset[str] | None = None
    key_id: ObjectId | None = None

    @property
    def business(self) -> BusinessProfile:
        assert self.organization is not None  # loaded for every route that names `caller`
        return self.organization.business

    @property
    def name(self) -> str:
        assert self.organization is not None
        return self.organization.name

    @property
    def contact_email(self) -> str | None:
        assert self.organization is not None
        return self.organization.contact_email

    @property
    def actor(self) -> Actor:
        if self.key_id is not None:
            return Actor(type="api_key", id=PydanticObjectId(self.key_id))
        return Actor(type="user", id=PydanticObjectId(self.user_id))
