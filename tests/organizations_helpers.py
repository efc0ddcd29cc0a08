"""Members of one organisation without the invitation API: the membership written directly."""

from __future__ import annotations

from bson import ObjectId

from app.auth.memberships import add_membership
from app.core.roles import Role
from tests.conftest import Account


async def join(account: Account, organization_id: str, role: Role) -> dict[str, str]:
    """`account` joins the organisation with `role`; returns headers that act in it."""
    await add_membership(ObjectId(account.id), ObjectId(organization_id), role)
    return {**account.headers, "Orbix-Organization": organization_id}
