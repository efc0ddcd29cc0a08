"""The app with a real SMTP server (tests/mail's aiosmtpd fixtures) and helpers to make organisations,
invite and accept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.config import Settings
from app.organizations.invitations import token_of
from app.organizations.models import Invitation
from tests.conftest import Account, register
from tests.mail.conftest import (  # noqa: F401
    clean_registry,
    mail_client,
    mailbox,
    no_verification_emails,
    smtp_server,
    worker,
)


@pytest.fixture
async def client(mail_client: httpx.AsyncClient) -> httpx.AsyncClient:  # noqa: F811
    return mail_client


async def new_organization(client: httpx.AsyncClient, account: Account, name: str = "Agency") -> str:
    response = await client.post("/api/organizations", json={"name": name}, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def acting(account: Account, organization_id: str) -> dict[str, str]:
    return {**account.headers, "Orbix-Organization": organization_id}


async def invite(
    client: httpx.AsyncClient, inviter: Account, organization_id: str, email: str, role: str
) -> Any:
    return await client.post(
        "/api/organization/invitations",
        json={"email": email, "role": role},
        headers=acting(inviter, organization_id),
    )


async def token_for(invitation_id: str) -> str:
    """The token the invitation's e-mail carries (derived as the worker derives it)."""
    invitation = await Invitation.get(invitation_id)
    assert invitation is not None
    return token_of(Settings.from_env().jwt_secret, invitation.salt)


async def join(
    client: httpx.AsyncClient, inviter: Account, organization_id: str, who: Account, role: str
) -> None:
    invited = await invite(client, inviter, organization_id, who.email, role)
    assert invited.status_code == 201, invited.text
    accepted = await client.post(
        "/api/invitations/accept", json={"token": await token_for(invited.json()["id"])}, headers=who.headers
    )
    assert accepted.status_code == 200, accepted.text


@pytest.fixture
async def ada(client: httpx.AsyncClient) -> Account:
    return await register(client, "ada@example.com", "Ada Lovelace")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Account:
    return await register(client, "bob@example.com", "Bob Babbage")
