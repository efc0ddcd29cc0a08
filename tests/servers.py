"""Real servers on loopback for the tests that need a socket: `python -m app` and friends in subprocesses,
a free port, and waiting until one serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = [sys.executable, "-m", "app"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(port: int, **changes: str) -> dict[str, str]:
    """This environment without a database or AI service, serving on 127.0.0.1:`port`, plus `changes`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "AI_"))}
    env.update({"HOST": "127.0.0.1", "PORT": str(port), **changes})
    return env


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """In its own process group, so that stop() can also reach what it forked."""
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_until_healthy(
    process: subprocess.Popen, port: int, *, within: float = 30, explain: Callable[[], str] | None = None
) -> None:
    """Poll /health until it answers 200; fail with `explain()` (by default, the output of a server that
    exited) if the process exits or time runs out."""
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            if explain is not None:
                raise AssertionError(explain())
            output = process.communicate(timeout=10)[0] if process.poll() is not None else b""
            raise AssertionError(f"the server did not start: {(output or b'').decode(errors='replace')}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> bytes:
    """SIGTERM, then its output (killed if it does not exit within 30 s)."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # granian's workers too, which would keep the output open
        return process.communicate()[0]
