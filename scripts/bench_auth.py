"""Authentication by session cookie or API key against the bearer token (issue #27): store operations and
CPU per request, side by side, in one process on the embedded store.

The same authenticated read (`GET /api/clients?limit=20` over a page of 20 clients) is called through the
minimal ASGI driver of scripts/store_ops.py with each credential, in interleaved rounds (so drift of the
machine falls on all three alike); each figure is the median over the rounds of process CPU time per request.
The target: a cookie or a key costs at most one store operation to authenticate, and CPU within 10 % of the
bearer path.

    .venv/bin/python scripts/bench_auth.py [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import store_ops  # noqa: E402

PATH = "/api/clients?limit=20"


async def _per_request(
    app: store_ops.Asgi, token: str, extra: list[tuple[bytes, bytes]], count: int
) -> float:
    started = time.process_time()
    for _ in range(count):
        answer = await store_ops.request(app, "GET", PATH, token, extra=extra)
        assert answer.status == 200, answer.body
    return (time.process_time() - started) / count * 1000


async def _main(requests: int, rounds: int) -> int:
    from asgi_lifespan import LifespanManager

    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings.from_env())
    async with LifespanManager(app, startup_timeout=60):
        for _ in range(600):
            if (await store_ops.request(app, "GET", "/ready")).status == 200:
                break
            await asyncio.sleep(0.05)
        credentials = {
            "email": f"auth-{secrets.token_hex(4)}@example.com",
            "password": "bench-pass-01",
            "name": "B",
        }
        registered = await store_ops.request(
            app, "POST", "/api/auth/register", body=msgspec.json.encode(credentials)
        )
        token = msgspec.json.decode(registered.body)["access_token"]
        for n in range(20):
            await store_ops.request(
                app, "POST", "/api/clients", token, msgspec.json.encode({"name": f"C{n}"})
            )
        made = await store_ops.request(
            app,
            "POST",
            "/api/organization/api-keys",
            token,
            msgspec.json.encode({"name": "bench", "scopes": ["clients:read"]}),
        )
        key = msgspec.json.decode(made.body)["key"]
        # the session cookie carries the same kind of token; a read needs no CSRF header
        modes = {
            "bearer": (token, []),
            "cookie": ("", [(b"cookie", f"orbix_session={token}".encode())]),
            "api key": (key, []),
        }
        operations = {}
        with store_ops.counting():
            for name, (credential, extra) in modes.items():
                answer = await store_ops.request(app, "GET", PATH, credential, extra=extra)
                operations[name] = answer.tally.operations
        for credential, extra in modes.values():  # warm-up
            await _per_request(app, credential, extra, requests // 10)
        cpu: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(rounds):
            for name, (credential, extra) in modes.items():
                cpu[name].append(await _per_request(app, credential, extra, requests))
    bearer = statistics.median(cpu["bearer"])
    print(f"GET {PATH}, {requests} requests x {rounds} rounds, interleaved; median CPU per request")
    print(f"{'credential':<10} {'ops':>3} {'CPU ms':>8} {'vs bearer':>10}  operations")
    for name in modes:
        median = statistics.median(cpu[name])
        shown = ", ".join(operations[name])
        print(f"{name:<10} {len(operations[name]):>3} {median:>8.3f} {median / bearer:>9.2f}x  {shown}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    store_ops.embedded_environment()
    return asyncio.run(_main(args.requests, args.rounds))


if __name__ == "__main__":
    raise SystemExit(main())
