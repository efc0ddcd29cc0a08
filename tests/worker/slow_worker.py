"""A real worker process for the SIGTERM test: the production serve_worker with one job that takes 1.5 s.
Prints "job started" when the job runs, and the job's final state after the worker has stopped."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.config import Settings
from app.worker import enqueue, register_handler
from app.worker.jobs import get
from app.worker.process import serve_worker

job_ids: list[Any] = []


async def slow(payload: dict[str, Any]) -> None:
    print("job started", flush=True)
    await asyncio.sleep(1.5)


def register(settings: Settings) -> None:
    register_handler("test.slow", slow)

    async def enqueue_one() -> None:
        job_ids.append(await enqueue("test.slow", {}))

    asyncio.get_running_loop().create_task(enqueue_one())


async def main() -> None:
    from app.main import DOCUMENT_MODELS

    await serve_worker(Settings.from_env(), DOCUMENT_MODELS, register)
    job = await get(job_ids[0])  # the embedded store outlives its closed client
    assert job is not None
    print(f"job {job['status']} after {job['attempts']} attempt(s)", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
