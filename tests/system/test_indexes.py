"""Declared indexes: explicit names, reconciliation by `python -m app migrate`, and an index behind every
sort a list offers. Read back through list_indexes(), as an operator would on MongoDB. (How a migration keeps
every unique constraint and resumes: test_index_migration.py.)"""

from __future__ import annotations

import json
import subprocess

import pytest
from beanie import Document, init_beanie
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from app.db import embedded_store, index_migration, indexes
from app.db.pagination import SORTABLE
from app.db.repository import owned_filter
from app.main import DOCUMENT_MODELS
from tests.servers import PRODUCTION, free_port, server_env
from tests.system.index_use import indexes_by_collection, served, shape


class Widget(Document):
    owner_id: str
    sku: str
    size: int = 0

    class Settings:
        name = "widgets"
        indexes = [
            IndexModel([("owner_id", ASCENDING), ("sku", ASCENDING)], name="owner_sku"),
            IndexModel([("size", ASCENDING)], name="by_size"),
        ]


@pytest.fixture
async def database():
    client = embedded_store.build_client()
    handle = client["migrations"]
    await init_beanie(database=handle, document_models=[Widget], skip_indexes=True)
    yield handle
    client.close()


async def listed(handle, collection="widgets") -> dict:
    return {spec["name"]: spec async for spec in handle[collection].list_indexes()}


def declare(monkeypatch, *models: IndexModel) -> None:
    monkeypatch.setattr(Widget.Settings, "indexes", list(models))


def versions(found: dict, name: str) -> dict:
    """The listed versions of the declared index `name`: under its name or `name~<hash>`."""
    return {listed: spec for listed, spec in found.items() if listed == name or listed.startswith(f"{name}~")}


async def test_migrate_creates_the_missing_indexes_by_name(database):
    result = await index_migration.migrate(database, [Widget])

    assert sorted(result.created) == ["widgets.by_size", "widgets.owner_sku"]
    found = await listed(database)
    assert list(found["owner_sku"]["key"].items()) == [("owner_id", 1), ("sku", 1)]
    assert (await index_migration.migrate(database, [Widget])).created == []  # idempotent


async def test_migrate_replaces_an_index_whose_options_changed(database, monkeypatch):
    await index_migration.migrate(database, [Widget])
    await Widget(owner_id="a", sku="x").insert()
    declare(
        monkeypatch,
        IndexModel([("owner_id", ASCENDING), ("sku", ASCENDING)], name="owner_sku", unique=True),
        IndexModel([("size", ASCENDING)], name="by_size"),
    )

    result = await index_migration.migrate(database, [Widget])

    assert result.replaced == ["widgets.owner_sku"] and result.created == []
    found = await listed(database)
    (version,) = versions(found, "owner_sku").values()  # built beside the old one, which is gone
    assert version.get("unique") is True and version["name"].startswith("owner_sku~")
    assert "by_size" in found


async def test_migrate_replaces_an_index_whose_keys_changed(database, monkeypatch):
    await index_migration.migrate(database, [Widget])
    declare(
        monkeypatch,
        IndexModel([("owner_id", ASCENDING), ("sku", ASCENDING)], name="owner_sku"),
        IndexModel([("size", DESCENDING), ("sku", ASCENDING)], name="by_size"),
    )

    result = await index_migration.migrate(database, [Widget])

    assert result.replaced == ["widgets.by_size"]
    (version,) = versions(await listed(database), "by_size").values()
    assert list(version["key"].items()) == [("size", -1), ("sku", 1)]


async def test_the_next_change_builds_under_the_plain_name_again(database, monkeypatch):
    await index_migration.migrate(database, [Widget])
    for size_keys in ([("size", DESCENDING)], [("size", ASCENDING), ("sku", ASCENDING)]):
        declare(monkeypatch, IndexModel([("owner_id", ASCENDING), ("sku", ASCENDING)], name="owner_sku"),
                IndexModel(size_keys, name="by_size"))  # fmt: skip
        assert (await index_migration.migrate(database, [Widget])).replaced == ["widgets.by_size"]
    (name,) = versions(await listed(database), "by_size")
    assert name == "by_size"  # by_size -> by_size~<hash> -> by_size
    assert (await index_migration.migrate(database, [Widget])).replaced == []


