"""Does rendering delay other requests? Orbix under granian (one worker, as production runs it) on loopback:
GET /health latency from one sequential client (wrk, one connection), first with nothing else running, then
while `--renders` document requests are kept in flight at once for the same time (half download a 200-line
draft PDF, half send a Factur-X invoice: render + XSD + Schematron + embed + store). Prints p50/p99 of
/health for both, and the render times. The load and wrk run on the client core (scripts/bench.py), in
other processes than the sampler's (the load in the idle scheduling class), so the measuring client is not
held up by the load's own responses.
  ./scripts/bench documents [--seconds 10] [--renders 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import CLIENT_CORE, Server, WrkResult, register, stop_all, wrk

from tests.documents.factories import BUYER, SELLER  # the profile the tests send with

LINE = {"description": "Consulting", "quantity": "1.5", "unit_price": "100"}


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


async def prepare(client: httpx.AsyncClient, drafts: int) -> tuple[str, list[str]]:
    """The seller's profile, a buyer, a 200-line draft and `drafts` one-line drafts to send; one send and
    one download first (they start the rendering pool and compile the Schematron)."""
    await client.patch("/api/auth/me", json={"business": SELLER})
    client_id = (await client.post("/api/clients", json=BUYER)).json()["id"]
    big = (await client.post("/api/invoices", json={"client_id": client_id, "lines": [LINE] * 200})).json()
    body = {"client_id": client_id, "lines": [LINE], "tax_rate": "19"}
    ids = [(await client.post("/api/invoices", json=body)).json()["id"] for _ in range(drafts + 1)]
    warm = await client.post(f"/api/invoices/{ids.pop()}/send")
    assert warm.status_code == 200, warm.text
    assert (await client.get(f"/api/invoices/{big['id']}/pdf")).status_code == 200
    return big["id"], ids


async def keep_rendering(
    client: httpx.AsyncClient, big_id: str, drafts: list[str], concurrency: int, stop: asyncio.Event
) -> tuple[list[float], list[float]]:
    """`concurrency` loops, each starting its next document request as soon as the last one answered."""
    pdf_times: list[float] = []
    send_times: list[float] = []
    unsent = iter(drafts)

    async def loop(sends: bool) -> None:
        while not stop.is_set():
            draft = next(unsent, None) if sends else None
            started = time.perf_counter()
            if draft is None:
                response = await client.get(f"/api/invoices/{big_id}/pdf")
                times = pdf_times
            else:
                response = await client.post(f"/api/invoices/{draft}/send")
                times = send_times
            assert response.status_code == 200, response.text
            times.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(loop(n % 2 == 1) for n in range(concurrency)))
    return pdf_times, send_times


def row(label: str, values: list[float]) -> str:
    if not values:
        return f"| {label} | 0 | | | |"
    return (
        f"| {label} | {len(values)} | {statistics.median(values):.2f} | {percentile(values, 99):.2f} "
        f"| {max(values):.2f} |"
    )


def health_row(label: str, result: WrkResult) -> str:
    return f"| {label} | {result.requests} | {result.p50_ms:.2f} | {result.p99_ms:.2f} |"


def load_process(
    base: str, token: str, big_id: str, drafts: list[str], concurrency: int, stop: Any, out: Any
) -> None:
    """The render load, in its own process in the idle scheduling class: it shares the client core with
    wrk, and the measuring client must not wait behind the load's own work (its users would be elsewhere)."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    async def run() -> tuple[list[float], list[float]]:
        auth = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=concurrency + 5)
        done = asyncio.Event()
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=300, limits=limits) as client:
            load = asyncio.create_task(keep_rendering(client, big_id, drafts, concurrency, done))
            await asyncio.to_thread(stop.wait)
            done.set()
            return await load

    out.put(asyncio.run(run()))


async def scenario(base: str, token: str, args: argparse.Namespace) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=300) as client:
        big_id, drafts = await prepare(client, args.drafts)
    quiet = await asyncio.to_thread(wrk, f"{base}/health", args.seconds, 1)
    context = multiprocessing.get_context("spawn")
    stop, out = context.Event(), context.Queue()
    load = context.Process(target=load_process, args=(base, token, big_id, drafts, args.renders, stop, out))
    load.start()
    await asyncio.sleep(3)  # every loop has a request in flight
    loaded = await asyncio.to_thread(wrk, f"{base}/health", args.seconds, 1)
    stop.set()
    pdf_times, send_times = await asyncio.to_thread(out.get)
    load.join()
    print("| GET /health, one sequential client (wrk -c1) | requests | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    print(health_row("nothing else running", quiet))
    print(health_row(f"{args.renders} document requests in flight", loaded))
    print(f"\n/health p99 ratio: {loaded.p99_ms / quiet.p99_ms:.2f}x\n")
    print("| render, end to end over HTTP, during the run | count | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(row("GET /pdf of a 200-line draft", pdf_times))
    print(row("POST /send, Factur-X (render + XSD + Schematron + embed + store)", send_times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="each /health run")
    parser.add_argument("--renders", type=int, default=20, help="document requests kept in flight")
    parser.add_argument("--drafts", type=int, default=120, help="drafts made for the sends")
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CORE})
    with tempfile.TemporaryDirectory() as logs:
        server = Server("granian", "orbix", Path(logs), bcrypt_rounds=4)
        try:
            token = register(server.base, "bench-documents@example.com")
            asyncio.run(scenario(server.base, token, args))
        finally:
            server.stop()
            stop_all()


if __name__ == "__main__":
    main()
