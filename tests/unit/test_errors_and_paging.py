from __future__ import annotations

import pytest

from app.core.errors import FieldError, ValidationFailed
from app.db.pagination import sort_spec
from app.http.problems import field_error


@pytest.mark.parametrize(
    "key, message, expected",
    [
        ("name", "Expected `str`, got `int`", FieldError("name", "Expected `str`, got `int`")),
        ("data", "Object contains unknown field `total`", FieldError("total", "unknown field")),
        ("data", "Object missing required field `name`", FieldError("name", "field required")),
        (
            "lines[0]",
            "quantity: must be greater than 0",
            FieldError("lines[0].quantity", "must be greater than 0"),
        ),
        (
            "data",
            "Expected `int` - at `$.lines[2].quantity`",
            FieldError("lines[2].quantity", "Expected `int`"),
        ),
        ("address", "Object contains unknown field `planet`", FieldError("address.planet", "unknown field")),
        ("data", "'data'", FieldError("body", "a JSON body is required")),
    ],
)
def test_field_error_builds_paths(key, message, expected):
    assert field_error(key, message) == expected


def test_sort_spec_parses_direction_and_adds_a_tie_breaker():
    allowed = {"name": "name", "total": "total_cents"}
    assert sort_spec("name", allowed) == [("name", 1), ("_id", 1)]
    assert sort_spec("-total", allowed) == [("total_cents", -1), ("_id", -1)]


@pytest.mark.parametrize("bad", ["email", "-password_hash", "", "-", "name;drop", "$where"])
def test_sort_spec_rejects_unknown_fields(bad):
    with pytest.raises(ValidationFailed) as raised:
        sort_spec(bad, {"name": "name"})
    assert raised.value.errors and raised.value.errors[0].field == "sort"
