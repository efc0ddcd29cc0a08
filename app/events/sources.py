"""The document types that carry an outbox, with the event-type prefix and the API shape of each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
from beanie import Document


@dataclass(frozen=True)
class Source:
    model: type[Document]
    prefix: str  # "client" -> client.created, client.updated, ...
    to_api: Callable[[Any], msgspec.Struct]  # the resource as the API returns it
    # Whose event it is: the document's `owner_id`; an organisation's own events are its own.
    owner: Callable[[Any], Any] | None = None
    # The time zone of the owner's organisation, for an API shape that reads "today" (business_today).
    zone: Callable[[Any], Awaitable[str]] | None = None

    def owner_of(self, document: Document) -> Any:
        return self.owner(document) if self.owner is not None else getattr(document, "owner_id")  # noqa: B009

    def snapshot(self, document: Document) -> dict[str, Any]:
        plain: dict[str, Any] = msgspec.to_builtins(self.to_api(document))
        return plain


@cache
def sources() -> tuple[Source, ...]:
    from app.auth.models import User
    from app.clients.models import Client
    from app.clients.schemas import ClientOut
    from app.contracts.models import Contract
    from app.contracts.schemas import ContractOut
    from app.credit_notes.models import CreditNote
    from app.credit_notes.schemas import CreditNoteOut
    from app.invoices.models import Invoice
    from app.invoices.schemas import InvoiceOut
    from app.organizations.models import Invitation, Organization
    from app.organizations.schemas import InvitationOut, MemberOut, OrganizationOut
    from app.organizations.service import time_zone_of
    from app.projects.models import Project
    from app.projects.schemas import ProjectOut
    from app.recurring.models import RecurringInvoice
    from app.recurring.schemas import RecurringInvoiceOut
    from app.resumes.models import Resume
    from app.resumes.schemas import ResumeOut
    from app.time_entries.models import TimeEntry
    from app.time_entries.schemas import TimeEntryOut
    from app.webhooks.models import WebhookEndpoint
    from app.webhooks.schemas import WebhookEndpointOut

    return (
        Source(Client, "client", ClientOut.from_document),
        Source(Project, "project", ProjectOut.from_document),
        Source(TimeEntry, "time_entry", TimeEntryOut.from_document),
        Source(Invoice, "invoice", InvoiceOut.from_document, zone=time_zone_of),  # is_overdue
        Source(CreditNote, "credit_note", CreditNoteOut.from_document),
        Source(Contract, "contract", ContractOut.from_document),
        Source(RecurringInvoice, "recurring_invoice", RecurringInvoiceOut.from_document),
        Source(Resume, "resume", ResumeOut.from_document),
        Source(WebhookEndpoint, "webhook_endpoint", WebhookEndpointOut.from_document),  # only .disabled
        Source(Organization, "organization", OrganizationOut.of, owner=lambda org: org.id),  # only .updated
        Source(Invitation, "invitation", InvitationOut.from_document),
        # member.*: each event names its organisation and carries its object (the user's document has many)
        Source(User, "member", MemberOut.unknown),
    )


def source_of(model: type[Document]) -> Source:
    for source in sources():
        if issubclass(model, source.model):
            return source
    raise LookupError(f"{model.__name__} carries no outbox")
