"""What pacing costs: the same embedded-store operation (a find_one by _id over 3,000 jobs) back to back, and
with the event loop idle for 1, 5 and 20 ms between calls. The inline worker's steps come between the
requests' like the spaced calls here, and each pays for the caches the others left cold.

    .venv/bin/python scripts/bench_paced_ops.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.core.embedded_store import build_client


async def main(calls: int) -> None:
    jobs = build_client()["bench"]["jobs"]
    ids = [
        (
            await jobs.insert_one({"kind": "webhook.deliver", "status": "pending", "payload": {"n": n}})
        ).inserted_id
        for n in range(3000)
    ]
    print("| idle between calls | median µs | p90 µs |")
    print("|---:|---:|---:|")
    for gap in (0.0, 0.001, 0.005, 0.02):
        timings = []
        for n in range(calls):
            if gap:
                await asyncio.sleep(gap)
            started = time.perf_counter()
            await jobs.find_one({"_id": ids[n]})
            timings.append(time.perf_counter() - started)
        timings.sort()
        median, p90 = timings[len(timings) // 2], timings[int(len(timings) * 0.9)]
        print(f"| {gap * 1000:g} ms | {median * 1e6:.0f} | {p90 * 1e6:.0f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(main(parser.parse_args().calls))
