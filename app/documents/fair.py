"""Who renders next, within one process (API.md section 24, fair share): one organisation cannot take the
renderers from the others.

- At most `per_org` renders of one organisation are admitted at once (running, or queued for a renderer);
  another waits at its organisation's door, in arrival order, up to `wait_seconds`, then 429 quota_exceeded.
- A renderer that frees goes to the admitted render whose organisation has the fewest running, the
  longest waiting first: a newcomer is not queued behind the backlog of the busy ones.

So the queue is bounded: it never holds more than `per_org` renders of any organisation, and nothing waits
at a door longer than `wait_seconds`. An organisation is a plain key (today its owner's id).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.core.errors import QuotaExceeded

LIMIT = "RENDER_CONCURRENCY_PER_ORG"
# Renders end at any moment (a one-page invoice takes tens of milliseconds), so a short pause is enough.
RETRY_AFTER_SECONDS = 1.0


class FairShare:
    def __init__(self, renderers: int, per_org: int, wait_seconds: float) -> None:
        self.renderers, self.per_org, self.wait_seconds = renderers, per_org, wait_seconds
        self._free = list(range(renderers))
        self._admitted: Counter[str] = Counter()
        self._running: Counter[str] = Counter()
        self._doors: dict[str, deque[asyncio.Future[None]]] = {}
        self._queue: list[tuple[str, asyncio.Future[int]]] = []  # admitted, waiting for a renderer

    @asynccontextmanager
    async def turn(self, org: str) -> AsyncIterator[int]:
        """The number of the renderer (0 … renderers − 1) that is this organisation's for the block."""
        await self._enter(org)
        try:
            slot = await self._renderer(org)
            try:
                yield slot
            finally:
                self._release(org, slot)
        finally:
            self._leave(org)

    def running(self, org: str) -> int:
        return self._running[org]

    def waiting(self, org: str) -> int:
        """Renders of `org` waiting at its door."""
        return len(self._doors.get(org, ()))

    def queued(self, org: str) -> int:
        """Renders of `org` admitted and waiting for a renderer."""
        return sum(1 for entry in self._waiting() if entry[0] == org)

    # ---------------------------------------------------------------- the organisation's door

    async def _enter(self, org: str) -> None:
        if self._admitted[org] < self.per_org and not self._doors.get(org):
            self._admitted[org] += 1
            return
        door = self._doors.setdefault(org, deque())
        waiter = asyncio.get_running_loop().create_future()
        door.append(waiter)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await waiter
        except TimeoutError:
            if not _granted(waiter):
                raise QuotaExceeded(
                    LIMIT,
                    f"{self.per_org} documents of this organisation are being rendered; this one waited "
                    f"{self.wait_seconds:g} s for its turn",
                    RETRY_AFTER_SECONDS,
                ) from None
        except asyncio.CancelledError:
            if _granted(waiter):  # admitted as it was cancelled: the turn goes to the next one
                self._leave(org)
            raise
        finally:
            if waiter in door:
                door.remove(waiter)
            if not door and self._doors.get(org) is door:
                del self._doors[org]

    def _leave(self, org: str) -> None:
        """Hand the admission to the first render waiting at the door, else give it up."""
        for waiter in self._doors.get(org, ()):
            if not waiter.done():
                waiter.set_result(None)
                return
        self._admitted[org] -= 1
        if not self._admitted[org]:
            del self._admitted[org]

    # ---------------------------------------------------------------- the renderers

    async def _renderer(self, org: str) -> int:
        if self._free and not self._waiting():
            self._running[org] += 1
            return self._free.pop()
        entry = (org, asyncio.get_running_loop().create_future())
        self._queue.append(entry)
        try:
            return await entry[1]
        except asyncio.CancelledError:
            if _granted(entry[1]):
                self._release(org, entry[1].result())
            raise
        finally:
            if entry in self._queue:
                self._queue.remove(entry)

    def _release(self, org: str, slot: int) -> None:
        self._running[org] -= 1
        if not self._running[org]:
            del self._running[org]
        waiting = self._waiting()
        if not waiting:
            self._free.append(slot)
            return
        first = min(range(len(waiting)), key=lambda n: (self._running[waiting[n][0]], n))
        next_org, future = waiting[first]
        self._queue.remove(waiting[first])
        self._running[next_org] += 1
        future.set_result(slot)

    def _waiting(self) -> list[tuple[str, asyncio.Future[int]]]:
        """The queue without the renders already given a renderer or cancelled (they leave it shortly)."""
        return [entry for entry in self._queue if not entry[1].done()]


def _granted(future: asyncio.Future[object]) -> bool:
    return future.done() and not future.cancelled()
