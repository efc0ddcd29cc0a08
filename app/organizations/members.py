"""Members of the organisation a request acts in: list, change a role, remove (API.md section 19).

The memberships live on the user documents (auth/memberships.py writes them). A change that may leave the
organisation with fewer owners (demoting or removing an owner) runs under the organisation's owner lock
(service.owner_changes), which makes "count the owners, then write" one step among such changes: two owners
demoting each other at once run one after the other, and the second finds the last owner. Every write is
also conditional on the role it read, so a change made meanwhile by another request is a 409, never lost.
"""

from __future__ import annotations

from typing import Any

import msgspec
from bson import ObjectId

from app.auth import memberships
from app.auth.models import Caller
from app.core.errors import Conflict, Forbidden, InvalidState, NotFound, ValidationFailed
from app.core.roles import Role
from app.db.outbox import pending, publish
from app.db.pagination import Page, PageParams, sort_spec
from app.db.repository import parse_object_id
from app.organizations.schemas import MemberOut
from app.organizations.service import owner_changes

SORTS = {"name": "name", "email": "email", "joined_at": "joined_at"}
DEFAULT_SORT = "joined_at"  # members come in the order they joined unless asked otherwise


async def list_members(caller: Caller, params: PageParams) -> Page[MemberOut]:
    if params.after is not None:
        raise ValidationFailed.field("after", "this list pages by offset only")
    [(field, direction), _] = sort_spec(params.sort, SORTS)
    found, total = await memberships.members(
        caller.id, (memberships.MEMBER_SORTS[field], int(direction)), params.offset, params.limit
    )
    return Page(
        items=[MemberOut.of(raw) for raw in found], total=total, limit=params.limit, offset=params.offset
    )


async def _member(caller: Caller, user_id: str) -> tuple[ObjectId, dict[str, Any]]:
    oid = parse_object_id(user_id)
    raw = await memberships.member(oid, caller.id) if oid is not None else None
    if oid is None or raw is None:
        raise NotFound(f"No member with id {user_id!r}")
    return oid, raw


def _event(event_type: str, caller: Caller, raw: dict[str, Any], role: Role) -> dict[str, Any]:
    member = MemberOut.of(raw)
    about = msgspec.to_builtins(msgspec.structs.replace(member, role=role))
    return pending(event_type, owner=caller.id, about=about)


async def _still_owner(caller: Caller) -> None:
    """Inside the owner lock: the caller's own role as it is now (the middleware read it before the lock)."""
    assert caller.user_id is not None  # API keys never manage members (scopes.NO_KEY)
    raw = await memberships.member(caller.user_id, caller.id)
    if raw is None or raw["membership"]["role"] != Role.OWNER.value:
        raise Forbidden("Only an owner may change or remove owners")


async def _guarded_by_owner_count(caller: Caller, *, check_caller: bool) -> None:
    if check_caller:
        await _still_owner(caller)
    if await memberships.count_owners(caller.id) <= 1:
        raise InvalidState("The last owner cannot be demoted or removed; make another member owner first")


async def update_member(caller: Caller, user_id: str, role: Role) -> MemberOut:
    oid, raw = await _member(caller, user_id)
    old = Role(raw["membership"]["role"])
    if Role.OWNER in (old, role) and caller.role is not Role.OWNER:
        raise Forbidden("Only an owner may make or demote owners")
    if old is role:
        return MemberOut.of(raw)
    event = _event("member.updated", caller, raw, role)
    if old is Role.OWNER:
        async with owner_changes(caller.id):
            await _guarded_by_owner_count(caller, check_caller=True)
            changed = await memberships.change_role(oid, caller.id, old, role, event)
    else:
        changed = await memberships.change_role(oid, caller.id, old, role, event)
    if not changed:
        raise Conflict("The member changed meanwhile; read it again and retry")
    await _publish_member(oid, event)
    raw["membership"]["role"] = role.value
    return MemberOut.of(raw)


async def remove_member(caller: Caller, user_id: str) -> None:
    """Anyone may remove themselves (leave); removing someone else needs admin, an owner needs owner."""
    oid, raw = await _member(caller, user_id)  # the resource (404) before its rules (403): section 19's order
    role = Role(raw["membership"]["role"])
    leaving = oid == caller.user_id
    if not leaving and not caller.role.allows(Role.ADMIN):
        raise Forbidden("Removing another member needs the admin role or above")
    if role is Role.OWNER and not leaving and caller.role is not Role.OWNER:
        raise Forbidden("Only an owner may remove an owner")
    event = _event("member.removed", caller, raw, role)
    if role is Role.OWNER:
        async with owner_changes(caller.id):
            await _guarded_by_owner_count(caller, check_caller=not leaving)
            removed = await memberships.leave(oid, caller.id, role, event)
    else:
        removed = await memberships.leave(oid, caller.id, role, event)
    if not removed:
        raise Conflict("The member changed meanwhile; read it again and retry")
    await _publish_member(oid, event)


async def _publish_member(user_id: ObjectId, event: dict[str, Any]) -> None:
    await publish(memberships.carrying(user_id, event))
