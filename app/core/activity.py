"""Whether the API is serving requests right now: how many are in flight and when the last one ended. The
inline worker reads it to take the loop's spare time when no request wants it, and only its small share when
requests do (app/worker/share.py)."""

from __future__ import annotations

import time

# A request ended less than this long ago: more are likely on their way (a client that waits for each answer
# sends the next at once), so the API counts as busy.
QUIET_SECONDS = 0.05


class RequestActivity:
    def __init__(self) -> None:
        self.in_flight = 0
        self.last_ended = float("-inf")

    def started(self) -> None:
        self.in_flight += 1

    def ended(self) -> None:
        self.in_flight -= 1
        self.last_ended = time.monotonic()

    def busy(self) -> bool:
        return self.in_flight > 0 or time.monotonic() - self.last_ended < QUIET_SECONDS
