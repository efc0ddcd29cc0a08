"""Deterministic interleavings: run a competing request at the exact point of another one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest


def run_competitor(
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    competitor: Callable[[], Awaitable[Any]],
    *,
    before: bool = True,
) -> list[Any]:
    """Patch the async callable `owner.name` so its first call runs `competitor()` to completion just
    before it (before=True) or just after it (before=False). Returns a list that receives the competitor's
    result."""
    original = getattr(owner, name)
    results: list[Any] = []
    started: list[bool] = []

    async def patched(*args: Any, **kwargs: Any) -> Any:
        if started:
            return await original(*args, **kwargs)
        started.append(True)
        if before:
            results.append(await competitor())
            return await original(*args, **kwargs)
        value = await original(*args, **kwargs)
        results.append(await competitor())
        return value

    monkeypatch.setattr(owner, name, patched)
    return results
