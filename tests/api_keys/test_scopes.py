"""Scopes, generated from the route table (API.md section 20): every operation × an API key without the
scope it needs is 403 `insufficient_scope`, and with it anything but a 403.

The scope of each operation is written here, transcribed from the contract, independently of what the routes
declare: a route declaring the wrong scope, or a route this table does not know, fails. The requests carry
fake ids and sample bodies: the guard answers before the body or any resource is read.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.core.scopes import RESOURCES
from app.http.tenancy import ORGANIZATION_HEADER
from tests.api_keys.keys import bearer, make_key
from tests.conftest import Account
from tests.security.route_table import OPERATIONS, Operation, ids
from tests.security.test_roles import operation_id, send

ANY_KEY = "any key"  # no scope: reading the organisation
EVERYTHING = "*"  # only `*`
NO_KEY = "no key"  # never a key, whatever its scopes

SCOPE: dict[str, str] = {
    **dict.fromkeys(
        ["register", "login", "requestPasswordReset", "confirmPasswordReset", "verifyEmail"], "public"
    ),
    # the user's own routes, members, invitations, keys, deleting the organisation and timers: never a key
    **dict.fromkeys(
        [
            "logout",
            "changePassword",
            "listSessions",
            "endSession",
            "resendVerificationEmail",
            "getMe",
            "updateMe",
            "listOrganizations",
            "createOrganization",
            "acceptInvitation",
            "deleteOrganization",
            "listMembers",
            "updateMember",
            "removeMember",
            "createInvitation",
            "listInvitations",
            "revokeInvitation",
            "createApiKey",
            "listApiKeys",
            "getApiKey",
            "revokeApiKey",
            "startTimer",
        ],
        NO_KEY,
    ),
    "getOrganization": ANY_KEY,
    "updateOrganization": EVERYTHING,
    **dict.fromkeys(["listClients", "getClient"], "clients:read"),
    **dict.fromkeys(["createClient", "updateClient", "deleteClient"], "clients:write"),
    **dict.fromkeys(["listProjects", "getProject"], "projects:read"),
    **dict.fromkeys(["createProject", "updateProject", "deleteProject"], "projects:write"),
    **dict.fromkeys(["listTimeEntries", "getTimeEntry"], "time_entries:read"),
    **dict.fromkeys(
        ["createTimeEntry", "updateTimeEntry", "deleteTimeEntry", "stopTimer"], "time_entries:write"
    ),
    # invoices; their documents and e-mails under invoices too
    **dict.fromkeys(
        ["listInvoices", "getInvoice", "getInvoicePdf", "getInvoiceEInvoice", "listInvoiceEmails"],
        "invoices:read",
    ),
    **dict.fromkeys(
        [
            "createInvoice",
            "updateInvoice",
            "deleteInvoice",
            "sendInvoice",
            "voidInvoice",
            "addInvoicePayment",
            "validateInvoice",
            "emailInvoice",
        ],
        "invoices:write",
    ),
    # credit notes correct invoices: under the invoices scopes (section 20 names no scope of their own)
    **dict.fromkeys(
        [
            "listCreditNotes",
            "getCreditNote",
            "getCreditNotePdf",
            "listInvoiceCreditNotes",
            "listCreditNoteEmails",
        ],
        "invoices:read",
    ),
    **dict.fromkeys(["createCreditNote", "emailCreditNote"], "invoices:write"),
    # recurring schedules fall under invoices (section 20)
    **dict.fromkeys(["listRecurringInvoices", "getRecurringInvoice"], "invoices:read"),
    **dict.fromkeys(
        [
            "createRecurringInvoice",
            "updateRecurringInvoice",
            "deleteRecurringInvoice",
            "pauseRecurringInvoice",
            "resumeRecurringInvoice",
        ],
        "invoices:write",
    ),
    **dict.fromkeys(["listContracts", "getContract"], "contracts:read"),
    **dict.fromkeys(
        [
            "createContract",
            "updateContract",
            "deleteContract",
            "sendContract",
            "signContract",
            "cancelContract",
        ],
        "contracts:write",
    ),
    **dict.fromkeys(["listResumes", "getResume"], "resumes:read"),
    **dict.fromkeys(["createResume", "generateResume", "updateResume", "deleteResume"], "resumes:write"),
    **dict.fromkeys(["getSummaryReport", "getAgingReport"], "reports:read"),
    **dict.fromkeys(["listEvents", "getEvent", "streamEvents"], "events:read"),
    **dict.fromkeys(["listWebhookEndpoints", "getWebhookEndpoint", "listWebhookDeliveries"], "webhooks:read"),
    **dict.fromkeys(
        [
            "createWebhookEndpoint",
            "updateWebhookEndpoint",
            "deleteWebhookEndpoint",
            "rotateWebhookSecret",
            "retryWebhookDelivery",
        ],
        "webhooks:write",
    ),
}
AUTHENTICATED = [op for op in OPERATIONS if not op.is_public]
EVERY_RESOURCE = [f"{resource}:write" for resource in RESOURCES]


def test_every_route_has_an_expected_scope():
    unknown = [str(op) for op in OPERATIONS if operation_id(op) not in SCOPE]
    assert not unknown, f"add these to SCOPE in tests/api_keys/test_scopes.py (API.md section 20): {unknown}"


def _without(need: str) -> list[list[str]]:
    """Keys that lack `need` and hold as much else as they can."""
    if need == NO_KEY:
        return [["*"]]
    if need == EVERYTHING:
        return [EVERY_RESOURCE]
    resource, _, access = need.partition(":")
    others = [scope for scope in EVERY_RESOURCE if not scope.startswith(resource + ":")]
    return [others] if access == "read" else [others, [*others, f"{resource}:read"]]


def _with(need: str) -> list[list[str]]:
    """Keys that hold `need` (a write covers a read; `*` covers all)."""
    if need == ANY_KEY:
        return [["reports:read"]]
    if need == EVERYTHING:
        return [["*"]]
    resource, _, access = need.partition(":")
    return [[need], ["*"]] if access == "write" else [[need], [f"{resource}:write"]]


def _refused(response: Any) -> bool:
    return response.status_code == 403 and response.json().get("code") == "insufficient_scope"


@pytest.mark.parametrize("op", AUTHENTICATED, ids=ids(AUTHENTICATED))
async def test_a_key_without_the_scope_is_refused_and_with_it_is_not(client, user: Account, op: Operation):
    need = SCOPE[operation_id(op)]
    offenders = []
    for scopes in [] if need == ANY_KEY else _without(need):
        key = (await make_key(client, user.headers, scopes))["key"]
        for body in (None, {"not": "a valid body"}):  # refused before the body is read
            response = await send(client, op, bearer(key), body=body)
            if not _refused(response):
                offenders.append(f"without ({scopes}): {response.status_code} {response.text[:200]}")
    for scopes in [] if need == NO_KEY else _with(need):
        key = (await make_key(client, user.headers, scopes))["key"]
        response = await send(client, op, bearer(key))
        if response.status_code in (401, 403):
            offenders.append(f"with {scopes}: {response.status_code} {response.text[:200]}")
        elif response.headers.get(ORGANIZATION_HEADER) != user.id:
            offenders.append(f"with {scopes}: not acted in the key's organisation ({response.status_code})")
    assert not offenders, f"{op} (needs {need}): {offenders}"
