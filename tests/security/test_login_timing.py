"""Login does not tell an unknown email from a wrong password: not by its answer, not by its work."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from app.auth import passwords
from tests.conftest import register

LOGIN = "/api/auth/login"
UNKNOWN = {"email": "nobody@example.com", "password": "not the password"}
WRONG = {"email": "ada@example.com", "password": "not the password"}


def _without_request_id(response):
    return {k: v for k, v in response.json().items() if k != "request_id"}


async def test_login_unknown_email_and_wrong_password_answer_alike(client, user):
    unknown = await client.post(LOGIN, json={**UNKNOWN})
    wrong = await client.post(LOGIN, json={**WRONG, "email": user.email})
    assert unknown.status_code == wrong.status_code == 401
    assert _without_request_id(unknown) == _without_request_id(wrong)
    assert unknown.headers["content-type"] == wrong.headers["content-type"]


async def test_login_unknown_email_costs_one_bcrypt_verify_like_a_wrong_password(make_app, monkeypatch):
    """The dummy-hash equaliser, proven by what runs rather than by a clock: an unknown email and a wrong
    password each cost exactly one bcrypt verify against a hash of the configured cost (without the equaliser
    an unknown email would answer after a lookup alone, in ~1 ms against a verify's tens)."""
    verified: list[bytes] = []
    real_checkpw = passwords.bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        verified.append(hashed[:7])  # "$2b$08$": the algorithm and the cost
        return real_checkpw(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting_checkpw)
    async with AsyncTestClient(app=make_app(bcrypt_rounds=8)) as http:
        await register(http, WRONG["email"])
        for body in (UNKNOWN, WRONG, UNKNOWN):  # the first unknown email also makes the dummy hash
            verified.clear()
            response = await http.post(LOGIN, json=body)
            assert response.status_code == 401, response.text
            assert verified == [b"$2b$08$"], body
