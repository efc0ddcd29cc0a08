"""The embedded store's by-`_id` operations give exactly mongomock's answers: thousands of generated updates
(inside the fast path and around its edges) applied to twin collections, one through the fast path and one
through mongomock's own `_update`, leave the same documents and return the same results or raise the same
errors; `find_one` by `_id` returns what mongomock's cursor returns."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from bson import Decimal128, ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from sentinels import NOTHING

from app.core import embedded_by_id, embedded_store

IDS = [1, 2, 3, "x", ObjectId("5f0000000000000000000001")]
VALUES: list[Any] = [
    None, True, 0, 1, 1.0, 7, -2, 2.5, "a", "", b"raw", ObjectId("5f0000000000000000000002"), Decimal128("1.5"),
    datetime(2026, 1, 2, 3, 4, 5, 678901), datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 1999, tzinfo=timezone(timedelta(hours=-5))),
    [], [1, "b"], [{"c": datetime(2026, 3, 1, tzinfo=UTC)}], {"d": 1, "e": [2]}, {"e": [2], "d": 1}, {},
]  # fmt: skip
EDGE_VALUES: list[Any] = [
    (1, 2), 2**70, {"$bad": 1}, {1: "int key"}, {"nul\0": 1}, {"x": (3,)}, object(), "\ud800", {"k\udc80": 1},
]  # fmt: skip
FIELDS = ["a", "b", "tags", "n", "code"]
EDGE_FIELDS = ["a.b", "_id", "$x", "", "tags.0", "nul\0"]


def _value(rng: random.Random) -> Any:
    return rng.choice(EDGE_VALUES) if rng.random() < 0.05 else rng.choice(VALUES)


def _field(rng: random.Random) -> str:
    return rng.choice(EDGE_FIELDS) if rng.random() < 0.05 else rng.choice(FIELDS)


def _document(rng: random.Random, document_id: Any, code: int) -> dict[str, Any]:
    document: dict[str, Any] = {"_id": document_id, "code": f"c{code}"}
    for key in ("a", "b", "n", "tags"):
        if rng.random() < 0.7:
            document[key] = rng.choice([*VALUES, [1, 2, 3], 4, 1.5])
    return document


def _push_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.4:
        return _value(rng)
    modifiers: dict[str, Any] = {"$each": [_value(rng) for _ in range(rng.randint(0, 3))]}
    if rng.random() < 0.6:
        modifiers["$slice"] = rng.choice([-2, -1, 0, 1, 3, True, 1.5])
    if roll > 0.95:
        modifiers[rng.choice(["$position", "$sort", "$bad"])] = 0
    if roll > 0.9:
        del modifiers["$each"]
    return modifiers


def _update(rng: random.Random) -> dict[str, Any]:
    update: dict[str, Any] = {}
    for _ in range(rng.randint(1, 2)):
        operator = rng.choice(["$set"] * 4 + ["$unset", "$inc", "$push", "$push", "$rename", "$max"])
        fields = update.setdefault(operator, {})
        for _ in range(rng.randint(0 if rng.random() < 0.03 else 1, 2)):
            name = _field(rng)
            if name == "code" and operator not in ("$set", "$unset"):
                continue  # the unique field holds strings (or nothing): mongomock's own check mishandles the rest
            if operator == "$set":
                fields[name] = rng.choice([f"c{rng.randint(0, 4)}", None]) if name == "code" else _value(rng)
            elif operator == "$inc":
                fields[name] = rng.choice([1, -3, 2.5, 0, True, "1", None, 2**70])
            elif operator == "$push":
                fields[name] = _push_value(rng)
            elif operator == "$rename":
                fields[name] = rng.choice(["z", "a"])
            else:
                fields[name] = _value(rng)
    return update


def _filter(rng: random.Random) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.1:
        return {"code": f"c{rng.randint(0, 4)}"}  # no _id: mongomock's own path
    search: dict[str, Any] = {"_id": rng.choice([*IDS, 99])}
    if roll > 0.7:
        search[rng.choice(["a", "n", "tags", "code"])] = rng.choice(
            [*VALUES, {"$exists": True}, {"$ne": None}]
        )
    return search


def _outcome(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # the same error type from both paths
        return type(exc)


def _twin_collections(rng: random.Random, name: str) -> tuple[Any, Any]:
    client = embedded_store.build_client()
    twins = []
    for side in ("fast", "own"):
        collection = client["by_id"][
            f"{name}_{side}"
        ]._AsyncMongoMockCollection__collection  # the synchronous one
        collection.create_index("code", unique=True)
        twins.append(collection)
    for position, document_id in enumerate(IDS):
        document = _document(rng, document_id, position)
        for collection in twins:
            collection.insert_one(dict(document))
    return twins[0], twins[1]


def _contents(collection: Any) -> str:
    return repr(sorted((repr(document) for document in collection.find()), key=str))


@pytest.fixture
def mongomock_datetimes(monkeypatch: pytest.MonkeyPatch) -> None:
    """mongomock's own datetime pass on its side of a comparison (the store installs a faster one, which its
    own recursion would call too)."""
    from mongomock import helpers

    monkeypatch.setattr(
        helpers, "patch_datetime_awareness_in_document", embedded_store._mongomock_patch_datetime_awareness
    )


@pytest.mark.usefixtures("mongomock_datetimes")
def test_updates_by_id_leave_exactly_what_mongomocks_own_updates_leave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(23)
    fast_taken = 0
    planned_update = embedded_by_id.update

    def counted(*args: Any) -> Any:
        nonlocal fast_taken
        result = planned_update(*args)
        fast_taken += result is not NOTHING
        return result

    monkeypatch.setattr(embedded_by_id, "update", counted)
    for round_number in range(60):
        fast, own = _twin_collections(rng, f"round{round_number}")
        for _ in range(60):
            search, update, multi = _filter(rng), _update(rng), rng.random() < 0.2
            kept = copy.deepcopy(list(own._store._documents.values()))
            got = _outcome(fast._update, search, update, multi=multi)
            expected = _outcome(embedded_store._mongomock_update, own, search, update, multi=multi)
            for result in (got, expected):
                if isinstance(result, dict):
                    result.pop("connectionId")
            assert got == expected, (round_number, search, update)
            assert _contents(fast) == _contents(own), (search, update)
            if not isinstance(got, dict):
                # mongomock leaves a failed update half applied (MongoDB applies all of it or nothing): start
                # the next one from the documents as they were, as MongoDB would
                for collection in (fast, own):
                    collection._store._documents.clear()
                    embedded_store._forget_unique_values(collection._store)
                    collection._store._documents.update((d["_id"], d) for d in copy.deepcopy(kept))
    assert fast_taken > 1000, fast_taken  # over a quarter took the fast path (the others: the fallbacks)


def test_the_fast_path_is_taken_only_for_what_it_handles() -> None:
    fast = embedded_store.build_client()["by_id"]["scope"]._AsyncMongoMockCollection__collection
    fast.insert_many([{"_id": 1, "tags": [0]}, {"_id": 2}])
    plain = {
        "$set": {"a": 1},
        "$unset": {"b": ""},
        "$inc": {"n": 1},
        "$push": {"tags": {"$each": [1], "$slice": -2}},
    }
    assert embedded_by_id.update(fast, {"_id": 1}, plain, False, {}) is not NOTHING
    for search, update, upsert in [
        ({"_id": 2}, plain, True),  # an upsert
        ({"code": "c1"}, plain, False),  # no _id equality
        ({"_id": {"$in": [1]}}, plain, False),
        ({"_id": 2}, {"$set": {"a.b": 1}}, False),  # a dotted field
        ({"_id": 2}, {"$set": {"a": 1}, "$inc": {"a": 1}}, False),  # one field twice
        ({"_id": 2}, {"$addToSet": {"tags": 1}}, False),
        ({"_id": 2}, {"$set": {"a": (1, 2)}}, False),  # a tuple
        ({"_id": 2}, {"$set": {"a": 2**64}}, False),  # no BSON integer holds it
        ({"_id": 2}, {"$push": {"tags": {"$each": [1], "$position": 0}}}, False),
        ({"_id": 2}, {"a": 1}, False),  # a replacement
    ]:
        assert embedded_by_id.update(fast, search, update, upsert, {}) is NOTHING, update
    assert embedded_by_id.update(fast, {"_id": 2}, plain, False, {"hint": "code_1"}) is NOTHING


def test_a_write_that_would_make_a_twin_is_refused_and_undone() -> None:
    fast, own = _twin_collections(random.Random(2), "twins")
    for collection, update in (
        (fast, fast._update),
        (own, lambda *a: embedded_store._mongomock_update(own, *a)),
    ):
        with pytest.raises(DuplicateKeyError):
            update({"_id": 1}, {"$set": {"code": "c1", "a": "changed"}})
        assert collection.find_one({"_id": 1})["code"] == "c0"
        assert collection.find_one({"_id": 1}).get("a") != "changed"
    assert _contents(fast) == _contents(own)


def test_a_partial_unique_index_is_checked_when_its_filter_fields_change() -> None:
    collection = embedded_store.build_client()["by_id"]["partial"]._AsyncMongoMockCollection__collection
    collection.create_index("code", unique=True, partialFilterExpression={"live": True})
    collection.insert_many([{"_id": 1, "code": "a", "live": True}, {"_id": 2, "code": "a", "live": False}])
    collection.update_one({"_id": 2}, {"$set": {"note": "not indexed"}})  # no unique field: no check needed
    with pytest.raises(DuplicateKeyError):
        collection.update_one({"_id": 2}, {"$set": {"live": True}})  # the partial filter now takes it in
    assert collection.find_one({"_id": 2})["live"] is False


@pytest.mark.usefixtures("mongomock_datetimes")
def test_find_one_by_id_returns_what_mongomocks_cursor_returns() -> None:
    rng = random.Random(29)
    fast, _ = _twin_collections(rng, "reads")
    fast.update_one(
        {"_id": 1}, {"$set": {"nested": {"at": datetime(2026, 1, 1, tzinfo=UTC), "l": [{"x": 1}]}}}
    )
    for _ in range(500):
        search = _filter(rng)
        got = _outcome(fast.find_one, search)
        expected = _outcome(embedded_store._mongomock_find_one, fast, search)
        assert repr(got) == repr(expected), search
    copy = fast.find_one({"_id": 1})
    copy["nested"]["l"][0]["x"] = 2
    assert fast.find_one({"_id": 1})["nested"]["l"][0]["x"] == 1  # a copy, not the stored document
    assert fast.find_one({"_id": 1})["nested"]["at"].tzinfo is not None


async def test_find_one_and_update_through_the_async_client() -> None:
    collection = embedded_store.build_client()["by_id"]["async"]
    await collection.insert_one({"_id": 1, "status": "pending", "attempts": 0, "log": []})
    before = await collection.find_one_and_update(
        {"_id": 1, "status": {"$in": ["pending"]}},
        {
            "$set": {"status": "running"},
            "$inc": {"attempts": 1},
            "$push": {"log": {"$each": [1, 2], "$slice": -1}},
        },
        return_document=ReturnDocument.BEFORE,
    )
    assert before == {"_id": 1, "status": "pending", "attempts": 0, "log": []}
    assert await collection.find_one({"_id": 1}) == {"_id": 1, "status": "running", "attempts": 1, "log": [2]}
    assert await collection.find_one_and_update({"_id": 1, "status": "pending"}, {"$set": {"a": 1}}) is None


@pytest.mark.parametrize("cut", [None, -5, -2, -1, 0, 1, 2, 5])
@pytest.mark.parametrize("held", [[], [1, 2, 3], None])
def test_push_with_each_and_slice_keeps_what_mongomock_keeps(cut: int | None, held: list[int] | None) -> None:
    fast, own = _twin_collections(random.Random(3), "push")
    push: dict[str, Any] = {"$each": [7, 8]} if cut is None else {"$each": [7, 8], "$slice": cut}
    for collection in (fast, own):
        collection._store[1].pop("log", None)
        if held is not None:
            collection._store[1]["log"] = list(held)
    assert embedded_by_id.update(fast, {"_id": 1}, {"$push": {"log": push}}, False, {}) is not NOTHING
    embedded_store._mongomock_update(own, {"_id": 1}, {"$push": {"log": push}})
    assert fast.find_one({"_id": 1})["log"] == own.find_one({"_id": 1})["log"]
