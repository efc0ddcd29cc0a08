"""Invitations to the organisation a request acts in, and accepting one (API.md section 19).

The e-mailed token is a one-time token (core/one_time_tokens.py): never stored (the invitation keeps its salt
and hash, which accepting looks up), derived again by the worker that sends the e-mail. Accepting uses it
once: a conditional update from `pending` claims the invitation (two accepts at once: one wins), then the
membership is added. A crash between the two is finished by the same user's retry (the invitation they
claimed, without the membership yet), which otherwise answers 410 like any used token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
from pymongo import ReturnDocument

from app.auth import memberships
from app.auth.models import Caller
from app.core import one_time_tokens
from app.core.clock import as_utc, utc_now
from app.core.errors import Conflict, Forbidden, InvalidState, NotFound, ValidationFailed
from app.core.roles import Role
from app.db import versions
from app.db.outbox import pending, publish, with_event
from app.db.pagination import Page, PageParams, paginate_raw, sortable
from app.db.repository import insert_with_event, owned_filter, parse_object_id, to_bson
from app.db.versions import ANY, Expected
from app.organizations import service as organizations
from app.organizations.errors import InvitationInvalid
from app.organizations.models import Invitation, Organization
from app.organizations.schemas import InvitationCreate, InvitationOut, MemberOut
from app.worker import enqueue

JOB_KIND = "invitation_email"
VALID_FOR = timedelta(days=7)
SORTS = sortable(Invitation, {"created_at": "created_at"})


TOKEN_PREFIX = "orbix_inv_"  # noqa: S105 - what the token says it is, not a secret
token_hash = one_time_tokens.token_hash


def token_of(secret: str, salt: str) -> str:
    return one_time_tokens.token_of(secret, salt, TOKEN_PREFIX)


async def create_invitation(secret: str, caller: Caller, data: InvitationCreate) -> Invitation:
    if data.role is Role.OWNER and caller.role is not Role.OWNER:
        raise Forbidden("Only an owner may invite an owner")
    if data.email == caller.email:
        raise ValidationFailed.field("email", "is your own address: you are a member already")
    if await memberships.member_by_email(caller.id, data.email):
        raise Conflict(f"{data.email} is a member of this organization already")
    salt = one_time_tokens.new_salt()
    invitation = await insert_with_event(
        Invitation(
            owner_id=caller.id,
            email=data.email,
            role=data.role,
            expires_at=utc_now() + VALID_FOR,
            salt=salt,
            token_hash=token_hash(token_of(secret, salt)),
            invited_by=caller.user_id,
        )
    )
    await queue_email(invitation.id, caller.id)
    return invitation


async def queue_email(invitation_id: Any, organization_id: Any) -> None:
    """Queue the invitation's e-mail (once, whoever calls: the request, or the recovery after it died), then
    note it queued."""
    await enqueue(
        JOB_KIND,
        {"invitation_id": str(invitation_id), "owner_id": str(organization_id)},
        owner_id=organization_id,
        dedupe_key=f"{JOB_KIND}:{invitation_id}",
    )
    await Invitation.get_motor_collection().update_one({"_id": invitation_id}, {"$set": {"mailed": True}})


async def requeue_unmailed(cutoff: datetime) -> None:
    """For the worker's recovery: the e-mail of an invitation whose request died before queueing it."""
    async for raw in Invitation.get_motor_collection().find(
        {"mailed": False, "created_at": {"$lte": cutoff}}, {"owner_id": 1}
    ):
        await queue_email(raw["_id"], raw["owner_id"])


async def list_invitations(caller: Caller, params: PageParams) -> Page[InvitationOut]:
    return await paginate_raw(Invitation, owned_filter(caller.id), params, SORTS, InvitationOut)


async def revoke_invitation(caller: Caller, invitation_id: str, expected: Expected = ANY) -> None:
    oid = parse_object_id(invitation_id)
    collection = Invitation.get_motor_collection()
    operation = with_event(
        versions.bump({"$set": {"status": "revoked", "updated_at": utc_now()}}), pending("invitation.revoked")
    )
    raw = await collection.find_one_and_update(
        expected.guard(owned_filter(caller.id, _id=oid, status="pending")),
        to_bson(operation),
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        if oid is None or not await collection.count_documents(owned_filter(caller.id, _id=oid)):
            raise NotFound(f"No invitation with id {invitation_id!r}")
        await expected.explain_miss(collection, owned_filter(caller.id, _id=oid))
        raise InvalidState("Only a pending invitation can be revoked")
    await publish(Invitation.model_validate(raw))


async def accept(caller: Caller, token: str) -> tuple[Organization, Role]:
    assert caller.user_id is not None and caller.email is not None  # a user's own route: never an API key
    collection = Invitation.get_motor_collection()
    found = await collection.find_one({"token_hash": token_hash(token)})
    invitation = Invitation.model_validate(found) if found is not None else None
    organization = await organizations.books(invitation.owner_id) if invitation is not None else None
    if invitation is None or organization is None or organization.deleting_at is not None:
        raise InvitationInvalid("This invitation is expired, revoked or used")
    resumed = (
        invitation.status == "accepted"
        and invitation.accepted_by == caller.user_id
        and invitation.joined_at is None
        and as_utc(invitation.expires_at) > utc_now()
    )
    if not resumed and (invitation.status != "pending" or as_utc(invitation.expires_at) <= utc_now()):
        raise InvitationInvalid("This invitation is expired, revoked or used")
    if caller.email != invitation.email:
        raise Forbidden("This invitation is for another e-mail address")
    if not resumed:
        operation = with_event(
            versions.bump(
                {"$set": {"status": "accepted", "accepted_by": caller.user_id, "updated_at": utc_now()}}
            ),
            pending("invitation.accepted"),
        )
        claimed = await collection.find_one_and_update(
            {"_id": invitation.id, "status": "pending", "expires_at": {"$gt": utc_now()}},
            to_bson(operation),
            return_document=ReturnDocument.AFTER,
        )
        if claimed is None:
            raise InvitationInvalid("This invitation is expired, revoked or used")
        await publish(Invitation.model_validate(claimed))
    assert organization.id is not None
    joined_at = utc_now()
    about = msgspec.to_builtins(
        MemberOut(
            user_id=str(caller.user_id),
            email=caller.email,
            name=await _name(caller),
            role=invitation.role,
            joined_at=joined_at,
        )
    )
    event = pending("member.added", owner=organization.id, about=about)
    added = await memberships.join(
        caller.user_id,
        organization.id,
        invitation.role,
        event=event,
        verify_email=caller.email,
        joined_at=joined_at,
    )
    await collection.update_one({"_id": invitation.id}, {"$set": {"joined_at": joined_at}})  # spent for good
    if added and await organizations.being_deleted(organization.id):
        # A delete ran meanwhile: either its removal of every member saw this join, or its mark is seen
        # here; undo the join so no membership outlives the organisation.
        await memberships.undo_join(caller.user_id, organization.id, event["id"])
        raise InvitationInvalid("This invitation is expired, revoked or used")
    if added:
        await publish(memberships.carrying(caller.user_id, event))
        return organization, invitation.role
    current = await memberships.member(caller.user_id, organization.id)
    if current is None:
        raise InvitationInvalid("This invitation is expired, revoked or used")
    return organization, Role(current["membership"]["role"])  # a member already: nothing to add


async def _name(caller: Caller) -> str:
    return caller.profile.name if caller.profile is not None else ""
