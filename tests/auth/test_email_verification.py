"""E-mail verification (API.md section 20): registration's link through the worker and a real SMTP server,
resending at most once a minute, nothing without SMTP."""

from __future__ import annotations

from dataclasses import replace

from app.auth import verification
from app.auth.models import User
from app.config import Settings
from app.core.one_time_tokens import token_hash
from app.worker import enqueue
from app.worker.models import Job
from tests.auth.conftest import links
from tests.conftest import assert_problem, register
from tests.mail.conftest import SMTP_FROM

VERIFY = "/api/auth/verify-email"
RESEND = "/api/auth/verify-email/resend"


async def verified(client, account) -> bool:
    me = await client.get("/api/auth/me", headers=account.headers)
    assert me.status_code == 200, me.text
    return bool(me.json()["email_verified"])


async def test_registration_emails_a_one_time_link_that_verifies_the_address(mail_client, mailbox, worker):
    ada = await register(mail_client, "ada@example.com")
    assert not await verified(mail_client, ada)
    await worker.run_until_idle()
    [token] = links(mailbox, "verify-email", ada.email)
    stored = await User.find_one({"email": ada.email})
    assert stored.email_verification.token_hash == token_hash(token)
    assert token not in str(stored.model_dump()) and token not in str(await Job.find_all().to_list())
    answer = await mail_client.post(VERIFY, json={"token": token})
    assert answer.status_code == 204, answer.text
    assert await verified(mail_client, ada)
    assert_problem(await mail_client.post(VERIFY, json={"token": token}), 410, "token_invalid")
    assert_problem(await mail_client.post(VERIFY, json={"token": "orbix_ver_nonsense"}), 410, "token_invalid")


async def test_a_link_expires_after_48_hours(mail_client, mailbox, worker, clock):
    ada = await register(mail_client, "ada@example.com")
    await worker.run_until_idle()
    [token] = links(mailbox, "verify-email", ada.email)
    clock.move(hours=48, seconds=1)
    assert_problem(await mail_client.post(VERIFY, json={"token": token}), 410, "token_invalid")
    assert not await verified(mail_client, ada)


async def test_resend_at_most_once_a_minute_and_the_newer_link_voids_the_older(
    mail_client, mailbox, worker, clock
):
    ada = await register(mail_client, "ada@example.com")
    limited = await mail_client.post(RESEND, headers=ada.headers)
    assert_problem(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    clock.move(seconds=61)
    resent = await mail_client.post(RESEND, headers=ada.headers)
    assert resent.status_code == 202 and resent.json() == {"status": "accepted"}
    await worker.run_until_idle()
    # The first e-mail's token was replaced before it went out: only the newer one is sent.
    [newer] = links(mailbox, "verify-email", ada.email)
    clock.move(seconds=61)
    assert (await mail_client.post(RESEND, headers=ada.headers)).status_code == 202
    await worker.run_until_idle()
    older, newest = links(mailbox, "verify-email", ada.email)
    assert older == newer
    assert_problem(await mail_client.post(VERIFY, json={"token": older}), 410, "token_invalid")
    assert (await mail_client.post(VERIFY, json={"token": newest})).status_code == 204
    clock.move(seconds=61)
    assert (await mail_client.post(RESEND, headers=ada.headers)).status_code == 202  # nothing to verify
    await worker.run_until_idle()
    assert len(links(mailbox, "verify-email", ada.email)) == 2


async def test_resend_needs_a_token(mail_client):
    assert_problem(await mail_client.post(RESEND), 401, "unauthorized")


async def test_without_smtp_register_sends_nothing_and_resend_answers_503(client):
    ada = await register(client, "ada@example.com")
    assert await Job.find_all().count() == 0
    assert_problem(await client.post(RESEND, headers=ada.headers), 503, "email_unavailable")


async def test_a_crash_before_queueing_loses_no_verification_email(
    mail_client, mailbox, worker, monkeypatch, clock
):
    async def dies(*args, **kwargs):
        raise ConnectionError("the process died here")

    monkeypatch.setattr(verification, "enqueue", dies)
    ada = await register(mail_client, "ada@example.com")  # still 201
    monkeypatch.setattr(verification, "enqueue", enqueue)
    await worker.run_until_idle()  # the periodic task's pass: too early, the request might still be running
    assert links(mailbox, "verify-email", ada.email) == []
    settings = replace(Settings.from_env(), smtp_host="127.0.0.1", smtp_from=SMTP_FROM)  # the worker's
    clock.move(seconds=verification.GRACE.total_seconds() + 1)
    await verification.requeue_unmailed(settings, clock.now() - verification.GRACE)
    await verification.requeue_unmailed(settings, clock.now() - verification.GRACE)  # queued: nothing more
    await worker.run_until_idle()
    [token] = links(mailbox, "verify-email", ada.email)
    assert (await mail_client.post(VERIFY, json={"token": token})).status_code == 204
