"""Invoice lines from time entries (which time_entries.claims checks, claims and releases)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from bson import ObjectId

from app.core.errors import InvalidReference
from app.core.money import HOURS_PLACES
from app.db.repository import OwnerId, owned_filter
from app.invoices.models import StoredLine
from app.projects.models import Project
from app.time_entries.models import TimeEntry

MAX_DESCRIPTION = 500
SECONDS_PER_HOUR = Decimal(3600)


def hours(duration_seconds: int) -> Decimal:
    """round(duration_seconds / 3600, 2), half-up: 5400 s -> Decimal('1.50')."""
    return (Decimal(duration_seconds) / SECONDS_PER_HOUR).quantize(HOURS_PLACES, rounding=ROUND_HALF_UP)


def describe(project_name: str, entry: TimeEntry) -> str:
    """ "{project name}: {entry description} ({started_at date})", cut to the line limit."""
    day = entry.started_at.date().isoformat()
    text = f"{project_name}: {entry.description} ({day})" if entry.description else f"{project_name} ({day})"
    return text[:MAX_DESCRIPTION]


async def claimed_lines(owner_id: OwnerId, invoice_id: OwnerId, ids: list[ObjectId]) -> list[StoredLine]:
    """One line per claimed entry, in the order asked, read after the claim (entries are locked by then)."""
    claimed = await TimeEntry.find(owned_filter(owner_id, invoice_id=invoice_id)).to_list()
    entries: dict[OwnerId, TimeEntry] = {entry.id: entry for entry in claimed}
    project_ids = list({e.project_id for e in entries.values()})
    projects = {
        p.id: p for p in await Project.find(owned_filter(owner_id, _id={"$in": project_ids})).to_list()
    }
    lines = []
    for oid in ids:
        entry = entries[oid]
        project = projects.get(entry.project_id)
        if project is None:
            raise InvalidReference(f"Time entry {oid} names a project that no longer exists")
        rate_cents = (
            entry.hourly_rate_cents if entry.hourly_rate_cents is not None else project.hourly_rate_cents
        )
        lines.append(
            StoredLine(
                description=describe(project.name, entry),
                quantity=hours(entry.duration_seconds or 0),
                unit_price_cents=rate_cents,
                amount_cents=0,  # priced with the others by the service
                time_entry_id=entry.id,
            )
        )
    return lines
