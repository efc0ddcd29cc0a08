"""Organisations: the personal one of each user, their profile, and the migration of users stored before
organisations existed (API.md section 19)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId
from pymongo import ReturnDocument

from app.api_keys import service as api_keys
from app.auth import memberships
from app.core.clock import utc_now
from app.core.errors import Conflict, InvalidState, NotFound, QuotaExceeded, ValidationFailed
from app.core.roles import Role
from app.db import versions
from app.db.outbox import pending, publish, with_event
from app.db.pagination import Page, PageParams, sort_spec
from app.db.repository import StoredAddress, to_bson
from app.db.versions import ANY, Expected
from app.organizations.models import Actor, Organization


async def books(owner_id: Any) -> Organization | None:
    """The organisation whose books `owner_id` names (what the worker acts for)."""
    return await Organization.get(owner_id)


async def time_zone_of(organization_id: Any) -> str:
    """The organisation's `business.time_zone`, read alone (UTC for one that is gone, or not yet migrated):
    for a snapshot of a document whose fields depend on its "today" (an invoice's `is_overdue`)."""
    raw = await _organizations().find_one({"_id": organization_id}, {"business.time_zone": 1})
    zone: str = ((raw or {}).get("business") or {}).get("time_zone") or "UTC"
    return zone


async def earliest_owner_email(organization_id: ObjectId) -> str | None:
    """Where e-mails Orbix sends on the organisation's behalf point `Reply-To` without a business e-mail."""
    return await memberships.earliest_owner_email(organization_id)


async def with_reminders(batch: int) -> AsyncIterator[list[Organization]]:
    """The organisations that have payment reminder rules, `batch` at a time (the sparse `reminder_rules`
    index holds only them: no sort, which could lead the planner to walk every organisation by `_id`; the
    outbox is not read)."""
    found = _organizations().find({"business.reminders.days_after_due": {"$gte": 0}}, {"outbox": 0})
    page: list[Organization] = []
    async for raw in found:
        page.append(Organization.model_validate(raw))
        if len(page) == batch:
            yield page
            page = []
    if page:
        yield page


async def books_of(owner_ids: Any) -> dict[Any, Organization]:
    """The organisations of `owner_ids` by id, in one query (a scheduler pass reads each one's time zone);
    a deleted one is missing."""
    ids = list(dict.fromkeys(owner_ids))
    if not ids:
        return {}
    found = _organizations().find({"_id": {"$in": ids}})
    return {raw["_id"]: Organization.model_validate(raw) async for raw in found}


def personal_organization(user_id: ObjectId, name: str, email: str, business: Any = None) -> Organization:
    return Organization(
        id=user_id,
        name=name,
        personal=True,
        business=business or {},
        contact_email=email,
        created_by=Actor(type="user", id=PydanticObjectId(user_id)),
    )


async def create_personal(user_id: ObjectId, name: str, email: str) -> Organization:
    """A new user's personal organisation, stored before the user (see auth/service.register)."""
    return await personal_organization(user_id, name, email).insert()


async def drop_personal(user_id: ObjectId) -> None:
    """Undo `create_personal` when the user could not be stored (their e-mail was taken)."""
    await _organizations().delete_one({"_id": user_id, "personal": True})


async def migrate_personal_organizations() -> int:
    """Every user stored before organisations gets a personal organisation holding all they had: its id is
    theirs, so every document they own (`owner_id` = their id) is its without a write. Two steps per user,
    each idempotent: the organisation is upserted with the user's profile, then the user joins it (and loses
    the copy). Killed between them, a rerun finishes the second. Returns how many users it migrated."""
    migrated = 0
    async for raw in memberships.unmigrated_users():
        organization = personal_organization(
            raw["_id"], raw.get("name") or "", raw.get("email") or "", raw.get("business")
        )
        organization.created_at = organization.updated_at = raw.get("created_at") or organization.created_at
        await _organizations().update_one(
            {"_id": raw["_id"]},
            {"$setOnInsert": to_bson(organization.model_dump(exclude={"id"}))},
            upsert=True,
        )
        migrated += await memberships.give_personal_membership(raw["_id"], organization.created_at)
    return migrated


async def migrate_invoice_prefixes() -> int:
    """A stored invoice prefix ending with a digit gets `-` appended (`X1` -> `X1-`): with `X1` and `X` both
    allowed, `X1`+`0001` and `X`+`10001` were one number. Idempotent and safe to race (each write is
    conditional on the value it read); returns how many profiles changed."""
    changed = 0
    async for raw in _organizations().find(
        {"business.invoice_prefix": {"$regex": "[0-9]$"}}, {"business.invoice_prefix": 1}
    ):
        old = raw["business"]["invoice_prefix"]
        result = await _organizations().update_one(
            {"_id": raw["_id"], "business.invoice_prefix": old},
            {"$set": {"business.invoice_prefix": f"{old}-"}},
        )
        changed += result.modified_count
    return changed


PREFIXES = ("invoice_prefix", "credit_note_prefix")


async def update_profile(
    organization_id: ObjectId,
    name: str | None,
    business: dict[str, Any],
    expected: Expected = ANY,
) -> Organization:
    """One atomic update of the name and the keys of `business` sent (an address sent replaces the whole
    address; None clears an optional key), with a new version and its `organization.updated` event, guarded
    by `expected`. The credit note prefix must differ from the invoice prefix: the write is conditional on
    the prefix not sent differing from the one sent (400 otherwise)."""
    update: dict[str, object] = {}
    if name is not None:
        update["name"] = name
    if "reminders" in business:
        business = {**business, "reminders": reminder_rules(business["reminders"])}
    for key, value in business.items():
        if key == "address" and value is not None:
            value = StoredAddress(**value).model_dump()
        update[f"business.{key}"] = value
    query: dict[str, Any] = {"_id": organization_id}
    sent = [key for key in PREFIXES if key in business]
    if len(sent) == 2 and business[sent[0]] == business[sent[1]]:
        raise _same_prefixes()
    if len(sent) == 1:
        [other] = [key for key in PREFIXES if key not in business]
        query[f"business.{other}"] = {"$ne": business[sent[0]]}
    operation = with_event(
        versions.bump({"$set": {**update, "updated_at": utc_now()}}), pending("organization.updated")
    )
    raw = await _organizations().find_one_and_update(
        expected.guard(query), to_bson(operation), return_document=ReturnDocument.AFTER
    )
    if raw is None:
        await expected.explain_miss(_organizations(), {"_id": organization_id})
        if len(sent) == 1 and await _organizations().count_documents({"_id": organization_id}):
            raise _same_prefixes()
        raise NotFound("No such organization")
    organization = Organization.model_validate(raw)
    await publish(organization)
    return organization


def reminder_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Payment reminder rules as stored: each `days_after_due` once (a second one is 400), ordered by it."""
    seen: set[int] = set()
    for position, rule in enumerate(rules):
        if rule["days_after_due"] in seen:
            raise ValidationFailed.field(
                f"business.reminders[{position}].days_after_due",
                f"{rule['days_after_due']} is the day of another rule: each day once",
            )
        seen.add(rule["days_after_due"])
    return sorted(rules, key=lambda rule: int(rule["days_after_due"]))


def _same_prefixes() -> ValidationFailed:
    return ValidationFailed.field("business.credit_note_prefix", "must differ from business.invoice_prefix")


# ---------------------------------------------------------------- the caller's organisations

SORTS = {"name": "name", "created_at": "created_at"}


async def list_joined(user_id: ObjectId, params: PageParams) -> Page[tuple[Organization, Role]]:
    """The user's organisations with their role there: a user belongs to a handful, so they are read at
    once (by id) and sorted here."""
    if params.after is not None:
        raise ValidationFailed.field("after", "this list pages by offset only")
    [(field, direction), _] = sort_spec(params.sort, SORTS)
    roles = {m["organization_id"]: Role(m["role"]) for m in await memberships.joined(user_id)}
    found = [
        Organization.model_validate(raw)
        async for raw in _organizations().find({"_id": {"$in": list(roles)}}, {"outbox": 0})
    ]
    found.sort(key=lambda org: (getattr(org, field), org.id), reverse=direction < 0)
    window = found[params.offset : params.offset + params.limit]
    return Page(
        items=[(org, roles[org.id]) for org in window],
        total=len(found),
        limit=params.limit,
        offset=params.offset,
    )


async def create(user_id: ObjectId, email: str, name: str, most: int) -> Organization:
    """A new organisation with the user as its owner, while they own fewer than `most`. Three writes: the
    organisation, marked `joining_at`; the user's membership, a compare-and-set on their memberships as
    counted (so concurrent creates cannot both take the last place); the mark cleared. A crash after the
    first leaves an organisation nobody can reach, which recovery deletes; after the second, one that
    recovery unmarks (recover_organizations)."""
    organization = Organization(
        name=name,
        contact_email=email,
        created_by=Actor(type="user", id=PydanticObjectId(user_id)),
        joining_at=utc_now(),
    )
    inserted = False
    for _ in range(CREATE_ATTEMPTS):
        joined = await memberships.joined(user_id)
        owned = sum(1 for m in joined if m["role"] == Role.OWNER.value)
        if owned >= most:
            if inserted:
                await _organizations().delete_one({"_id": organization.id})
            raise QuotaExceeded(
                "ORGANIZATIONS_PER_USER_MAX", f"You own {owned} organizations already", OWNED_RETRY_AFTER
            )
        if not inserted:
            await organization.insert()
            inserted = True
        assert organization.id is not None
        if await memberships.join(user_id, organization.id, Role.OWNER, memberships_now=len(joined)):
            await _organizations().update_one({"_id": organization.id}, {"$unset": {"joining_at": ""}})
            organization.joining_at = None
            return organization
    await _organizations().delete_one({"_id": organization.id})
    raise Conflict("Your memberships kept changing; try again")


CREATE_ATTEMPTS = 5
OWNED_RETRY_AFTER = 3600.0  # only leaving or deleting an organisation makes room


async def delete(
    organization: Organization,
    holds_legal_records: Callable[[ObjectId], Awaitable[bool]],
    expected: Expected = ANY,
) -> None:
    """Delete a non-personal organisation that holds no numbered invoice: mark it (`deleting_at`), remove
    every membership, then the document. Recovery finishes a delete whose request died after the mark. (Its
    other documents stay, unreachable: nobody is a member any more.)"""
    assert organization.id is not None
    expected.check(organization.version)  # If-Match answers before the state rules
    if organization.personal:
        raise InvalidState("A personal organization cannot be deleted")
    marked = await _organizations().update_one(
        expected.guard({"_id": organization.id}), {"$set": {"deleting_at": utc_now()}}
    )
    if not marked.matched_count:
        await expected.explain_miss(_organizations(), {"_id": organization.id})
        raise NotFound("No such organization")
    if await holds_legal_records(organization.id):
        await _organizations().update_one({"_id": organization.id}, {"$unset": {"deleting_at": ""}})
        raise InvalidState("The organization holds numbered invoices (legal records): it cannot be deleted")
    await _finish_delete(organization.id)


async def being_deleted(organization_id: ObjectId) -> bool:
    """Whether the organisation is gone or marked for deletion (read after a join that must not outlive
    it)."""
    raw = await _organizations().find_one({"_id": organization_id}, {"deleting_at": 1})
    return raw is None or raw.get("deleting_at") is not None


async def _finish_delete(organization_id: ObjectId) -> None:
    await memberships.remove_everyone(organization_id)
    await api_keys.revoke_all(organization_id)
    await _organizations().delete_one({"_id": organization_id})


async def recover_organizations(cutoff: datetime) -> None:
    """For the worker's recovery: a create whose request died is finished (its creator joined) or undone
    (they did not); a delete whose request died after its mark is finished."""
    async for raw in _organizations().find({"joining_at": {"$lte": cutoff}}, {"created_by": 1}):
        creator = (raw.get("created_by") or {}).get("id")
        if creator is not None and await memberships.creators_joined(creator, raw["_id"]):
            await _organizations().update_one({"_id": raw["_id"]}, {"$unset": {"joining_at": ""}})
        else:
            await _organizations().delete_one({"_id": raw["_id"], "joining_at": {"$lte": cutoff}})
    async for raw in _organizations().find({"deleting_at": {"$lte": cutoff}}, {"_id": 1}):
        await _finish_delete(raw["_id"])


# ---------------------------------------------------------------- changes that involve an owner

OWNER_LEASE = timedelta(seconds=60)
OWNER_WAIT_SECONDS = 10.0


@asynccontextmanager
async def owner_changes(organization_id: ObjectId) -> AsyncIterator[None]:
    """Hold the organisation's owner lock (a lease on its document, taken with a conditional update) while
    a change that may leave it with fewer owners counts them and writes: such changes run one at a time, so
    the count each one reads is still true when it writes. A lease whose holder died expires on its own.
    Waits for a held lock up to OWNER_WAIT_SECONDS, then 409 conflict."""
    lock_id = ObjectId()
    deadline = asyncio.get_running_loop().time() + OWNER_WAIT_SECONDS
    while True:
        now = utc_now()
        taken = await _organizations().update_one(
            {"_id": organization_id, "$or": [{"owner_lock": None}, {"owner_lock.until": {"$lt": now}}]},
            {"$set": {"owner_lock": {"id": lock_id, "until": now + OWNER_LEASE}}},
        )
        if taken.modified_count:
            break
        if not await _organizations().count_documents({"_id": organization_id}):
            raise NotFound("No such organization")
        if asyncio.get_running_loop().time() > deadline:
            raise Conflict("Another change of this organization's owners is running; try again")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        await _organizations().update_one(
            {"_id": organization_id, "owner_lock.id": lock_id}, {"$set": {"owner_lock": None}}
        )


def _organizations() -> Any:
    return Organization.get_motor_collection()
