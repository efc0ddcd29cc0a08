"""The embedded store yields at every operation in the tests (see conftest), like a network driver:
without that, a read-modify-write race could never show up in a test."""

import asyncio

from mongomock_motor import AsyncMongoMockClient


async def test_read_modify_write_loses_updates_under_gather():
    coll = AsyncMongoMockClient()["x"]["c"]
    await coll.insert_one({"_id": 1, "n": 0})

    async def bump():
        doc = await coll.find_one({"_id": 1})
        await coll.update_one({"_id": 1}, {"$set": {"n": doc["n"] + 1}})

    await asyncio.gather(*[bump() for _ in range(10)])
    assert (await coll.find_one({"_id": 1}))["n"] < 10


async def test_atomic_inc_loses_nothing_under_gather():
    coll = AsyncMongoMockClient()["x"]["c"]
    await coll.insert_one({"_id": 1, "n": 0})
    await asyncio.gather(*[coll.update_one({"_id": 1}, {"$inc": {"n": 1}}) for _ in range(10)])
    assert (await coll.find_one({"_id": 1}))["n"] == 10