async def test_migrate_reports_undeclared_indexes_and_leaves_them(database):
    await database["widgets"].create_index([("sku", ASCENDING)], name="operator_made")

    result = await index_migration.migrate(database, [Widget])

    assert result.unknown == ["widgets.operator_made"]
    assert "operator_made" in await listed(database)


async def test_migrate_renames_an_index_that_holds_the_same_keys_under_an_old_name(database):
    """Beanie named indexes after their keys (`owner_id_1_sku_1`); MongoDB refuses a second index on the
    same keys, so the old one is replaced by the named declaration."""
    await database["widgets"].create_index([("owner_id", ASCENDING), ("sku", ASCENDING)])

    result = await index_migration.migrate(database, [Widget])

    assert "widgets.owner_sku" in result.replaced
    found = await listed(database)
    assert "owner_sku" in found and "owner_id_1_sku_1" not in found and result.unknown == []


async def test_a_start_creates_missing_indexes_but_never_drops_a_changed_one(database, monkeypatch):
    await indexes.create_missing(database, [Widget])
    declare(
        monkeypatch,
        IndexModel([("owner_id", ASCENDING), ("sku", ASCENDING)], name="owner_sku", unique=True),
        IndexModel([("size", ASCENDING)], name="by_size"),
        IndexModel([("sku", ASCENDING)], name="by_sku"),
    )

    result = await indexes.create_missing(database, [Widget])

    assert result.created == ["widgets.by_sku"] and result.outdated == ["widgets.owner_sku"]
    assert (await listed(database))["owner_sku"].get("unique") is not True  # left for `migrate`


def test_every_declared_index_has_an_explicit_unique_name():
    declared = indexes.declared_indexes(DOCUMENT_MODELS)
    names = [index.qualified for index in declared]
    assert len(names) == len(set(names))
    assert all(not index.name.endswith(("_1", "_-1")) for index in declared), names


async def test_every_declared_index_is_one_mongodb_7_accepts():
    """A start logs an index the server refuses and goes on without it. The embedded store refuses the
    indexes MongoDB 7 refuses (a partial filter's unsupported expression, sparse with partial), so every
    declared index is created on it."""
    handle = embedded_store.build_client()["declared"]
    result = await indexes.create_missing(handle, DOCUMENT_MODELS)
    assert result.outdated == []
    assert len(result.created) == len(indexes.declared_indexes(DOCUMENT_MODELS))


def test_an_unnamed_index_is_refused(monkeypatch):
    declare(monkeypatch, IndexModel([("sku", ASCENDING)]))
    with pytest.raises(TypeError, match="explicit name"):
        indexes.declared_indexes([Widget])


def test_every_list_is_registered_for_the_index_check():
    listed_models = {model.__name__ for model, _, _ in SORTABLE}
    assert listed_models >= {
        "Client", "Project", "TimeEntry", "Invoice", "Contract", "Resume", "EmailRecord", "WebhookEndpoint",
        "WebhookDelivery",
    }  # fmt: skip


async def test_every_sort_of_every_list_has_an_owner_field_id_index(app, client):
    """(owner_id, field, _id) in one direction serves `sort=field` and `sort=-field` (pagination breaks
    ties on _id in the same direction), so no list sort is ever done in memory."""
    handle = app.state.db.handle
    missing = []
    for model, sorts, scope in SORTABLE:
        collection = model.get_settings().name
        keys = [list(spec["key"].items()) for spec in (await listed(handle, collection)).values()]
        for api_name, field in sorts.items():
            prefix = [("owner_id", 1), *((name, 1) for name in scope)]
            wanted = ([*prefix, (field, 1), ("_id", 1)], [*prefix, (field, -1), ("_id", -1)])
            if not any(key[: len(prefix) + 2] in wanted for key in keys):
                missing.append(
                    f"{collection}: sort={api_name} needs ({', '.join(['owner_id', *scope, field, '_id'])})"
                )
    assert missing == []


