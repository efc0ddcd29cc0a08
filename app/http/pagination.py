"""The page parameters of every list route (`limit`, `offset`, `sort`, `after`) and its id filters, as
Litestar parameters; the query half is app/db/pagination.py."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.params import Parameter

from app.core.errors import ValidationFailed
from app.core.identifiers import OBJECT_ID_PATTERN
from app.db.pagination import DEFAULT_SORT, SORT_DEFAULT, PageParams

# Deeper than this, a page by offset would make the database walk every item before it: `after` instead.
MAX_OFFSET = 10_000


def provide_page_params(
    request: Request[Any, Any, Any],
    limit: int = Parameter(query="limit", ge=1, le=100, default=20, description="Page size, 1–100"),
    offset: int = Parameter(
        query="offset",
        ge=0,
        le=MAX_OFFSET,
        default=0,
        description=f"Items to skip, 0–{MAX_OFFSET}; page deeper with `after`",
    ),
    sort: str | None = Parameter(
        query="sort",
        default=None,
        max_length=64,
        description="`field` ascending or `-field` descending; each list names the fields it allows",
    ),
    after: str | None = Parameter(
        query="after",
        default=None,
        pattern=OBJECT_ID_PATTERN,
        description="The id of the last item seen: the page that follows it in this sort order, however "
        "deep (offset stays 0). 400 if it names no item of this list",
    ),
) -> PageParams:
    if after is not None and offset:
        raise ValidationFailed.field("offset", "page by offset or after an item, not both")
    if sort is None:  # the list's own order (sorted_by), `-created_at` for most
        sort = request.route_handler.opt.get(SORT_DEFAULT, DEFAULT_SORT)
    return PageParams(limit=limit, offset=offset, sort=sort, after=after)


def id_filter(resource: str) -> Any:
    """A list filter such as `?client_id=`: the id of one of the caller's `resource`s (malformed -> 400)."""
    return Parameter(default=None, pattern=OBJECT_ID_PATTERN, description=f"Only this {resource}'s")
