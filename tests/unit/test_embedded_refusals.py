"""The embedded store refuses what MongoDB 7 (or its driver) refuses and mongomock accepts, with the driver's
exception type and MongoDB's code, so that tests meet production's errors (app/db/embedded_refusals.py)."""

import re

import pytest
from bson.errors import InvalidDocument
from pymongo import IndexModel
from pymongo.errors import DocumentTooLarge, DuplicateKeyError, OperationFailure, WriteError

from app.db.embedded_store import build_client

MIB = 1024 * 1024


@pytest.fixture
def collection():
    return build_client()["db"]["things"]


async def test_a_nul_in_a_regex_is_refused(collection):
    # MongoDB's regex match expression refuses a pattern or options holding NUL: code 2 (BadValue), a
    # failed command for a find, a write error for an update's filter
    # (https://jira.mongodb.org/browse/SERVER-51266 lists the check).
    await collection.insert_one({"name": "a"})
    with pytest.raises(OperationFailure) as refused:
        await collection.find({"$or": [{"name": {"$regex": "a\x00", "$options": "i"}}]}).to_list(None)
    assert (refused.value.code, type(refused.value)) == (2, OperationFailure)
    assert "embedded null byte" in str(refused.value)
    with pytest.raises(WriteError) as refused:
        await collection.update_one({"name": {"$regex": "a", "$options": "i\x00"}}, {"$set": {"n": 1}})
    assert refused.value.code == 2
    assert await collection.count_documents({"name": {"$regex": "^a$"}}) == 1


async def test_a_nul_in_a_compiled_pattern_is_refused_by_the_driver(collection):
    # A BSON regex is two NUL-terminated strings (https://bsonspec.org/spec.html): pymongo cannot encode a
    # compiled pattern holding NUL and refuses it before sending.
    with pytest.raises(InvalidDocument):
        await collection.find_one({"tags": {"$in": [re.compile("a\x00b")]}})


REFUSED_PARTIAL_FILTERS = [
    {"number": {"$ne": None}},
    {"number": {"$nin": ["a"]}},
    {"number": {"$exists": False}},
    {"number": {"$not": {"$type": "string"}}},
    {"$nor": [{"number": "a"}]},
    {"number": re.compile("^INV")},
    {"tags": {"$size": 2}},
    {"$and": [{"a": 1}, {"b": {"$ne": 2}}]},
]
ACCEPTED_PARTIAL_FILTERS = [
    {"pending": True},
    {"number": {"$exists": True}},
    {"total": {"$gt": 0, "$lte": 10}},
    {"number": {"$type": "string"}},
    {"$and": [{"a": 1}, {"b": {"$gte": 2}}]},
    {"$or": [{"a": 1}, {"b": {"$eq": 2}}]},
    {"status": {"$in": ["sent", "paid"]}},
]


@pytest.mark.parametrize("through", ["create_index", "create_indexes"])
async def test_a_partial_filter_takes_only_what_mongodb_7_indexes(collection, through):
    # MongoDB 7 takes equality, $exists: true, $gt/$gte/$lt/$lte, $type, $and, $or and $in in a partial
    # filter and refuses any other expression with code 67 (CannotCreateIndex)
    # (https://www.mongodb.com/docs/v7.0/core/index-partial/).
    async def create(name, partial):
        if through == "create_index":
            return await collection.create_index("number", name=name, partialFilterExpression=partial)
        return await collection.create_indexes(
            [IndexModel("number", name=name, partialFilterExpression=partial)]
        )

    for at, partial in enumerate(REFUSED_PARTIAL_FILTERS):
        with pytest.raises(OperationFailure) as refused:
            await create(f"refused_{at}", partial)
        assert refused.value.code == 67, partial
        assert "Expression not supported in partial index" in str(refused.value)
    for at, partial in enumerate(ACCEPTED_PARTIAL_FILTERS):
        await create(f"accepted_{at}", partial)
    assert sorted(await collection.index_information()) == sorted(
        ["_id_", *(f"accepted_{at}" for at in range(len(ACCEPTED_PARTIAL_FILTERS)))]
    )


async def test_an_index_is_never_both_sparse_and_partial(collection):
    # "You cannot specify both the partialFilterExpression option and the sparse option": code 67
    # (https://www.mongodb.com/docs/v7.0/core/index-partial/#restrictions).
    with pytest.raises(OperationFailure) as refused:
        await collection.create_indexes(
            [IndexModel("seq", name="seq", sparse=True, partialFilterExpression={"seq": {"$exists": True}})]
        )
    assert refused.value.code == 67
    assert 'cannot mix "partialFilterExpression" and "sparse" options' in str(refused.value)
    with pytest.raises(OperationFailure):
        await collection.create_index("seq", sparse=True, partialFilterExpression={"seq": {"$gt": 0}})


