"""The schedule resource (API.md section 23): create, read, list, edit (future runs only), delete (invoices
stay), pause and resume through one transition table, their refusals and their events."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.clock import using_clock
from tests.clients.factories import create_client
from tests.conftest import assert_problem
from tests.events.helpers import poll_all
from tests.projects.factories import create_project
from tests.recurring.helpers import (
    LINES,
    clock_at,
    create_schedule,
    get_schedule,
    invoices_of,
    run_worker,
    set_zone,
)

PATH = "/api/recurring-invoices"


@pytest.fixture(autouse=True)
def business_clock():
    """The business day is 2027-01-10 (UTC) unless a test moves it."""
    with using_clock(clock_at("2027-01-10T12:00")) as clock:
        yield clock


async def test_create_answers_201_with_the_schedule(client, auth):
    acme = await create_client(client, auth)
    project = await create_project(client, auth, acme["id"])
    body = {
        "client_id": acme["id"],
        "project_id": project["id"],
        "lines": [{"description": "Retainer", "quantity": "2.5", "unit_price": "80.01"}],
        "tax_rate": "19",
        "discount_rate": "10",
        "notes": "Thank you",
        "frequency": "quarterly",
        "interval": 2,
        "start_date": "2027-01-10",
        "end_date": "2028-01-10",
        "send": "send",
    }
    response = await client.post(PATH, json=body, headers=auth)
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["location"] == f"{PATH}/{made['id']}"
    assert made["status"] == "active" and made["next_run_on"] == "2027-01-10"
    assert made["last_invoice_id"] is None and made["paused_reason"] is None
    assert (made["frequency"], made["interval"], made["send"]) == ("quarterly", 2, "send")
    assert (made["tax_rate"], made["tax_category"], made["discount_rate"]) == ("19", "S", "10")
    # The invoice rules priced it, half-up: 2.5 × 80.01 = 200.03, 10 % off 20.00, 19 % of 180.03 = 34.21
    assert made["lines"][0]["amount"] == "200.03"
    assert (made["subtotal"], made["discount"], made["tax"], made["total"]) == (
        "200.03",
        "20.00",
        "34.21",
        "214.24",
    )
    assert made["created_by"]["type"] == "user"
    assert await get_schedule(client, auth, made["id"]) == made


async def test_the_defaults(client, auth):
    made = await create_schedule(client, auth, start_date="2027-01-10")
    assert (made["interval"], made["send"], made["end_date"], made["notes"]) == (1, "draft", None, "")
    assert (made["tax_rate"], made["tax_category"], made["discount_rate"]) == ("0", "E", "0")


async def test_start_date_before_today_in_the_organisations_zone_is_400(client, auth, business_clock):
    business_clock.set(clock_at("2027-03-01T23:30").moment)  # already 2 March in Berlin
    assert (await create_schedule(client, auth, start_date="2027-03-01"))["next_run_on"] == "2027-03-01"
    await set_zone(client, auth, "Europe/Berlin")
    acme = await create_client(client, auth)
    body = {"client_id": acme["id"], "lines": LINES, "frequency": "monthly", "start_date": "2027-03-01"}
    problem = assert_problem(await client.post(PATH, json=body, headers=auth), 400, "validation_error")
    assert problem["errors"][0]["field"] == "start_date" and "Europe/Berlin" in problem["detail"]
    body["start_date"] = "2027-03-02"
    assert (await client.post(PATH, json=body, headers=auth)).status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [{"description": "x", "quantity": "0", "unit_price": "1"}]}, "lines[0].quantity"),
        ({"lines": [{"description": " ", "quantity": "1", "unit_price": "1"}]}, "lines[0].description"),
        ({"lines": [{"description": "x", "quantity": "1", "unit_price": "-1"}]}, "lines[0].unit_price"),
        ({"tax_rate": "0", "tax_category": "S"}, "tax_category"),
        ({"tax_rate": "7", "tax_category": "E"}, "tax_rate"),
        ({"tax_rate": "101"}, "tax_rate"),
        ({"discount_rate": "-1"}, "discount_rate"),
        ({"interval": 0}, "interval"),
        ({"interval": 13}, "interval"),
        ({"frequency": "daily"}, "frequency"),
        ({"send": "fax"}, "send"),
        ({"end_date": "2027-01-09"}, "end_date"),
        ({"start_date": "2027-01-09"}, "start_date"),
        ({"total": "5.00"}, "total"),
    ],
)
async def test_bad_schedules_are_400(client, auth, change, field):
    acme = await create_client(client, auth)
    body = {"client_id": acme["id"], "lines": LINES, "frequency": "monthly", "start_date": "2027-01-10"}
    problem = assert_problem(
        await client.post(PATH, json={**body, **change}, headers=auth), 400, "validation_error"
    )
    assert any(error["field"] == field for error in problem["errors"]), problem


async def test_a_client_or_project_not_the_callers_is_invalid_reference(client, auth, other_user):
    theirs = await create_client(client, other_user.headers)
    body = {"client_id": theirs["id"], "lines": LINES, "frequency": "monthly", "start_date": "2027-01-10"}
    assert_problem(await client.post(PATH, json=body, headers=auth), 400, "invalid_reference")
    mine, other = await create_client(client, auth), await create_client(client, auth)
    project = await create_project(client, auth, other["id"])
    body = {**body, "client_id": mine["id"], "project_id": project["id"]}
    assert_problem(await client.post(PATH, json=body, headers=auth), 400, "invalid_reference")


async def test_another_organisations_schedule_is_404(client, auth, other_user):
    made = await create_schedule(client, auth, start_date="2027-01-10")
    them = other_user.headers
    for method, path in [
        ("GET", f"{PATH}/{made['id']}"),
        ("PATCH", f"{PATH}/{made['id']}"),
        ("DELETE", f"{PATH}/{made['id']}"),
        ("POST", f"{PATH}/{made['id']}/pause"),
        ("POST", f"{PATH}/{made['id']}/resume"),
    ]:
        body = {"notes": "x"} if method == "PATCH" else None
        assert_problem(await client.request(method, path, json=body, headers=them), 404, "not_found")
    assert (await client.get(PATH, headers=them)).json()["items"] == []
    assert (await get_schedule(client, auth, made["id"]))["notes"] == ""


async def test_list_sorts_and_filters(client, auth):
    acme, other = await create_client(client, auth), await create_client(client, auth)
    late = await create_schedule(client, auth, acme["id"], start_date="2027-03-01")
    early = await create_schedule(client, auth, other["id"], start_date="2027-02-01")
    paused = await create_schedule(client, auth, acme["id"], start_date="2027-04-01")
    assert (await client.post(f"{PATH}/{paused['id']}/pause", headers=auth)).status_code == 200

    async def ids(**params: Any) -> list[str]:
        response = await client.get(PATH, params=params, headers=auth)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [paused["id"], early["id"], late["id"]]  # -created_at
    assert await ids(sort="next_run_on") == [early["id"], late["id"], paused["id"]]
    assert await ids(sort="-next_run_on") == [paused["id"], late["id"], early["id"]]
    assert await ids(sort="created_at") == [late["id"], early["id"], paused["id"]]
    assert await ids(status="paused") == [paused["id"]]
    assert await ids(status="active", client_id=acme["id"]) == [late["id"]]
    assert (await client.get(PATH, params={"limit": 1}, headers=auth)).json()["total"] == 3
    assert_problem(await client.get(PATH, params={"sort": "total"}, headers=auth), 400, "validation_error")
    assert_problem(await client.get(PATH, params={"status": "gone"}, headers=auth), 400, "validation_error")


async def test_patch_changes_the_runs_to_come_only(client, auth, business_clock):
    made = await create_schedule(client, auth, start_date="2027-01-10", tax_rate="20")
    await run_worker()  # the run of 10 January
    first = (await invoices_of(client, auth, made["id"]))[0]
    body = {
        "lines": [{"description": "Support", "quantity": "3", "unit_price": "10"}],
        "notes": "New terms",
        "discount_rate": "50",
    }
    response = await client.patch(f"{PATH}/{made['id']}", json=body, headers=auth)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["subtotal"], changed["discount"], changed["tax"], changed["total"]) == (
        "30.00",
        "15.00",
        "3.00",
        "18.00",
    )
    assert changed["next_run_on"] == "2027-02-10" and changed["tax_category"] == "S"
    business_clock.set(clock_at("2027-02-10T00:00").moment)
    await run_worker()
    made_invoices = await invoices_of(client, auth, made["id"])
    assert [i["total"] for i in made_invoices] == ["1200.00", "18.00"]
    assert made_invoices[0] == {**first, "updated_at": made_invoices[0]["updated_at"]}
    assert made_invoices[1]["notes"] == "New terms"


async def test_patch_refusals(client, auth):
    made = await create_schedule(client, auth, start_date="2027-01-10", end_date="2027-03-10")
    path = f"{PATH}/{made['id']}"
    assert_problem(
        await client.patch(path, json={"end_date": "2027-01-09"}, headers=auth), 400, "validation_error"
    )
    assert_problem(
        await client.patch(path, json={"tax_rate": "0", "tax_category": "S"}, headers=auth),
        400,
        "validation_error",
    )
    assert_problem(
        await client.patch(path, json={"start_date": "2027-02-01"}, headers=auth), 400, "validation_error"
    )
    other = await create_client(client, auth)
    project = await create_project(client, auth, other["id"])
    assert_problem(
        await client.patch(path, json={"project_id": project["id"]}, headers=auth), 400, "invalid_reference"
    )
    stale = {**auth, "If-Match": '"0"'}
    ok = await client.patch(path, json={"notes": "a"}, headers=auth)
    assert ok.status_code == 200 and ok.headers["etag"]
    assert_problem(await client.patch(path, json={"notes": "b"}, headers=stale), 412, "precondition_failed")
    current = {**auth, "If-Match": ok.headers["etag"]}
    assert (await client.patch(path, json={"notes": "b"}, headers=current)).status_code == 200


async def test_an_ended_schedule_cannot_be_edited_paused_or_resumed(client, auth, business_clock):
    made = await create_schedule(client, auth, start_date="2027-01-10", end_date="2027-01-10")
    await run_worker()
    ended = await get_schedule(client, auth, made["id"])
    assert (ended["status"], ended["next_run_on"]) == ("ended", None)
    path = f"{PATH}/{made['id']}"
    assert_problem(await client.patch(path, json={"notes": "x"}, headers=auth), 409, "invalid_state")
    assert_problem(await client.post(f"{path}/pause", headers=auth), 409, "invalid_state")
    assert_problem(await client.post(f"{path}/resume", headers=auth), 409, "invalid_state")
    assert (await client.delete(path, headers=auth)).status_code == 204


async def test_pause_and_resume_follow_the_transition_table(client, auth):
    made = await create_schedule(client, auth, start_date="2027-01-20")
    path = f"{PATH}/{made['id']}"
    assert_problem(await client.post(f"{path}/resume", headers=auth), 409, "invalid_state")
    paused = await client.post(f"{path}/pause", headers=auth)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json()["next_run_on"] == "2027-01-20"
    assert_problem(await client.post(f"{path}/pause", headers=auth), 409, "invalid_state")
    assert_problem(
        await client.post(f"{path}/resume", headers={**auth, "If-Match": '"0"'}), 412, "precondition_failed"
    )
    resumed = await client.post(f"{path}/resume", headers=auth)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert resumed.json()["next_run_on"] == "2027-01-20"  # the first run on or after today


async def test_delete_leaves_the_invoices_it_made(client, auth):
    made = await create_schedule(client, auth, start_date="2027-01-10")
    await run_worker()
    (invoice,) = await invoices_of(client, auth, made["id"])
    assert (await client.delete(f"{PATH}/{made['id']}", headers=auth)).status_code == 204
    assert_problem(await client.get(f"{PATH}/{made['id']}", headers=auth), 404, "not_found")
    kept = await client.get(f"/api/invoices/{invoice['id']}", headers=auth)
    assert kept.status_code == 200 and kept.json()["recurring_invoice_id"] == made["id"]
    assert kept.json()["period"] == {"start": "2027-01-10", "end": "2027-02-09"}


async def test_invoices_made_by_hand_have_no_schedule(client, auth):
    acme = await create_client(client, auth)
    response = await client.post(
        "/api/invoices", json={"client_id": acme["id"], "lines": LINES}, headers=auth
    )
    assert response.status_code == 201
    assert (response.json()["recurring_invoice_id"], response.json()["period"]) == (None, None)


async def test_every_write_has_its_event(client, user):
    h = user.headers
    made = await create_schedule(client, h, start_date="2027-01-20")
    path = f"{PATH}/{made['id']}"
    assert (await client.patch(path, json={"notes": "n"}, headers=h)).status_code == 200
    assert (await client.post(f"{path}/pause", headers=h)).status_code == 200
    assert (await client.post(f"{path}/resume", headers=h)).status_code == 200
    assert (await client.delete(path, headers=h)).status_code == 204
    events = [e for e in await poll_all(client, h) if e["type"].startswith("recurring_invoice.")]
    assert [e["type"] for e in events] == [
        "recurring_invoice.created",
        "recurring_invoice.updated",
        "recurring_invoice.paused",
        "recurring_invoice.resumed",
        "recurring_invoice.deleted",
    ]
    assert {e["data"]["object"]["id"] for e in events} == {made["id"]}
    assert events[1]["data"]["object"]["notes"] == "n"
    assert events[2]["data"]["object"]["status"] == "paused"
