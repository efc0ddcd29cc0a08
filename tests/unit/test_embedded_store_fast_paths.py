"""The embedded store's fast paths give exactly mongomock's answers: a compiled filter matches the documents
mongomock's interpreter matches (or raises what it raises), on thousands of generated filters and documents,
and an `_id` lookup finds what a scan finds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from bson import Decimal128, ObjectId
from mongomock import filtering
from pymongo.errors import DuplicateKeyError
from sentinels import NOTHING

from app.core import embedded_store

OIDS = [ObjectId("5f0000000000000000000001"), ObjectId("5f0000000000000000000002")]
SCALARS: list[Any] = [
    None, True, False, 0, 1, 1.0, 2, -1, 2.5, "a", "b", "", "1", *OIDS,
    datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC), Decimal128("1.5"),
]  # fmt: skip
COMPOSITES: list[Any] = [[1, 2], ["a"], [], [None], {"b": 1}, {"b": None}, {"c": "a"}, {}]
FIELDS = ["a", "b", "n.a", "a.b", "_id"]
OPERATORS = ["$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte", "$exists"]


def _value(rng: random.Random, composite_share: float = 0.2) -> Any:
    return rng.choice(COMPOSITES if rng.random() < composite_share else SCALARS)


def _document(rng: random.Random) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": rng.choice([*OIDS, "x", 7])}
    for key in ("a", "b"):
        if rng.random() < 0.8:
            document[key] = _value(rng)
    if rng.random() < 0.5:
        document["n"] = rng.choice([{"a": _value(rng)}, {}, None, 3, [{"a": 1}]])
    return document


def _condition(rng: random.Random) -> Any:
    if rng.random() < 0.3:
        return _value(rng, 0.1)  # a plain value: equality
    conditions: dict[str, Any] = {}
    for _ in range(rng.choice([1, 1, 2])):
        op = rng.choice(OPERATORS)
        if op in ("$in", "$nin"):
            conditions[op] = [_value(rng, 0.05) for _ in range(rng.randint(0, 3))]
        elif op == "$exists":
            conditions[op] = rng.choice([True, False, 0, 1])
        else:
            conditions[op] = _value(rng, 0.05)
    return conditions


def _filter(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for _ in range(rng.randint(1, 3)):
        if depth < 2 and rng.random() < 0.25:
            result[rng.choice(["$and", "$or", "$nor"])] = [
                _filter(rng, depth + 1) for _ in range(rng.randint(1, 3))
            ]
        else:
            result[rng.choice(FIELDS)] = _condition(rng)
    return result


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # the interpreter's own errors (e.g. comparing Decimal128) must be the same
        return type(exc)


def test_compiled_filters_match_exactly_what_the_interpreter_matches() -> None:
    rng = random.Random(20261127)
    documents = [_document(rng) for _ in range(60)]
    compiled = 0
    for _ in range(3000):
        search = _filter(rng)
        match = embedded_store._matcher(search)
        try:
            embedded_store.compile_filter(search)
            compiled += 1
        except embedded_store._NotSimple:
            pass
        for document in documents:
            expected = _outcome(filtering.filter_applies, search, document)
            got = _outcome(match, document)
            assert got == expected, (search, document)
    assert compiled > 1500  # most generated filters take the fast path, so the comparison tests it


@pytest.mark.parametrize(
    ("search", "document", "expected"),
    [
        ({"a": None}, {"_id": 1}, True),  # null matches a missing field
        ({"a": {"$ne": None}}, {"_id": 1}, False),
        ({"a": {"$in": [None, 2]}}, {"_id": 1}, True),
        ({"a": {"$nin": [2]}}, {"_id": 1}, True),
        ({"a": {"$lte": 5}}, {"_id": 1}, False),  # a missing field is never ordered
        ({"a": {"$lte": 5}}, {"_id": 1, "a": "4"}, False),  # nor a value of another type
        ({"a": {"$lt": 5}}, {"_id": 1, "a": 4.5}, True),
        ({"a": 1}, {"_id": 1, "a": [3, 1]}, True),  # arrays: the interpreter's rules
        ({"n.a": 1}, {"_id": 1, "n": {"a": 1}}, True),
        ({"n.a": None}, {"_id": 1, "n": 3}, False),  # a scalar parent has no field
        ({"$or": [{"a": 2}, {"b": {"$exists": False}}]}, {"_id": 1, "a": 1}, True),
    ],
)
def test_the_rules_mongodb_users_rely_on(
    search: dict[str, Any], document: dict[str, Any], expected: bool
) -> None:
    assert embedded_store._matcher(search)(document) is expected
    assert filtering.filter_applies(search, document) is expected


def test_a_document_with_an_array_falls_back_to_the_interpreter() -> None:
    getter = embedded_store._getter("a")
    assert getter({"a": 1}) == 1
    assert getter({}) is NOTHING
    with pytest.raises(embedded_store._NotSimple):
        getter({"a": [1]})


async def test_id_lookups_and_scans_agree_through_a_collection() -> None:
    collection = embedded_store.build_client()["fast"]["things"]
    ids = [ObjectId() for _ in range(50)]
    await collection.insert_many(
        [{"_id": i, "n": k, "state": "on" if k % 2 else "off"} for k, i in enumerate(ids)]
    )
    await collection.insert_one({"_id": "text-id", "n": -1})

    assert (await collection.find_one({"_id": ids[7]}))["n"] == 7
    assert await collection.find_one({"_id": ids[7], "state": "off"}) is None  # the rest of the filter holds
    assert await collection.find_one({"_id": ObjectId()}) is None
    assert (await collection.find_one({"_id": "text-id"}))["n"] == -1
    assert await collection.find_one({"_id": str(ids[7])}) is None  # a string is not its ObjectId

    updated = await collection.update_one({"_id": ids[3], "state": "on"}, {"$set": {"state": "done"}})
    assert updated.modified_count == 1
    assert await collection.count_documents({"state": "done"}) == 1
    found = [d["n"] async for d in collection.find({"n": {"$gte": 10, "$lt": 14}, "state": {"$ne": "off"}})]
    assert found == [11, 13]
    deleted = await collection.delete_one({"_id": ids[11]})
    assert deleted.deleted_count == 1
    assert await collection.find_one({"_id": ids[11]}) is None


async def test_unique_indexes_refuse_twins_on_insert_and_update() -> None:
    from pymongo.errors import BulkWriteError

    collection = embedded_store.build_client()["fast"]["unique"]
    await collection.create_index("key", unique=True)
    await collection.create_index([("a", 1), ("b", 1)], unique=True)
    await collection.insert_many([{"key": "k1", "a": 1, "b": 1}, {"key": "k2", "a": 1, "b": 2}])

    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"key": "k1", "a": 9, "b": 9})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"key": "k3", "a": 1, "b": 2})
    with pytest.raises(DuplicateKeyError):  # an update that makes a twin is refused and rolled back
        await collection.update_one({"key": "k2"}, {"$set": {"b": 1}})
    assert (await collection.find_one({"key": "k2"}))["b"] == 2
    with pytest.raises(BulkWriteError):  # a missing field is indexed as null: two such are twins
        await collection.insert_many([{"a": 5}, {"a": 5}])

    await collection.update_one({"key": "k2"}, {"$set": {"b": 3, "note": "changed"}})  # not a twin
    assert await collection.count_documents({}) == 3  # k1, k2 and the first {"a": 5}


def test_sparse_and_partial_unique_indexes_refuse_exactly_what_mongomock_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Random inserts and updates against a sparse unique index and a partial one (as the events' `seq` and
    the invoices' numbers have): each write is refused or not as mongomock's own check decides."""
    import mongomock
    from pymongo.errors import DuplicateKeyError

    def collection() -> Any:
        made = mongomock.MongoClient()["fast"]["sparse_partial"]
        made.create_index("s", unique=True, sparse=True)
        made.create_index(
            [("o", 1), ("n", 1)], unique=True, partialFilterExpression={"n": {"$type": "string"}}
        )
        return made

    def fields(rng: random.Random) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        for key, values in (("o", [1, 2]), ("n", [None, "a", "b", 1]), ("s", [None, 1, 2])):
            if rng.random() < 0.7:
                chosen[key] = rng.choice(values)
        return chosen

    def run(rng: random.Random, target: Any) -> list[Any]:
        outcomes: list[Any] = []
        for step in range(60):
            try:
                if step < 8 or rng.random() < 0.4:
                    target.insert_one({"_id": step, **fields(rng)})
                else:
                    changes, gone = fields(rng), rng.sample(["o", "n", "s"], rng.randint(0, 1))
                    update = {"$set": changes} if changes else {}
                    if gone:
                        update["$unset"] = {key: "" for key in gone if key not in changes} or None
                        update = {k: v for k, v in update.items() if v}
                    if update:
                        target.update_one({"_id": rng.randrange(step)}, update)
                outcomes.append("ok")
            except DuplicateKeyError:
                outcomes.append("duplicate")
        return [*outcomes, sorted(target.find({}), key=lambda document: document["_id"])]

    collisions = 0
    for seed in range(40):
        fast = run(random.Random(seed), collection())
        with monkeypatch.context() as patched:
            original = embedded_store._mongomock_ensure_uniques
            patched.setattr(mongomock.collection.Collection, "_ensure_uniques", original)
            reference = run(random.Random(seed), collection())
        assert fast == reference, f"seed {seed}"
        collisions += reference.count("duplicate")
    assert collisions > 40  # the generated writes do collide, on both indexes


