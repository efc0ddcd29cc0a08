"""A declared unique index the database lacks (issue 24): `/ready` answers 503 with the reason and writes are
refused until it is in place, reads go on; a process's job loop waits for it too."""

from __future__ import annotations

import asyncio

import pytest

from app.config import Settings
from app.db import client as db
from app.db import constraints, embedded_store, index_migration
from app.main import DOCUMENT_MODELS, create_app
from tests.conftest import PASSWORD, assert_problem, serve


@pytest.fixture(autouse=True)
def fast_recheck(monkeypatch):
    monkeypatch.setattr(constraints, "RECHECK_SECONDS", 0.01)


async def store_with_an_outdated_email_index():
    """users.email_unique in an older version without uniqueness: a start leaves a changed index to
    `python -m app migrate`, so no index enforces one account per e-mail."""
    store = embedded_store.build_client()
    await store["orbix"]["users"].create_index([("email", 1)], name="email_unique")
    return store


async def eventually(condition) -> None:
    for _ in range(500):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never")


async def test_ready_says_which_unique_index_is_missing_and_writes_wait_for_it():
    store = await store_with_an_outdated_email_index()
    app = create_app(Settings.from_env(), client_factory=lambda _: (store, True))
    body = {"email": "first@example.com", "password": PASSWORD, "name": "First"}
    async with serve(app) as http:
        ready = assert_problem(await http.get("/ready"), 503, "database_unavailable")
        assert "users.email_unique" in ready["detail"]
        refused = assert_problem(
            await http.post("/api/auth/register", json=body), 503, "database_unavailable"
        )
        assert "users.email_unique" in refused["detail"]
        assert (await http.get("/api/clients")).status_code == 401  # a read goes on (to authentication)

        result = await index_migration.migrate(app.state.db.handle, DOCUMENT_MODELS)
        assert result.replaced == ["users.email_unique"] and result.failed == []

        async def ready_now() -> bool:
            return (await http.get("/ready")).status_code == 200

        await eventually(ready_now)
        assert (await http.post("/api/auth/register", json=body)).status_code == 201
        assert_problem(await http.post("/api/auth/register", json=body), 409, "email_taken")


async def test_a_process_job_loop_waits_until_the_unique_indexes_are_in_place():
    """The worker process and the inline worker wait for `until_writable` before they claim a job."""
    store = await store_with_an_outdated_email_index()
    database = db.Database(Settings.from_env(), DOCUMENT_MODELS, lambda _: (store, True))
    await database.start()
    try:
        assert database.connected and not database.writable
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(database.until_writable(), 0.1)
        await index_migration.migrate(database.handle, DOCUMENT_MODELS)
        await asyncio.wait_for(database.until_writable(), 5)
        assert database.writable
    finally:
        await database.close()
