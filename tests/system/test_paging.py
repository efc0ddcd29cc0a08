"""Paging every list: `offset` up to 10,000, and `after` (keyset, on the sort field and _id) for any depth,
each item exactly once and in the order of the sort, ties and missing values included."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.factories import create_client
from tests.conftest import assert_problem
from tests.invoices.factories import create_invoice, send_invoice
from tests.projects.factories import create_project
from tests.time_entries.factories import create_time_entry, start_timer

LISTS = ["/api/clients", "/api/projects", "/api/time-entries", "/api/invoices", "/api/contracts", "/api/resumes",
         "/api/webhook-endpoints", "/api/recurring-invoices"]  # fmt: skip


async def _ids(client: Any, auth: dict[str, str], path: str, **query: Any) -> list[str]:
    response = await client.get(path, params={"limit": 100, **query}, headers=auth)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _paged_after(client: Any, auth: dict[str, str], path: str, size: int, **query: Any) -> list[str]:
    """Every item, `size` at a time, each page asked for after the last item of the one before."""
    seen: list[str] = []
    for _ in range(50):  # a cursor that does not advance must not loop for ever
        params = {"limit": size, **query, **({"after": seen[-1]} if seen else {})}
        response = await client.get(path, params=params, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["offset"] == 0 and page["limit"] == size
        seen += [item["id"] for item in page["items"]]
        if len(page["items"]) < size:
            return seen
    raise AssertionError(f"no end after 50 pages: {seen}")


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at"])
async def test_after_pages_through_ties_each_item_once_in_order(client, auth, sort):
    for name in ["b", "a", "b", "c", "a", "b", "a"]:  # three names for seven clients: ties broken by id
        await create_client(client, auth, name=name)
    whole = await _ids(client, auth, "/api/clients", sort=sort)

    for size in (1, 2, 3):
        assert await _paged_after(client, auth, "/api/clients", size, sort=sort) == whole
    total = (await client.get("/api/clients", params={"after": whole[2]}, headers=auth)).json()["total"]
    assert total == 7  # the whole list's, not what is left after the item


@pytest.mark.parametrize("sort", ["status", "-status"])
async def test_after_pages_through_ties_of_a_filtered_list(client, auth, sort):
    acme = await create_client(client, auth)
    for status in ["active", "archived", "active", "completed", "active"]:
        await create_project(client, auth, acme["id"], status=status)
    await create_project(client, auth)  # another client's: filtered out
    whole = await _ids(client, auth, "/api/projects", sort=sort, client_id=acme["id"])

    assert len(whole) == 5
    assert await _paged_after(client, auth, "/api/projects", 2, sort=sort, client_id=acme["id"]) == whole


@pytest.mark.parametrize("sort", ["number", "-number"])
async def test_after_pages_through_missing_values_as_the_sort_orders_them(client, auth, sort):
    """Drafts have no number: they sort first ascending, last descending, by id among themselves."""
    acme = await create_client(client, auth)
    invoices = [await create_invoice(client, auth, acme["id"]) for _ in range(5)]
    for invoice in invoices[1:4]:
        await send_invoice(client, auth, invoice["id"])
    whole = await _ids(client, auth, "/api/invoices", sort=sort)

    drafts = {invoices[0]["id"], invoices[4]["id"]}
    assert set(whole[:2] if sort == "number" else whole[3:]) == drafts  # as MongoDB orders null
    for size in (1, 2):
        assert await _paged_after(client, auth, "/api/invoices", size, sort=sort) == whole


@pytest.mark.parametrize("sort", ["duration_seconds", "-duration_seconds"])
async def test_after_pages_through_a_running_timer(client, auth, sort):
    project = await create_project(client, auth)
    for hour in ("09", "10", "11", "12"):  # four entries of one hour: all tied
        await create_time_entry(
            client, auth, project["id"], f"2026-03-02T{hour}:00:00Z", f"2026-03-02T{hour}:59:00Z"
        )
    running = await start_timer(client, auth, project["id"])  # no duration yet
    whole = await _ids(client, auth, "/api/time-entries", sort=sort)

    assert len(whole) == 5 and whole[0 if sort == "duration_seconds" else 4] == running["id"]
    assert await _paged_after(client, auth, "/api/time-entries", 2, sort=sort) == whole


async def test_after_holds_when_the_item_no_longer_matches_the_filter(client, auth):
    acme = await create_client(client, auth)
    projects = [await create_project(client, auth, acme["id"], name=f"P{i}") for i in range(4)]
    first = await _ids(client, auth, "/api/projects", sort="name", status="active", limit=2)
    archived = await client.patch(f"/api/projects/{first[-1]}", json={"status": "archived"}, headers=auth)
    assert archived.status_code == 200, archived.text

    rest = await _ids(client, auth, "/api/projects", sort="name", status="active", after=first[-1])
    assert rest == [projects[2]["id"], projects[3]["id"]]


async def test_an_after_that_names_no_item_of_the_list_is_400(client, auth, other_user):
    mine = await create_client(client, auth)
    theirs = await create_client(client, other_user.headers)
    gone = await create_client(client, auth)
    assert (await client.delete(f"/api/clients/{gone['id']}", headers=auth)).status_code == 204
    project = await create_project(client, auth, mine["id"])
    invoice = await create_invoice(client, auth, mine["id"])

    for after in (theirs["id"], gone["id"], project["id"], "0" * 24):
        response = await client.get("/api/clients", params={"after": after}, headers=auth)
        assert assert_problem(response, 400, "validation_error")["errors"][0]["field"] == "after"
    # An e-mail list is one invoice's: another invoice's (or any other) id is not in it.
    response = await client.get(
        f"/api/invoices/{invoice['id']}/emails", params={"after": mine["id"]}, headers=auth
    )
    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize("query", ["after=123", "after=ZZZZZZZZZZZZZZZZZZZZZZZZ", "offset=10001",
                                   "offset=2&after=0123456789abcdef01234567"])  # fmt: skip
@pytest.mark.parametrize("path", LISTS)
async def test_bad_paging_is_400(client, auth, path, query):
    assert_problem(await client.get(f"{path}?{query}", headers=auth), 400, "validation_error")


async def test_offset_goes_up_to_10000(client, auth):
    page = (await client.get("/api/clients", params={"offset": 10_000}, headers=auth)).json()
    assert page == {"items": [], "total": 0, "limit": 20, "offset": 10_000}


# Short lists that page by offset only: a user's organisations and sessions, an organisation's members.
OFFSET_ONLY = ("/api/organizations", "/api/organization/members", "/api/auth/sessions")


@pytest.mark.parametrize("path", OFFSET_ONLY)
async def test_a_list_paged_by_offset_only_refuses_after(client, auth, user, path):
    response = await client.get(path, params={"after": user.id}, headers=auth)
    assert_problem(response, 400, "validation_error")


async def test_every_list_documents_after_and_the_offset_bound(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    lists = {path: op["get"] for path, op in paths.items() if any(
        p["name"] == "sort" for p in op.get("get", {}).get("parameters", []))}  # fmt: skip
    assert len(lists) == 18
    for path, operation in lists.items():
        parameters = {p["name"]: p for p in operation["parameters"]}
        assert parameters["offset"]["schema"]["maximum"] == 10_000, path
        if path in OFFSET_ONLY:
            assert "after" not in parameters, path
            continue
        after = parameters["after"]
        assert after["in"] == "query" and not after.get("required"), path
        assert after["schema"]["pattern"] and "last item" in after["description"], path