async def test_a_unique_field_holding_an_array_uses_mongomocks_own_check() -> None:
    from pymongo.errors import DuplicateKeyError

    collection = embedded_store.build_client()["fast"]["multikey"]
    await collection.create_index("tags", unique=True)
    await collection.insert_one({"tags": ["x", "y"]})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"tags": "x"})  # "x" is in the first document's array


async def test_ttl_indexes_are_swept_once_a_minute_of_store_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import mongomock

    collection = embedded_store.build_client()["fast"]["ttl"]
    await collection.create_index("at", expireAfterSeconds=3600)
    start = mongomock.utcnow()
    clock = {"now": start}
    monkeypatch.setattr(mongomock, "utcnow", lambda: clock["now"])

    await collection.insert_one({"at": start - timedelta(hours=2), "n": 1})
    await collection.insert_one({"at": start, "n": 2})
    clock["now"] = start + timedelta(seconds=61)
    assert [d["n"] async for d in collection.find({})] == [2]  # swept: a minute has passed

    await collection.insert_one({"at": start - timedelta(hours=2), "n": 3})
    clock["now"] = start + timedelta(seconds=100)
    assert await collection.count_documents({}) == 2  # swept less than a minute ago: still there
    clock["now"] = start + timedelta(seconds=122)
    assert [d["n"] async for d in collection.find({})] == [2]


