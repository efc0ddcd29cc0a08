"""Who acts: a user, an API key, or Orbix itself (API.md section 19: `created_by` and an event's `actor`).

The authentication middleware names the actor of a request once (`acting_as` around the request, `act` when
the caller is known); everything below reads it (`acting()`): a new business document's `created_by`
(db/repository.OwnedDocument) and each pending event (db/outbox.pending), so a document and its `*.created`
event always name the same actor, and no create can forget it. Outside a request (the worker, recovery,
migrations) the actor is the system.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from beanie import PydanticObjectId
from pydantic import BaseModel


class Actor(BaseModel):
    """Who did something, as stored: `{type, id}` (`id` None for the system)."""

    type: Literal["user", "api_key", "system"]
    id: PydanticObjectId | None = None

    def stored(self) -> dict[str, Any]:
        """The shape written by raw driver calls."""
        return {"type": self.type, "id": self.id}


SYSTEM = Actor(type="system")

_acting: ContextVar[Actor] = ContextVar("acting", default=SYSTEM)


def acting() -> Actor:
    """The actor of the operation running now: the request's caller, else the system."""
    return _acting.get()


def act(actor: Actor) -> None:
    """Name the actor of the rest of the operation (inside `acting_as`, which undoes it)."""
    _acting.set(actor)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Run the block as `actor`; the actor before it is back afterwards."""
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)
