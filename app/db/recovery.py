"""Recovery item by item (docs/operations.md): the one way every recovery step runs its stuck items.

Each item (a document, or the work keyed by one) runs on its own: one that raises is logged with its
collection and id and skipped, the others go on, and the next pass tries it again. So one bad item (one
organisation's document that cannot be finished) never keeps every other one waiting.

The steps of a pass run in an order (app/recovery.py): what an earlier step leaves undone must not be built
on by a later one, e.g. the relay must not publish the `*.created` event of a document whose insert is
still to be confirmed, nor the claim events of an invoice whose claims are still to be settled. So a pass
remembers every item that failed, and leaves alone, for this pass, any later item that is one of them or
that waits on one of them (`waits_on`: a pending claim names it, or an insert not yet confirmed names it as
its parent); such an item is held too, so what waits on it waits as well. The next pass starts afresh.
Only an Exception is caught: a cancellation (shutdown) or a dying process still ends the pass, and so does a
database that cannot be reached (every item would wait out its timeout only to fail alike).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from bson import ObjectId
from pymongo.errors import ConnectionFailure

from app.core import error_text
from app.db.outbox import OUTBOX

log = logging.getLogger("orbix.recovery")

T = TypeVar("T")
# The type of a pending insert event (`client.created`, `time_entry.started`, …): the insert is confirmed
# (its parents checked) by the recovery's first step while it is pending.
INSERT_EVENT = re.compile(r"\.(created|started)$")
_NOT_A_REFERENCE = frozenset({"_id", "owner_id"})


class RecoveryPass:
    """One pass of the recovery: runs each item on its own (item) and remembers the ones that failed."""

    def __init__(self) -> None:
        self._held: set[Any] = set()

    async def item(
        self,
        what: str,
        collection: str,
        item_id: Any,
        step: Callable[[], Awaitable[T]],
        *,
        waits_on: Iterable[Any] = (),
    ) -> T | None:
        """Run `step` for one item (`what` it does, to the item `item_id` of `collection`): its result, or
        None when it raised (logged with the collection and the id; the item is then held for the rest of
        the pass) or was left alone because it, or one of `waits_on`, is held."""
        blocker = next((held for held in (item_id, *waits_on) if held in self._held), None)
        if blocker is not None:
            self._held.add(item_id)
            why = (
                "it failed earlier in this pass"
                if blocker == item_id
                else f"it waits on {blocker}, which failed"
            )
            log.info(
                "recovery did not %s %s (collection %s) in this pass: %s",
                what,
                item_id,
                collection,
                why,
                extra={"recovery_step": what, "collection": collection, "item_id": str(item_id)},
            )
            return None
        try:
            return await step()
        except ConnectionFailure:
            raise  # the database, not the item: the whole pass waits for the next one
        except Exception as exc:
            self._held.add(item_id)
            log.error(
                "recovery could not %s %s (collection %s); skipped until the next pass: %s",
                what,
                item_id,
                collection,
                error_text.describe(exc),
                exc_info=True,
                extra={"recovery_step": what, "collection": collection, "item_id": str(item_id)},
            )
            return None


def waits_on(raw: Mapping[str, Any]) -> list[Any]:
    """The items a stored document's pending events wait on: the invoice each pending claim names, and, while
    its insert event is pending (not confirmed yet), every document it names (its parents)."""
    entries = raw.get(OUTBOX)  # read defensively: this runs outside the item's own failure handling
    pending = [entry for entry in entries if isinstance(entry, Mapping)] if isinstance(entries, list) else []
    found = [entry["claim"] for entry in pending if entry.get("claim") is not None]
    if any(INSERT_EVENT.search(str(entry.get("type", ""))) for entry in pending):
        found += [v for k, v in raw.items() if k not in _NOT_A_REFERENCE and isinstance(v, ObjectId)]
    return found
