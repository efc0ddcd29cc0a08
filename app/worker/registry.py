"""What the worker can run: handlers by job kind and periodic tasks by name. Areas register here;
the worker knows kinds, never areas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[None]]
PeriodicFn = Callable[[], Awaitable[None]]


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help (bad payload, a resource gone): the job fails now."""


# Errors no retry can change, whatever handler raised them: a value the code refuses (ValueError, and so
# UnicodeError: a header the e-mail library refuses, a host the URL encoder cannot encode). The job fails at
# once with the error as its last_error, instead of retrying for hours (docs/operations.md). A handler whose
# own record shows the failure (an e-mail, a delivery) still turns such an error into PermanentFailure itself.
DETERMINISTIC_ERRORS: tuple[type[Exception], ...] = (PermanentFailure, ValueError)


def is_deterministic(error: BaseException) -> bool:
    """Whether no retry can change `error`. An OSError never is, even one that is also a ValueError: a TLS
    certificate that does not verify (ssl.SSLCertVerificationError) may be renewed within the hour."""
    return isinstance(error, DETERMINISTIC_ERRORS) and not isinstance(error, OSError)


class RetryAt(Exception):
    """Raised by a handler that keeps its own retry schedule (webhook deliveries): try again at `when`.
    The attempt counts as failed with `reason`."""

    def __init__(self, when: datetime, reason: str) -> None:
        super().__init__(reason)
        self.when = when
        self.reason = reason


class QuotaHold(RetryAt):
    """Raised by a handler whose work would go over a fair-share limit (`limit`, the setting's name): the job
    waits until `when`, when the window allows. Not an attempt: it counts toward no retry limit, and
    orbix_quota_exceeded_total{limit} counts it."""

    def __init__(self, limit: str, when: datetime, reason: str) -> None:
        super().__init__(when, reason)
        self.limit = limit


@dataclass(frozen=True)
class JobKind:
    handler: Handler
    max_attempts: int
    group_limit: int  # at most this many jobs of one group at a time in one worker


@dataclass(frozen=True)
class Periodic:
    name: str
    every_seconds: float
    fn: PeriodicFn


Wake = Callable[[], None]

_kinds: dict[str, JobKind] = {}
_periodics: dict[str, Periodic] = {}
_wake: set[Wake] = set()


def register_handler(kind: str, handler: Handler, *, max_attempts: int = 8, group_limit: int = 4) -> None:
    """`handler(payload)` runs each job of `kind`; registering a kind again replaces its handler."""
    if max_attempts < 1 or group_limit < 1:
        raise ValueError("max_attempts and group_limit must be at least 1")
    _kinds[kind] = JobKind(handler, max_attempts, group_limit)


def register_periodic(name: str, every_seconds: float, fn: PeriodicFn) -> None:
    """`fn()` runs about every `every_seconds` on some worker, never on two at once (a database lease)."""
    if every_seconds <= 0:
        raise ValueError("every_seconds must be positive")
    _periodics[name] = Periodic(name, every_seconds, fn)


async def close_handlers() -> None:
    """When a worker stops: each handler that holds resources (an `aclose()`, such as the webhook sender's
    connections) closes them."""
    for job_kind in _kinds.values():
        aclose = getattr(job_kind.handler, "aclose", None)
        if aclose is not None:
            await aclose()


def kind(name: str) -> JobKind | None:
    return _kinds.get(name)


def kinds() -> list[str]:
    return sorted(_kinds)


def periodics() -> list[Periodic]:
    return list(_periodics.values())


def subscribe_wake(wake: Wake) -> None:
    _wake.add(wake)


def unsubscribe_wake(wake: Wake) -> None:
    _wake.discard(wake)


def wake_workers() -> None:
    """Work was queued in this process: workers in it look now instead of at their next poll."""
    for wake in list(_wake):
        wake()
