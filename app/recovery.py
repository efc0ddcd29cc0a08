"""The worker's recovery (docs/operations.md): finish or undo every multi-step write a crash cut short, then
relay every event left behind. Each area exports the steps for its own collections; this composition root
runs them in order, all against one cutoff: work younger than RECOVERY_GRACE is left alone, because the
request that started it may still be running (and each step is idempotent, so overlapping one is harmless).

Order matters: inserts whose parent vanished are deleted first (their claims become orphans), then invoice
sends, claims and releases, then credit notes being issued, then client currency cascades, and last the
outboxes, so no event leaves for a change that the steps before undid.

Within each step every item runs on its own (db/recovery.py): one that raises is logged and skipped, the
others go on. The pass remembers it, so the later steps leave it, and whatever waits on it (the claims of
an invoice, the children of an insert not yet confirmed), alone until the next pass: the order above holds
item by item, and one organisation's bad item holds up no other's recovery.
"""

from __future__ import annotations

from datetime import datetime

from app.clients.models import Client
from app.clients.service import recover_updates
from app.contracts.models import Contract
from app.core.clock import utc_now
from app.credit_notes.recovery import recover_credit_notes
from app.db.actors import SYSTEM, acting_as
from app.db.recovery import RecoveryPass
from app.db.repository import clear_stale_marks, confirm_inserted
from app.events.relay import recover_outboxes
from app.invoices.models import Invoice
from app.invoices.recovery import recover_invoices
from app.organizations import invitations
from app.organizations.service import recover_organizations
from app.projects.models import Project
from app.recurring.models import RecurringInvoice
from app.time_entries import claims
from app.time_entries.models import TimeEntry

RECOVERY_GRACE = claims.RECOVERY_GRACE
EVERY_SECONDS = 60.0
PARENTS = {"client_id": Client, "project_id": Project}


async def recover(cutoff: datetime | None = None) -> None:
    """One pass over everything older than `cutoff` (default: RECOVERY_GRACE ago)."""
    cutoff = cutoff or utc_now() - RECOVERY_GRACE
    with acting_as(SYSTEM):  # what recovery finishes or undoes, Orbix does (db/actors.py)
        await _recover(cutoff)


async def _recover(cutoff: datetime) -> None:
    recovery = RecoveryPass()
    for model in (Project, TimeEntry, Invoice, Contract, RecurringInvoice):
        await confirm_inserted(model, PARENTS, cutoff, recovery)
    for referenced in (Client, Project):
        await clear_stale_marks(referenced, cutoff, recovery)
    await recover_invoices(cutoff, recovery)
    await recover_credit_notes(cutoff, recovery)
    await recover_updates(cutoff, recovery)
    await recover_organizations(cutoff)
    await invitations.requeue_unmailed(cutoff)
    await recover_outboxes(cutoff, recovery)
