"""Users: registration, login, profile, password and token revocation."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import cast

from beanie import PydanticObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.auth.errors import EmailTaken
from app.auth.models import User
from app.auth.passwords import PasswordHasher
from app.auth.schemas import ChangePasswordIn, LoginIn, ProfileUpdate, RegisterIn
from app.auth.tokens import IssuedToken, TokenService
from app.core.clock import as_utc, utc_now
from app.core.errors import NotFound, RateLimited, Unauthorized, ValidationFailed
from app.db import versions
from app.db.repository import StoredAddress, to_bson
from app.db.versions import ANY, Expected
from app.http.schemas import provided_fields


class AuthService:
    def __init__(self, hasher: PasswordHasher, tokens: TokenService) -> None:
        self.hasher = hasher
        self.tokens = tokens

    def session(self, user: User) -> tuple[User, IssuedToken]:
        """The signed-in user and a new token for them."""
        return user, self.tokens.issue(str(user.id), user.token_version)

    async def register(self, data: RegisterIn) -> tuple[User, IssuedToken]:
        user = User(email=data.email, name=data.name, password_hash=await self.hasher.hash(data.password))
        try:
            await user.insert()
        except DuplicateKeyError:
            raise EmailTaken("An account with this email already exists") from None
        return self.session(user)

    async def login(self, data: LoginIn) -> tuple[User, IssuedToken]:
        user = await User.find_one({"email": data.email})
        valid = await self.hasher.verify(data.password, user.password_hash if user else None)
        if user is None or not valid:
            raise Unauthorized("Wrong email or password")
        return self.session(user)

    async def update_profile(self, user: User, data: ProfileUpdate, expected: Expected = ANY) -> User:
        changes = provided_fields(data)
        update: dict[str, object] = {}
        if "name" in changes:
            update["name"] = changes["name"]
        for key, value in changes.get("business", {}).items():
            if key == "address" and value is not None:
                value = StoredAddress(**value).model_dump()
            update[f"business.{key}"] = value
        return await self._update(user.id, update, expected=expected)

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
        revoking = {"$inc": {"token_version": 1}} if revoke else {}
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


async def migrate_invoice_prefixes() -> int:
    """A stored invoice prefix ending with a digit gets `-` appended (`X1` -> `X1-`): with `X1` and `X` both
    allowed, `X1`+`0001` and `X`+`10001` were one number. Idempotent and safe to race (each write is
    conditional on the value it read); returns how many profiles changed."""
    users = User.get_motor_collection()
    changed = 0
    async for raw in users.find(
        {"business.invoice_prefix": {"$regex": "[0-9]$"}}, {"business.invoice_prefix": 1}
    ):
        old = raw["business"]["invoice_prefix"]
        result = await users.update_one(
            {"_id": raw["_id"], "business.invoice_prefix": old},
            {"$set": {"business.invoice_prefix": f"{old}-"}},
        )
        changed += result.modified_count
    return changed
