"""Live updates at scale (issue #28, API.md section 21): N open event streams on one API process.

The server is what production runs, `python -m app serve` (granian, one worker) on loopback, here on the
embedded store (no `MONGODB_URL`). This script is the client process: it opens N streams with raw asyncio
sockets (an SSE client costs a few KB, so the client does not dominate the 2 cores), all of one organisation,
by API keys with `events:read` (5 streams per key), then writes events one at a time (`POST /api/clients`,
answered, then wait until every stream has it) and prints:

- latency from a write's answer to the event's arrival on every stream, p50 / p99 / max (target p99 <= 1 s);
- `/health` p99 on its own keep-alive connection, idle vs with the N streams open (target <= 2x);
- server RSS (granian's processes) before and after opening the streams, per stream (target <= 50 KB).

    .venv/bin/python scripts/bench_sse.py [--streams 1000] [--events 20] [--health 400]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PER_KEY = 5  # the server's limit of streams per API key


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "AI_"))}
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        BCRYPT_ROUNDS="4",
        LOG_LEVEL="WARNING",
        AUTH_RATE_LIMIT_PER_MINUTE="100000",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def rss_kb(session: int) -> int:
    """Resident memory of every process of the server's session (granian's main process and its worker)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Stream:
    """One raw SSE connection: when each event (by its order on the stream) arrived."""

    arrivals: list[float] = field(default_factory=list)
    ended: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


async def open_stream(port: int, key: str, stream: Stream, live: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {key}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        stream.ended = status.decode(errors="replace").strip()
        live.set()
        writer.close()
        return
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # the response head
    try:
        while True:
            line = await reader.readline()
            if not line:
                stream.ended = stream.ended or "closed"
                break
            if b"connected" in line:
                live.set()
            elif line.startswith(b"id:"):
                stream.arrivals.append(time.perf_counter())
                stream.changed.set()
            elif line.startswith(b": ") and b"reconnect" in line:
                stream.ended = line.decode(errors="replace").strip()
    finally:
        live.set()
        stream.changed.set()
        writer.close()


async def health_p99(http: httpx.AsyncClient, count: int) -> float:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        answer = await http.get("/health")
        timings.append(time.perf_counter() - started)
        assert answer.status_code == 200
    return percentile(timings, 0.99) * 1000


async def bench(args: argparse.Namespace) -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it too
    if hard < args.streams + 200:
        print(
            f"bench_sse: the open-file limit ({hard}) is too low for {args.streams} streams", file=sys.stderr
        )
        return 2
    port = free_port()
    server = start_server(port)
    tasks: list[asyncio.Task[None]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                print("bench_sse: the server did not become ready", file=sys.stderr)
                return 1
            registered = await http.post(
                "/api/auth/register",
                json={"email": "bench-sse@example.com", "password": "bench-pass-01", "name": "Bench"},
            )
            admin = {"Authorization": f"Bearer {registered.json()['access_token']}"}
            keys = []
            for n in range((args.streams + PER_KEY - 1) // PER_KEY):
                made = await http.post(
                    "/api/organization/api-keys",
                    json={"name": f"sse-{n}", "scopes": ["events:read"]},
                    headers=admin,
                )
                assert made.status_code == 201, made.text
                keys.append(made.json()["key"])

            health = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
            async with health:
                await health_p99(health, 50)  # warm
                idle_p99 = await health_p99(health, args.health)
                rss_before = rss_kb(server.pid)

                streams = [Stream() for _ in range(args.streams)]
                gate = asyncio.Semaphore(50)
                opened_at = time.perf_counter()

                async def one(index: int) -> None:
                    async with gate:
                        live = asyncio.Event()
                        tasks.append(
                            asyncio.create_task(
                                open_stream(port, keys[index // PER_KEY], streams[index], live)
                            )
                        )
                        await live.wait()

                await asyncio.gather(*(one(i) for i in range(args.streams)))
                opening = time.perf_counter() - opened_at
                refused = [s.ended for s in streams if s.ended]
                if refused:
                    print(
                        f"bench_sse: {len(refused)} streams did not open, e.g. {refused[0]}", file=sys.stderr
                    )
                    return 1
                await asyncio.sleep(2)  # settle: buffers allocated, the first heartbeat timers armed
                rss_after = rss_kb(server.pid)
                busy_p99 = await health_p99(health, args.health)

                latencies: list[float] = []
                for n in range(args.events):
                    written = await http.post("/api/clients", json={"name": f"live-{n}"}, headers=admin)
                    answered = time.perf_counter()
                    assert written.status_code == 201, written.text
                    deadline = answered + 10
                    for stream in streams:
                        while len(stream.arrivals) <= n and stream.ended is None:
                            stream.changed.clear()
                            left = deadline - time.perf_counter()
                            if left <= 0:
                                break
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(stream.changed.wait(), left)
                        if len(stream.arrivals) <= n:
                            print(
                                f"bench_sse: event {n} missing on a stream ({stream.ended})", file=sys.stderr
                            )
                            return 1
                        latencies.append(max(0.0, stream.arrivals[n] - answered))
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    per_stream = (rss_after - rss_before) / args.streams
    rows = [
        ("streams open (opened in)", f"{args.streams} ({opening:.1f} s)", ""),
        ("event latency p50", f"{statistics.median(latencies) * 1000:.0f} ms", ""),
        ("event latency p99", f"{percentile(latencies, 0.99) * 1000:.0f} ms", "<= 1000 ms"),
        ("event latency max", f"{max(latencies) * 1000:.0f} ms", ""),
        ("/health p99 idle", f"{idle_p99:.2f} ms", ""),
        (
            f"/health p99, {args.streams} streams open",
            f"{busy_p99:.2f} ms ({busy_p99 / idle_p99:.2f}x)",
            "<= 2x",
        ),
        ("server RSS before / after", f"{rss_before / 1024:.1f} / {rss_after / 1024:.1f} MiB", ""),
        ("memory per idle stream", f"{per_stream:.1f} KB", "<= 50 KB"),
    ]
    print(
        f"\n{args.streams} streams x {args.events} events ({len(latencies)} deliveries), "
        "granian, embedded store\n"
    )
    print("| measure | figure | target |\n|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--health", type=int, default=400, help="/health requests per p99 measurement")
    args = parser.parse_args()
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
