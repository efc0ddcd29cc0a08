"""Hearing SIGTERM (and SIGINT) when the server does, before it waits for open connections to close.

An ASGI server tells the application it is shutting down with the lifespan's `shutdown` message, but only
after its open connections have closed: uvicorn stops accepting, then waits for every connection (up to
`--timeout-graceful-shutdown`, by default for ever) and only then sends it; granian's worker waits for its
connections before it tells Python at all, and its parent kills it after `workers_kill_timeout`. A response
that never ends by itself (an event stream) therefore holds the whole shutdown until the kill.

Neither server offers a public hook for "shutdown has begun", so `on_termination` chains a handler in front of
the server's own, with the public `signal` module, from the lifespan's startup (the server has installed its
handlers by then, in the main thread of the process that runs the app):

- uvicorn installs `Server.handle_exit` with `signal.signal`; ours runs the callback, then calls it, so
  uvicorn shuts down exactly as before (and restores its previous handlers when it returns).
- granian's worker uses `loop.add_signal_handler`, which delivers the signal through the loop's wake-up fd and
  leaves a do-nothing Python handler in place; ours replaces that do-nothing handler (and still calls it), and
  the loop still hears the signal through the wake-up fd and starts granian's own graceful shutdown.

The callback runs on the event loop (`call_soon_threadsafe`), never inside the signal handler. Nothing is
chained when the current handler is not a Python callable (no server is listening for it: the default action
stays) or outside the main thread (`signal` only works there).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def on_termination(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` on this event loop when the process is asked to stop; returns what undoes it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    chained: dict[int, tuple[Callable[[int, FrameType | None], object], Callable[..., object]]] = {}
    for sig in SIGNALS:
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: FrameType | None, previous: Callable[..., object] = previous) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(callback)
            previous(signum, frame)

        signal.signal(sig, handler)
        chained[sig] = (handler, previous)

    def undo() -> None:
        for sig, (handler, previous) in chained.items():
            if signal.getsignal(sig) is handler:  # not replaced since: put the server's back
                signal.signal(sig, previous)

    return undo
