"""Live updates (API.md section 21): one tail of the event feed per API process, fanned out in memory to this
process's Server-Sent Events streams.

The tail is one task started by the app's lifespan. Every `interval` it reads the events numbered after the
last one it handled, up to the published watermark (`service.read_since`: in feed order, never a skip, one
query however many streams are open, and none when nothing is new), encodes each event once as an SSE frame
and offers it to every open stream of the event's organisation. Events written through another API process
reach this one through the feed, so it does not matter which process served the write.

A stream lives at most `max_age` (EVENT_STREAM_MAX_SECONDS, an hour by default), then ends with a comment
telling its client to reconnect with `Last-Event-ID`: streams spread again over the API processes after a
scale-out, and no stream outlives a deployment's notion of a long connection.

A stream's buffer is bounded: a reader that falls behind by `queue_size` events loses its buffer and is ended
with a final comment telling it to reconnect with `Last-Event-ID` (it then replays from the feed). Memory per
slow reader is therefore bounded by `queue_size` shared frames.

Replay, then live, with no gap and no duplicate: a stream registers with the tail first (from then on every
event the tail handles is buffered for it), then replays from the feed up to the watermark, then drains its
buffer skipping every event whose `seq` it has already sent. The tail's position when the stream registered is
at most the watermark the replay reads up to, so the two ranges overlap and together cover everything.

Every `recheck` seconds the tail checks every stream's caller with one lookup per kind (users, API keys): a
removed member, an ended session, a changed token version or a revoked or expired key ends the stream.

The tail costs nothing while no stream is open: it waits for the first one, then reads the watermark as its
position before any stream replays (a position read while idle would be stale), and goes idle again when the
last one closes. A process that serves no stream makes no store operation for live updates.

Shutdown: the lifespan's shutdown comes only after the open connections have closed (uvicorn waits for them;
granian's worker waits for its connections before it even tells Python), so waiting for it would hold every
stream until the server's kill timeout. `app/http/termination.py` chains a handler to the server's own SIGTERM
and SIGINT handlers that calls `stop()` at once: every stream sends its final comment and ends, the
connections close, and the server shuts down without waiting out its grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from bson import ObjectId
from litestar.response.sse import ServerSentEventMessage

from app.api_keys import service as api_keys
from app.auth import service as auth
from app.auth.models import Caller
from app.core.clock import as_utc, utc_now
from app.core.errors import AppError
from app.core.roles import Role
from app.events import service
from app.events.models import Event
from app.events.schemas import EventOut
from app.events.sequencer import published

log = logging.getLogger("orbix.events.live")

BATCH = 500
REPLAY_PAGE = 100


class TooManyStreams(AppError):
    """The caller (a user or an API key) has the most streams open that it may (API.md section 21)."""

    status, code = 429, "too_many_streams"


class Frame(ServerSentEventMessage):
    """One event as SSE text, encoded once and shared by every stream it goes to."""

    def __init__(self, seq: int, type: str, encoded: bytes) -> None:
        self.seq = seq
        self.type = type
        self.encoded = encoded

    def encode(self) -> bytes:
        return self.encoded


class Comment(ServerSentEventMessage):
    def __init__(self, text: str) -> None:
        self.encoded = f": {text}\r\n\r\n".encode()

    def encode(self) -> bytes:
        return self.encoded


def frame(event: Event) -> Frame:
    body = msgspec.json.encode(EventOut.from_document(event))
    head = f"id: {event.id}\r\nevent: {event.type}\r\ndata: ".encode()
    return Frame(int(event.seq or 0), event.type, head + body + b"\r\n\r\n")


SLOW = "this stream fell behind and is closed: reconnect with Last-Event-ID to resume"
SHUTDOWN = "the server is shutting down: reconnect with Last-Event-ID to resume"
REVOKED = "access to this organisation ended"
EXPIRED = "this stream reached its maximum age: reconnect with Last-Event-ID to resume"


class Stream:
    """One open stream: who it is for, what it wants, and its bounded buffer of frames."""

    def __init__(
        self, caller: Caller, claims: Any, wanted: Sequence[str] | None, hidden: frozenset[str]
    ) -> None:
        self.caller = caller
        self.owner_id: ObjectId = caller.id
        self.holder: tuple[str, ObjectId] = (
            ("key", caller.key_id) if caller.key_id is not None else ("user", caller.user_id)  # type: ignore[assignment]
        )
        self.version = claims.get("ver") if isinstance(claims, dict) else None
        self.wanted = frozenset(wanted) if wanted else None
        self.hidden = hidden
        self.buffer: deque[Frame] = deque()
        self.ready = asyncio.Event()
        self.ended: str | None = None  # the final comment, once it is to end

    def accepts(self, item: Frame) -> bool:
        return item.type not in self.hidden and (self.wanted is None or item.type in self.wanted)

    def offer(self, item: Frame, limit: int) -> None:
        if self.ended is not None or not self.accepts(item):
            return
        if len(self.buffer) >= limit:
            self.end(SLOW)
            return
        self.buffer.append(item)
        self.ready.set()

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
            self.buffer.clear()  # a slow reader's backlog is dropped at once: it replays from the feed
        self.ready.set()


class Live:
    """The feed tail and the open streams of this process."""

    def __init__(
        self,
        *,
        interval: float = 0.2,
        queue_size: int = 1000,
        heartbeat: float = 15.0,
        recheck: float = 3.0,
        per_holder: int = 5,
        max_age: float = 3600.0,
    ) -> None:
        self.interval = interval
        self.queue_size = queue_size
        self.heartbeat = heartbeat
        self.recheck = recheck
        self.per_holder = per_holder
        self.max_age = (
            max_age  # a stream older than this ends (its client reconnects, maybe to another process)
        )
        self.position = 0  # the seq of the last event handed to the streams
        # The tail has read its position since it last went idle: a stream's replay may start (it reads up
        # to a watermark at least this position, so replay and tail overlap). Cleared while no stream is open.
        self.positioned = asyncio.Event()
        self.stopping = False
        self.streams: dict[ObjectId, set[Stream]] = defaultdict(set)
        self.holders: dict[tuple[str, ObjectId], int] = defaultdict(int)
        self._wake = asyncio.Event()
        self._none_open = asyncio.Event()

    # ------------------------------------------------------------------ streams

    def open(
        self, caller: Caller, claims: Any, wanted: Sequence[str] | None, hidden: frozenset[str]
    ) -> Stream:
        """Register a stream (buffering from now on); 429 past the holder's limit."""
        stream = Stream(caller, claims, wanted, hidden)
        if self.stopping:  # opened after shutdown began: it ends at once, and its client reconnects elsewhere
            stream.end(SHUTDOWN)
            return stream
        if self.holders[stream.holder] >= self.per_holder:
            raise TooManyStreams(
                f"At most {self.per_holder} event streams may be open at once; close one first",
                headers={"Retry-After": "5"},
            )
        self.holders[stream.holder] += 1
        self.streams[stream.owner_id].add(stream)
        self._wake.set()  # an idle tail starts
        return stream

    def close(self, stream: Stream) -> None:
        group = self.streams.get(stream.owner_id)
        if group is None or stream not in group:
            return
        group.discard(stream)
        if not group:
            del self.streams[stream.owner_id]
        self.holders[stream.holder] -= 1
        if self.holders[stream.holder] <= 0:
            del self.holders[stream.holder]
        if not self.streams:
            self._none_open.set()

    async def drained(self, within: float) -> None:
        """Until every stream has ended, at most `within` seconds."""
        if not self.streams:
            return
        self._none_open.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._none_open.wait()

    @property
    def open_streams(self) -> int:
        return sum(len(group) for group in self.streams.values())

    async def messages(self, stream: Stream, after_seq: int) -> AsyncIterator[ServerSentEventMessage]:
        """What one stream sends: the replay of the feed after `after_seq` (the cursor's, or the watermark
        when the stream was opened), then live frames, heartbeats, and a final comment when it is ended."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.max_age
        try:
            sent = after_seq
            yield Comment("connected")
            await self.positioned.wait()
            while stream.ended is None:
                events, more = await service.read_owner_since(
                    sent,
                    REPLAY_PAGE,
                    owner_id=stream.owner_id,
                    types=sorted(stream.wanted) if stream.wanted else None,
                    hidden=stream.hidden,
                )
                for event in events:
                    yield frame(event)
                    sent = int(event.seq or 0)
                if not more:
                    break
            while True:
                while stream.buffer:
                    item = stream.buffer.popleft()
                    if item.seq <= sent:
                        continue  # already replayed
                    yield item
                    sent = item.seq
                if stream.ended is not None:
                    yield Comment(stream.ended)
                    return
                stream.ready.clear()
                if stream.buffer or stream.ended is not None:
                    continue
                left = until - loop.time()
                if left <= 0:
                    stream.end(EXPIRED)
                    continue
                try:
                    async with asyncio.timeout(min(self.heartbeat, left)):
                        await stream.ready.wait()
                except TimeoutError:
                    if loop.time() < until:
                        yield Comment("heartbeat")
        finally:
            self.close(stream)

    # ------------------------------------------------------------------ the tail

    async def run(self) -> None:
        """The tail: while streams are open, every new event to the streams of its organisation."""
        loop = asyncio.get_running_loop()
        next_check = 0.0
        while not self.stopping:
            if not self.streams:  # idle: no store operation until a stream opens
                self.positioned.clear()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if not self.positioned.is_set():
                    self.position = await published()
                    self.positioned.set()
                    next_check = loop.time() + self.recheck
                handled = await self.tail_once()
                if loop.time() >= next_check:
                    next_check = loop.time() + self.recheck
                    await self.check_callers()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a while: try again at the next round
                log.warning("the live tail could not read the feed", exc_info=True)
                handled = 0
            if handled < BATCH:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await self._wake.wait()

    async def tail_once(self) -> int:
        events = await service.read_since(self.position, BATCH)
        for event in events:
            group = self.streams.get(event.owner_id)
            if group:
                item = frame(event)
                for stream in list(group):
                    stream.offer(item, self.queue_size)
            self.position = max(self.position, int(event.seq or 0))
        return len(events)

    async def check_callers(self) -> None:
        """One lookup per kind for every open stream: the ones whose access ended are ended."""
        streams = [stream for group in self.streams.values() for stream in group if stream.ended is None]
        if not streams:
            return
        user_ids = {
            s.caller.user_id for s in streams if s.caller.key_id is None and s.caller.user_id is not None
        }
        key_ids = {s.caller.key_id for s in streams if s.caller.key_id is not None}
        users: dict[Any, Any] = await auth.access_of(list(user_ids)) if user_ids else {}
        keys: dict[Any, Any] = await api_keys.existing_keys(list(key_ids)) if key_ids else {}
        for stream in streams:
            if not _still_allowed(stream, users, keys):
                stream.end(REVOKED)

    def stop(self) -> None:
        """End every stream (each sends its final comment) and the tail."""
        self.stopping = True
        self._wake.set()
        self.positioned.set()  # a stream waiting for the tail to start ends too
        for group in self.streams.values():
            for stream in group:
                stream.end(SHUTDOWN)


def _still_allowed(stream: Stream, users: dict[Any, dict[str, Any]], keys: dict[Any, dict[str, Any]]) -> bool:
    caller = stream.caller
    if caller.key_id is not None:
        key = keys.get(caller.key_id)
        if key is None:
            return False
        expires_at = key.get("expires_at")
        return expires_at is None or as_utc(expires_at) > utc_now()
    raw = users.get(caller.user_id)
    if raw is None:
        return False
    if stream.version is not None and raw.get("token_version", 0) != stream.version:
        return False
    sid = caller.sid
    if sid is not None and ObjectId(sid) not in (raw.get("live_sessions") or ()):
        return False
    memberships = raw.get("memberships")
    if memberships is None:  # not yet migrated: the personal organisation, as the middleware reads it
        return bool(stream.owner_id == caller.user_id)
    roles = {m["organization_id"]: Role(m["role"]) for m in memberships}
    role = roles.get(stream.owner_id)
    if role is None:
        return False
    # a change of role across admin changes what the stream may show: end it, the client reconnects
    return role.allows(Role.ADMIN) == caller.role.allows(Role.ADMIN)
