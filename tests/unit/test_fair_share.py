"""app/documents/fair.py on its own: who gets a renderer, who waits at the door, and what a cancelled render
gives back. Renders are tasks that hold their turn until their event is set."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.core.errors import QuotaExceeded
from app.documents.fair import FairShare


class Renders:
    def __init__(self, share: FairShare) -> None:
        self.share = share
        self.slots: dict[str, int] = {}
        self.ends: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str) -> asyncio.Task[None]:
        """A render of organisation `name[0]`, known as `name`."""
        self.ends[name] = asyncio.Event()

        async def render() -> None:
            async with self.share.turn(name[0]) as slot:
                self.slots[name] = slot
                await self.ends[name].wait()

        self.tasks[name] = asyncio.create_task(render())
        return self.tasks[name]

    async def end(self, name: str) -> None:
        self.ends[name].set()
        await self.tasks[name]


async def until(condition: Any) -> None:
    """Let the loop run until `condition()` holds: every step here is a few loop turns."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never held")


async def test_a_free_renderer_goes_to_the_organisation_with_the_fewest_running():
    renders = Renders(FairShare(renderers=3, per_org=2, wait_seconds=60))
    for name in ("a1", "a2", "c1"):
        renders.start(name)
    await until(lambda: len(renders.slots) == 3)
    renders.start("c2")  # queued first, but its organisation has one running already
    await until(lambda: renders.share.queued("c") == 1)
    renders.start("b1")
    await until(lambda: renders.share.queued("b") == 1)

    await renders.end("a1")
    await until(lambda: "b1" in renders.slots)
    assert renders.slots["b1"] == renders.slots["a1"] and "c2" not in renders.slots
    await renders.end("a2")
    await until(lambda: "c2" in renders.slots)
    for name in ("b1", "c1", "c2"):
        await renders.end(name)
    assert (renders.share.running("a"), renders.share.running("b"), renders.share.running("c")) == (0, 0, 0)


async def test_a_render_at_the_door_gets_in_when_one_of_its_organisation_ends():
    renders = Renders(FairShare(renderers=3, per_org=2, wait_seconds=60))
    for name in ("a1", "a2", "a3"):
        renders.start(name)
    await until(lambda: renders.share.waiting("a") == 1 and len(renders.slots) == 2)
    await renders.end("a1")
    await until(lambda: "a3" in renders.slots)
    assert renders.share.waiting("a") == 0 and renders.share.running("a") == 2


async def test_the_wait_at_the_door_ends_in_429_naming_the_setting():
    share = FairShare(renderers=3, per_org=1, wait_seconds=0.01)
    renders = Renders(share)
    renders.start("a1")
    await until(lambda: "a1" in renders.slots)
    with pytest.raises(QuotaExceeded) as refused:
        async with share.turn("a"):
            pass
    assert refused.value.limit == "RENDER_CONCURRENCY_PER_ORG"
    assert refused.value.headers["Retry-After"] == "1"
    assert share.waiting("a") == 0
    await renders.end("a1")


async def test_cancelled_renders_give_their_place_back():
    renders = Renders(FairShare(renderers=1, per_org=1, wait_seconds=60))
    renders.start("a1")
    await until(lambda: "a1" in renders.slots)
    renders.start("a2")  # at the door
    renders.start("b1")  # admitted, queued for the one renderer
    await until(lambda: renders.share.waiting("a") == 1 and renders.share.queued("b") == 1)
    for name in ("a2", "b1"):
        renders.tasks[name].cancel()
    await asyncio.gather(renders.tasks["a2"], renders.tasks["b1"], return_exceptions=True)
    assert renders.share.waiting("a") == 0 and renders.share.queued("b") == 0

    await renders.end("a1")
    renders.start("b2")  # the renderer and b's admission are free again
    await until(lambda: "b2" in renders.slots)
    await renders.end("b2")
