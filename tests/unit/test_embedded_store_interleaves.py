"""The embedded store yields to the event loop around every operation, as a network driver's caller does:
without that, a read-modify-write race could never show up in a test."""

import asyncio

import mongomock_motor
import pytest
from pymongo.errors import DuplicateKeyError

from app.db.embedded_store import build_client


@pytest.mark.parametrize("through", ["collection", "cursor", "iteration"])
async def test_an_operation_is_a_loop_step_of_its_own(monkeypatch, through):
    """mongomock-motor's own operation (here a stand-in that records when it runs) has a loop turn before
    it and one after it: another task runs on each side."""
    order: list[str] = []

    async def operation(self, *args, **kwargs):
        order.append("operation")
        if through == "iteration":
            raise StopAsyncIteration

    monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, "find_one", operation)
    monkeypatch.setattr(mongomock_motor.AsyncCursor, "to_list", operation)
    monkeypatch.setattr(mongomock_motor.AsyncCursor, "__anext__", operation)
    collection = build_client()["x"]["c"]

    async def caller() -> None:
        order.append("caller before")
        if through == "collection":
            await collection.find_one({})
        elif through == "cursor":
            await collection.find({}).sort("_id").limit(2).to_list(None)
        else:
            assert [document async for document in collection.find({})] == []
        order.append("caller after")

    async def other() -> None:
        for _ in range(3):
            order.append("other")
            await asyncio.sleep(0)

    await asyncio.gather(caller(), other())
    assert order == ["caller before", "other", "operation", "other", "caller after", "other"]


async def test_read_modify_write_loses_updates_under_gather():
    coll = build_client()["x"]["c"]
    await coll.insert_one({"_id": 1, "n": 0})

    async def bump():
        doc = await coll.find_one({"_id": 1})
        await coll.update_one({"_id": 1}, {"$set": {"n": doc["n"] + 1}})

    await asyncio.gather(*[bump() for _ in range(10)])
    assert (await coll.find_one({"_id": 1}))["n"] < 10


async def test_atomic_inc_loses_nothing_under_gather():
    coll = build_client()["x"]["c"]
    await coll.insert_one({"_id": 1, "n": 0})
    await asyncio.gather(*[coll.update_one({"_id": 1}, {"$inc": {"n": 1}}) for _ in range(10)])
    assert (await coll.find_one({"_id": 1}))["n"] == 10


async def test_a_unique_index_refuses_a_twin_on_insert_and_on_update():
    coll = build_client()["x"]["c"]
    await coll.create_index("email", unique=True)
    await coll.insert_many([{"_id": 1, "email": "a@x"}, {"_id": 2, "email": "b@x"}])
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"_id": 3, "email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        await coll.update_one({"_id": 2}, {"$set": {"email": "a@x"}})
    assert await coll.find({}, {"_id": 0}).sort("email").to_list(None) == [{"email": "a@x"}, {"email": "b@x"}]
