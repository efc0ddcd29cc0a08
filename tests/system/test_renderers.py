"""A server that ends leaves no rendering process behind (issue 22): documents render in a pool of spawned
processes (app/documents/pool.py), each of which must end with the process that started it, whatever
server ran the app and however it ended. uvicorn re-raises the SIGTERM it handled, so no exit hook runs
there; SIGKILL runs nothing at all. Processes are read from /proc (Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.servers import PRODUCTION, free_port, server_env, start, stop, wait_until_healthy

UVICORN = [
    str(Path(sys.executable).parent / "uvicorn"),
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "app.main:app",
]
SERVERS = {
    "production": PRODUCTION,  # python -m app: granian, whose worker process starts the renderers
    "uvicorn": UVICORN,
}
# Generous bounds for a loaded 2-core machine; each wait ends as soon as its condition holds.
RENDER_SECONDS = 120
EXIT_SECONDS = 35  # the servers give in-flight requests 30 s after SIGTERM
GONE_SECONDS = 30

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, or None if there is none with this pid."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name, in parentheses, may hold spaces
    return int(fields[1]), fields[0], fields[19]


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, by pid, with its start time (so that a reused pid is not taken for it)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    found: dict[int, str] = {}
    parents = [pid]
    while parents:
        parent = parents.pop()
        for child, (ppid, _, started) in table.items():
            if ppid == parent and child not in found:
                found[child] = started
                parents.append(child)
    return found


def alive(processes: dict[int, str]) -> list[int]:
    """Those of `processes` still running (a zombie has ended: it only waits to be reaped)."""
    return [
        pid
        for pid, started in processes.items()
        if (stat := _stat(pid)) is not None and stat[2] == started and stat[1] not in ("Z", "X")
    ]


def command_line(pid: int) -> str:
    with suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return "?"


def render_once(port: int) -> None:
    """A user, a client, a draft and its PDF: the first render starts the pool."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=RENDER_SECONDS) as http:
        registered = http.post(
            "/api/auth/register",
            json={"email": "renderer@example.com", "password": "correct horse battery", "name": "Ada"},
        )
        assert registered.status_code == 201, registered.text
        auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        client = http.post("/api/clients", json={"name": "Acme"}, headers=auth)
        assert client.status_code == 201, client.text
        lines = [{"description": "Consulting", "quantity": "2", "unit_price": "50.00"}]
        draft = http.post(
            "/api/invoices", json={"client_id": client.json()["id"], "lines": lines}, headers=auth
        )
        assert draft.status_code == 201, draft.text
        pdf = http.get(f"/api/invoices/{draft.json()['id']}/pdf", headers=auth)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:200]


@pytest.mark.parametrize(
    ("server", "ending"),
    [("production", signal.SIGTERM), ("uvicorn", signal.SIGTERM), ("uvicorn", signal.SIGKILL)],
    ids=["production-sigterm", "uvicorn-sigterm", "uvicorn-sigkill"],
)
def test_a_server_that_ends_leaves_no_rendering_process(server, ending):
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in SERVERS[server]]
    process = start(command, server_env(port, BCRYPT_ROUNDS="4", LOG_LEVEL="WARNING"))
    children: dict[int, str] = {}
    try:
        wait_until_healthy(process, port)
        render_once(port)
        children = descendants(process.pid)
        assert alive(children), "the render started no process"  # the renderer and the resource tracker

        process.send_signal(ending)
        try:
            process.wait(timeout=EXIT_SECONDS)  # not communicate(): a leaked child would hold the output open
        except subprocess.TimeoutExpired:
            pytest.fail(f"{server} did not exit within {EXIT_SECONDS} s of {ending.name}")

        deadline = time.monotonic() + GONE_SECONDS
        while (left := alive(children)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, [f"{pid}: {command_line(pid)}" for pid in left]
    finally:
        for pid in alive(children):  # never leak a renderer into the rest of the run
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stop(process)
