"""Work that waits for the answer: one middleware on the `/api` router, outermost, so that a request's answer
waits for its write alone. A write's events are relayed (copied to the feed and sequenced, db/outbox.py)
once the answer has gone out, and so is anything a layer `defer`s (a session's last activity). A server
sends the answer as soon as its last body message is passed on; this work then runs in the same request
task (as a background task would), and the worker's recovery relays what it could not."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from app.db.outbox import relaying_after_answer

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
log = logging.getLogger("orbix.http")
_deferred: ContextVar[list[Callable[[], Awaitable[None]]] | None] = ContextVar("deferred", default=None)


def defer(work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` once this request's answer is out (best effort: a failure is logged; outside a request,
    nothing runs)."""
    deferred = _deferred.get()
    if deferred is not None:
        deferred.append(work)


class RelayAfterAnswer:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deferred: list[Callable[[], Awaitable[None]]] = []
        token = _deferred.set(deferred)
        try:
            with relaying_after_answer() as relay_noted:
                await self.app(scope, receive, send)
        finally:
            _deferred.reset(token)
        await relay_noted()
        for work in deferred:
            try:
                await work()
            except Exception:
                log.warning("work after the answer failed", exc_info=True)
