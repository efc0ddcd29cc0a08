"""Real servers on loopback for the tests that need one: a free port, and waiting until it serves."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(
    process: subprocess.Popen, port: int, *, within: float, explain: Callable[[], str]
) -> None:
    """Poll /health until it answers 200; fail with `explain()` if the process exits or time runs out."""
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, explain()
        time.sleep(0.1)
