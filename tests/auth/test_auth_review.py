"""Findings of a review of section 20 (sessions, cookies, keys, reset), each a rule that now holds."""

from __future__ import annotations

import json

from tests.api_keys.keys import bearer
from tests.auth.conftest import links
from tests.conftest import PASSWORD, Account, register

# ------------------------------------------------------------------ 1. login / register CSRF (cookie sessions)


ATTACKER_PASSWORD = "attacker=chosen passphrase"


def _form_text_plain(fields: dict[str, str], split_in: str) -> str:
    """What a cross-site <form method=post enctype=text/plain> with one input sends: `name=value\r\n`, the
    attacker splitting a JSON body at the `=` of a string they choose (here their own password)."""
    body = json.dumps(fields)
    return body + "\r\n"  # contains exactly one `=`, inside `split_in`'s value


async def test_cookie_login_refuses_a_text_plain_body_a_cross_site_form_can_send(client):
    """A cross-site <form enctype="text/plain" method="post"> sends this body without a CORS preflight; the
    answer's Set-Cookie (SameSite=Lax, top-level navigation) then signs the victim's browser into the
    attacker's account (login CSRF / session fixation: the victim's later work lands in it)."""
    made = await client.post(
        "/api/auth/register", json={"email": "eve@example.com", "password": ATTACKER_PASSWORD, "name": "Eve"}
    )
    assert made.status_code == 201, made.text
    body = _form_text_plain(
        {"email": "eve@example.com", "session": "cookie", "password": ATTACKER_PASSWORD}, "password"
    )
    assert body.count("=") == 1
    response = await client.post("/api/auth/login", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code in (400, 415), response.status_code
    assert "orbix_session" not in response.headers.get("set-cookie", "")


async def test_cookie_register_refuses_a_text_plain_body(client):
    body = _form_text_plain(
        {"email": "eve@example.com", "name": "Eve", "session": "cookie", "password": ATTACKER_PASSWORD},
        "password",
    )
    response = await client.post("/api/auth/register", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code in (400, 415), response.status_code
    assert "orbix_session" not in response.headers.get("set-cookie", "")


# ------------------------------------------------------------------ 4. a pending reset link outlives a password change


async def test_a_pending_reset_link_stops_working_when_the_password_is_changed(mail_client, mailbox, worker):
    """Hardening (the contract is silent): a reset link mailed before change-password (or logout, which a
    user uses after noticing a compromise) still sets the password for 30 minutes."""
    ada = await register(mail_client, "ada@example.com")
    assert (await mail_client.post("/api/auth/password-reset", json={"email": ada.email})).status_code == 202
    await worker.run_until_idle()
    [token] = links(mailbox, "reset-password", ada.email)
    changed = await mail_client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "a fresh passphrase 1"},
        headers=ada.headers,
    )
    assert changed.status_code == 204, changed.text
    used = await mail_client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": "the attacker's one"}
    )
    assert used.status_code == 410, used.status_code


# ------------------------------------------------------------------ 5. a key created while its organisation is deleted


async def test_a_key_created_while_its_organisation_is_deleted_does_not_outlive_it(
    client, user: Account, monkeypatch
):
    """organizations.delete marks the organisation, removes the members, revokes every key, deletes it; a key
    create already past the guard inserts after revoke_all and is never revoked. Routes that do not join the
    organisation's profile (GET /api/clients: `owner`) never notice it is gone: the key keeps reading the
    deleted organisation's books, which API.md says are unreachable to everyone."""
    import asyncio

    from app.api_keys.models import ApiKey

    made = await client.post("/api/organizations", json={"name": "Studio"}, headers=user.headers)
    assert made.status_code == 201, made.text
    org = made.json()["id"]
    acting = {**user.headers, "Orbix-Organization": org}
    await client.post("/api/clients", json={"name": "Secret client"}, headers=acting)

    deleted = asyncio.Event()
    original = ApiKey.insert

    async def late_insert(self, *args, **kwargs):
        await deleted.wait()  # the create's request is slower than the delete
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(ApiKey, "insert", late_insert)

    async def delete_then_release():
        await asyncio.sleep(0.05)
        response = await client.delete("/api/organization", headers=acting)
        deleted.set()
        return response

    created, removed = await asyncio.gather(
        client.post("/api/organization/api-keys", json={"name": "CI", "scopes": ["*"]}, headers=acting),
        delete_then_release(),
    )
    assert removed.status_code == 204, removed.text
    monkeypatch.setattr(ApiKey, "insert", original)
    if created.status_code != 201:
        return  # refused: fine
    listed = await client.get("/api/clients", headers=bearer(created.json()["key"]))
    assert listed.status_code == 401, (listed.status_code, listed.text)


# ------------------------------------------------------------------ 6. a non-ASCII X-CSRF-Token is a 500


async def test_a_non_ascii_csrf_header_is_403_not_500(client, user: Account):
    """hmac.compare_digest raises TypeError on a str with non-ASCII characters; a header byte above 0x7F
    (decoded latin-1) turns the CSRF refusal into an unhandled 500."""
    login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": PASSWORD, "session": "cookie"}
    )
    session = login.cookies["orbix_session"]
    client.cookies.clear()
    response = await client.post(
        "/api/clients",
        json={"name": "x"},
        headers=[
            (b"Cookie", f"orbix_session={session}".encode()),
            (b"X-CSRF-Token", "caf\xe9".encode("latin-1")),
        ],
    )
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.json()["code"] == "csrf_failed"
