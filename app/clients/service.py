"""Clients: every query starts from the owner."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from functools import partial
from typing import Any

from beanie import PydanticObjectId

from app.auth.models import Owner
from app.clients.models import Client
from app.clients.schemas import ClientCreate, ClientOut, ClientUpdate
from app.core.errors import NotFound
from app.db.client import referencing_models
from app.db.outbox import OUTBOX, pending, publish
from app.db.pagination import Page, PageParams, paginate_raw, sortable
from app.db.recovery import RecoveryPass, waits_on
from app.db.repository import (
    PRESENT,
    StoredAddress,
    delete_unreferenced,
    get_owned,
    insert_with_event,
    owned_filter,
    update_owned,
)
from app.db.versions import ANY, Expected
from app.http.schemas import as_plain, provided_fields
from app.organizations.models import Books
from app.projects.service import follow_client_currency

SORTS = sortable(Client, {"name": "name", "created_at": "created_at"})


def _stored_address(fields: dict[str, Any]) -> dict[str, Any]:
    if fields.get("address") is not None:
        fields["address"] = StoredAddress(**fields["address"])
    return fields


async def list_clients(owner: Owner, params: PageParams, q: str | None) -> Page[ClientOut]:
    query = owned_filter(owner.id)
    if q:
        pattern = {"$regex": re.escape(q), "$options": "i"}
        query["$or"] = [{"name": pattern}, {"company": pattern}, {"email": pattern}]
    return await paginate_raw(Client, query, params, SORTS, ClientOut)


async def create_client(owner: Books, data: ClientCreate, new_id: PydanticObjectId | None = None) -> Client:
    fields = _stored_address(as_plain(data))
    fields["currency"] = data.currency or owner.business.default_currency
    if data.payment_terms_days is None:
        fields["payment_terms_days"] = owner.business.payment_terms_days
    return await insert_with_event(Client(id=new_id or PydanticObjectId(), owner_id=owner.id, **fields))


async def client_names(owner: Owner, client_ids: Collection[Any]) -> dict[Any, str]:
    """The names of the owner's clients among `client_ids`, by id, in one query (for reports)."""
    if not client_ids:
        return {}
    found = Client.get_motor_collection().find(
        owned_filter(owner.id, _id={"$in": list(client_ids)}), {"name": 1}
    )
    return {raw["_id"]: raw["name"] async for raw in found}


async def get_client(owner: Owner, client_id: str) -> Client:
    return await get_owned(Client, client_id, owner.id)


async def update_client(owner: Books, client_id: str, data: ClientUpdate, expected: Expected = ANY) -> Client:
    changes = provided_fields(data)
    if changes.get("address") is not None:
        changes["address"] = StoredAddress(**changes["address"]).model_dump()
    client = await update_owned(
        Client, client_id, owner.id, changes, event=pending("client.updated"), expected=expected
    )
    if client is None:
        raise NotFound(f"No client with id {client_id!r}")
    await finish_update(client, currency_changed="currency" in changes)
    return client


async def finish_update(client: Client, *, currency_changed: bool = True) -> None:
    """The steps after a client update's write, each idempotent (the worker's recovery runs them again for a
    client whose event is still pending, not knowing what changed): its projects follow its currency, then
    its event leaves."""
    if currency_changed:
        await follow_client_currency(client)
    await publish(client)


async def delete_client(owner: Books, client_id: str, expected: Expected = ANY) -> None:
    await delete_unreferenced(Client, client_id, owner.id, client_references(), expected)


async def recover_updates(cutoff: datetime, recovery: RecoveryPass | None = None) -> None:
    """For the worker's recovery: finish every client write whose event is older than `cutoff` and still
    pending (its request died before its projects followed the currency, or before publishing). Each client
    on its own (db/recovery.py)."""
    recovery = recovery or RecoveryPass()
    collection = Client.get_motor_collection()
    async for raw in collection.find({f"{OUTBOX}.at": {"$lte": cutoff}, **PRESENT}):
        finish = partial(finish_raw_update, raw)
        await recovery.item(
            "finish the update of", collection.name, raw["_id"], finish, waits_on=waits_on(raw)
        )


async def finish_raw_update(raw: dict[str, Any]) -> None:
    """finish_update() of a client as read raw (read into the model here, so a client that cannot be read
    fails on its own)."""
    await finish_update(Client.model_validate(raw))


def client_references() -> list[tuple[Any, str]]:
    """Every document type with a `client_id`: a client one of them still names cannot be deleted."""
    return referencing_models("client_id")
