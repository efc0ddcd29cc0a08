"""The one compare-and-set retry loop.

Every write that depends on what was read (a PATCH recomputing from the stored document, a payment against
the amount due, a delete that must not take a locked entry) is one conditional update whose filter pins
what the checks relied on. When the filter misses, another write landed in between: re-read, re-check and
try again. Each miss means some other request's write succeeded, so with n requests writing one document at
once the last of them needs at most n attempts; ATTEMPTS covers bursts of that many concurrent writers to a
single document, far beyond one user's clients, and bounds the work a request can be made to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.core.errors import AppError, Conflict

T = TypeVar("T")

ATTEMPTS = 20


async def compare_and_set(
    attempt: Callable[[], Awaitable[T | None]],
    gave_up: Callable[[], Awaitable[AppError]] | str,
) -> T:
    """Run `attempt` (read, check, conditional write) until it returns something (None: its write matched
    nothing, so try again), at most ATTEMPTS times; its own refusals (404, 409 ...) propagate at once.
    After the last miss: the error `gave_up` builds (by re-reading), or a 409 conflict with that message."""
    for _ in range(ATTEMPTS):
        result = await attempt()
        if result is not None:
            return result
    if isinstance(gave_up, str):
        raise Conflict(gave_up)
    raise await gave_up()
