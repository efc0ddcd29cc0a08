"""Retrying, in one place: the compare-and-set loop of conditional writes, and the delays between attempts
of work that failed (exponential backoff with jitter) for the background worker.

Every write that depends on what was read (a PATCH recomputing from the stored document, a payment against
the amount due, a delete that must not take a locked entry) is one conditional update whose filter pins
what the checks relied on. When the filter misses, another write landed in between: re-read, re-check and
try again. Each miss means some other request's write succeeded, so with n requests writing one document at
once the last of them needs at most n attempts; ATTEMPTS covers bursts of that many concurrent writers to a
single document, far beyond one user's clients, and bounds the work a request can be made to do.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.core.errors import AppError, Conflict

T = TypeVar("T")

ATTEMPTS = 20


async def compare_and_set(
    attempt: Callable[[], Awaitable[T | None]],
    gave_up: Callable[[], Awaitable[AppError]] | str,
    *,
    attempts: int = ATTEMPTS,
) -> T:
    """Run `attempt` (read, check, conditional write) until it returns something (None: its write matched
    nothing, so try again), at most ATTEMPTS times; its own refusals (404, 409 ...) propagate at once.
    After the last miss: the error `gave_up` builds (by re-reading), or a 409 conflict with that message."""
    for _ in range(attempts):
        result = await attempt()
        if result is not None:
            return result
    if isinstance(gave_up, str):
        raise Conflict(gave_up)
    raise await gave_up()


# ---------------------------------------------------------------- delays between attempts
#
# Jitter spreads the retries of many failures that happened together (a receiver or a server that went down
# for everyone at once), so they do not come back as one thundering herd.

_random = random.SystemRandom()


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float = 0.5) -> float:
    """Seconds to wait after failed attempt number `attempt` (1 for the first): base * 2^(attempt-1), at most
    `cap`, then shortened by up to `jitter` (a fraction) at random."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return jittered(delay, jitter)


def jittered(delay: float, jitter: float = 0.1) -> float:
    """`delay` shortened by a random fraction of at most `jitter` (never longer: a documented delay is a
    bound)."""
    return delay * (1 - jitter * _random.random())
