"""Projects: every query starts from the owner; a project's currency is its client's."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId

from app.auth.models import Owner
from app.clients.models import Client
from app.core.errors import Conflict, InvalidReference, InvalidState, NotFound
from app.core.money import to_cents
from app.db.client import referencing_models
from app.db.outbox import pending, publish
from app.db.pagination import Page, PageParams, id_filters, paginate, sortable
from app.db.repository import (
    confirm_moved,
    delete_unreferenced,
    ensure_unreferenced,
    get_owned,
    get_referenced,
    insert_confirmed,
    owned_filter,
    parse_object_id,
    update_owned,
)
from app.db.versions import ANY, Expected
from app.http.schemas import provided_fields
from app.organizations.models import Books
from app.projects.models import Project
from app.projects.schemas import ProjectCreate, ProjectUpdate
from app.time_entries.models import TimeEntry

SORTS = sortable(
    Project,
    {
        "name": "name",
        "status": "status",
        "hourly_rate": "hourly_rate_cents",
        "created_at": "created_at",
        "updated_at": "updated_at",
    },
)
# New time may be logged on active and completed projects (late entries happen); archived ones are frozen.
ACCEPTS_TIME = ("active", "completed")
CASCADE_ROUNDS = 20  # each extra round means another currency change landed meanwhile


async def list_projects(
    owner: Owner, params: PageParams, client_id: str | None, status: str | None
) -> Page[Project]:
    query = owned_filter(owner.id, id_filters(client_id=client_id))
    if status is not None:
        query["status"] = status
    return await paginate(Project, query, params, SORTS)


async def create_project(
    owner: Books, data: ProjectCreate, new_id: PydanticObjectId | None = None
) -> Project:
    client = await get_referenced(Client, data.client_id, owner.id, "client_id")
    project = Project(
        id=new_id or PydanticObjectId(),
        owner_id=owner.id,
        client_id=client.id,
        name=data.name,
        description=data.description,
        status=data.status,
        hourly_rate_cents=to_cents(data.hourly_rate),
        currency=client.currency,
        budget_hours=data.budget_hours,
    )
    return await insert_confirmed(project, [(Client, client.id, "client_id")])


async def get_project(owner: Owner, project_id: str) -> tuple[Project, int, int]:
    """The project with its (tracked, unbilled) seconds of stopped entries, read in one aggregation: the
    project, its time entries joined ($lookup on the `project` index, then $unwind, which MongoDB runs as one
    stage without building an array of every entry) and summed."""
    oid = parse_object_id(project_id)
    pipeline: list[dict[str, Any]] = [
        {"$match": owned_filter(owner.id, _id=oid)},
        {"$lookup": {"from": TIME_ENTRIES, "localField": "_id", "foreignField": "project_id", "as": ENTRY}},
        {"$unwind": {"path": f"${ENTRY}", "preserveNullAndEmptyArrays": True}},
        {
            "$group": {
                "_id": "$_id",
                "project": {"$first": "$$ROOT"},
                "tracked": {"$sum": {"$cond": [_STOPPED, f"${ENTRY}.duration_seconds", 0]}},
                "unbilled": {"$sum": {"$cond": [_UNBILLED, f"${ENTRY}.duration_seconds", 0]}},
            }
        },
    ]
    rows = await Project.get_motor_collection().aggregate(pipeline).to_list(length=1) if oid else []
    if not rows:
        raise NotFound(f"No project with id {project_id!r}" if oid else "No such resource")
    stored = {key: value for key, value in rows[0]["project"].items() if key != ENTRY}
    return Project.model_validate(stored), int(rows[0]["tracked"]), int(rows[0]["unbilled"])


TIME_ENTRIES = TimeEntry.Settings.name
ENTRY = "entry"  # one joined time entry, after $unwind
# A stopped entry of the project's owner, not being deleted (what the entries list shows); its billable part
# not yet on an invoice.
_STOPPED: dict[str, Any] = {
    "$and": [
        {"$ne": [{"$ifNull": [f"${ENTRY}.ended_at", None]}, None]},
        {"$eq": [f"${ENTRY}.owner_id", "$owner_id"]},
        {"$ne": [f"${ENTRY}.removed", True]},
    ]
}
_UNBILLED: dict[str, Any] = {
    "$and": [
        _STOPPED,
        {"$eq": [f"${ENTRY}.billable", True]},
        {"$eq": [{"$ifNull": [f"${ENTRY}.invoice_id", None]}, None]},
    ]
}


async def update_project(
    owner: Books, project_id: str, data: ProjectUpdate, expected: Expected = ANY
) -> Project:
    changes = provided_fields(data)
    if "hourly_rate" in changes:
        changes["hourly_rate_cents"] = to_cents(changes.pop("hourly_rate"))
    before = await _client_change(owner, project_id, changes, expected) if "client_id" in changes else None
    event = pending("project.updated")
    project = await update_owned(Project, project_id, owner.id, changes, event=event, expected=expected)
    if project is None:
        raise NotFound(f"No project with id {project_id!r}")
    if before is not None:
        await confirm_moved(before, changes, {"client_id": Client}, restore=("currency",), event=event)
    await publish(project)
    return project


async def _client_change(
    owner: Books, project_id: str, changes: dict[str, Any], expected: Expected
) -> Project:
    """Moving a project to another client is allowed only while nothing references it (its time entries
    and invoices carry the client too); the currency follows the new client. Returns the project as read."""
    project = await get_owned(Project, project_id, owner.id, expected)
    client = await get_referenced(Client, changes["client_id"], owner.id, "client_id")
    if client.id != project.client_id:
        await ensure_unreferenced("project", project.id, owner.id, project_references())
    changes.update(client_id=client.id, currency=client.currency)
    return project


async def delete_project(owner: Books, project_id: str, expected: Expected = ANY) -> None:
    await delete_unreferenced(Project, project_id, owner.id, project_references(), expected)


async def follow_client_currency(client: Client) -> None:
    """A project's currency is its client's: a new client currency moves its projects too, one
    conditional write each with its `project.updated` event (so running it again, after a crash, moves only
    the projects not moved yet). Invoices and contracts keep the currency they were made in.

    Two currency changes of one client may cascade at once, and the slower one could write its older
    currency over the newer; so each pass re-reads the client, and the cascade ends only when the client
    still has the currency its last pass wrote (the last cascade to end leaves its projects current)."""
    for _ in range(CASCADE_ROUNDS):
        current = await Client.find_one(owned_filter(client.owner_id, _id=client.id))
        if current is None:
            return
        currency = current.currency
        behind = owned_filter(client.owner_id, client_id=client.id, currency={"$ne": currency})
        for project in await Project.find(behind).to_list():
            moved = await update_owned(
                Project,
                project.id,
                client.owner_id,
                {"currency": currency},
                where={"client_id": client.id, "currency": {"$ne": currency}},
                event=pending("project.updated"),
            )
            if moved is not None:
                await publish(moved)
        still = await Client.find_one(owned_filter(client.owner_id, _id=client.id, currency=currency))
        if still is not None:
            return
    raise Conflict("The client's currency kept changing while its projects followed it; try again")


async def project_for_time(owner: Books, project_id: str) -> Project:
    """The caller's project named in a time-entry body (else 400 invalid_reference), open for new time."""
    project = await get_referenced(Project, project_id, owner.id, "project_id")
    if project.status not in ACCEPTS_TIME:
        raise InvalidState(f"Project {project.name!r} is {project.status}; it accepts no new time")
    return project


async def project_of_client(owner: Books, project_id: str, client_id: ObjectId | None) -> Project:
    """The caller's project named in a body (else 400 invalid_reference), which must be `client_id`'s."""
    project = await get_referenced(Project, project_id, owner.id, "project_id")
    if project.client_id != client_id:
        raise InvalidReference(f"project_id {project_id!r} belongs to another client")
    return project


def project_references() -> list[tuple[Any, str]]:
    """Every document type with a `project_id` (time entries, invoices, contracts)."""
    return referencing_models("project_id")
