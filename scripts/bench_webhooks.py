"""Webhook delivery under load: /health latency while the inline worker delivers webhooks, delivery
throughput, and what a dead receiver costs the others (the issue's measure: /health p99 under 10 ms and
within 1.5x its p99 without deliveries while the inline worker delivers 1,000 webhooks to a local receiver).

Orbix runs under granian (one worker, WORKER=inline, embedded store) as production runs it; the receivers are
raw asyncio HTTP servers in this process's own thread. Steps:
  1. /health with wrk, nothing to deliver: the baseline p99.
  2. An endpoint on a receiver that holds its first requests unanswered (the endpoint's attempts wait, so no
     delivery runs yet), then N client writes: N events, N deliveries queued.
  3. Once every delivery exists, wrk measures /health with nothing delivered yet (the same server, its store
     as large, the worker's first attempts held by the receiver): the p99 without deliveries in the same
     state, beside step 1's on a fresh server.
  4. The receiver is released and wrk measures /health again while the worker delivers all N (32
     connections, then one); the script prints the p99s, their ratios, and the deliveries per second.
     Step 1 also runs wrk with one connection (a client that waits for each answer, not a saturating load).
  5. Isolation: a second user whose endpoint never answers (each attempt waits out the 10 s limit) gets M
     events at the same time as the fast endpoint gets N more; prints the fast endpoint's throughput with it.

    ./scripts/bench webhooks [--deliveries 1000] [--slow-events 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import CLIENT_CORE, Server, WrkResult, register, stop_all, wrk

CONNECTIONS = 32


class Receiver:
    """A loopback HTTP server in its own thread: answers 204 to every POST, after `gate` opens; `hang` makes
    it never answer (a dead receiver that keeps the connection open)."""

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.count = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.loop = asyncio.new_event_loop()
        self.gate = asyncio.Event()
        ready = threading.Event()
        self.port = 0

        def run() -> None:
            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
                self.port = server.sockets[0].getsockname()[1]
                ready.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def open(self) -> None:
        self.loop.call_soon_threadsafe(self.gate.set)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_line := await reader.readline():
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                del request_line
                if self.hang:
                    await asyncio.sleep(3600)
                await self.gate.wait()
                self.count += 1
                now = time.monotonic()
                self.first_at = self.first_at or now
                self.last_at = now
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def create_endpoint(base: str, token: str, url: str) -> None:
    response = httpx.post(
        f"{base}/api/webhook-endpoints",
        json={"url": url, "events": ["client.created"]},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code != 201:
        raise SystemExit(f"bench: endpoint not created: {response.status_code} {response.text[:200]}")


def write_clients(base: str, token: str, count: int, label: str) -> float:
    """`count` POST /api/clients from 8 threads; returns the seconds it took."""
    headers = {"authorization": f"Bearer {token}"}
    started = time.monotonic()

    def one(i: int) -> None:
        with httpx.Client(timeout=60) as http:
            response = http.post(f"{base}/api/clients", json={"name": f"{label} {i}"}, headers=headers)
            if response.status_code != 201:
                raise SystemExit(f"bench: write failed: {response.status_code} {response.text[:200]}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    return time.monotonic() - started


def wait_for_deliveries(base: str, token: str, count: int, timeout: float) -> float:
    """Until the user's endpoint has `count` deliveries (the list's `total`); returns the seconds waited."""
    headers = {"authorization": f"Bearer {token}"}
    started = time.monotonic()
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        [endpoint] = http.get("/api/webhook-endpoints").json()["items"]
        while True:
            listed = http.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries", params={"limit": 1})
            if listed.json()["total"] >= count:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise SystemExit(f"bench: the fan-out made {listed.json()['total']} of {count} deliveries")
            time.sleep(0.2)


def wait_for(receiver: Receiver, count: int, timeout: float) -> float:
    started = time.monotonic()
    while receiver.count < count:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"bench: only {receiver.count} of {count} deliveries arrived in {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started


def health_during(base: str, seconds: int) -> WrkResult:
    return wrk(f"{base}/health", seconds, CONNECTIONS)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--slow-events", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=0, help="wrk duration; 0: 10 s")
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CORE})
    os.environ.update({"WORKER": "inline", "WEBHOOK_ALLOW_PRIVATE_URLS": "true", "LOG_LEVEL": "WARNING"})
    log_dir = Path(tempfile.mkdtemp(prefix="orbix-bench-webhooks-"))
    results: dict[str, object] = {}
    try:
        server = Server("granian", "orbix", log_dir, bcrypt_rounds=4)
        base = server.base
        fast = Receiver()
        token = register(base, "fast@bench.example")
        create_endpoint(base, token, fast.url)

        baseline = health_during(base, args.seconds or 8)
        baseline_one = wrk(f"{base}/health", 8, 1)
        # the receiver holds the first attempts, so every delivery is queued before any runs
        write_seconds = write_clients(base, token, args.deliveries, "fast")
        # the fan-out (every second, paced like the rest of the worker) may still be turning events into
        # deliveries: the measure starts once all of them exist, so that it sees deliveries only
        fanned_out_in = wait_for_deliveries(base, token, args.deliveries, 600)
        seconds = args.seconds or 10  # inside the delivery; wrk keeps the worker at its busy share
        # the same server in the same state (its store as large, every delivery queued) but nothing
        # delivered yet: the receiver holds the attempts in flight
        held = health_during(base, seconds)
        held_one = wrk(f"{base}/health", 8, 1)
        fast.open()
        with ThreadPoolExecutor(1) as pool:
            opened = time.monotonic()

            def measure() -> tuple[WrkResult, WrkResult, float]:
                saturated = health_during(base, seconds)
                one = wrk(f"{base}/health", 8, 1)
                return saturated, one, time.monotonic() - opened

            measuring = pool.submit(measure)
            delivered_in = wait_for(fast, args.deliveries, 600)
            loaded, loaded_one, measured_for = measuring.result()
        rate = args.deliveries / delivered_in
        results.update(
            baseline_p99_ms=baseline.p99_ms,
            baseline_rps=baseline.rps,
            delivering_p99_ms=loaded.p99_ms,
            delivering_rps=loaded.rps,
            p99_ratio=round(loaded.p99_ms / baseline.p99_ms, 2),
            held_p99_ms=held.p99_ms,
            held_rps=held.rps,
            p99_ratio_to_held=round(loaded.p99_ms / held.p99_ms, 2),
            deliveries=args.deliveries,
            delivered_seconds=round(delivered_in, 2),
            deliveries_per_second=round(rate, 1),
            write_seconds=round(write_seconds, 1),
            fanned_out_after_writes_seconds=round(fanned_out_in, 1),
            wrk_seconds=seconds,
            one_connection_baseline_p99_ms=baseline_one.p99_ms,
            one_connection_delivering_p99_ms=loaded_one.p99_ms,
            one_connection_p99_ratio=round(loaded_one.p99_ms / baseline_one.p99_ms, 2),
            one_connection_held_p99_ms=held_one.p99_ms,
            overlap_note="both wrk runs ended inside the delivery"
            if measured_for < delivered_in
            else "the delivery ended before wrk did: part of the run measured an idle worker",
        )

        # Isolation: a receiver that never answers, beside the fast one.
        dead = Receiver(hang=True)
        dead_token = register(base, "dead@bench.example")
        create_endpoint(base, dead_token, dead.url)
        before = fast.count
        write_clients(base, dead_token, args.slow_events, "dead")
        write_clients(base, token, args.deliveries, "fast again")
        with_dead = wait_for(fast, before + args.deliveries, 600)
        results.update(
            with_dead_receiver_delivered_seconds=round(with_dead, 2),
            with_dead_receiver_deliveries_per_second=round(args.deliveries / with_dead, 1),
            note_isolation="second batch: writes and deliveries overlap (the receiver is open), so its "
            "time includes the writes; compare with write_seconds",
        )
    finally:
        stop_all()
    print(json.dumps(results, indent=2))
    print(
        f"\n/health p99 ({CONNECTIONS} connections): {results['baseline_p99_ms']:.2f} ms idle,"
        f" {results['held_p99_ms']:.2f} ms with every delivery queued and none made,"
        f" {results['delivering_p99_ms']:.2f} ms while delivering ({results['p99_ratio']}x the idle,"
        f" {results['p99_ratio_to_held']}x the queued);"
        f" one connection: {baseline_one.p99_ms:.2f} ms idle, {loaded_one.p99_ms:.2f} ms while delivering"
        f" ({results['one_connection_p99_ratio']}x); {results['deliveries']} deliveries in"
        f" {results['delivered_seconds']} s = {results['deliveries_per_second']}/s; with a dead receiver"
        f" beside it: {results['with_dead_receiver_deliveries_per_second']}/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
