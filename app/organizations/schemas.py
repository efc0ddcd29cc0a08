"""The organisations' wire shapes (API.md section 19)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from app.auth.schemas import BusinessOut, BusinessUpdate, Email, Name
from app.core.roles import Role
from app.db.pagination import Page
from app.http.mapping import Mapped, Source
from app.http.schemas import BaseStruct, ResponseStruct, component, not_blank
from app.http.versioning import saw
from app.organizations.models import Invitation, Organization


class OrganizationOut(ResponseStruct):
    id: str
    name: str
    personal: bool
    business: BusinessOut
    role: Role | None  # the caller's (null in an event: nobody's view)
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, organization: Organization, role: Role | None = None) -> OrganizationOut:
        saw(organization.id, organization.version)
        return cls(
            id=str(organization.id),
            name=organization.name,
            personal=organization.personal,
            business=BusinessOut.from_document(organization.business),
            role=role,
            created_at=organization.created_at,
            updated_at=organization.updated_at,
        )


class OrganizationCreate(BaseStruct):
    name: Name

    def __post_init__(self) -> None:
        self.name = not_blank(self.name, "name")


class OrganizationUpdate(BaseStruct):
    name: Name | UnsetType = UNSET
    business: BusinessUpdate | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.name is not UNSET:
            self.name = not_blank(self.name, "name")


class MemberOut(ResponseStruct):
    user_id: str
    email: str
    name: str
    role: Role
    joined_at: datetime

    @classmethod
    def of(cls, raw: dict[str, Any]) -> MemberOut:
        """From a user as auth/memberships reads them (with `membership`, theirs in this organisation)."""
        membership = raw["membership"]
        return cls(
            user_id=str(raw["_id"]),
            email=raw.get("email", ""),
            name=raw.get("name", ""),
            role=Role(membership["role"]),
            joined_at=membership["joined_at"],
        )

    @staticmethod
    def unknown(_user: Any) -> msgspec.Struct:
        """Every member event carries its own object (PendingEvent.object): a user has no one member shape."""
        raise LookupError("a member event names its object")


class MemberUpdate(BaseStruct):
    role: Role


class InvitationCreate(BaseStruct):
    email: Email
    role: Role


class InvitationOut(ResponseStruct, Mapped):
    id: str
    email: str
    role: str
    status: str
    expires_at: datetime
    created_at: datetime

    SOURCE = Source(Invitation)


class AcceptIn(BaseStruct):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


OrganizationPage = Annotated[Page[OrganizationOut], component("OrganizationPage")]
MemberPage = Annotated[Page[MemberOut], component("MemberPage")]
InvitationPage = Annotated[Page[InvitationOut], component("InvitationPage")]
