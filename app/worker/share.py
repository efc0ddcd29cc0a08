"""A cap on the share of the event loop a worker may take: the inline worker runs on the API's own loop, and
without a cap a backlog of jobs (a thousand webhooks to deliver) takes the loop from the requests.

The worker's coroutines run through `timed`, which measures each step they take on the loop (the time
between two awaits, not the time they spend waiting), and spends it from a credit that refills at `share`
seconds per second, up to `burst`. Before each step, a coroutine whose worker is in debt waits until the
debt is repaid, and the waiting coroutines take turns (one step each, then the next waits out the debt that
step made), so the worker's steps are spread between the requests' instead of arriving in bursts: over any
stretch of time its jobs, periodic tasks and claims use about `share` of the loop, and the worker never holds
the loop for more than `burst` plus one step at a time. The inline worker's share is small while requests are
being served and large while none are (`idle_share`): a quiet API drains a backlog fast, a busy one keeps its
latency.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class LoopShare:
    """`share` of the loop while `busy()` says requests want it, `idle_share` while it says they do not (no
    `busy`: always `share`)."""

    def __init__(
        self,
        share: float,
        *,
        burst_seconds: float = 0.002,
        idle_share: float | None = None,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        idle_share = share if idle_share is None else idle_share
        if not (0 < share <= 1 and 0 < idle_share <= 1):
            raise ValueError("a share must be in (0, 1]")
        self.share = share
        self.idle_share = idle_share
        self.burst = burst_seconds
        self.spent = 0.0  # seconds of loop time measured so far (for tests and metrics)
        self._busy = busy
        self._credit = burst_seconds
        self._at = time.monotonic()

    def _rate(self) -> float:
        return self.share if self._busy is None or self._busy() else self.idle_share

    def _refill(self) -> None:
        now = time.monotonic()
        self._credit = min(self.burst, self._credit + (now - self._at) * self._rate())
        self._at = now

    def spend(self, seconds: float) -> None:
        self._refill()
        self._credit -= seconds
        self.spent += seconds

    def in_debt(self) -> bool:
        return self._debt_seconds() > 0

    def _debt_seconds(self) -> float:
        """How long until the credit is not negative (0 when it is not)."""
        self._refill()
        return -self._credit / self._rate() if self._credit < 0 else 0.0

    async def wait_turn(self) -> None:
        """Return once the credit is not negative (at once when it is not). Waiters woken together go one at
        a time: the first takes its step, and the others find the debt it made and wait again. (No lock: a
        coroutine waiting here may be driven by another that waits here too, e.g. a claim inside a timed
        tick, and a lock held by the inner wait would block the outer one for good.)"""
        debt = self._debt_seconds()
        while debt > 0:  # a credit the clock refills, not an event anyone sets
            await asyncio.sleep(debt)
            debt = self._debt_seconds()

    async def timed(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro`, each of its steps after wait_turn() and spent from the credit."""
        return await _stepwise(coro, self)


@types.coroutine
def _stepwise(coro: Coroutine[Any, Any, T], share: LoopShare) -> Generator[Any, Any, T]:
    """Drive `coro` as the event loop would (send, throw), pacing and timing each step."""
    value: Any = None
    error: BaseException | None = None
    while True:
        if error is None and share.in_debt():
            try:
                yield from share.wait_turn().__await__()
            except BaseException as exc:  # cancelled while waiting its turn: goes on into the coroutine
                value, error = None, exc
        started = time.perf_counter()
        try:
            signal = coro.throw(error) if error is not None else coro.send(value)
        except StopIteration as stop:
            share.spend(time.perf_counter() - started)
            return stop.value
        except BaseException:
            share.spend(time.perf_counter() - started)
            raise
        share.spend(time.perf_counter() - started)
        try:
            value, error = (yield signal), None
        except BaseException as exc:  # cancellation and the like go on into the coroutine
            value, error = None, exc
