"""A cap on the share of the event loop a worker may take: the inline worker runs on the API's own loop, and
without a cap a backlog of jobs (a thousand webhooks to deliver) takes the loop from the requests.

The worker's coroutines run through `timed`, which measures each step they take on the loop (the time
between two awaits, not the time they spend waiting), and spends it from a credit that refills at `share`
seconds per second, up to `burst`. The worker claims a new job only when the credit is not negative, so over
any stretch of time its jobs, periodic tasks and claims use about `share` of the loop, and the loop stays
with the requests.
"""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class LoopShare:
    def __init__(self, share: float, *, burst_seconds: float = 0.05) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.share = share
        self.burst = burst_seconds
        self.spent = 0.0  # seconds of loop time measured so far (for tests and metrics)
        self._credit = burst_seconds
        self._at = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._credit = min(self.burst, self._credit + (now - self._at) * self.share)
        self._at = now

    def spend(self, seconds: float) -> None:
        self._refill()
        self._credit -= seconds
        self.spent += seconds

    async def wait_turn(self) -> None:
        """Return once the credit is not negative (at once when it is not)."""
        self._refill()
        if self._credit < 0:
            await asyncio.sleep(-self._credit / self.share)

    async def timed(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro`, spending each of its steps on the loop from the credit."""
        return await _stepwise(coro, self.spend)


@types.coroutine
def _stepwise(coro: Coroutine[Any, Any, T], spend: Any) -> Generator[Any, Any, T]:
    """Drive `coro` as the event loop would (send, throw), timing each step."""
    value: Any = None
    error: BaseException | None = None
    while True:
        started = time.perf_counter()
        try:
            signal = coro.throw(error) if error is not None else coro.send(value)
        except StopIteration as stop:
            spend(time.perf_counter() - started)
            return stop.value
        except BaseException:
            spend(time.perf_counter() - started)
            raise
        spend(time.perf_counter() - started)
        try:
            value, error = (yield signal), None
        except BaseException as exc:  # cancellation and the like go on into the coroutine
            value, error = None, exc
