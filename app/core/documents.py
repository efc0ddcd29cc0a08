"""The base of every owned document and the one way to load one by id."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from beanie import Document, PydanticObjectId
from beanie.odm.utils.encoder import Encoder
from bson import ObjectId
from pydantic import Field, model_validator
from pymongo import ReturnDocument

from app.core.clock import utc_now
from app.core.errors import Conflict, InvalidReference, NotFound
from app.core.schemas import OBJECT_ID_PATTERN

_OBJECT_ID = re.compile(OBJECT_ID_PATTERN)


class TimestampedDocument(Document):
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    @model_validator(mode="before")
    @classmethod
    def _created_and_updated_together(cls, data: Any) -> Any:
        """A new document's created_at and updated_at are the same instant, not two clock reads."""
        if isinstance(data, dict) and "created_at" not in data:
            now = utc_now()
            data = {**data, "created_at": now, "updated_at": data.get("updated_at", now)}
        return data


class OwnedDocument(TimestampedDocument):
    owner_id: PydanticObjectId


D = TypeVar("D", bound=OwnedDocument)
# A user's id as Beanie types it (Document.id is Optional until inserted).
OwnerId = ObjectId | None

_ENCODER = Encoder()


def to_bson(value: Any) -> Any:
    """Values for raw driver calls, encoded as Beanie encodes documents (Decimal -> Decimal128,
    date -> datetime at midnight UTC, models -> dicts)."""
    return _ENCODER.encode(value)


def parse_object_id(value: str) -> ObjectId | None:
    return ObjectId(value) if isinstance(value, str) and _OBJECT_ID.match(value) else None


def owned_filter(owner_id: OwnerId, **extra: Any) -> dict[str, Any]:
    return {"owner_id": owner_id, **extra}


async def get_owned(model: type[D], id_: str, owner_id: OwnerId) -> D:
    """The caller's document, or 404 whether it is missing, malformed or someone else's."""
    oid = parse_object_id(id_)
    document = await model.find_one({"_id": oid, "owner_id": owner_id}) if oid else None
    if document is None:
        raise NotFound(f"No {model.__name__.lower()} with id {id_!r}" if oid else "No such resource")
    return document


async def get_referenced(model: type[D], id_: str, owner_id: OwnerId, field: str) -> D:
    """Like get_owned, for an id named in a request body: a miss is 400 invalid_reference."""
    oid = parse_object_id(id_)
    document = await model.find_one({"_id": oid, "owner_id": owner_id}) if oid else None
    if document is None:
        raise InvalidReference(f"{field} {id_!r} names nothing you own")
    return document


async def update_owned(
    model: type[D],
    id_: str | ObjectId | None,
    owner_id: OwnerId,
    fields: Mapping[str, Any],
    *,
    where: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> D | None:
    """One atomic `$set` (plus `extra` operators) on the caller's document, filtered by `where` too.

    Returns the updated document, or None when nothing matched (missing, someone else's, or `where` failed).
    """
    oid = id_ if isinstance(id_, ObjectId) else parse_object_id(id_) if id_ else None
    if oid is None:
        return None
    operation: dict[str, Any] = {"$set": {**fields, "updated_at": utc_now()}, **(extra or {})}
    raw = await model.get_motor_collection().find_one_and_update(
        to_bson({"_id": oid, "owner_id": owner_id, **(where or {})}),
        to_bson(operation),
        return_document=ReturnDocument.AFTER,
    )
    return model.model_validate(raw) if raw is not None else None


async def ensure_unreferenced(
    what: str, oid: ObjectId | None, owner_id: OwnerId, references: list[tuple[type[Document], str]]
) -> None:
    """409 in_use when any of `references` (model, field) still points at `oid`."""
    for model, field in references:
        if await model.find_one({"owner_id": owner_id, field: oid}) is not None:
            raise Conflict(
                f"This {what} is still referenced by {model.Settings.name}; delete or reassign those first",
                code="in_use",
            )
