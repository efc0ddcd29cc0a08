"""limit/offset/sort parsing and the one paginated query every list route uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import msgspec
from beanie import Document, SortDirection
from bson import ObjectId

from app.core.errors import ValidationFailed
from app.db.repository import StoredView, to_bson

D = TypeVar("D", bound=Document)
T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V", bound=StoredView)

DEFAULT_SORT = "-created_at"
SORTS = "sorts"  # the handler `opt` key sorted_by() fills

# Every list's sortable fields, by document: (model, {API name: stored field}, scope). Each stored field needs
# an (owner_id, *scope, field, _id) index (db/indexes.sort_indexes); a test reads this to check that it has
# one. `scope` names the fields a list always filters on by equality (an invoice's e-mails: invoice_id).
SORTABLE: list[tuple[type[Document], Mapping[str, str], tuple[str, ...]]] = []


def sortable(
    model: type[Document], sorts: Mapping[str, str], scope: tuple[str, ...] = ()
) -> Mapping[str, str]:
    """Declare a list's sorts (API name -> stored field) for `model`; returns them for paginate()."""
    SORTABLE.append((model, sorts, scope))
    return sorts


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


def id_filters(**ids: str | None) -> dict[str, ObjectId]:
    """The id filters a list was given (`client_id=...`), as ObjectIds; id_filter has checked their form."""
    return {field: ObjectId(value) for field, value in ids.items() if value is not None}


def sorted_by(fields: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """A list handler's `opt` entry naming its sort fields, for the OpenAPI `sort` enum: the very mapping its
    service passes to `paginate`. `@get("/", opt=sorted_by(service.SORTS))`."""
    return {SORTS: tuple(fields)}


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


async def paginate(
    model: type[D],
    query: Mapping[str, Any],
    params: PageParams,
    allowed_sorts: Mapping[str, str],
) -> Page[D]:
    """One page of `model` matching `query` (which must already hold the owner filter)."""
    order = sort_spec(params.sort, allowed_sorts)
    found = model.find(dict(query))
    total = await model.find(dict(query)).count()
    documents = await found.sort(order).skip(params.offset).limit(params.limit).to_list()
    return Page(items=documents, total=total, limit=params.limit, offset=params.offset)


async def paginate_raw(
    model: type[Document],
    query: Mapping[str, Any],
    params: PageParams,
    allowed_sorts: Mapping[str, str],
    view: type[V],
) -> Page[V]:
    """paginate()'s page, the same query, sort, count and window on `model`'s collection, read without the
    model: the driver's documents, projected to `view.STORED`, straight into `view` (the lean read path)."""
    order = [(field, int(direction)) for field, direction in sort_spec(params.sort, allowed_sorts)]
    collection = model.get_motor_collection()
    where = to_bson(query)  # as Beanie encodes a find's filter (dates, decimals, ids)
    total = await collection.count_documents(where)
    found = collection.find(where, view.STORED).sort(order).skip(params.offset).limit(params.limit)
    items = [view.from_raw(raw) for raw in await found.to_list(None)]
    return Page(items=items, total=total, limit=params.limit, offset=params.offset)
