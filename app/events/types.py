"""Every event type Orbix emits (docs/webhooks-and-events.md), in one list; webhook subscriptions are
checked on it."""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "client.created",
    "client.updated",
    "client.deleted",
    "project.created",
    "project.updated",
    "project.deleted",
    "time_entry.created",
    "time_entry.updated",
    "time_entry.deleted",
    "time_entry.started",
    "time_entry.stopped",
    "invoice.created",
    "invoice.updated",
    "invoice.deleted",
    "invoice.sent",
    "invoice.payment_recorded",
    "invoice.paid",
    "invoice.voided",
    "contract.created",
    "contract.updated",
    "contract.deleted",
    "contract.sent",
    "contract.signed",
    "contract.cancelled",
    "resume.created",
    "resume.updated",
    "resume.deleted",
    "resume.generated",
    "webhook_endpoint.disabled",
)
