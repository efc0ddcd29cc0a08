"""Whether a declared index serves a query on MongoDB 7, by the rules of its manual:

- equality (`f: v`, `$eq`, `$in`) fields first, in any order: the index's leading keys must hold every
  equality field of the query (ESR, "The ESR (Equality, Sort, Range) Guideline");
- then the sort, in the index's order with every direction the same or every one reversed ("Use Indexes to
  Sort Query Results"); a sort key the equality prefix pins to one value drops out;
- ranges (`$gt`…, `$ne`, `$exists`, `$regex`, `$elemMatch`) after that: they bound the scan or filter its
  keys, and a query with no equality may be served by an index led by one of its ranges;
- each clause of an `$or` needs its own index unless the rest of the query is served ("$or Clauses and
  Indexes");
- a sparse index only for a query that cannot match a document missing its keys, a partial one only for a
  query that implies its filter;
- an `_id` equality is the `_id` index's.

A count must also be covered: every field it filters on is in the index, so MongoDB counts index keys and
reads no document.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.db.indexes import declared_indexes
from app.main import DOCUMENT_MODELS

_EQUAL_OPERATORS = ("$eq", "$in")
_RESIDUAL = ("$nor", "$expr", "$where", "$text", "$comment")
_BOUNDED = ("$gt", "$gte", "$lt", "$lte", "$in", "$eq", "$type", "$regex", "$all", "$elemMatch")


@dataclass
class Shape:
    equal: dict[str, Any] = field(default_factory=dict)
    ranges: dict[str, Any] = field(default_factory=dict)
    ors: list[list[Mapping[str, Any]]] = field(default_factory=list)

    @property
    def fields(self) -> set[str]:
        return set(self.equal) | set(self.ranges)

    def merged(self, other: Shape) -> Shape:
        return Shape({**self.equal, **other.equal}, {**self.ranges, **other.ranges}, [*self.ors, *other.ors])


def _is_operator(value: Any) -> bool:
    return isinstance(value, Mapping) and any(str(key).startswith("$") for key in value)


def shape(where: Mapping[str, Any]) -> Shape:
    """The conjunction `where` states: its equality fields, its ranges, and the $or lists it holds."""
    found = Shape()
    for name, value in where.items():
        if name == "$and":
            for part in value:
                found = found.merged(shape(part))
        elif name == "$or":
            found.ors.append(list(value))
        elif name in _RESIDUAL:
            continue
        elif not _is_operator(value) or set(value) <= {"$eq"}:
            found.equal[name] = value.get("$eq") if _is_operator(value) else value
        elif set(value) == {"$in"}:
            found.equal[name] = value["$in"]
        elif "$elemMatch" in value:
            for sub, condition in value["$elemMatch"].items():
                found.ranges[name if sub.startswith("$") else f"{name}.{sub}"] = condition
        else:
            found.ranges[name] = value
    return found


def _keeps_missing_out(condition: Any, equal: bool) -> bool:
    """Whether a predicate can never match a document that lacks the field (what a sparse index omits)."""
    if equal:
        return condition is not None and not (isinstance(condition, list) and None in condition)
    if not isinstance(condition, Mapping):
        return True
    if condition.get("$exists") is True or ("$ne" in condition and condition["$ne"] is None):
        return True
    return any(op in condition and condition[op] is not None for op in _BOUNDED)


def _usable(spec: Mapping[str, Any], query: Shape) -> bool:
    keys = list(spec["key"])
    if spec.get("sparse") and not any(
        (key in query.equal and _keeps_missing_out(query.equal[key], True))
        or (key in query.ranges and _keeps_missing_out(query.ranges[key], False))
        for key in keys
    ):
        return False
    partial = spec.get("partialFilterExpression")
    return not partial or all(query.equal.get(name) == value for name, value in partial.items())


def serves(
    spec: Mapping[str, Any], query: Shape, sort: Iterable[tuple[str, int]], optional: set[str]
) -> bool:
    """Whether the index `spec` (as IndexModel.document gives it) serves `query` sorted by `sort`. Equality
    fields in `optional` may be left to filter the documents read (a list's own filters)."""
    if not _usable(spec, query):
        return False
    keys = [(name, int(direction)) for name, direction in spec["key"].items()]
    names = [name for name, _ in keys]
    lead = 0
    while lead < len(keys) and names[lead] in query.equal:
        lead += 1
    if spec.get("unique") and lead == len(keys):
        return True  # at most one document
    implied = set(spec.get("partialFilterExpression") or {})
    if not set(query.equal) - optional - implied <= set(names[:lead]):
        return False
    rest = [(name, way) for name, way in sort if name not in names[:lead]]
    if rest:
        window = keys[lead : lead + len(rest)]
        if [name for name, _ in window] != [name for name, _ in rest]:
            return False
        return len({mine * theirs for (_, mine), (_, theirs) in zip(window, rest, strict=True)}) == 1
    return lead > 0 or names[0] in query.ranges or bool(implied)


def covers(spec: Mapping[str, Any], query: Shape, optional: set[str]) -> bool:
    """Whether MongoDB can count `query` on `spec`'s keys without reading a document: every field it
    filters on (but the `optional` ones a list leaves to the documents) is in the index."""
    return (query.fields - optional) <= set(spec["key"])


def served(
    specs: list[Mapping[str, Any]],
    query: Shape,
    sort: tuple[tuple[str, int], ...],
    *,
    count: bool = False,
    residual: set[str] | frozenset[str] = frozenset(),
    scope: set[str] | None = None,
) -> bool:
    """Whether some index of `specs` serves `query`, a count covered. The `residual` equality fields may be
    left to filter the documents read. A list's query (`scope`: the fields each of its queries names by
    equality) may leave its own filters to the documents too, its $or clauses among them; otherwise each
    clause of an $or the rest does not settle needs an index of its own."""
    if "_id" in query.equal:
        return True
    left = set(residual)
    if scope is not None:
        left |= query.fields - scope - {"removed"}
    settled = scope is not None or not (count and query.ors)
    for spec in specs:
        if serves(spec, query, sort, left) and (not count or covers(spec, query, left)) and settled:
            return True
    if not query.ors:
        return False
    first, *others = query.ors
    rest = Shape(dict(query.equal), dict(query.ranges), others)
    return all(
        served(specs, rest.merged(shape(clause)), sort, count=count, residual=residual, scope=scope)
        for clause in first
    )


def indexes_by_collection() -> dict[str, list[Mapping[str, Any]]]:
    """The declared indexes of every document the app connects with, as specs by collection."""
    found: dict[str, list[Mapping[str, Any]]] = {}
    for index in declared_indexes(DOCUMENT_MODELS):
        found.setdefault(index.collection, []).append(index.model.document)
    return found
