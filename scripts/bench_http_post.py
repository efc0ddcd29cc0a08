"""Event-loop CPU per webhook POST: httpx against the deliveries' own client (app/webhooks/http_post.py, h11
over asyncio streams), side by side in one run, on asyncio's loop and on uvloop.

The webhook bench's receiver, in another process, answers 204 on loopback; two coroutines POST a
signed-size body over kept-alive connections. The figure is the CPU time of this process's thread per
request (time.thread_time): what the inline worker takes from the API's event loop for each delivery's
HTTP part.

    .venv/bin/python scripts/bench_http_post.py [--requests 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from app.webhooks.http_post import Origin, Poster

BODY = b'{"id":"evt_65f0c0ffee","type":"client.created","data":{"name":"Acme GmbH","currency":"EUR"}}' * 3
HEADERS = {
    "webhook-id": "65f0c0ffee0000000000000a",
    "webhook-timestamp": "1700000000",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    "content-type": "application/json",
    "user-agent": "Orbix-Webhooks/1.0",
}


def receive(ports: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """The webhook bench's receiver (204 to every POST), open from the start, in this child process."""
    from bench_webhooks import Receiver

    receiver = Receiver()
    receiver.open()
    ports.put(receiver.port)
    threading.Event().wait()


async def cpu_per_request(one: Callable[[], Awaitable[int]], requests: int) -> float:
    for _ in range(50):  # connections open, code warm
        assert await one() == 204
    started = time.thread_time()

    async def client(count: int) -> None:
        for _ in range(count):
            assert await one() == 204

    await asyncio.gather(client(requests // 2), client(requests - requests // 2))
    return (time.thread_time() - started) / requests * 1000


async def with_httpx(port: int, requests: int) -> float:
    async with httpx.AsyncClient(follow_redirects=False, timeout=httpx.Timeout(10), trust_env=False) as http:

        async def one() -> int:
            response = await http.post(
                f"http://127.0.0.1:{port}/hooks", content=BODY, headers={**HEADERS, "host": "hooks.example"}
            )
            await response.aclose()
            return response.status_code

        return await cpu_per_request(one, requests)


async def with_poster(port: int, requests: int) -> float:
    poster = Poster(max_connections=64, max_idle=16)
    headers = [("host", "hooks.example"), *HEADERS.items()]

    async def one() -> int:
        async with asyncio.timeout(10):
            return (await poster.post(Origin("127.0.0.1", port, None), "/hooks", headers, BODY)).status

    try:
        return await cpu_per_request(one, requests)
    finally:
        await poster.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    receiver = multiprocessing.Process(target=receive, args=(ports,), daemon=True)
    receiver.start()
    port = ports.get(timeout=30)
    import uvloop

    print("| loop | client | CPU ms per POST (each round) |")
    print("|---|---|---|")
    try:
        for loop_name, run in (("asyncio", asyncio.run), ("uvloop", uvloop.run)):
            for name, fn in (("httpx", with_httpx), ("http_post (h11)", with_poster)):
                rounds = [run(fn(port, args.requests)) for _ in range(args.rounds)]
                print(f"| {loop_name} | {name} | {', '.join(f'{value:.3f}' for value in rounds)} |")
    finally:
        receiver.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
