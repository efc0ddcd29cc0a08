"""Does rendering delay other requests? Orbix under granian (one worker, as production runs it) on loopback:
GET /health latency from one sequential client, first with nothing else running, then while 20 PDF renders
(a 200-line draft, and sends of Factur-X invoices: render + XSD + Schematron + embed) are in flight at once.
Prints p50/p99/max of /health for both, and the render times. Usage:
  .venv/bin/python scripts/bench_documents.py [--samples 2000] [--renders 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import Server, register, stop_all

from tests.documents.factories import BUYER, SELLER  # the profile the tests send with


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


async def health_latencies(base: str, samples: int, until: asyncio.Event | None = None) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while len(latencies) < samples and not (until and until.is_set()):
            started = time.perf_counter()
            response = await client.get("/health")
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return latencies


async def renders(base: str, auth: dict[str, str], count: int) -> tuple[list[float], list[float]]:
    """`count` concurrent requests: half download a 200-line draft PDF, half send a Factur-X invoice."""
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=300) as client:
        await client.patch("/api/auth/me", json={"business": SELLER})
        client_id = (await client.post("/api/clients", json=BUYER)).json()["id"]
        line = {"description": "Consulting", "quantity": "1.5", "unit_price": "100"}
        big = (
            await client.post("/api/invoices", json={"client_id": client_id, "lines": [line] * 200})
        ).json()
        drafts = [
            (
                await client.post(
                    "/api/invoices", json={"client_id": client_id, "lines": [line], "tax_rate": "19"}
                )
            ).json()
            for _ in range(count - count // 2)
        ]
        warm = await client.post(
            f"/api/invoices/{drafts.pop()['id']}/send"
        )  # spawns the pool, compiles Saxon
        assert warm.status_code == 200, warm.text
        await client.get(f"/api/invoices/{big['id']}/pdf")
        pdf_times: list[float] = []
        send_times: list[float] = []

        async def pdf() -> None:
            started = time.perf_counter()
            response = await client.get(f"/api/invoices/{big['id']}/pdf")
            assert response.status_code == 200, response.text
            pdf_times.append((time.perf_counter() - started) * 1000)

        async def send(invoice_id: str) -> None:
            started = time.perf_counter()
            response = await client.post(f"/api/invoices/{invoice_id}/send")
            assert response.status_code == 200, response.text
            send_times.append((time.perf_counter() - started) * 1000)

        jobs = [pdf() for _ in range(count // 2 + 1)] + [send(draft["id"]) for draft in drafts]
        await asyncio.gather(*jobs)
        return pdf_times, send_times


def row(label: str, values: list[float]) -> str:
    return (
        f"| {label} | {len(values)} | {statistics.median(values):.2f} | {percentile(values, 99):.2f} "
        f"| {max(values):.2f} |"
    )


async def scenario(base: str, token: str, args: argparse.Namespace) -> None:
    quiet = await health_latencies(base, args.samples)
    done = asyncio.Event()
    auth = {"Authorization": f"Bearer {token}"}

    async def load() -> tuple[list[float], list[float]]:
        try:
            return await renders(base, auth, args.renders)
        finally:
            done.set()

    render_task = asyncio.create_task(load())
    await asyncio.sleep(0)
    loaded = await health_latencies(base, 10**9, until=done)
    pdf_times, send_times = await render_task
    print("| GET /health | samples | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(row("nothing else running", quiet))
    print(row(f"{args.renders} documents rendering at once", loaded))
    print()
    print("| render, end to end over HTTP | count | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    print(row("GET /pdf of a 200-line draft", pdf_times))
    print(row("POST /send, Factur-X (render + XSD + Schematron + embed + store)", send_times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--renders", type=int, default=20)
    args = parser.parse_args()
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
