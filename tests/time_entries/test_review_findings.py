"""Review findings on time entries: each test failed before its fix."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry

# Valid RFC 3339 timestamps whose UTC instant lies outside what Python (and BSON) can represent.
PAST_THE_END = "9999-12-31T22:00:00-05:00"
BEFORE_THE_START = "0001-01-01T00:00:00+05:00"


@pytest.mark.parametrize(
    ("started_at", "ended_at", "field"),
    [
        (PAST_THE_END, "9999-12-31T23:00:00-05:00", "started_at"),
        (BEFORE_THE_START, "0001-01-01T01:00:00+05:00", "started_at"),
        ("2026-03-02T09:00:00Z", PAST_THE_END, "ended_at"),
    ],
)
async def test_create_time_entry_with_unrepresentable_instant_is_400(
    client, auth, started_at, ended_at, field
):
    project = await create_project(client, auth)
    body = {"project_id": project["id"], "started_at": started_at, "ended_at": ended_at}
    problem = assert_problem(
        await client.post("/api/time-entries", json=body, headers=auth), 400, "validation_error"
    )
    assert field in [e["field"] for e in problem["errors"]]


async def test_update_time_entry_with_unrepresentable_instant_is_400(client, auth):
    entry = await create_time_entry(client, auth, (await create_project(client, auth))["id"])
    response = await client.patch(
        f"/api/time-entries/{entry['id']}", json={"ended_at": PAST_THE_END}, headers=auth
    )
    problem = assert_problem(response, 400, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["ended_at"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=9999-12-31T23:00:00-05:00", "from"), ("to=0001-01-01T00:00:00%2B05:00", "to")],
)
async def test_list_time_entries_with_unrepresentable_bound_is_400(client, auth, query, field):
    problem = assert_problem(
        await client.get(f"/api/time-entries?{query}", headers=auth), 400, "validation_error"
    )
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize(
    "value", ["1700000000", "1e10", "2026-11-21", "2026-11-21T10:15:00", "2026-02-30T10:00:00Z", "yesterday"]
)
async def test_list_time_entries_from_and_to_take_only_rfc3339_with_offset(client, auth, value):
    for name in ("from", "to"):
        problem = assert_problem(
            await client.get("/api/time-entries", params={name: value}, headers=auth), 400, "validation_error"
        )
        assert problem["errors"][0]["field"] == name


async def test_list_time_entries_window_accepts_offsets_and_fractions(client, auth):
    response = await client.get(
        "/api/time-entries",
        params={"from": "2026-03-02T10:00:00.123456789+01:00", "to": "2026-03-03T00:00:00z"},
        headers=auth,
    )
    assert response.status_code == 200, response.text