async def test_a_document_inserted_again_under_a_deleted_id_is_checked_in_full() -> None:
    from pymongo.errors import DuplicateKeyError

    collection = embedded_store.build_client()["fast"]["reused_ids"]
    await collection.create_index("key", unique=True)
    await collection.insert_one({"_id": "lease", "key": "k"})
    await collection.update_one({"_id": "lease"}, {"$set": {"other": 1}})  # checked once, remembered
    await collection.delete_one({"_id": "lease"})
    await collection.insert_one({"_id": "someone-else", "key": "k"})  # "k" is free again
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "lease", "key": "k"})


def test_sorts_order_documents_exactly_as_mongomock_does() -> None:
    rng = random.Random(7)
    for _ in range(400):
        documents = [_document(rng) for _ in range(rng.randint(0, 25))]
        for document in documents:  # plain values only: the fast sort's domain (others fall back)
            for key in ("a", "b"):
                if isinstance(document.get(key), list | dict | Decimal128):
                    document[key] = rng.choice(["s", 3, None, OIDS[0]])
        sort = [(key, rng.choice([1, -1])) for key in rng.sample(["a", "b", "_id"], rng.randint(1, 2))]
        expected = list(documents)
        for key, direction in reversed(sort):
            expected.sort(key=lambda d, k=key: filtering.resolve_sort_key(k, d), reverse=direction < 0)
        assert embedded_store._native_sort(list(documents), sort) == expected, sort


async def test_cursors_with_a_limit_skip_and_sort_give_what_mongomock_gives() -> None:
    collection = embedded_store.build_client()["fast"]["windows"]
    await collection.insert_many([{"n": n % 7, "k": n, "tag": [n] if n % 5 == 0 else n} for n in range(60)])
    by_n = [(d["n"], d["k"]) async for d in collection.find({}).sort([("n", -1), ("k", 1)])]
    assert by_n == sorted(((n % 7, n) for n in range(60)), key=lambda t: (-t[0], t[1]))
    window = [d["k"] async for d in collection.find({"n": {"$gte": 3}}).sort("k", 1).skip(5).limit(4)]
    assert window == [k for k in range(60) if k % 7 >= 3][5:9]
    first = await collection.find_one({"n": 6}, sort=[("k", -1)])
    assert first["k"] == max(k for k in range(60) if k % 7 == 6)
    assert await collection.count_documents({"n": 6}) == len([k for k in range(60) if k % 7 == 6])
    mixed = [
        d["k"] async for d in collection.find({"k": {"$lt": 11}}).sort("tag", 1)
    ]  # arrays: mongomock's sort
    assert sorted(mixed) == list(range(11))


def test_whole_documents_are_copied_and_made_timezone_aware_exactly_as_mongomock_does() -> None:
    from mongomock import collection as mongomock_collection
    from mongomock.helpers import make_datetime_timezone_aware_in_document

    rng = random.Random(13)
    for _ in range(500):
        document = _document(rng)
        document["nested"] = {
            "at": datetime(2026, 1, 2, 3, 4, 5, 6000),
            "lines": [{"n": _value(rng), "on": datetime(2026, 5, 1)}, (1, datetime(2026, 2, 1)), b"raw"],
        }
        copied = embedded_store._copy_field(document, dict)
        expected = mongomock_collection._copy_field(document, dict)
        assert copied == expected and repr(copied) == repr(expected)
        assert copied["nested"] is not document["nested"]
        assert copied["nested"]["lines"][0] is not document["nested"]["lines"][0]  # copied all the way down
        aware = embedded_store._timezone_aware(copied)
        assert repr(aware) == repr(make_datetime_timezone_aware_in_document(expected))


