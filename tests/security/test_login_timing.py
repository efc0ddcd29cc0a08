"""Login does not tell an unknown email from a wrong password: not by its answer, not by its time."""

from __future__ import annotations

import statistics
import time

from litestar.testing import AsyncTestClient

from tests.conftest import register

LOGIN = "/api/auth/login"
UNKNOWN = {"email": "nobody@example.com", "password": "not the password"}
WRONG = {"email": "ada@example.com", "password": "not the password"}
SAMPLES = 15
MAX_RATIO = 1.25  # the medians differ by less than 25 %


def _without_request_id(response):
    return {k: v for k, v in response.json().items() if k != "request_id"}


async def test_login_unknown_email_and_wrong_password_answer_alike(client, user):
    unknown = await client.post(LOGIN, json={**UNKNOWN})
    wrong = await client.post(LOGIN, json={**WRONG, "email": user.email})
    assert unknown.status_code == wrong.status_code == 401
    assert _without_request_id(unknown) == _without_request_id(wrong)
    assert unknown.headers["content-type"] == wrong.headers["content-type"]


async def _medians(http) -> tuple[float, float]:
    times: dict[str, list[float]] = {"unknown": [], "wrong": []}
    for round_ in range(SAMPLES):
        order = [("unknown", UNKNOWN), ("wrong", WRONG)]
        for name, body in order if round_ % 2 else reversed(order):  # alternate, so neither always goes first
            started = time.perf_counter()
            response = await http.post(LOGIN, json=body)
            times[name].append(time.perf_counter() - started)
            assert response.status_code == 401, response.text
    return statistics.median(times["unknown"]), statistics.median(times["wrong"])


async def test_login_unknown_email_takes_as_long_as_wrong_password(make_app):
    """The dummy-hash equaliser: without it an unknown email answers in ~1 ms and a wrong password in one
    bcrypt verify. With cost 8 a verify takes ~15-50 ms, far above the noise of the rest of the request."""
    async with AsyncTestClient(app=make_app(bcrypt_rounds=8)) as http:
        await register(http, WRONG["email"])
        for body in (UNKNOWN, WRONG):  # warm up: the dummy hash is made on the first unknown email
            await http.post(LOGIN, json=body)
        for _attempt in range(2):  # a busy machine may disturb one series; a missing equaliser fails both
            unknown, wrong = await _medians(http)
            ratio = max(unknown, wrong) / min(unknown, wrong)
            if ratio < MAX_RATIO:
                break
    assert min(unknown, wrong) > 0.003, "no bcrypt verify measured: the comparison says nothing"
    assert ratio < MAX_RATIO, (
        f"median unknown email {unknown * 1000:.1f} ms, wrong password {wrong * 1000:.1f} ms"
    )
