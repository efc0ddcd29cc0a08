"""Can one organisation slow another's documents? Orbix under granian (one worker, as production runs it) on
loopback, the rendering limits at their defaults but for the page cap and the time limit, raised so that
owner A may render its ~944-page drafts (200 lines of 250 text lines each, every draft different, so no
render reuses another's layout). Owner B sends one-line Factur-X invoices, one after another: with nothing
else running (idle), then while A keeps `--downloads` downloads of its drafts in flight (A's load runs in its
own process, in the idle scheduling class, so B's client does not wait behind it), then idle again (a shared
machine's own load moves between runs: the idle figure is both idle runs together). Prints B's POST /send
times, the ratio loaded/idle (the target: at most 2x), what A got, and the renderers' memory.
  .venv/bin/python scripts/bench_render_fair.py [--sends 20] [--downloads 8] [--drafts 40]
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

from bench import CLIENT_CORE, Server, register, stop_all

from tests.documents.factories import BUYER, SELLER  # the profile the tests send with

LIMITS = {"DOCUMENT_MAX_PAGES": "2000", "RENDER_TIMEOUT_SECONDS": "600"}
ONE_LINE = {"description": "Consulting", "quantity": "1.5", "unit_price": "100"}


def long_lines(draft: int) -> list[dict[str, str]]:
    """200 lines of about 5 pages each; the first text line makes every cell of every draft different."""
    return [
        {"description": f"{draft:04d}-{n:03d}\n" + "a\n" * 244, "quantity": "1", "unit_price": "1"}
        for n in range(200)
    ]


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


async def owner(client: httpx.AsyncClient, base: str, email: str) -> tuple[dict[str, str], str]:
    """A registered owner with the Factur-X profile and a buyer: (its headers, the buyer's id)."""
    auth = {"Authorization": f"Bearer {await asyncio.to_thread(register, base, email)}"}
    response = await client.patch("/api/auth/me", json={"business": SELLER}, headers=auth)
    assert response.status_code == 200, response.text
    return auth, (await client.post("/api/clients", json=BUYER, headers=auth)).json()["id"]


async def drafts(
    client: httpx.AsyncClient, auth: dict[str, str], buyer: str, lines: Any, count: int
) -> list[str]:
    made = []
    for n in range(count):
        body = {"client_id": buyer, "lines": lines(n) if callable(lines) else lines, "tax_rate": "19"}
        response = await client.post("/api/invoices", json=body, headers=auth)
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    return made


async def send_each(client: httpx.AsyncClient, auth: dict[str, str], ids: list[str]) -> list[float]:
    """B's sends, one after another: each one's time, end to end, in ms."""
    times = []
    for draft in ids:
        started = time.perf_counter()
        response = await client.post(f"/api/invoices/{draft}/send", headers=auth)
        assert response.status_code == 200, response.text
        times.append((time.perf_counter() - started) * 1000)
    return times


def hammer(
    base: str, auth: dict[str, str], ids: list[str], downloads: int, running: Any, stop: Any, out: Any
) -> None:
    """A's load, in its own process: `downloads` loops, each downloading the next draft as soon as its last
    answer came (a 429 too); counts what came back."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    async def run() -> dict[str, Any]:
        seen: dict[str, Any] = {"200": [], "429": 0, "other": []}
        pages = iter(ids * 100)

        async def loop() -> None:
            async with httpx.AsyncClient(base_url=base, headers=auth, timeout=900) as client:
                while not stop.is_set():
                    began = time.perf_counter()
                    response = await client.get(f"/api/invoices/{next(pages)}/pdf")
                    if response.status_code == 200:
                        seen["200"].append((time.perf_counter() - began) * 1000)
                    elif response.status_code == 429:
                        seen["429"] += 1
                    else:
                        seen["other"].append(response.status_code)

        tasks = [asyncio.create_task(loop()) for _ in range(downloads)]
        running.set()
        await asyncio.gather(*tasks)
        return seen

    out.put(asyncio.run(run()))


def renderers_rss_mb(server_pid: int) -> float:
    """Resident memory of the server's rendering processes (its spawned children named multiprocessing)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if b"multiprocessing.spawn" in command and os.getsid(int(entry.name)) == os.getsid(server_pid):
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return total / 1024


def row(label: str, values: list[float]) -> str:
    return (
        f"| {label} | {len(values)} | {statistics.median(values):.0f} | {percentile(values, 90):.0f} "
        f"| {max(values):.0f} |"
    )


async def scenario(server: Server, args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=900) as client:
        a_auth, a_buyer = await owner(client, server.base, "bench-fair-a@example.com")
        b_auth, b_buyer = await owner(client, server.base, "bench-fair-b@example.com")
        c_auth, c_buyer = await owner(client, server.base, "bench-fair-c@example.com")
        a_drafts = await drafts(client, a_auth, a_buyer, long_lines, args.drafts)
        b_drafts = await drafts(client, b_auth, b_buyer, [ONE_LINE], 3 * args.sends + 2)
        c_draft = (await drafts(client, c_auth, c_buyer, [ONE_LINE], 1))[0]
        # Start every renderer and compile the Schematron in each: two sends of B and one of C at once.
        warm = [client.post(f"/api/invoices/{d}/send", headers=b_auth) for d in b_drafts[-2:]]
        warm.append(client.post(f"/api/invoices/{c_draft}/send", headers=c_auth))
        assert all(r.status_code == 200 for r in await asyncio.gather(*warm))
        idle = await send_each(client, b_auth, b_drafts[: args.sends])
        rss_idle = renderers_rss_mb(server.process.pid)

        context = multiprocessing.get_context("spawn")
        running, stop, out = context.Event(), context.Event(), context.Queue()
        load = context.Process(
            target=hammer, args=(server.base, a_auth, a_drafts, args.downloads, running, stop, out)
        )
        load.start()
        await asyncio.to_thread(running.wait)
        await asyncio.sleep(args.settle)  # A's first renders are under way and its door is full
        loaded = await send_each(client, b_auth, b_drafts[args.sends : 2 * args.sends])
        rss_loaded = renderers_rss_mb(server.process.pid)
        stop.set()
        seen = await asyncio.to_thread(out.get)
        load.join()
        idle += await send_each(client, b_auth, b_drafts[2 * args.sends : 3 * args.sends])

    print("| B: POST /send, Factur-X, one after another | count | p50 ms | p90 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(row("nothing else running (before and after A's load)", idle))
    print(row(f"while A keeps {args.downloads} downloads of ~944-page drafts in flight", loaded))
    print(f"\nB's p50 ratio: {statistics.median(loaded) / statistics.median(idle):.2f}x (target: at most 2x)")
    print(f"B's p90 ratio: {percentile(loaded, 90) / percentile(idle, 90):.2f}x\n")
    done = seen["200"]
    print(
        f"A meanwhile: {len(done)} downloads of 200 (p50 {statistics.median(done) if done else 0:.0f} ms), "
        f"{seen['429']} answered 429 quota_exceeded after waiting at its door, other answers: {seen['other']}"
    )
    print(f"Renderers' resident memory: {rss_idle:.0f} MB idle (warmed), {rss_loaded:.0f} MB under A's load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=20, help="B's sends in each run")
    parser.add_argument("--downloads", type=int, default=8, help="A's downloads kept in flight")
    parser.add_argument("--drafts", type=int, default=40, help="A's distinct long drafts (cycled)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of A's load before B's run")
    args = parser.parse_args()
    os.environ.update(LIMITS)  # the server's environment is this one's (bench.server_environment)
    os.sched_setaffinity(0, {CLIENT_CORE})
    with tempfile.TemporaryDirectory() as logs:
        server = Server("granian", "orbix", Path(logs), bcrypt_rounds=4)
        try:
            asyncio.run(scenario(server, args))
        finally:
            server.stop()
            stop_all()


if __name__ == "__main__":
    main()
