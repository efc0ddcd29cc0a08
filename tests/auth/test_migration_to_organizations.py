"""Users stored before organisations get a personal organisation holding all they had (API.md section 19):
no id, number or stored document changes; the migration is idempotent, and killed after any of its writes and
run again it ends where an uninterrupted run ends."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from app.auth.models import User
from app.main import prepare_stored_data
from app.organizations.models import Organization
from tests.conftest import Account, register
from tests.faults import Died, Fault, fault_fixture  # noqa: F401 (the `fault` fixture)
from tests.invoices.factories import create_sent_invoice

OLD_BUSINESS = {"company_name": "Lovelace Analytics", "invoice_prefix": "OLD-", "default_currency": "EUR"}
# Collections the migration must leave exactly as they were.
UNTOUCHED = ("clients", "projects", "time_entries", "invoices", "invoice_counters", "events")


async def _as_before_organizations(account: Account) -> None:
    """The user as Orbix stored them before section 19: the profile on the user, no memberships, no
    organisation document."""
    oid = ObjectId(account.id)
    await User.get_motor_collection().update_one(
        {"_id": oid},
        {"$set": {"business": OLD_BUSINESS}, "$unset": {"memberships": "", "default_organization_id": ""}},
    )
    await Organization.get_motor_collection().delete_one({"_id": oid})


async def _user_with_books(http: Any, email: str) -> tuple[Account, dict[str, Any]]:
    account = await register(http, email, name="Ada Lovelace")
    invoice = await create_sent_invoice(http, account.headers)
    await _as_before_organizations(account)
    return account, invoice


async def _snapshot(owner: ObjectId) -> dict[str, list[dict[str, Any]]]:
    database = User.get_motor_collection().database
    return {
        name: await database[name].find({"owner_id": owner}).sort("_id", 1).to_list(None)
        for name in UNTOUCHED
    }


async def _migrated_state(owner: ObjectId) -> tuple[dict[str, Any], dict[str, Any]]:
    user = await User.get_motor_collection().find_one({"_id": owner})
    organization = await Organization.get_motor_collection().find_one({"_id": owner})
    assert user is not None and organization is not None
    return user, organization


async def _check_migrated(http: Any, account: Account, invoice: dict[str, Any]) -> None:
    owner = ObjectId(account.id)
    user, organization = await _migrated_state(owner)
    assert organization["personal"] is True and organization["name"] == "Ada Lovelace"
    assert {key: organization["business"][key] for key in OLD_BUSINESS} == OLD_BUSINESS
    assert [(m["organization_id"], m["role"]) for m in user["memberships"]] == [(owner, "owner")]
    assert user["default_organization_id"] == owner and "business" not in user
    me = await http.get("/api/auth/me", headers=account.headers)
    assert me.status_code == 200 and me.json()["business"]["company_name"] == "Lovelace Analytics"
    assert me.headers["orbix-organization"] == account.id
    listed = await http.get("/api/invoices", headers=account.headers)
    assert [(i["id"], i["number"]) for i in listed.json()["items"]] == [(invoice["id"], invoice["number"])]


async def test_a_user_from_before_organisations_gets_a_personal_one_holding_everything(client):
    account, invoice = await _user_with_books(client, "ada@example.com")
    before = await _snapshot(ObjectId(account.id))
    await prepare_stored_data()
    await _check_migrated(client, account, invoice)
    assert await _snapshot(ObjectId(account.id)) == before  # no id, number or document changed
    # the books go on where they were: the next number follows the old one, with the old prefix
    following = await create_sent_invoice(client, account.headers)
    assert following["number"] == "OLD-0002" and invoice["number"] == "INV-0001"


async def test_the_migration_is_idempotent(client):
    account, invoice = await _user_with_books(client, "ada@example.com")
    await prepare_stored_data()
    user, organization = await _migrated_state(ObjectId(account.id))
    await prepare_stored_data()
    assert await _migrated_state(ObjectId(account.id)) == (user, organization)
    await _check_migrated(client, account, invoice)


async def test_the_migration_killed_after_any_write_and_run_again_ends_as_one_run(client, fault: Fault):
    reference, _ = await _user_with_books(client, "reference@example.com")
    await prepare_stored_data()
    expected_user, expected_organization = await _migrated_state(ObjectId(reference.id))

    step = 0
    while True:
        step += 1
        account, invoice = await _user_with_books(client, f"step{step}@example.com")
        before = await _snapshot(ObjectId(account.id))
        fault.arm(step)
        try:
            await prepare_stored_data()
            died = False
        except Died:
            died = True
        fault.disarm()
        await prepare_stored_data()  # the next start
        try:
            await _check_migrated(client, account, invoice)
            user, organization = await _migrated_state(ObjectId(account.id))
            assert _shape(user) == _shape(expected_user) and _shape(organization) == _shape(
                expected_organization
            )
            assert await _snapshot(ObjectId(account.id)) == before
        except AssertionError as exc:
            raise AssertionError(f"after dying at write {step}: {exc}") from exc
        if not died:
            break
    assert step >= 3  # the organisation, the membership, and the prefix pass: each was cut once


def _shape(raw: dict[str, Any]) -> Any:
    """A stored document without what differs between two users (ids, names, times)."""
    if isinstance(raw, dict):
        return {
            key: _shape(value)
            for key, value in raw.items()
            if key
            not in {
                "_id",
                "id",
                "email",
                "password_hash",
                "created_at",
                "updated_at",
                "joined_at",
                "live_sessions",
            }
            and not key.endswith("organization_id")
            and key != "contact_email"
        }
    if isinstance(raw, list):
        return [_shape(item) for item in raw]
    return raw


async def test_a_user_not_yet_migrated_keeps_working(client):
    """Between a deploy and its migration, an old user's requests act in the personal organisation to come."""
    account, _invoice = await _user_with_books(client, "ada@example.com")
    me = await client.get("/api/auth/me", headers=account.headers)
    assert me.status_code == 200 and me.json()["business"]["company_name"] == "Lovelace Analytics"
    listed = await client.get("/api/invoices", headers=account.headers)
    assert listed.status_code == 200 and listed.json()["total"] == 1
    login = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "correct horse battery"}
    )
    assert login.status_code == 200, login.text
    assert login.json()["user"]["business"]["invoice_prefix"] == "OLD-"


async def test_time_entries_from_before_organisations_belong_to_the_user_who_owned_them(client, user):
    from app.db import data_migrations
    from app.time_entries.models import TimeEntry
    from app.time_entries.service import migrate_user_ids
    from tests.projects.factories import create_project
    from tests.time_entries.factories import create_time_entry

    project = await create_project(client, user.headers)
    entry = await create_time_entry(client, user.headers, project["id"])
    entries = TimeEntry.get_motor_collection()
    await entries.update_one({"_id": ObjectId(entry["id"])}, {"$unset": {"user_id": ""}})
    database = entries.database
    await database[data_migrations.MARKERS].delete_many({})  # a database from before this migration
    await prepare_stored_data()
    stored = await entries.find_one({"_id": ObjectId(entry["id"])})
    assert stored["user_id"] == ObjectId(user.id)
    mine = await client.get("/api/time-entries", params={"user_id": user.id}, headers=user.headers)
    assert [e["id"] for e in mine.json()["items"]] == [entry["id"]]
    # done once per database: a later start does not scan again
    assert not await data_migrations.once(database, "time_entry_user_ids", migrate_user_ids)
