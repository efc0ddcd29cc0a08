"""Events leave after the answer (db/outbox.py): one middleware on the `/api` router, outermost, so that a
write's answer waits for the write alone, and its events are relayed (copied to the feed and sequenced) once
the answer has gone out. A server sends the answer as soon as its last body message is passed on; the
relay then runs in the same request task (as a background task would), and the worker's recovery relays what
it could not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.db.outbox import relaying_after_answer

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class RelayAfterAnswer:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with relaying_after_answer() as relay_noted:
            await self.app(scope, receive, send)
        await relay_noted()
