"""limit/offset/sort parsing and the one paginated query every list route uses: a page by offset, or the
page after an item (keyset, on the sort field and _id)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import msgspec
from beanie import Document, SortDirection
from bson import ObjectId

from app.core.errors import ValidationFailed
from app.db.repository import StoredView, owned_filter, parse_object_id, to_bson

D = TypeVar("D", bound=Document)
T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V", bound=StoredView)

DEFAULT_SORT = "-created_at"
SORTS = "sorts"  # the handler `opt` keys sorted_by() fills
SORT_DEFAULT = "sort_default"
KEYSET = "keyset"

# Every list's sortable fields, by document: (model, {API name: stored field}, scope). Each stored field needs
# an (owner_id, *scope, field, _id) index (db/indexes.sort_indexes); a test reads this to check that it has
# one. `scope` names the fields a list always filters on by equality (an invoice's e-mails: invoice_id).
SORTABLE: list[tuple[type[Document], Mapping[str, str], tuple[str, ...]]] = []


class Sorts(dict[str, str]):
    """A list's sorts (API name -> stored field) and its scope, as paginate() takes them."""

    scope: tuple[str, ...] = ()


def sortable(model: type[Document], sorts: Mapping[str, str], scope: tuple[str, ...] = ()) -> Sorts:
    """Declare a list's sorts (API name -> stored field) for `model`; returns them for paginate()."""
    SORTABLE.append((model, sorts, scope))
    declared = Sorts(sorts)
    declared.scope = scope
    return declared


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int
    limit: int
    offset: int

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (a service's documents -> the controller's structs)."""
        return Page(
            items=[convert(item) for item in self.items],
            total=self.total,
            limit=self.limit,
            offset=self.offset,
        )


class PageParams(msgspec.Struct, frozen=True):
    limit: int
    offset: int
    sort: str
    after: str | None = None  # the id of the item the page starts after (then offset is 0)


def id_filters(**ids: str | None) -> dict[str, ObjectId]:
    """The id filters a list was given (`client_id=...`), as ObjectIds; id_filter has checked their form."""
    return {field: ObjectId(value) for field, value in ids.items() if value is not None}


def sorted_by(
    fields: Mapping[str, str], default: str = DEFAULT_SORT, *, keyset: bool = True
) -> dict[str, Any]:
    """A list handler's `opt` entry naming its sort fields, for the OpenAPI `sort` enum: the very mapping its
    service passes to `paginate`, and its order when none is asked for (`-created_at` unless the list has
    another). `keyset=False`: a short list (an organisation's members, a user's organisations) that pages by
    offset only, so `after` is not offered. `@get("/", opt=sorted_by(service.SORTS))`."""
    return {SORTS: tuple(fields), SORT_DEFAULT: default, KEYSET: keyset}


def sort_values(fields: Iterable[str]) -> list[str]:
    """`name` -> `name`, `-name`: every value a list's `sort` parameter accepts."""
    return [value for field in sorted(fields) for value in (field, f"-{field}")]


def sort_spec(sort: str, allowed: Mapping[str, str]) -> list[tuple[str, SortDirection]]:
    """`-total` -> [("total", -1), ("_id", -1)]; `allowed` maps API names to stored field names."""
    descending = sort.startswith("-")
    direction = SortDirection.DESCENDING if descending else SortDirection.ASCENDING
    name = sort[1:] if descending else sort  # exactly `field` or `-field`: "--name" and "+name" are unknown
    if name not in allowed:
        choices = ", ".join(sorted(allowed))
        raise ValidationFailed.field("sort", f"unknown sort field {name!r}; use one of {choices}")
    return [(allowed[name], direction), ("_id", direction)]


def after_clauses(field: str, direction: int, value: Any, oid: ObjectId) -> list[dict[str, Any]]:
    """What comes after the item (`value` in `field`, id `oid`) in (field, _id) order, as disjoint clauses,
    each a range of the list's sort index. MongoDB sorts a missing or null value first, and compares a value
    only with values of its own type ($gt: 5 never matches null), so null gets clauses of its own."""
    if direction == SortDirection.ASCENDING:
        if value is None:
            return [{field: None, "_id": {"$gt": oid}}, {field: {"$ne": None}}]
        return [{field: value, "_id": {"$gt": oid}}, {field: {"$gt": value}}]
    if value is None:
        return [{field: None, "_id": {"$lt": oid}}]
    return [{field: value, "_id": {"$lt": oid}}, {field: {"$lt": value}}, {field: None}]


async def _after(
    collection: Any, query: Mapping[str, Any], after: str, sort: str, sorts: Sorts
) -> dict[str, Any]:
    """`query` narrowed to what follows the item `after` in the `sort` order: an $or of the clauses,
    each with the whole query, so MongoDB reads each from its own range of the sort index and merges them in
    order ("$or Clauses and Indexes"). 400 when `after` names no item of this list (the caller's, not deleted,
    in the list's scope); the list's filters need not match it any more."""
    [(field, direction), _] = sort_spec(sort, sorts)
    oid = parse_object_id(after)
    scope = {name: query[name] for name in sorts.scope}
    mine = owned_filter(query["owner_id"], scope, _id=oid)
    anchor = await collection.find_one(to_bson(mine), {field: 1}) if oid else None
    if anchor is None:
        raise ValidationFailed.field("after", "names no item of this list; start again without it")
    clauses = after_clauses(field, int(direction), anchor.get(field), anchor["_id"])
    return {"$or": [{"$and": [dict(query), clause]} for clause in clauses]}


async def paginate(model: type[D], query: Mapping[str, Any], params: PageParams, sorts: Sorts) -> Page[D]:
    """One page of `model` matching `query` (which must already hold the owner filter)."""
    order = sort_spec(params.sort, sorts)
    where = dict(query)
    if params.after is not None:
        where = await _after(model.get_motor_collection(), query, params.after, params.sort, sorts)
    total = await model.find(dict(query)).count()
    documents = await model.find(where).sort(order).skip(params.offset).limit(params.limit).to_list()
    return Page(items=documents, total=total, limit=params.limit, offset=params.offset)


async def paginate_raw(
    model: type[Document], query: Mapping[str, Any], params: PageParams, sorts: Sorts, view: type[V]
) -> Page[V]:
    """paginate()'s page, the same query, sort, count and window on `model`'s collection, read without the
    model: the driver's documents, projected to `view.STORED`, straight into `view` (the lean read path)."""
    order = [(field, int(direction)) for field, direction in sort_spec(params.sort, sorts)]
    collection = model.get_motor_collection()
    every = to_bson(query)  # as Beanie encodes a find's filter (dates, decimals, ids)
    where = every
    if params.after is not None:
        where = await _after(collection, every, params.after, params.sort, sorts)
    total = await collection.count_documents(every)
    found = collection.find(where, view.STORED).sort(order).skip(params.offset).limit(params.limit)
    items = [view.from_raw(raw) for raw in await found.to_list(None)]
    return Page(items=items, total=total, limit=params.limit, offset=params.offset)
