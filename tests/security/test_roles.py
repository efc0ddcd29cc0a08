"""Roles, generated from the route table (API.md section 19): every operation × every role is allowed or 403.

The least role of each operation is written here, transcribed from the contract's roles table, independently
of what the routes declare: a route declaring the wrong role, or none, fails; so does a route this table does
not know. The requests carry fake ids and sample bodies: the guard answers before the body or any resource is
read, so a role too low is a 403 `forbidden` whatever follows, and an allowed one is anything else (a 404 for
the fake id, a 400, ...) with the answer naming the organisation it acted in.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.core.roles import Role
from app.http.tenancy import ORGANIZATION_HEADER, ORGANIZATION_QUERY, acts_in_organization, declared_role
from tests.conftest import assert_problem
from tests.security.agency import Agency, agency
from tests.security.route_table import OPERATIONS, WITH_ID, Operation, ids, new_id, reached, sample_body
from tests.security.world import World

PUBLIC = "public"  # no authentication at all
OUTSIDE = "outside"  # the user alone, in no organisation: the organisation header is not read
V, M, B, A = Role.VIEWER, Role.MEMBER, Role.BILLING, Role.ADMIN

LEAST_ROLE: dict[str, Role | str] = {
    # auth: the profile is read by anyone; writing `business` is a rule inside (admin+)
    "register": PUBLIC,
    "login": PUBLIC,
    "logout": OUTSIDE,
    "changePassword": OUTSIDE,
    "listSessions": OUTSIDE,
    "endSession": OUTSIDE,
    "requestPasswordReset": PUBLIC,
    "confirmPasswordReset": PUBLIC,
    "verifyEmail": PUBLIC,
    "resendVerificationEmail": OUTSIDE,
    "getMe": V,
    "updateMe": V,
    # clients, projects, contracts, resumes: read by anyone, written by billing
    **dict.fromkeys(["listClients", "getClient"], V),
    **dict.fromkeys(["createClient", "updateClient", "deleteClient"], B),
    **dict.fromkeys(["listProjects", "getProject"], V),
    **dict.fromkeys(["createProject", "updateProject", "deleteProject"], B),
    **dict.fromkeys(["listContracts", "getContract"], V),
    **dict.fromkeys(
        [
            "createContract",
            "updateContract",
            "deleteContract",
            "sendContract",
            "signContract",
            "cancelContract",
        ],
        B,
    ),
    **dict.fromkeys(["listResumes", "getResume"], V),
    **dict.fromkeys(["createResume", "generateResume", "updateResume", "deleteResume"], B),
    # time entries and timers: a member's own
    **dict.fromkeys(["listTimeEntries", "getTimeEntry"], V),
    **dict.fromkeys(["createTimeEntry", "updateTimeEntry", "deleteTimeEntry", "startTimer", "stopTimer"], M),
    # invoices: read (PDF, e-invoice, e-mails) by anyone; drafts, sending, payments by billing
    **dict.fromkeys(
        ["listInvoices", "getInvoice", "getInvoicePdf", "getInvoiceEInvoice", "listInvoiceEmails"], V
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
        B,
    ),
    # credit notes (section 22): read by anyone; issuing and e-mailing them by billing, as invoices
    **dict.fromkeys(
        [
            "listCreditNotes",
            "getCreditNote",
            "getCreditNotePdf",
            "listInvoiceCreditNotes",
            "listCreditNoteEmails",
        ],
        V,
    ),
    **dict.fromkeys(["createCreditNote", "emailCreditNote"], B),
    # recurring invoice schedules (section 23): read by anyone, written by billing
    **dict.fromkeys(["listRecurringInvoices", "getRecurringInvoice"], V),
    **dict.fromkeys(
        [
            "createRecurringInvoice",
            "updateRecurringInvoice",
            "deleteRecurringInvoice",
            "pauseRecurringInvoice",
            "resumeRecurringInvoice",
        ],
        B,
    ),
    # events and reports: read by anyone
    **dict.fromkeys(["listEvents", "getEvent", "streamEvents", "getSummaryReport", "getAgingReport"], V),
    # webhooks, read and write: admin
    **dict.fromkeys(
        [
            "listWebhookEndpoints",
            "getWebhookEndpoint",
            "createWebhookEndpoint",
            "updateWebhookEndpoint",
            "deleteWebhookEndpoint",
            "rotateWebhookSecret",
            "listWebhookDeliveries",
            "retryWebhookDelivery",
        ],
        A,
    ),
    # API keys (section 20): admin, read and write
    **dict.fromkeys(["createApiKey", "listApiKeys", "getApiKey", "revokeApiKey"], A),
}
# Expected when present: the organisation routes, built elsewhere. Removing oneself is open to every role
# (the rules about whom else one may remove are the resource's, checked after it is found).
LEAST_ROLE_WHEN_PRESENT: dict[str, Role | str] = {
    **dict.fromkeys(["listOrganizations", "createOrganization", "acceptInvitation"], OUTSIDE),
    "getOrganization": V,
    "updateOrganization": A,
    "deleteOrganization": Role.OWNER,
    "listMembers": V,
    "updateMember": A,
    "removeMember": V,
    **dict.fromkeys(["createInvitation", "listInvitations", "revokeInvitation"], A),
}
EXPECTED = {**LEAST_ROLE, **LEAST_ROLE_WHEN_PRESENT}

IN_ORGANIZATION = [op for op in OPERATIONS if acts_in_organization(dict(op.opt))]
ABOVE_VIEWER = [op for op in IN_ORGANIZATION if declared_role(dict(op.opt)) not in (None, Role.VIEWER)]


def operation_id(op: Operation) -> str:
    return str(op.spec.get("operationId", op))


def expected(op: Operation) -> Role | str:
    return EXPECTED[operation_id(op)]


async def send(http: Any, op: Operation, headers: dict[str, str], body: Any = None, **options: Any) -> Any:
    """The operation with a fake id for each path parameter and, by default, its sample body. An event stream
    gets a cursor naming no event: its answer is then the 400 that comes after authentication, role and scope
    (an in-process client would wait for ever on an open stream; see route_table.Operation.streams)."""
    url = op.url({param: new_id() for param in op.path_params})
    if op.streams:
        headers = {**headers, "Last-Event-ID": new_id()}
    return await http.request(
        op.method, url, json=sample_body(op) if body is None else body, headers=headers, **options
    )


# ---------------------------------------------------------------- the table against the app


def test_every_route_has_an_expected_least_role():
    unknown = [f"{operation_id(op)} ({op})" for op in OPERATIONS if operation_id(op) not in EXPECTED]
    assert not unknown, (
        f"add these to LEAST_ROLE in tests/security/test_roles.py (API.md section 19): {unknown}"
    )
    missing = sorted(set(LEAST_ROLE) - {operation_id(op) for op in OPERATIONS})
    assert not missing, f"in the table but not in the app: {missing}"


@pytest.mark.parametrize("op", OPERATIONS, ids=ids(OPERATIONS))
def test_route_declares_its_expected_place(op):
    want = expected(op)
    if want == PUBLIC:
        assert op.is_public, op
    elif want == OUTSIDE:
        assert not acts_in_organization(dict(op.opt)) and not op.is_public, (
            f"{op} should be outside_organization()"
        )
    else:
        assert declared_role(dict(op.opt)) == want, (
            f"{op} declares {declared_role(dict(op.opt))}, expected {want}"
        )


# ---------------------------------------------------------------- every operation × every role, over HTTP


@pytest.fixture
async def shared(client) -> Agency:
    return await agency(client)


@pytest.mark.parametrize("op", IN_ORGANIZATION, ids=ids(IN_ORGANIZATION))
async def test_each_role_is_allowed_or_forbidden_as_the_contract_says(client, shared, op):
    least = expected(op)
    assert isinstance(least, Role), f"{op} acts in an organisation; the table says {least}"
    offenders = []
    for role in Role:  # lowest first: an owner's delete of the organisation comes last
        response = await send(client, op, shared.headers(role))
        forbidden = response.status_code == 403 and response.json().get("code") == "forbidden"
        if role.allows(least) == forbidden:
            offenders.append(f"{role.value}: {response.status_code} {response.text[:200]}")
        elif response.headers.get(ORGANIZATION_HEADER) != shared.id:
            offenders.append(
                f"{role.value}: not acted in the agency ({response.status_code} {response.text[:200]})"
            )
    assert not offenders, f"{op} (least role {least.value}): {offenders}"


# ---------------------------------------------------------------- the order of the checks


async def test_no_authentication_is_401_before_the_organisation_the_role_or_the_body(client, other_user):
    for op in [op for op in OPERATIONS if not op.is_public]:
        headers = {ORGANIZATION_HEADER: other_user.id}
        response = await send(client, op, headers, body={"not": "a valid body"})
        assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize("op", ABOVE_VIEWER, ids=ids(ABOVE_VIEWER))
async def test_a_role_too_low_is_403_before_the_body_is_read(client, shared, op):
    for body in ({"not": "a valid body"}, []):
        response = await send(client, op, shared.headers(Role.VIEWER), body=body)
        assert_problem(response, 403, "forbidden")
    invalid_json = await send(
        client,
        op,
        {**shared.headers(Role.VIEWER), "Content-Type": "application/json"},
        body=None,
        content=b"{",
    )
    assert_problem(invalid_json, 403, "forbidden")


async def test_an_organisation_the_caller_is_not_in_is_404_before_the_role(client, shared, other_user):
    """Another organisation (someone's personal one), one that does not exist, and an invalid id: all 404."""
    viewer = shared.members[Role.VIEWER].headers
    for op in IN_ORGANIZATION:
        for named in (other_user.id, new_id(), "not-an-id", shared.id.upper()):
            response = await send(client, op, {**viewer, ORGANIZATION_HEADER: named})
            assert_problem(response, 404, "not_found")
            assert ORGANIZATION_HEADER not in response.headers


# ---------------------------------------------------------------- which organisation a request acts in


async def test_header_query_and_default_choose_the_organisation(client, shared):
    billing = shared.members[Role.BILLING]
    made = await client.post(
        "/api/clients", json={"name": "Agency client"}, headers=shared.headers(Role.BILLING)
    )
    assert made.status_code == 201, made.text
    assert made.headers[ORGANIZATION_HEADER] == shared.id

    def names(response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    by_header = await client.get("/api/clients", headers=shared.headers(Role.BILLING))
    assert names(by_header) == ["Agency client"]
    by_query = await client.get(
        "/api/clients", params={ORGANIZATION_QUERY: shared.id}, headers=billing.headers
    )
    assert names(by_query) == ["Agency client"] and by_query.headers[ORGANIZATION_HEADER] == shared.id
    # The default is the personal organisation (its id is the user's), and the header wins over the query.
    by_default = await client.get("/api/clients", headers=billing.headers)
    assert names(by_default) == [] and by_default.headers[ORGANIZATION_HEADER] == billing.id
    header_wins = await client.get(
        "/api/clients",
        params={ORGANIZATION_QUERY: shared.id},
        headers={**billing.headers, ORGANIZATION_HEADER: billing.id},
    )
    assert names(header_wins) == [] and header_wins.headers[ORGANIZATION_HEADER] == billing.id
    foreign_query = await client.get(
        "/api/clients", params={ORGANIZATION_QUERY: new_id()}, headers=billing.headers
    )
    assert_problem(foreign_query, 404, "not_found")


async def test_routes_outside_an_organisation_ignore_it(client, shared):
    outside = [op for op in OPERATIONS if expected(op) == OUTSIDE and op.method == "GET"]
    for op in outside:
        response = await send(
            client, op, {**shared.members[Role.VIEWER].headers, ORGANIZATION_HEADER: new_id()}
        )
        assert response.status_code < 400 and ORGANIZATION_HEADER not in response.headers, (op, response.text)


@pytest.mark.parametrize("op", WITH_ID, ids=ids(WITH_ID))
async def test_another_organisations_id_is_not_found_for_the_same_user(client, shared, op):
    """The owner of the agency, acting in their personal organisation, does not reach the agency's resources."""
    in_agency = World(client, shared.headers(Role.OWNER))
    values, all_real = await in_agency.path_values(op)
    personal = shared.members[Role.OWNER].headers
    response = await client.request(op.method, op.url(values), json=sample_body(op), headers=personal)
    assert_problem(response, 404, "not_found")
    if all_real:  # the control: in the agency the same request finds it
        control = await client.request(
            op.method, op.url(values), json=sample_body(op), headers=shared.headers(Role.OWNER)
        )
        assert reached(control), control.text
