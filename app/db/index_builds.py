"""The three server operations that change an index: build (createIndexes), drop (dropIndexes) and modify
(collMod), each exactly as MongoDB 7 documents it.

A build takes as long as the collection is large, so it runs without the client's operation timeout
(`timeoutMS`, MONGODB_TIMEOUT_MS). `pymongo.timeout(0)` is the driver's per-operation override: 0 is "no
timeout" in the client-side operations timeout specification, so no `maxTimeMS` is sent and the reply is
awaited however long the build takes. `pymongo.timeout(None)` would not do: it means "not set here", and the
client's `timeoutMS` applies again. Server selection keeps its own bound (serverSelectionTimeoutMS), so an
unreachable server still fails fast. A drop and a collMod change metadata only and keep the client's bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pymongo

# Index options a collMod can change in place (`index: {name, expireAfterSeconds, hidden}`), instead of a
# rebuild. (It can also make an index unique, through prepareUnique first: not used, a unique index is built
# beside the old one instead.)
MODIFIABLE = ("expireAfterSeconds", "hidden")


async def build(collection: Any, spec: Mapping[str, Any]) -> None:
    """Create the index `spec` (an index document: key, name and options), waiting for it to finish."""
    options = {option: value for option, value in spec.items() if option != "key"}
    # create_index rather than create_indexes: both send the same createIndexes command to a server, and the
    # embedded store (mongomock) keeps partialFilterExpression only through create_index.
    with pymongo.timeout(0):
        await collection.create_index(list(spec["key"].items()), **options)


async def drop(collection: Any, name: str) -> None:
    await collection.drop_index(name)


async def modify(database: Any, collection: str, name: str, changes: Mapping[str, Any]) -> None:
    """collMod of the index `name`: only the options in MODIFIABLE."""
    if not changes or set(changes) - set(MODIFIABLE):
        raise ValueError(f"collMod changes only {', '.join(MODIFIABLE)}, not {sorted(changes)}")
    await database.command({"collMod": collection, "index": {"name": name, **changes}})
