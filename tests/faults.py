"""A process that dies right after its k-th database write: fault injection at the store's methods, shared by
the crash tests (tests/events/test_crash_safety.py, tests/invoices/test_send_recovery.py). `index_fault` does
the same for index changes (tests/system/test_index_migration.py)."""

from __future__ import annotations

from typing import Any

import mongomock_motor
import pytest
from pymongo.errors import AutoReconnect

from app.db import embedded_store
from scripts.store_ops import WRITES

READS = ("find", "find_one", "count_documents", "distinct")
INDEX_CHANGES = ("create_index", "create_indexes", "drop_index")  # and the database's collMod command


class Died(BaseException):
    """The process ends here (a BaseException: nothing in the app catches it)."""


class Fault:
    """Once armed, the database calls go on until `after` writes completed; then every call fails for good."""

    def __init__(self) -> None:
        self.after: int | None = None
        self.writes = 0
        self.dead = False

    def arm(self, after: int) -> None:
        self.after, self.writes, self.dead = after, 0, False

    def disarm(self) -> None:
        self.after, self.dead = None, False


@pytest.fixture(name="fault")
def fault_fixture(monkeypatch: pytest.MonkeyPatch) -> Fault:
    state = Fault()
    for name in WRITES + READS:
        original = getattr(mongomock_motor.AsyncMongoMockCollection, name)
        if name == "find":  # returns a cursor, not a coroutine

            def find(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                if state.dead:
                    raise Died
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, name, find)
            continue

        async def call(
            self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any
        ) -> Any:
            if state.dead:
                raise Died
            result = await _original(self, *args, **kwargs)
            if _name in WRITES and state.after is not None:
                state.writes += 1
                if state.writes >= state.after:
                    state.dead = True
                    raise Died
            return result

        monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, name, call)
    return state


class LostAnswer:
    """Once armed, the `after`-th write (outside `spared` collections) reaches the store, and then its answer
    is lost, as a dropped connection or a client-side timeout loses it on a replica set: it committed, but the
    caller sees AutoReconnect. One write only; everything after it works."""

    def __init__(self, spared: tuple[str, ...]) -> None:
        self.spared = spared
        self.after: int | None = None
        self.writes = 0
        self.fired = False

    def arm(self, after: int) -> None:
        self.after, self.writes, self.fired = after, 0, False

    def disarm(self) -> None:
        self.after = None


@pytest.fixture(name="lost_answer")
def lost_answer_fixture(monkeypatch: pytest.MonkeyPatch) -> LostAnswer:
    """Writes to the idempotency records are spared: the test is about the request's own writes."""
    state = LostAnswer(spared=("idempotency_keys",))
    for name in WRITES:
        original = getattr(mongomock_motor.AsyncMongoMockCollection, name)

        async def call(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            result = await _original(self, *args, **kwargs)
            if state.after is not None and not state.fired and self.name not in state.spared:
                state.writes += 1
                if state.writes == state.after:
                    state.fired = True
                    raise AutoReconnect("connection closed before the reply (the write committed)")
            return result

        monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, name, call)
    return state


@pytest.fixture(name="index_fault")
def index_fault_fixture(monkeypatch: pytest.MonkeyPatch) -> Fault:
    """Once armed, index changes (a build, a drop, a collMod) go on until `after` of them completed; then the
    process dies: that call and every later one raise Died. Reads and other writes are left alone."""
    state = Fault()

    def counted(original: Any) -> Any:
        async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            if state.dead:
                raise Died
            result = await original(self, *args, **kwargs)
            if state.after is not None:
                state.writes += 1
                if state.writes >= state.after:
                    state.dead = True
                    raise Died
            return result

        return call

    for name in INDEX_CHANGES:
        original = getattr(mongomock_motor.AsyncMongoMockCollection, name)
        monkeypatch.setattr(mongomock_motor.AsyncMongoMockCollection, name, counted(original))
    monkeypatch.setattr(embedded_store._Database, "command", counted(embedded_store._Database.command))
    return state