async def test_a_document_is_16_mib_at_most(collection):
    # The maximum BSON document size is 16 MiB (https://www.mongodb.com/docs/v7.0/reference/limits/): the
    # server refuses a bigger inserted document (code 2) or update result (code 17419); pymongo refuses a
    # command bigger than that plus its 16 KiB overhead before sending it (DocumentTooLarge).
    with pytest.raises(WriteError) as refused:
        await collection.insert_one({"blob": "x" * (16 * MIB)})
    assert refused.value.code == 2
    assert "object to insert too large" in str(refused.value)
    with pytest.raises(DocumentTooLarge):
        await collection.insert_one({"blob": "x" * (17 * MIB)})
    await collection.insert_one({"_id": 1, "blob": "x" * (10 * MIB)})
    with pytest.raises(WriteError) as refused:
        await collection.update_one({"_id": 1}, {"$set": {"more": "y" * (7 * MIB)}})
    assert refused.value.code == 17419
    with pytest.raises(OperationFailure) as refused:
        await collection.find_one_and_update({"_id": 1}, {"$push": {"parts": "y" * (7 * MIB)}})
    assert refused.value.code == 17419
    with pytest.raises(DocumentTooLarge):
        await collection.replace_one({"_id": 1}, {"blob": "z" * (17 * MIB)})
    assert await collection.count_documents({}) == 1
    assert set(await collection.find_one({"_id": 1})) == {"_id", "blob"}


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"$set": {"a": 1}, "$inc": {"a": 1}}, "Updating the path 'a' would create a conflict at 'a'"),
        (
            {"$set": {"a": {"b": 1}}, "$unset": {"a.b": ""}},
            "Updating the path 'a.b' would create a conflict at 'a'",
        ),
        ({"$inc": {"a.b": 1}, "$set": {"a": 2}}, "Updating the path 'a' would create a conflict at 'a'"),
        ({"$set": {"a": 1, "a.b": 2}}, "Updating the path 'a.b' would create a conflict at 'a'"),
        (
            {"$setOnInsert": {"n": 0}, "$inc": {"n": 1}},
            "Updating the path 'n' would create a conflict at 'n'",
        ),
    ],
)
async def test_two_operators_on_one_path_conflict(collection, update, message):
    # Code 40, ConflictingUpdateOperators (https://www.mongodb.com/docs/v7.0/reference/error-codes/): a write
    # error for update_one, a failed findAndModify command for find_one_and_update.
    await collection.insert_one({"_id": 1, "a": {"b": 0}, "ab": 0})
    with pytest.raises(WriteError) as refused:
        await collection.update_one({"_id": 1}, update, upsert=True)
    assert (refused.value.code, str(refused.value).split(",")[0]) == (40, message)
    with pytest.raises(OperationFailure) as refused:
        await collection.find_one_and_update({"_id": 1}, update)
    assert (type(refused.value), refused.value.code) == (OperationFailure, 40)
    await collection.update_one({"_id": 1}, {"$set": {"a.c": 1}, "$inc": {"ab": 1}})  # siblings, no conflict
    assert await collection.find_one({"_id": 1}) == {"_id": 1, "a": {"b": 0, "c": 1}, "ab": 1}


async def test_a_duplicate_key_error_names_its_index_and_key_as_mongodb_does(collection):
    # E11000 with the index's name, keyPattern and the duplicated keyValue
    # (https://www.mongodb.com/docs/v7.0/core/index-unique/).
    await collection.create_index("email", unique=True, name="email_unique")
    await collection.create_index([("owner", 1), ("number", 1)], unique=True, name="owner_number")
    await collection.insert_many(
        [{"_id": 1, "email": "a@x", "owner": 7, "number": "INV-1"}, {"_id": 2, "email": "b@x", "owner": 7}]
    )

    async def refused(operation):
        with pytest.raises(DuplicateKeyError) as error:
            await operation
        return error.value

    error = await refused(collection.insert_one({"email": "c@x", "owner": 7, "number": "INV-1"}))
    assert error.details["keyPattern"] == {"owner": 1, "number": 1}
    assert error.details["keyValue"] == {"owner": 7, "number": "INV-1"}
    assert str(error).startswith(
        'E11000 duplicate key error collection: db.things index: owner_number dup key: { owner: 7, number: "INV-1" }'
    )
    error = await refused(collection.update_one({"_id": 2}, {"$set": {"email": "a@x"}}))
    assert (error.details["keyValue"], error.details["errmsg"].split(" index: ")[1]) == (
        {"email": "a@x"},
        'email_unique dup key: { email: "a@x" }',
    )
    error = await refused(collection.find_one_and_update({"_id": 9}, {"$set": {"email": "b@x"}}, upsert=True))
    assert (error.details["codeName"], error.details["keyPattern"]) == ("DuplicateKey", {"email": 1})
    error = await refused(collection.insert_one({"_id": 1, "email": "d@x"}))
    assert (error.details["keyPattern"], error.details["keyValue"]) == ({"_id": 1}, {"_id": 1})
    error = await refused(collection.create_index("owner", unique=True, name="owner_unique"))
    assert (error.code, error.details["keyValue"]) == (11000, {"owner": 7})


async def test_a_sparse_unique_index_holds_explicit_nulls(collection):
    # "Sparse indexes only contain entries for documents that have the indexed field, even if the index
    # field contains a null value" (https://www.mongodb.com/docs/v7.0/core/index-sparse/): two documents with
    # the field null collide under a sparse unique index; documents missing it do not.
    await collection.create_index("seq", unique=True, sparse=True, name="seq_unique")
    await collection.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3, "seq": None}])
    with pytest.raises(DuplicateKeyError) as refused:
        await collection.insert_one({"_id": 4, "seq": None})
    assert refused.value.details["keyValue"] == {"seq": None}
    assert "index: seq_unique dup key: { seq: null }" in str(refused.value)
    with pytest.raises(DuplicateKeyError):
        await collection.update_one({"_id": 1}, {"$set": {"seq": None}})
    await collection.insert_one({"_id": 5})
    await collection.update_one({"_id": 3}, {"$set": {"seq": 1}})
    await collection.update_one({"_id": 1}, {"$set": {"seq": None}})
    assert await collection.find({}).sort("_id").to_list(None) == [
        {"_id": 1, "seq": None},
        {"_id": 2},
        {"_id": 3, "seq": 1},
        {"_id": 5},
    ]
