"""`python -m app migrate` on a changed index (issue 24): it builds without the operation timeout, builds the
new version before it drops the old one, never leaves a unique constraint unenforced, changes in place what
collMod can, and, killed after any step, converges when it is run again."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest
from beanie import Document, init_beanie
from bson import ObjectId
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError, PyMongoError

from app.config import Settings
from app.db import embedded_store, index_builds, index_migration, indexes, migrate
from app.db.index_migration import Step, next_step
from tests.faults import Died, Fault, index_fault_fixture  # noqa: F401 (the `index_fault` fixture)
from tests.servers import free_port


class Part(Document):
    owner_id: str
    sku: str
    size: int = 0
    code: str = ""

    class Settings:
        name = "parts"
        indexes: list[IndexModel] = []


STORED = {"owner_id": "a", "sku": "x", "size": 1, "code": "c1"}
OWNER_SKU = IndexModel([("owner_id", ASCENDING), ("sku", ASCENDING)], name="owner_sku", unique=True)
CODE_UNIQUE = IndexModel([("code", ASCENDING)], name="code_unique", unique=True)


async def fresh_database():
    handle = embedded_store.build_client()["migrations"]
    await init_beanie(database=handle, document_models=[Part], skip_indexes=True)
    return handle


@pytest.fixture
async def database():
    return await fresh_database()


def declare(monkeypatch, *models: IndexModel) -> None:
    monkeypatch.setattr(Part.Settings, "indexes", list(models))


async def listed(database) -> dict:
    return {spec["name"]: spec async for spec in database["parts"].list_indexes() if spec["name"] != "_id_"}


async def assert_duplicates_refused(database) -> None:
    with pytest.raises(DuplicateKeyError):
        await database["parts"].insert_one({**STORED, "_id": ObjectId()})


async def assert_as_declared(database) -> None:
    """Exactly the declared indexes, one version each, each under its name or a version of it."""
    found = await listed(database)
    declared = indexes.declared_indexes([Part])
    assert sorted(map(indexes.shape, found.values())) == sorted(indexes.shape(d.spec) for d in declared)
    assert all(any(name in indexes.family(d.name, found) for d in declared) for name in found), found


# Each: the indexes before (declared, or an undeclared legacy one), the declaration after.
CHANGES = {
    # new keys: the new version is built beside the old one (another signature), then the old one dropped
    "keys": ([OWNER_SKU], [], [IndexModel([("owner_id", 1), ("sku", 1), ("size", 1)], name="owner_sku", unique=True)]),
    # a TTL added to a unique index: one signature, so a stand-in holds the uniqueness during the rebuild
    "ttl_added": ([CODE_UNIQUE], [], [IndexModel([("code", 1)], name="code_unique", unique=True, expireAfterSeconds=3600)]),
    # the same unique index under an old auto-generated name: MongoDB cannot rename it
    "legacy_name": ([], [IndexModel([("code", 1)], unique=True)], [CODE_UNIQUE]),
}  # fmt: skip


async def before(database, monkeypatch, change: str) -> None:
    declared, legacy, after = CHANGES[change]
    declare(monkeypatch, *declared)
    await index_migration.migrate(database, [Part])
    if legacy:
        await database["parts"].create_indexes(legacy)
    await database["parts"].insert_one(dict(STORED))
    await assert_duplicates_refused(database)
    declare(monkeypatch, *after)


@pytest.mark.parametrize("change", list(CHANGES))
async def test_killed_after_any_step_a_rerun_converges_and_the_uniqueness_never_lapses(
    change, monkeypatch, index_fault: Fault
):
    database = await fresh_database()
    await before(database, monkeypatch, change)
    index_fault.arm(10**6)
    assert (await index_migration.migrate(database, [Part])).failed == []
    steps = index_fault.writes
    index_fault.disarm()
    assert steps >= 2, "built, then dropped"

    for after in range(1, steps + 1):
        database = await fresh_database()
        await before(database, monkeypatch, change)
        index_fault.arm(after)
        with pytest.raises(Died):
            await index_migration.migrate(database, [Part])
        index_fault.disarm()
        await assert_duplicates_refused(database)  # killed here: a unique index still holds

        result = await index_migration.migrate(database, [Part])
        assert result.failed == [], (after, result)
        await assert_as_declared(database)
        await assert_duplicates_refused(database)
        assert await indexes.missing_constraints(database, [Part]) == []


async def test_the_new_version_is_built_before_the_old_one_is_dropped(
    database, monkeypatch, index_fault: Fault
):
    await before(database, monkeypatch, "keys")
    index_fault.arm(1)
    with pytest.raises(Died):
        await index_migration.migrate(database, [Part])
    index_fault.disarm()
    found = await listed(database)
    assert set(found) == {"owner_sku", indexes.versioned_name("owner_sku", Part.Settings.indexes[0].document)}
    assert all(spec.get("unique") for spec in found.values())


async def test_stored_duplicates_of_a_new_unique_index_fail_it_and_keep_the_old_one(database, monkeypatch):
    wide = IndexModel([("owner_id", 1), ("sku", 1), ("size", 1)], name="owner_sku", unique=True)
    declare(monkeypatch, wide)
    await index_migration.migrate(database, [Part])
    await database["parts"].insert_many([dict(STORED), {**STORED, "size": 2}])  # one sku, two sizes
    declare(monkeypatch, OWNER_SKU)

    result = await index_migration.migrate(database, [Part])

    assert len(result.failed) == 1 and result.failed[0].startswith("parts.owner_sku: stored documents")
    assert [indexes.shape(spec) for spec in (await listed(database)).values()] == [
        indexes.shape(wide.document)
    ]
    await assert_duplicates_refused(database)


async def test_a_unique_index_without_a_stand_in_is_left_as_it_is_and_migrate_exits_1(
    database, monkeypatch, caplog
):
    """A sparse unique index cannot have a stand-in (MongoDB allows no partial filter beside sparse): a TTL
    added to it would mean a moment without the constraint, so migrate refuses and says what to do."""
    sparse = IndexModel([("code", 1)], name="code_unique", unique=True, sparse=True)
    declare(monkeypatch, sparse)
    await index_migration.migrate(database, [Part])
    declare(
        monkeypatch,
        IndexModel([("code", 1)], name="code_unique", unique=True, sparse=True, expireAfterSeconds=60),
    )
    settings = replace(Settings.from_env(), mongodb_db="migrations")

    with caplog.at_level(logging.INFO, logger="orbix.migrate"):
        code = await migrate.run(settings, [Part], client_factory=lambda _: (database.client, True))

    assert code == 1
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "parts.code_unique" in line and "drop it yourself" in line
    assert caplog.records[-1].getMessage().endswith("0 unknown, 1 failed")
    assert [indexes.shape(spec) for spec in (await listed(database)).values()] == [
        indexes.shape(sparse.document)
    ]


# ---------------------------------------------------------------- collMod where it suffices


async def test_a_changed_ttl_is_changed_in_place_by_one_collmod(database, monkeypatch, index_fault: Fault):
    declare(monkeypatch, IndexModel([("code", 1)], name="code_expiry", expireAfterSeconds=60))
    await index_migration.migrate(database, [Part])
    declare(monkeypatch, IndexModel([("code", 1)], name="code_expiry", expireAfterSeconds=120))
    sent = []
    command = embedded_store._Database.command

    async def spy(self, document, *args, **kwargs):
        sent.append(document)
        return await command(self, document, *args, **kwargs)

    monkeypatch.setattr(embedded_store._Database, "command", spy)
    index_fault.arm(10**6)

    result = await index_migration.migrate(database, [Part])

    assert result.modified == ["parts.code_expiry"] and result.replaced == []
    assert index_fault.writes == 1  # no build, no drop
    assert sent == [{"collMod": "parts", "index": {"name": "code_expiry", "expireAfterSeconds": 120}}]
    assert (await listed(database))["code_expiry"]["expireAfterSeconds"] == 120


def _declared(**options) -> indexes.DeclaredIndex:
    return indexes.DeclaredIndex("parts", IndexModel([("code", 1)], name="by_code", **options))


def test_hiding_or_unhiding_an_index_is_a_collmod():
    found = {"by_code": {"name": "by_code", "key": {"code": 1}, "v": 2}}
    hidden = _declared(hidden=True)
    assert next_step(hidden, found, [hidden]) == Step("modify", "by_code", {"hidden": True})
    shown = _declared()
    listed_hidden = {"by_code": {**found["by_code"], "hidden": True}}
    assert next_step(shown, listed_hidden, [shown]) == Step("modify", "by_code", {"hidden": False})


def test_a_ttl_added_is_not_a_collmod_and_an_index_without_uniqueness_is_dropped_first():
    """collMod changes the TTL of a TTL index only; two indexes of one signature cannot coexist, and
    nothing but query speed depends on this one until it is rebuilt."""
    found = {"by_code": {"name": "by_code", "key": {"code": 1}, "v": 2}}
    expiring = _declared(expireAfterSeconds=60)
    assert next_step(expiring, found, [expiring]) == Step("drop", "by_code")


# ---------------------------------------------------------------- no operation timeout on a build


async def test_an_index_build_runs_without_the_operation_timeout():
    """timeoutMS (MONGODB_TIMEOUT_MS) bounds every operation, but a build on a large collection outlasts it.
    Against nothing listening, a build fails only when server selection gives up (its own bound); a drop,
    which keeps the operation timeout, fails at once."""
    client = AsyncIOMotorClient(
        f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        timeoutMS=100,
        serverSelectionTimeoutMS=1500,
    )
    collection = client["orbix"]["parts"]
    try:
        started = time.monotonic()
        with pytest.raises(PyMongoError):
            await index_builds.drop(collection, "code_unique")
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        with pytest.raises(PyMongoError):
            await index_builds.build(collection, CODE_UNIQUE.document)
        assert time.monotonic() - started >= 1.4
    finally:
        client.close()