def test_every_list_counts_from_an_index_alone():
    """A list's total counts the owner's documents (in its scope) that are not tombstoned: some declared index
    holds every field of that filter, the equalities first, so MongoDB counts keys and reads no document."""
    indexes = indexes_by_collection()
    uncovered = []
    for model, _, scope in SORTABLE:
        where = owned_filter(ObjectId(), **{name: ObjectId() for name in scope})
        collection = model.Settings.name
        if not served(indexes[collection], shape(where), (), count=True):
            uncovered.append(f"{collection}: count of {sorted(where)}")
    assert uncovered == []


def _spec(*keys: tuple[str, int], **options: object) -> dict[str, object]:
    return {"key": dict(keys), **options}


OWNER, REMOVED = ("owner_id", 1), ("removed", 1)


@pytest.mark.parametrize(
    "spec, where, sort, count, expected",
    [
        (_spec(OWNER, ("name", 1), ("_id", 1)), {"owner_id": 1}, (("name", -1), ("_id", -1)), False, True),
        (_spec(OWNER, ("name", 1), ("_id", -1)), {"owner_id": 1}, (("name", 1), ("_id", 1)), False, False),
        (_spec(OWNER, ("name", -1)), {"owner_id": 1}, (("name", -1), ("_id", -1)), False, False),
        (_spec(("removed", 1), OWNER, ("name", 1)), {"owner_id": 1, "removed": {"$ne": True}}, (("name", 1),),
         False, False),  # a range before the sort
        (_spec(OWNER, ("name", 1)), {"owner_id": 1, "status": "x"}, (), False, False),  # status unindexed
        (_spec(OWNER, ("status", 1), ("name", 1)), {"status": "x", "owner_id": 1}, (("name", 1),), False, True),
        (_spec(OWNER, ("name", 1)), {"owner_id": 1, "removed": {"$ne": True}}, (), True, False),  # fetches
        (_spec(OWNER, ("name", 1), REMOVED), {"owner_id": 1, "removed": {"$ne": True}}, (), True, True),
        (_spec(("at", 1), sparse=True), {"at": {"$ne": None}}, (), False, True),
        (_spec(("at", 1), sparse=True), {"at": {"$ne": 3}}, (), False, False),  # matches documents without `at`
        (_spec(("at", 1), partialFilterExpression={"pending": True}), {"pending": True}, (("at", 1),), False,
         True),
        (_spec(("at", 1), partialFilterExpression={"pending": True}), {"pending": False}, (), False, False),
        (_spec(OWNER, unique=True), {"owner_id": 1, "holder": None}, (), False, True),  # one document at most
        (_spec(OWNER, ("n", 1)), {"$or": [{"owner_id": 1}, {"n": 2}]}, (), False, False),
        (_spec(("n", 1)), {"$or": [{"n": 1}, {"n": {"$gt": 5}}]}, (), False, True),
    ],
)  # fmt: skip
def test_the_index_rules_the_query_test_applies(spec, where, sort, count, expected):
    assert served([spec], shape(where), sort, count=count) is expected


# ---------------------------------------------------------------- the command


def test_migrate_command_reports_and_exits_0():
    env = server_env(free_port(), LOG_FORMAT="json", LOG_LEVEL="INFO")
    result = subprocess.run([*PRODUCTION, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    created = {entry["index"] for entry in entries if entry.get("action") == "created"}
    assert {"users.email_unique", "invoices.owner_number_unique", "clients.sort_name"} <= created
    assert entries[-1]["message"].startswith(f"migrate: {len(created)} created, 0 replaced")


def test_migrate_command_without_a_database_is_one_line_and_exit_1():
    closed = free_port()
    env = server_env(
        free_port(), MONGODB_URL=f"mongodb://127.0.0.1:{closed}/?directConnection=true",
        MONGODB_TIMEOUT_MS="300", LOG_FORMAT="json",
    )  # fmt: skip
    result = subprocess.run([*PRODUCTION, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in json.loads(lines[0])["message"], result.stderr


def test_an_unknown_command_is_a_usage_error():
    result = subprocess.run([*PRODUCTION, "migrat"], env=server_env(free_port()), capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and "usage" in result.stderr
