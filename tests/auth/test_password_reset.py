"""Password reset by e-mail (API.md section 20): a one-time link through the worker and a real SMTP server."""

from __future__ import annotations

import asyncio

import httpx

from app.auth.models import User
from app.core.clock import utc_now
from app.core.one_time_tokens import token_hash
from app.worker.models import Job
from tests.auth.conftest import links
from tests.conftest import PASSWORD, assert_problem, register, serve
from tests.mail.conftest import SMTP_FROM

RESET = "/api/auth/password-reset"
CONFIRM = "/api/auth/password-reset/confirm"
NEW_PASSWORD = "a brand new passphrase"


async def ask(client, email):
    response = await client.post(RESET, json={"email": email})
    assert response.status_code == 202, response.text
    return response


async def reset_links(client, worker, mailbox, email, times=1):
    """Each request's e-mail goes out before the next request: the links come in the order they were issued
    (two jobs run at once may deliver in either order)."""
    for _ in range(times):
        await ask(client, email)
        await worker.run_until_idle()
    return links(mailbox, "reset-password", email)


async def login(client, email, password):
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_reset_emails_a_one_time_link_that_sets_the_password_and_ends_every_session(
    mail_client, mailbox, worker
):
    ada = await register(mail_client, "ada@example.com")
    await User.get_motor_collection().update_one(
        {"email": ada.email}, {"$set": {"password_failures": [utc_now()]}}
    )
    [token] = await reset_links(mail_client, worker, mailbox, ada.email)
    stored = await User.find_one({"email": ada.email})
    assert stored.password_reset.token_hash == token_hash(token)
    assert token not in str(stored.model_dump()) and token not in str(await Job.find_all().to_list())
    message = next(m.message for m in mailbox.delivered if "password" in m.message["Subject"])
    assert message["To"] == ada.email and SMTP_FROM in message["From"]

    confirmed = await mail_client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    assert confirmed.status_code == 204, confirmed.text
    assert_problem(await mail_client.get("/api/auth/me", headers=ada.headers), 401, "unauthorized")
    assert (await login(mail_client, ada.email, NEW_PASSWORD)).status_code == 200
    assert_problem(await login(mail_client, ada.email, PASSWORD), 401, "unauthorized")
    stored = await User.find_one({"email": ada.email})
    assert stored.password_failures == [] and stored.password_reset is None and stored.email_verified

    again = await mail_client.post(CONFIRM, json={"token": token, "new_password": "yet another one!"})
    assert_problem(again, 410, "token_invalid")


async def test_an_unknown_address_gets_the_same_answer_and_the_same_work_and_no_email(
    mail_client, mailbox, worker
):
    ada = await register(mail_client, "ada@example.com")
    await worker.run_until_idle()
    before = len(mailbox.delivered)
    known = await ask(mail_client, ada.email)
    unknown = await ask(mail_client, "nobody@example.com")
    assert known.json() == unknown.json() == {"status": "accepted"}
    assert {k for k in known.headers if k != "x-request-id"} == {
        k for k in unknown.headers if k != "x-request-id"
    }
    # The request's whole work, for either address: one job of the same shape (the worker looks the address up).
    jobs = await Job.find({"kind": "password_reset_email"}).sort("created_at").to_list()
    assert [sorted(job.payload) for job in jobs] == [["email", "salt"], ["email", "salt"]]
    assert [job.payload["email"] for job in jobs] == [ada.email, "nobody@example.com"]
    await worker.run_until_idle()
    assert [m.rcpt_tos for m in mailbox.delivered[before:]] == [[ada.email]]


async def test_a_newer_reset_voids_the_older_link(mail_client, mailbox, worker):
    ada = await register(mail_client, "ada@example.com")
    older, newer = await reset_links(mail_client, worker, mailbox, ada.email, times=2)
    assert_problem(
        await mail_client.post(CONFIRM, json={"token": older, "new_password": NEW_PASSWORD}),
        410,
        "token_invalid",
    )
    assert (
        await mail_client.post(CONFIRM, json={"token": newer, "new_password": NEW_PASSWORD})
    ).status_code == 204


async def test_at_most_three_emails_per_address_per_hour_then_still_202(mail_client, mailbox, worker, clock):
    ada = await register(mail_client, "ada@example.com")
    assert len(await reset_links(mail_client, worker, mailbox, ada.email, times=4)) == 3
    clock.move(minutes=59)
    assert len(await reset_links(mail_client, worker, mailbox, ada.email)) == 3
    clock.move(minutes=2)
    sent = await reset_links(mail_client, worker, mailbox, ada.email)
    assert len(sent) == 4
    assert (
        await mail_client.post(CONFIRM, json={"token": sent[-1], "new_password": NEW_PASSWORD})
    ).status_code == 204


async def test_a_link_expires_after_30_minutes(mail_client, mailbox, worker, clock):
    ada = await register(mail_client, "ada@example.com")
    [token] = await reset_links(mail_client, worker, mailbox, ada.email)
    clock.move(minutes=30, seconds=1)
    assert_problem(
        await mail_client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD}),
        410,
        "token_invalid",
    )
    assert (await login(mail_client, ada.email, PASSWORD)).status_code == 200


async def test_two_confirms_at_once_one_wins(mail_client, mailbox, worker):
    ada = await register(mail_client, "ada@example.com")
    [token] = await reset_links(mail_client, worker, mailbox, ada.email)
    answers = await asyncio.gather(
        *(
            mail_client.post(CONFIRM, json={"token": token, "new_password": f"{NEW_PASSWORD} {n}"})
            for n in range(2)
        )
    )
    assert sorted(a.status_code for a in answers) == [204, 410]
    logins = [await login(mail_client, ada.email, f"{NEW_PASSWORD} {n}") for n in range(2)]
    assert sorted(r.status_code for r in logins) == [200, 401]


async def test_confirm_refuses_a_bad_token_and_a_password_register_would_refuse(mail_client, mailbox, worker):
    ada = await register(mail_client, "ada@example.com")
    [token] = await reset_links(mail_client, worker, mailbox, ada.email)
    assert_problem(
        await mail_client.post(CONFIRM, json={"token": "orbix_rst_nonsense", "new_password": NEW_PASSWORD}),
        410,
        "token_invalid",
    )
    for weak in ("short", "x" * 73):
        answer = await mail_client.post(CONFIRM, json={"token": token, "new_password": weak})
        assert_problem(answer, 400, "validation_error")
    assert (
        await mail_client.post(CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
    ).status_code == 204


async def test_without_smtp_reset_answers_503_for_every_address(client, user):
    for email in (user.email, "nobody@example.com"):
        assert_problem(await client.post(RESET, json={"email": email}), 503, "email_unavailable")
    assert await Job.find({"kind": "password_reset_email"}).count() == 0


async def test_reset_is_rate_limited_per_client_ip_like_login(make_app, smtp_server):
    app = make_app(
        auth_rate_limit_per_minute=2,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.mailbox.port,
        smtp_starttls=False,
        smtp_from=SMTP_FROM,
    )
    async with serve(app, client_ip="10.0.0.1") as first:
        for _ in range(2):
            assert (await first.post(RESET, json={"email": "ada@example.com"})).status_code == 202
        limited = await first.post(RESET, json={"email": "ada@example.com"})
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        other = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("10.0.0.2", 50000)),
            base_url="http://testserver.local",
        )
        async with other:
            assert (await other.post(RESET, json={"email": "ada@example.com"})).status_code == 202
