"""Users: registration, login, profile, password and token revocation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.auth import memberships, sessions
from app.auth.errors import EmailTaken
from app.auth.models import Caller, User
from app.auth.passwords import PasswordHasher
from app.auth.schemas import ChangePasswordIn, LoginIn, ProfileUpdate, RegisterIn
from app.auth.tokens import IssuedToken, TokenService
from app.core.clock import as_utc, utc_now
from app.core.errors import Forbidden, InvalidReference, NotFound, RateLimited, Unauthorized, ValidationFailed
from app.core.roles import Role
from app.db import versions
from app.db.repository import parse_object_id, to_bson
from app.db.versions import ANY, Expected
from app.http.schemas import provided_fields
from app.organizations import service as organizations
from app.organizations.models import Organization


@dataclass(frozen=True)
class Device:
    """Where a login comes from, as its session shows it, and whether it wants a cookie session."""

    user_agent: str | None
    ip: str | None
    cookie: bool = False


@dataclass(frozen=True)
class SignedIn:
    user: User
    organization: Organization
    token: IssuedToken
    sid: str
    cookie: bool


class AuthService:
    def __init__(self, hasher: PasswordHasher, tokens: TokenService) -> None:
        self.hasher = hasher
        self.tokens = tokens

    async def session(self, user: User, device: Device, organization: Organization | None = None) -> SignedIn:
        """A new session for `user` on `device`: the organisation their requests act in by default, and a
        token naming the session."""
        assert user.id is not None
        if organization is None:
            organization = await _default_organization(user)
        opened = sessions.new_session(
            user.id, device.user_agent, device.ip, self.tokens.lifetime, cookie=device.cookie
        )
        await sessions.open_session(opened)
        token = self.tokens.issue(str(user.id), user.token_version, str(opened.id))
        return SignedIn(user, organization, token, str(opened.id), device.cookie)

    async def register(self, data: RegisterIn, device: Device) -> SignedIn:
        """The user and their personal organisation (its id is theirs). The organisation is stored first: a
        crash between the two leaves an organisation nobody can reach (a retry registers afresh), never a
        user without their books."""
        password_hash = await self.hasher.hash(data.password)
        user_id = PydanticObjectId()
        organization = await organizations.create_personal(user_id, data.name, data.email)
        user = User(
            id=user_id,
            email=data.email,
            name=data.name,
            password_hash=password_hash,
            memberships=[memberships.personal(user_id)],
            default_organization_id=user_id,
        )
        try:
            await user.insert()
        except DuplicateKeyError:
            await organizations.drop_personal(user_id)
            raise EmailTaken("An account with this email already exists") from None
        return await self.session(user, device, organization)

    async def login(self, data: LoginIn, device: Device) -> SignedIn:
        user = await User.find_one({"email": data.email})
        valid = await self.hasher.verify(data.password, user.password_hash if user else None)
        if user is None or not valid:
            raise Unauthorized("Wrong email or password")
        return await self.session(user, device)

    async def update_profile(
        self, caller: Caller, data: ProfileUpdate, expected: Expected = ANY
    ) -> tuple[User, Organization]:
        """The user's name and default organisation; `business` is the profile of the organisation the
        request acts in (API.md section 19), written only by its admins and owners. Every check comes before
        any write (a stale If-Match, an unknown default organisation), and the profile's own rules (distinct
        prefixes) are enforced by its write, which comes first: a refusal changes nothing."""
        changes = provided_fields(data)
        organization = caller.organization
        assert organization is not None
        if "business" in changes and not caller.role.allows(Role.ADMIN):
            raise Forbidden("Only an admin or owner may change the organization's business profile")
        update: dict[str, object] = {}
        if "name" in changes:
            update["name"] = changes["name"]
        if "default_organization_id" in changes:
            update["default_organization_id"] = _joined(caller, changes["default_organization_id"])
        assert caller.profile is not None
        expected.check(caller.profile.version)
        if "business" in changes:
            organization = await organizations.update_profile(caller.id, None, changes["business"])
        user = await self._update(PydanticObjectId(caller.user_id), update, expected=expected)
        return user, organization

    async def change_password(self, user: User, data: ChangePasswordIn) -> None:
        """A stolen token must not brute-force the password: every check first takes one of the user's
        PASSWORD_ATTEMPTS per PASSWORD_WINDOW (atomically, so parallel guesses cannot all slip through);
        a right guess clears the record."""
        await _take_password_attempt(user.id)
        if not await self.hasher.verify(data.current_password, user.password_hash):
            raise ValidationFailed.field("current_password", "is not your current password")
        new_hash = await self.hasher.hash(data.new_password)
        await self._update(user.id, {"password_hash": new_hash, "password_failures": []}, revoke=True)

    async def logout(self, user: User) -> None:
        await self._update(user.id, {}, revoke=True)

    async def _update(
        self,
        user_id: PydanticObjectId | None,
        fields: dict[str, object],
        *,
        revoke: bool = False,
        expected: Expected = ANY,
    ) -> User:
        """One atomic update: a new version, guarded by `expected` (If-Match on PATCH /me); `revoke` bumps
        token_version so every token issued so far stops working."""
        revoking: dict[str, dict[str, object]] = {"$inc": {"token_version": 1}} if revoke else {}
        if revoke:
            fields = {**fields, "live_sessions": []}  # every session ends with its tokens
            # and a reset link mailed before no longer sets the password (the user acted since)
            revoking = {**revoking, "$unset": {"password_reset": ""}}
        operation = versions.bump({"$set": {**fields, "updated_at": utc_now()}, **revoking})
        users = User.get_motor_collection()
        raw = await users.find_one_and_update(
            expected.guard({"_id": user_id}),
            to_bson(operation),
            return_document=ReturnDocument.AFTER,
        )
        if raw is None:
            await expected.explain_miss(users, {"_id": user_id})
            raise NotFound("No such user")
        return cast(User, User.model_validate(raw))


async def _default_organization(user: User) -> Organization:
    """Where the user's requests act without a header: their default while they belong to it, else their
    personal organisation (API.md section 19)."""
    joined = {m.organization_id for m in user.memberships}
    for candidate in (user.default_organization_id, user.id):
        if candidate in joined and (found := await organizations.books(candidate)) is not None:
            return found
    assert user.id is not None
    # Stored before organisations and not yet migrated: the personal organisation `migrate` will store.
    return organizations.personal_organization(user.id, user.name, user.email, user.business)


def _joined(caller: Caller, organization_id: str) -> ObjectId:
    oid = parse_object_id(organization_id)
    assert caller.profile is not None
    if oid is None or not any(m.organization_id == oid for m in caller.profile.memberships):
        raise InvalidReference("default_organization_id: is not an organization you belong to")
    return oid


PASSWORD_ATTEMPTS = 5
PASSWORD_WINDOW = timedelta(minutes=15)


async def _take_password_attempt(user_id: PydanticObjectId | None) -> None:
    """Record an attempt at the current password before checking it, or raise 429 when the last
    PASSWORD_ATTEMPTS all fall inside PASSWORD_WINDOW. `password_failures` keeps the newest five times."""
    now = utc_now()
    recorded = await User.get_motor_collection().update_one(
        {
            "_id": user_id,
            "$nor": [
                {
                    f"password_failures.{PASSWORD_ATTEMPTS - 1}": {"$exists": True},
                    "password_failures.0": {"$gt": now - PASSWORD_WINDOW},
                }
            ],
        },
        {"$push": {"password_failures": {"$each": [now], "$slice": -PASSWORD_ATTEMPTS}}},
    )
    if recorded.matched_count:
        return
    raw = await User.get_motor_collection().find_one({"_id": user_id}, {"password_failures": 1})
    oldest = as_utc(raw["password_failures"][0]) if raw and raw.get("password_failures") else now
    wait = max(1, math.ceil((oldest + PASSWORD_WINDOW - now).total_seconds()))
    raise RateLimited(
        f"Too many wrong passwords: try again in {wait} seconds", headers={"Retry-After": str(wait)}
    )


async def access_of(user_ids: list[ObjectId]) -> dict[ObjectId, dict[str, object]]:
    """What decides whether these users may still read what they opened (their memberships, token version and
    live sessions), in one query: the live event streams recheck their callers with it (events/live.py)."""
    found = User.get_motor_collection().find(
        {"_id": {"$in": user_ids}}, {"memberships": 1, "token_version": 1, "live_sessions": 1}
    )
    return {raw["_id"]: raw async for raw in found}