def test_projections_copy_exactly_what_mongomock_copies() -> None:
    from mongomock.collection import Collection

    rng = random.Random(11)
    collection = embedded_store.build_client()["fast"]["projections"].delegate
    original = embedded_store._mongomock_copy_only_fields
    for _ in range(500):
        document = _document(rng)
        document["nested"] = {"x": [1, {"y": 2}], "z": None}
        fields = {
            key: rng.choice([1, True])
            for key in rng.sample(["a", "b", "n", "nested", "absent"], rng.randint(1, 3))
        }
        if rng.random() < 0.5:
            fields["_id"] = rng.choice([0, 1])
        copied = Collection._copy_only_fields(collection, document, dict(fields), dict)
        expected = original(collection, document, dict(fields), dict)
        assert list(copied.items()) == list(expected.items()), fields
        if "nested" in copied:
            assert copied["nested"] is not document["nested"]  # a copy, not the stored document


def _stored_values(rng: random.Random) -> dict[str, Any]:
    """A document as a filter, an update or a stored document holds it, with the types mongomock copies and
    patches its own way (tuples, OrderedDicts, Timestamps, aware datetimes at any offset)."""
    from collections import OrderedDict

    from bson import Timestamp

    document = _document(rng)
    offset = timezone(timedelta(hours=rng.choice([-5, 0, 2])))
    document["nested"] = {
        "at": datetime(2026, 1, 2, 3, 4, 5, 6789, tzinfo=rng.choice([None, offset])),
        "lines": [{"n": _value(rng), "on": datetime(2026, 5, 1, 0, 0, 0, 999999)}, (1, [2]), b"raw"],
        "ordered": OrderedDict([("b", 1), ("a", [datetime(2026, 2, 1, tzinfo=UTC)])]),
        "stamp": rng.choice([Timestamp(0, 0), Timestamp(5, 1)]),
    }
    return document


def test_deep_copies_equal_copy_deepcopy_and_share_nothing_mutable() -> None:
    import copy

    rng = random.Random(17)
    for _ in range(500):
        document = _stored_values(rng)
        copied = embedded_store._deep_copy(document)
        expected = copy.deepcopy(document)
        assert copied == expected and repr(copied) == repr(expected)
        copied["nested"]["lines"][0]["n"] = "changed"
        copied["nested"]["ordered"]["a"].append(1)
        assert document == expected  # the original is untouched


def test_datetimes_are_stored_exactly_as_mongomock_stores_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from mongomock import helpers

    rng = random.Random(19)
    original = embedded_store._mongomock_patch_datetime_awareness
    monkeypatch.setattr(helpers, "patch_datetime_awareness_in_document", original)  # its own recursion too
    for _ in range(500):
        document = _stored_values(rng)
        document["nested"].pop("stamp")  # a null Timestamp becomes "now", which differs between two calls
        patched = embedded_store._datetimes_as_stored(document)
        assert repr(patched) == repr(original(document))
        assert patched["nested"]["at"].tzinfo is None and patched["nested"]["at"].microsecond % 1000 == 0


async def test_updates_keep_their_rollback_and_copy_what_they_set() -> None:
    """Through mongomock's own update (a dotted field keeps it off the by-`_id` path), the update snapshot and
    the arrays `$set` stores go through the fast deep copy: a refused update is undone to the document as it
    was, and a set array is the store's own, not the caller's."""
    collection = embedded_store.build_client()["fast"]["updates"]
    await collection.create_index("code", unique=True)
    await collection.insert_many(
        [{"_id": 1, "code": "a", "tags": ["x"]}, {"_id": 2, "code": "b", "tags": []}]
    )
    tags = ["y", {"z": 1}]
    await collection.update_one({"_id": 2}, {"$set": {"tags": tags, "meta.n": 1}})
    tags[1]["z"] = 2
    assert (await collection.find_one({"_id": 2}))["tags"] == ["y", {"z": 1}]
    with pytest.raises(DuplicateKeyError):
        await collection.update_one({"_id": 2}, {"$set": {"code": "a", "meta.n": 2}, "$push": {"tags": "w"}})
    expected = {"_id": 2, "code": "b", "tags": ["y", {"z": 1}], "meta": {"n": 1}}
    assert await collection.find_one({"_id": 2}) == expected
