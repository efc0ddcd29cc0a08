"""A shared organisation with one member per role, written straight to the store (the organisation routes are
built elsewhere): what the role and organisation tests act in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId

from app.auth.memberships import add_membership
from app.core.roles import Role
from app.http.tenancy import ORGANIZATION_HEADER
from app.organizations.models import Actor, Organization
from tests.conftest import Account, register
from tests.security.world import unique_email


@dataclass
class Agency:
    id: str
    members: dict[Role, Account]

    def headers(self, role: Role) -> dict[str, str]:
        """The member with this role, acting in the agency."""
        return {**self.members[role].headers, ORGANIZATION_HEADER: self.id}


async def agency(client: Any) -> Agency:
    """A new organisation whose owner registered first, and a member of every other role."""
    members = {role: await register(client, unique_email(role.value), role.value.title()) for role in Role}
    founder = members[Role.OWNER]
    organization = Organization(
        name="Agency",
        contact_email=founder.email,
        created_by=Actor(type="user", id=PydanticObjectId(founder.id)),
    )
    await organization.insert()
    assert organization.id is not None
    for role, account in members.items():
        assert await add_membership(ObjectId(account.id), organization.id, role)
    return Agency(str(organization.id), members)
