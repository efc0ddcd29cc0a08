"""Password hashing: bcrypt in a bounded thread pool, off the event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bcrypt

MAX_BCRYPT_BYTES = 72  # bcrypt reads no further (and bcrypt>=5 raises on longer input)


def _hashing_threads() -> int:
    """Every core but one: however many logins arrive at once, the event loop keeps a core to answer on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


_hashing_pool: ThreadPoolExecutor | None = None


async def _off_the_loop(function: Callable[..., Any], *args: Any) -> Any:
    """Run bcrypt in the process-wide hashing pool (bcrypt releases the GIL while it works)."""
    global _hashing_pool
    if _hashing_pool is None:
        _hashing_pool = ThreadPoolExecutor(max_workers=_hashing_threads(), thread_name_prefix="bcrypt")
    return await asyncio.get_running_loop().run_in_executor(_hashing_pool, function, *args)


class PasswordHasher:
    """bcrypt off the event loop; a dummy hash makes an unknown email cost the same as a wrong password."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy_hash: bytes | None = None

    async def hash(self, password: str) -> str:
        hashed: bytes = await _off_the_loop(bcrypt.hashpw, password.encode(), bcrypt.gensalt(self.rounds))
        return hashed.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        candidate = password.encode()
        if hashed is None or len(candidate) > MAX_BCRYPT_BYTES:
            # No stored password is longer than bcrypt's 72 bytes (registration refuses it), so a longer one
            # never matches; it still costs one hash, so neither case answers faster than a wrong password.
            await _off_the_loop(bcrypt.checkpw, candidate[:MAX_BCRYPT_BYTES], await self._dummy())
            return False
        return bool(await _off_the_loop(bcrypt.checkpw, candidate, hashed.encode()))

    async def _dummy(self) -> bytes:
        if self._dummy_hash is None:
            self._dummy_hash = (await self.hash("orbix-timing-equaliser")).encode()
        return self._dummy_hash
