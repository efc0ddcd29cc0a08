"""Organisations, members and invitations (API.md section 19)."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.status_codes import HTTP_200_OK

from app.auth.models import Caller, User
from app.core import scopes
from app.core.errors import (
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    QuotaExceeded,
    ValidationFailed,
    raises,
)
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.schemas import provided_fields
from app.http.tenancy import outside_organization, requires
from app.http.versioning import NAMES_THE_CALLER
from app.invoices.service import holds_numbered
from app.organizations import invitations, members
from app.organizations import service as organizations
from app.organizations.errors import InvitationInvalid
from app.organizations.schemas import (
    AcceptIn,
    InvitationCreate,
    InvitationOut,
    InvitationPage,
    MemberOut,
    MemberPage,
    MemberUpdate,
    OrganizationCreate,
    OrganizationOut,
    OrganizationPage,
    OrganizationUpdate,
)

# The organisation named is not one of the caller's (404); the caller's role is below the route's (403).
IN_ORGANIZATION = (NotFound, Forbidden)


class OrganizationsController(Controller):
    """The caller's organisations: routes of the user alone, acting in none."""

    path = "/organizations"
    tags = ["organizations"]

    @get(
        "/",
        operation_id="listOrganizations",
        opt={**outside_organization(), **sorted_by(organizations.SORTS, keyset=False)},
    )
    async def list_organizations(self, current_user: User, page: PageParams) -> OrganizationPage:
        """The organisations you belong to, with your role in each. Sort by `name` or `created_at`."""
        assert current_user.id is not None
        found = await organizations.list_joined(current_user.id, page)
        return found.map(lambda pair: OrganizationOut.of(*pair))

    @post("/", operation_id="createOrganization", opt={**outside_organization(), **raises(QuotaExceeded)})
    async def create_organization(
        self, data: OrganizationCreate, current_user: User, state: State
    ) -> Response[OrganizationOut]:
        """Create an organisation; you are its owner (at most ORGANIZATIONS_PER_USER_MAX owned)."""
        assert current_user.id is not None
        created = await organizations.create(
            current_user.id, current_user.email, data.name, state.settings.organizations_per_user_max
        )
        return Response(OrganizationOut.of(created, Role.OWNER), status_code=201)


class OrganizationController(Controller):
    """The organisation the request acts in."""

    path = "/organization"
    tags = ["organizations"]

    @get(
        "/",
        operation_id="getOrganization",
        opt={
            NAMES_THE_CALLER: True,
            **requires(Role.VIEWER, scope=scopes.ANY_KEY),
            **raises(*IN_ORGANIZATION),
        },
    )
    async def get_organization(self, caller: Caller) -> OrganizationOut:
        """The organisation this request acts in, with your role."""
        assert caller.organization is not None
        return OrganizationOut.of(caller.organization, caller.role)

    @patch(
        "/",
        operation_id="updateOrganization",
        opt={**requires(Role.ADMIN, scope=scopes.EVERYTHING), **raises(*IN_ORGANIZATION, ValidationFailed)},
    )
    async def update_organization(
        self, data: OrganizationUpdate, caller: Caller, expected: Expected
    ) -> OrganizationOut:
        """Change the name or the business profile."""
        changes = provided_fields(data)
        updated = await organizations.update_profile(
            caller.id, changes.get("name"), changes.get("business") or {}, expected
        )
        return OrganizationOut.of(updated, caller.role)

    @delete(
        "/",
        operation_id="deleteOrganization",
        opt={**requires(Role.OWNER, scope=scopes.NO_KEY), **raises(*IN_ORGANIZATION, InvalidState)},
    )
    async def delete_organization(self, caller: Caller, expected: Expected) -> None:
        """Delete this organisation (not a personal one, nor one holding numbered invoices); every member
        leaves it."""
        assert caller.organization is not None
        await organizations.delete(caller.organization, holds_numbered, expected)

    @get(
        "/members",
        operation_id="listMembers",
        opt={
            **requires(Role.VIEWER, scope=scopes.NO_KEY),
            **sorted_by(members.SORTS, members.DEFAULT_SORT, keyset=False),
            **raises(*IN_ORGANIZATION),
        },
    )
    async def list_members(self, owner: Caller, page: PageParams) -> MemberPage:
        """The members with their roles. Sort by `name`, `email` or `joined_at` (default `joined_at`)."""
        return await members.list_members(owner, page)

    @patch(
        "/members/{user_id:str}",
        operation_id="updateMember",
        opt={**requires(Role.ADMIN, scope=scopes.NO_KEY), **raises(*IN_ORGANIZATION, InvalidState, Conflict)},
    )
    async def update_member(self, user_id: str, data: MemberUpdate, owner: Caller) -> MemberOut:
        """Change a member's role (owners only make or demote owners; the last owner stays)."""
        return await members.update_member(owner, user_id, data.role)

    @delete(
        "/members/{user_id:str}",
        operation_id="removeMember",
        opt={
            **requires(Role.VIEWER, scope=scopes.NO_KEY),
            **raises(*IN_ORGANIZATION, InvalidState, Conflict),
        },
    )
    async def remove_member(self, user_id: str, owner: Caller) -> None:
        """Remove a member, or leave (your own id): admins remove others, owners remove owners; the last
        owner stays."""
        await members.remove_member(owner, user_id)

    @post(
        "/invitations",
        operation_id="createInvitation",
        opt={
            **requires(Role.ADMIN, scope=scopes.NO_KEY),
            **raises(*IN_ORGANIZATION, Conflict, ValidationFailed),
        },
    )
    async def create_invitation(
        self, data: InvitationCreate, owner: Caller, state: State
    ) -> Response[InvitationOut]:
        """Invite an e-mail address with a role; the link goes out by e-mail and is valid 7 days."""
        created = await invitations.create_invitation(state.settings.jwt_secret, owner, data)
        return Response(InvitationOut.from_document(created), status_code=201)

    @get(
        "/invitations",
        operation_id="listInvitations",
        opt={
            **requires(Role.ADMIN, scope=scopes.NO_KEY),
            **sorted_by(invitations.SORTS),
            **raises(*IN_ORGANIZATION),
        },
    )
    async def list_invitations(self, owner: Caller, page: PageParams) -> InvitationPage:
        """The organisation's invitations, whatever their status."""
        return await invitations.list_invitations(owner, page)

    @delete(
        "/invitations/{invitation_id:str}",
        operation_id="revokeInvitation",
        opt={**requires(Role.ADMIN, scope=scopes.NO_KEY), **raises(*IN_ORGANIZATION, InvalidState)},
    )
    async def revoke_invitation(self, invitation_id: str, owner: Caller, expected: Expected) -> None:
        """Revoke a pending invitation: its link stops working."""
        await invitations.revoke_invitation(owner, invitation_id, expected)


class InvitationController(Controller):
    path = "/invitations"
    tags = ["organizations"]

    @post(
        "/accept",
        operation_id="acceptInvitation",
        status_code=HTTP_200_OK,
        opt={**outside_organization(), **raises(InvitationInvalid, Forbidden)},
    )
    async def accept_invitation(self, data: AcceptIn, owner: Caller, current_user: User) -> OrganizationOut:
        """Join the organisation an invitation names, with its role (your e-mail must be the invited one)."""
        organization, role = await invitations.accept(owner, data.token)
        return OrganizationOut.of(organization, role)
