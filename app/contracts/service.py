"""Contracts: drafts are edited, then sent, signed or cancelled; every move is one atomic update."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId

from app.auth.models import Owner
from app.clients.models import Client
from app.contracts.models import Contract
from app.contracts.schemas import ContractCreate, ContractUpdate
from app.core.clock import check_date_order, utc_now
from app.core.errors import InvalidReference, InvalidState, ValidationFailed
from app.core.money import to_cents
from app.core.retry import compare_and_set
from app.core.transitions import DELETED, Lifecycle, Transition
from app.db.outbox import pending, publish
from app.db.pagination import Page, PageParams, id_filters, paginate, sortable
from app.db.repository import (
    confirm_moved,
    delete_owned_where,
    get_owned,
    get_referenced,
    insert_confirmed,
    owned_filter,
    update_owned,
)
from app.db.versions import ANY, Expected
from app.http.schemas import provided_fields
from app.organizations.models import Books
from app.projects.models import Project
from app.projects.service import project_of_client

SORTS = sortable(Contract, {"created_at": "created_at", "title": "title", "start_date": "start_date"})


# The lifecycle, in one place: action -> (statuses it may start from, status it leads to).
LIFECYCLE = Lifecycle(
    {
        "edit": Transition(("draft",)),
        "delete": Transition(("draft", "cancelled"), DELETED),
        "send": Transition(("draft",), "sent"),
        "sign": Transition(("sent",), "signed"),
        "cancel": Transition(("draft", "sent"), "cancelled"),
    }
)
_ACTION_NAMES = {"edit": "editing", "delete": "deleting"}


def _refusal(contract: Contract, action: str) -> InvalidState | None:
    """Why `action` may not start from the contract's status, or None when it may."""
    if LIFECYCLE.allows(contract.status, action):
        return None
    allowed = " or ".join(LIFECYCLE.sources(action))
    name = _ACTION_NAMES.get(action, action)
    return InvalidState(f"Contract {contract.id} is {contract.status}; {name} needs status {allowed}")


async def list_contracts(
    owner: Owner,
    params: PageParams,
    status: str | None,
    client_id: str | None,
    project_id: str | None,
) -> Page[Contract]:
    query = owned_filter(owner.id, id_filters(client_id=client_id, project_id=project_id))
    if status is not None:
        query["status"] = status
    return await paginate(Contract, query, params, SORTS)


async def create_contract(
    owner: Books, data: ContractCreate, new_id: PydanticObjectId | None = None
) -> Contract:
    client = await get_referenced(Client, data.client_id, owner.id, "client_id")
    project = await project_of_client(owner, data.project_id, client.id) if data.project_id else None
    contract = Contract(
        id=new_id or PydanticObjectId(),
        owner_id=owner.id,
        client_id=client.id,
        project_id=project.id if project else None,
        title=data.title,
        body=data.body,
        value_cents=to_cents(data.value) if data.value is not None else None,
        currency=data.currency or client.currency,
        start_date=data.start_date,
        end_date=data.end_date,
    )
    return await insert_confirmed(
        contract, [(Client, contract.client_id, "client_id"), (Project, contract.project_id, "project_id")]
    )


async def get_contract(owner: Owner, contract_id: str) -> Contract:
    return await get_owned(Contract, contract_id, owner.id)


async def _merge(
    owner: Books, current: Contract, changes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `$set` for a PATCH, and the stored values it was checked against (they must not move meanwhile)."""
    fields: dict[str, Any] = {key: changes[key] for key in ("title", "body", "currency") if key in changes}
    unchanged: dict[str, Any] = {}
    if "value" in changes:
        fields["value_cents"] = to_cents(changes["value"]) if changes["value"] is not None else None

    client_id: ObjectId | None = current.client_id
    if "client_id" in changes:
        client = await get_referenced(Client, changes["client_id"], owner.id, "client_id")
        client_id = client.id
        fields["client_id"] = client.id
        if client.id != current.client_id and "currency" not in changes:
            fields["currency"] = client.currency  # the default follows the client, unless one is sent
    if changes.get("project_id") is not None:
        project = await project_of_client(owner, changes["project_id"], client_id)
        fields["project_id"] = project.id
        if "client_id" not in changes:
            unchanged["client_id"] = current.client_id
    elif "project_id" in changes:
        fields["project_id"] = None
    elif client_id != current.client_id:
        if current.project_id is not None:
            raise InvalidReference(
                "The contract's project belongs to its old client; send project_id (or null) too"
            )
        unchanged["project_id"] = None

    if "start_date" in changes or "end_date" in changes:
        start = changes.get("start_date", current.start_date)
        end = changes.get("end_date", current.end_date)
        try:
            check_date_order(start, end, "start_date", "end_date")
        except ValueError:
            raise ValidationFailed.field("end_date", "must be on or after start_date") from None
        fields["start_date"], fields["end_date"] = start, end
        unchanged.update(start_date=current.start_date, end_date=current.end_date)
    return fields, unchanged


async def update_contract(
    owner: Books, contract_id: str, data: ContractUpdate, expected: Expected = ANY
) -> Contract:
    changes = provided_fields(data)

    async def attempt() -> Contract | None:
        current = await get_owned(Contract, contract_id, owner.id, expected)
        fields, unchanged = await _merge(owner, current, changes)
        refused = _refusal(current, "edit")
        if refused:
            raise refused
        event = pending("contract.updated")
        updated = await update_owned(
            Contract,
            current.id,
            owner.id,
            fields,
            where={**LIFECYCLE.where("edit"), **unchanged},
            event=event,
            expected=expected,
        )
        if updated is not None:
            parents = {"client_id": Client, "project_id": Project}
            await confirm_moved(current, fields, parents, restore=("currency",), event=event)
        return updated

    updated = await compare_and_set(
        attempt, "The contract changed while it was being edited; fetch it and try again"
    )
    await publish(updated)
    return updated


async def delete_contract(owner: Books, contract_id: str, expected: Expected = ANY) -> None:
    """Only a draft or a cancelled contract."""
    await delete_owned_where(
        Contract,
        contract_id,
        owner.id,
        LIFECYCLE.where("delete"),
        lambda c: _refusal(c, "delete"),
        expected=expected,
    )


async def _move(
    owner: Books, contract_id: str, action: str, stamps: dict[str, Any], expected: Expected
) -> Contract:
    """Apply one transition of LIFECYCLE atomically, with its event (`contract.sent` for "send", ...); on a
    miss, re-read to tell 404 from 409."""
    target = LIFECYCLE.target(action)
    updated = await update_owned(
        Contract,
        contract_id,
        owner.id,
        {"status": target, **stamps},
        where=LIFECYCLE.where(action),
        event=pending(f"contract.{target}"),
        expected=expected,
    )
    if updated is not None:
        await publish(updated)
        return updated
    current = await get_owned(Contract, contract_id, owner.id, expected)
    raise _refusal(current, action) or InvalidState(f"Contract {current.id} changed meanwhile; try again")


async def send_contract(owner: Books, contract_id: str, expected: Expected = ANY) -> Contract:
    return await _move(owner, contract_id, "send", {"sent_at": utc_now()}, expected)


async def sign_contract(owner: Books, contract_id: str, signed_by: str, expected: Expected = ANY) -> Contract:
    stamps = {"signed_at": utc_now(), "signed_by": signed_by}
    return await _move(owner, contract_id, "sign", stamps, expected)


async def cancel_contract(owner: Books, contract_id: str, expected: Expected = ANY) -> Contract:
    return await _move(owner, contract_id, "cancel", {}, expected)
