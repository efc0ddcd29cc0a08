"""The loop share: a worker's coroutines are timed step by step, and a worker with a share claims new jobs
only as fast as that share of the loop allows."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from app.worker import enqueue, register_handler
from app.worker.share import LoopShare


def _busy(seconds: float) -> None:
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


async def test_only_the_steps_on_the_loop_are_counted_not_the_waits() -> None:
    share = LoopShare(1.0)

    async def job() -> str:
        _busy(0.02)
        await asyncio.sleep(0.1)  # waiting: not the job's time on the loop
        _busy(0.02)
        return "done"

    assert await share.timed(job()) == "done"
    assert 0.035 < share.spent < 0.08


async def test_errors_and_cancellation_go_through_the_timed_coroutine() -> None:
    share = LoopShare(1.0)
    cleaned: list[str] = []

    async def failing() -> None:
        _busy(0.005)
        raise ValueError("no")

    with pytest.raises(ValueError):
        await share.timed(failing())

    async def waiting() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cleaned.append("released")
            raise

    task = asyncio.create_task(share.timed(waiting()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["released"]


async def test_a_worker_with_a_share_takes_about_that_share_of_the_loop(make_worker: Any) -> None:
    """Jobs that each hold the loop for 10 ms: with a quarter of the loop, the worker runs about 25 of them a
    second; without a share it runs them back to back (about 100 a second)."""
    runs: list[float] = []

    async def heavy(payload: dict[str, Any]) -> None:
        _busy(0.01)
        runs.append(time.monotonic())

    register_handler("test.heavy", heavy)

    async def rate(worker: Any) -> float:
        runs.clear()
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(0.01)
        for n in range(200):
            await enqueue("test.heavy", {"n": n})
        await asyncio.sleep(1.0)
        worker.stop()
        await running
        return len(runs)

    capped = await rate(make_worker(concurrency=4, loop_share=0.25))
    free = await rate(make_worker(concurrency=4))
    assert capped < 40, f"{capped} jobs of 10 ms in a second with a quarter of the loop"
    assert free > 2 * capped, (free, capped)


async def test_steps_of_jobs_already_running_wait_for_the_share_one_at_a_time() -> None:
    """Two running jobs of 5 ms steps with half the loop: after each step the next one (of either job) waits
    out the debt, so the worker never holds the loop for two steps in a row, and the loop is free between."""
    share = LoopShare(0.5)
    spans: list[tuple[float, float]] = []

    async def job() -> None:
        for _ in range(6):
            started = time.perf_counter()
            _busy(0.005)
            spans.append((started, time.perf_counter()))
            await asyncio.sleep(0)  # ready again at once: only the share can hold it back

    await asyncio.gather(share.timed(job()), share.timed(job()))
    spans.sort()
    gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(spans)]
    assert len(gaps) == 11
    # 2 ms of credit at most: a 5 ms step leaves 3 ms of debt, repaid in 6 ms at half the loop.
    assert min(gaps[1:]) > 0.004, [round(gap * 1000, 2) for gap in gaps]


async def test_a_timed_coroutine_that_waits_for_its_turn_itself_is_not_stuck() -> None:
    """The worker's tick is timed and waits for the share before each claim: a wait inside a timed
    coroutine, while other timed coroutines spend the credit, must end (a lock held by the inner wait once
    blocked the outer one for good: the inline worker stopped after two deliveries)."""
    share = LoopShare(0.5)

    async def ticking() -> int:
        for _ in range(8):
            _busy(0.003)
            await asyncio.sleep(0)  # the step ends and is spent
            await share.wait_turn()  # as Worker._fill_slots does inside the timed _tick
        return 8

    async def others() -> None:  # steps of other coroutines, landing while the tick waits
        for _ in range(40):
            await asyncio.sleep(0.001)
            share.spend(0.001)

    done = await asyncio.wait_for(asyncio.gather(share.timed(ticking()), others()), timeout=5)
    assert done[0] == 8


async def test_the_share_is_the_idle_one_while_no_request_is_served() -> None:
    """One coroutine of 2 ms steps for 0.4 s: with 10 % while requests are served it gets about 40 ms of
    the loop; with 80 % while none are, about 320 ms. The API's activity flips the rate at once."""
    serving = [True]
    share = LoopShare(0.1, idle_share=0.8, busy=lambda: serving[0])

    async def steps(seconds: float) -> float:
        spent_before = share.spent
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            _busy(0.002)
            await asyncio.sleep(0)
        return share.spent - spent_before

    async def measured(seconds: float) -> float:
        return await share.timed(steps(seconds))

    busy_spent = await measured(0.4)
    serving[0] = False
    idle_spent = await measured(0.4)
    assert 0.02 < busy_spent < 0.07, busy_spent
    assert 0.24 < idle_spent < 0.36, idle_spent


def test_requests_in_flight_or_just_ended_count_as_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core import activity as activity_module
    from app.core.activity import RequestActivity

    activity = RequestActivity()
    assert not activity.busy()
    activity.started()
    assert activity.busy()
    activity.ended()
    assert activity.busy()  # a client that waits for each answer sends its next request at once
    monkeypatch.setattr(activity_module, "QUIET_SECONDS", 0.0)
    assert not activity.busy()


async def test_the_app_counts_its_requests_health_included(app: Any, client: Any) -> None:
    from app.core.activity import RequestActivity

    seen: list[int] = []
    activity: RequestActivity = app.state.activity
    ended = activity.ended

    def spy() -> None:
        seen.append(activity.in_flight)
        ended()

    activity.ended = spy  # type: ignore[method-assign]
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/api/auth/me")).status_code == 401
    assert seen == [1, 1] and activity.in_flight == 0
