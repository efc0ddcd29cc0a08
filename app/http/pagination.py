"""The page parameters of every list route (`limit`, `offset`, `sort`) and its id filters, as Litestar
parameters; the query half is app/db/pagination.py."""

from __future__ import annotations

from typing import Any

from litestar.params import Parameter

from app.core.identifiers import OBJECT_ID_PATTERN
from app.db.pagination import DEFAULT_SORT, PageParams


def provide_page_params(
    limit: int = Parameter(query="limit", ge=1, le=100, default=20, description="Page size, 1–100"),
    offset: int = Parameter(query="offset", ge=0, le=10_000_000, default=0, description="Items to skip"),
    sort: str = Parameter(
        query="sort",
        default=DEFAULT_SORT,
        max_length=64,
        description="`field` ascending or `-field` descending; each list names the fields it allows",
    ),
) -> PageParams:
    return PageParams(limit=limit, offset=offset, sort=sort)


def id_filter(resource: str) -> Any:
    """A list filter such as `?client_id=`: the id of one of the caller's `resource`s (malformed -> 400)."""
    return Parameter(default=None, pattern=OBJECT_ID_PATTERN, description=f"Only this {resource}'s")
