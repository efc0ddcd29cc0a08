"""The job loop: claim with a lease, run, record every attempt, back off with jitter, fail visibly."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest

from app.core.clock import utc_now
from app.webhooks.jobs import DeliveryJob
from app.worker import PermanentFailure, enqueue, jobs, register_handler
from app.worker.models import Job


async def _job(job_id: Any) -> dict[str, Any]:
    found = await jobs.get(job_id)
    assert found is not None
    return found


async def _make_due(job_id: Any) -> None:
    """Time travel: the retry the job waits for is due now."""
    await Job.get_motor_collection().update_one({"_id": job_id}, {"$set": {"run_at": utc_now()}})


async def test_a_job_runs_once_with_its_payload_and_its_attempt_is_recorded(worker):
    seen: list[dict[str, Any]] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(payload)

    register_handler("test.ok", handler)
    job_id = await enqueue("test.ok", {"n": 1})

    await worker.run_until_idle()
    await worker.run_until_idle()

    assert seen == [{"n": 1}]
    job = await _job(job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert [entry["outcome"] for entry in job["log"]] == ["succeeded"]
    assert job["log"][0]["error"] is None and job["log"][0]["duration_ms"] >= 0
    assert job["lease_until"] is None


async def test_enqueueing_the_same_dedupe_key_twice_is_a_no_op(worker):
    seen: list[int] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(payload["n"])

    register_handler("test.dedupe", handler)
    first = await enqueue("test.dedupe", {"n": 1}, dedupe_key="once")
    second = await enqueue("test.dedupe", {"n": 2}, dedupe_key="once")
    unkeyed = [await enqueue("test.dedupe", {"n": n}) for n in (3, 4)]  # no key: never deduplicated

    await worker.run_until_idle()

    assert first is not None and second is None and None not in unkeyed
    assert sorted(seen) == [1, 3, 4]


async def test_a_failed_attempt_is_retried_later_with_backoff_then_succeeds(worker):
    calls: list[int] = []

    async def flaky(payload: dict[str, Any]) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("receiver down")

    register_handler("test.flaky", flaky)
    job_id = await enqueue("test.flaky", {})
    before = utc_now()
    await worker.run_until_idle()

    job = await _job(job_id)
    assert job["status"] == "pending" and job["attempts"] == 1
    assert job["log"][0]["outcome"] == "retry" and job["log"][0]["error"] == "ConnectionError: receiver down"
    delay = (job["run_at"] - before).total_seconds()
    assert 30 * 0.5 - 1 <= delay <= 30 + 1, delay  # base 30 s, up to half of it taken off as jitter
    await worker.run_until_idle()
    assert len(calls) == 1, "a retry ran before its time"

    await _make_due(job_id)
    await worker.run_until_idle()
    job = await _job(job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 2 and len(calls) == 2
    assert [entry["outcome"] for entry in job["log"]] == ["retry", "succeeded"]


async def test_after_the_last_attempt_the_job_is_failed_and_keeps_its_error(worker):
    async def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("still broken")

    register_handler("test.broken", broken, max_attempts=3)
    job_id = await enqueue("test.broken", {})
    for _ in range(5):
        await worker.run_until_idle()
        await _make_due(job_id)

    job = await _job(job_id)
    assert job["status"] == "failed" and job["attempts"] == 3
    assert [entry["outcome"] for entry in job["log"]] == ["retry", "retry", "failed"]
    assert job["last_error"] == "RuntimeError: still broken"
    metrics = generate_latest(worker.metrics.registry).decode()
    assert 'orbix_jobs_total{kind="test.broken",outcome="failed"} 1.0' in metrics
    assert 'orbix_jobs_total{kind="test.broken",outcome="retry"} 2.0' in metrics


async def test_a_permanent_failure_is_not_retried(worker):
    calls: list[int] = []

    async def refuses(payload: dict[str, Any]) -> None:
        calls.append(1)
        raise PermanentFailure("the invoice is gone")

    register_handler("test.permanent", refuses)
    job_id = await enqueue("test.permanent", {})
    await worker.run_until_idle()
    await _make_due(job_id)
    await worker.run_until_idle()

    job = await _job(job_id)
    assert job["status"] == "failed" and calls == [1]
    assert job["last_error"] == "PermanentFailure: the invoice is gone"


@pytest.mark.parametrize(
    "error",
    [
        ValueError("Header values may not contain linefeed or carriage return characters"),
        UnicodeEncodeError("ascii", "b\xfccher.example", 1, 2, "ordinal not in range(128)"),
    ],
    ids=["ValueError", "UnicodeEncodeError"],
)
async def test_an_error_no_retry_can_change_fails_the_job_at_once_and_the_next_job_runs(worker, error):
    """docs/operations.md: a value a library refuses is the same on every attempt; the job ends `failed` with
    the reason at once (not after hours of retries), and the job queued behind it, in its group, runs."""
    ran: list[str] = []

    async def handler(payload: dict[str, Any]) -> None:
        ran.append(payload["name"])
        if payload["name"] == "poison":
            raise error

    register_handler("test.poison", handler, group_limit=1)
    poison = await enqueue("test.poison", {"name": "poison"}, group="one")
    healthy = await enqueue("test.poison", {"name": "healthy"}, group="one")
    await worker.run_until_idle()
    await _make_due(poison)
    await worker.run_until_idle()

    assert ran == ["poison", "healthy"]
    failed = await _job(poison)
    assert failed["status"] == "failed" and failed["attempts"] == 1 and failed["finished_at"] is not None
    assert failed["last_error"] == f"{type(error).__name__}: {error}"
    assert [entry["outcome"] for entry in failed["log"]] == ["failed"]
    assert (await _job(healthy))["status"] == "succeeded"


async def test_a_tls_certificate_error_is_retried_though_it_is_also_a_value_error(worker):
    """ssl.SSLCertVerificationError is an OSError and a ValueError: an SMTP relay's expired certificate may be
    renewed within the hour, so the job is retried later, not failed for good."""
    import ssl

    async def handler(payload: dict[str, Any]) -> None:
        raise ssl.SSLCertVerificationError(1, "certificate verify failed: certificate has expired")

    register_handler("test.tls", handler)
    job_id = await enqueue("test.tls", {})
    await worker.run_until_idle()

    job = await _job(job_id)
    assert job["status"] == "pending" and job["attempts"] == 1, job
    assert [entry["outcome"] for entry in job["log"]] == ["retry"]
    assert "certificate verify failed" in job["last_error"]


async def test_a_job_due_later_waits_for_its_time(worker):
    seen: list[int] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(1)

    register_handler("test.later", handler)
    job_id = await enqueue("test.later", {}, run_at=utc_now() + timedelta(hours=1))
    await worker.run_until_idle()
    assert seen == []
    await _make_due(job_id)
    await worker.run_until_idle()
    assert seen == [1]


async def test_a_kind_this_worker_does_not_know_stays_pending(worker):
    job_id = await enqueue("test.nobody-handles-this", {})
    await worker.run_until_idle()
    assert (await _job(job_id))["status"] == "pending"


async def _two_workers_run_sixty_jobs(make_worker: Any, kind: str, *, enqueue_while_running: bool) -> None:
    """Two workers over one database, 60 jobs of `kind` (queued before they start, or while they run, when
    both hear of each job): each job runs once, and both workers take some."""
    runs: list[int] = []

    async def handler(payload: dict[str, Any]) -> None:
        # a job holds its slot a moment: the first worker to hear of a job, which also claims it first in one
        # event loop, fills its slots, and the other takes jobs too (each claim still races the other's)
        await asyncio.sleep(0.002)
        runs.append(payload["n"])

    async def enqueue_all() -> None:
        for n in range(60):
            await enqueue(kind, {"n": n})

    register_handler(kind, handler)
    if not enqueue_while_running:
        await enqueue_all()
    first, second = make_worker(concurrency=4), make_worker(concurrency=4)
    loops = [asyncio.create_task(w.run()) for w in (first, second)]
    if enqueue_while_running:
        await asyncio.sleep(0.01)
        await enqueue_all()
    for _ in range(500):
        if len(runs) >= 60:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    for w in (first, second):
        w.stop()
    await asyncio.gather(*loops)

    assert sorted(runs) == list(range(60)), "a job ran twice or not at all"
    by_worker = await Job.get_motor_collection().distinct("worker_id", {"kind": kind})
    assert set(by_worker) == {first.id, second.id}, "one worker took everything: no real contention"


async def test_two_workers_over_one_database_run_each_job_once(make_worker):
    await _two_workers_run_sixty_jobs(make_worker, "test.shared", enqueue_while_running=False)


async def test_a_dead_workers_job_is_taken_again_when_its_lease_expires(worker):
    seen: list[int] = []

    async def handler(payload: dict[str, Any]) -> None:
        seen.append(1)

    register_handler("test.lease", handler)
    job_id = await enqueue("test.lease", {})
    # A worker claims it and dies: nobody renews or finishes its lease.
    claimed = await jobs.claim("dead-worker", ["test.lease"], [], lease_seconds=0.2)
    assert claimed is not None and claimed["_id"] == job_id

    await worker.run_until_idle()
    assert seen == [], "a leased job was taken before its lease expired"

    await asyncio.sleep(0.25)
    await worker.run_until_idle()
    assert seen == [1]
    job = await _job(job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 2 and job["worker_id"] == worker.id
    assert [entry["outcome"] for entry in job["log"]] == ["lease_expired", "succeeded"]
    # The dead worker coming back cannot overwrite what its successor recorded.
    late = {"at": utc_now(), "outcome": "failed", "duration_ms": 1, "error": "late", "worker": "dead-worker"}
    assert not await jobs.finish(job_id, "dead-worker", status="failed", entry=late)
    assert (await _job(job_id))["status"] == "succeeded"


async def test_a_job_whose_workers_keep_dying_fails_after_its_attempts(worker):
    async def handler(payload: dict[str, Any]) -> None:
        raise AssertionError("never runs: every worker died")

    register_handler("test.poison", handler, max_attempts=2)
    job_id = await enqueue("test.poison", {})
    for _ in range(2):
        assert await jobs.claim("dying-worker", ["test.poison"], [], lease_seconds=0.01) is not None
        await asyncio.sleep(0.02)

    await worker.run_until_idle()
    job = await _job(job_id)
    assert job["status"] == "failed"
    assert "kept dying" in job["last_error"]


async def test_a_long_job_keeps_its_lease_so_nobody_takes_it_twice(make_worker):
    runs: list[int] = []
    release = asyncio.Event()

    async def slow(payload: dict[str, Any]) -> None:
        runs.append(1)
        await release.wait()

    register_handler("test.slow", slow)
    await enqueue("test.slow", {})
    holder, other = make_worker(lease_seconds=0.15), make_worker(lease_seconds=0.15)
    running = asyncio.create_task(holder.run())
    await asyncio.sleep(0.5)  # more than three lease lengths: only renewals keep it
    await other.run_until_idle()
    release.set()
    holder.stop()
    await running
    assert runs == [1]


async def test_stopping_finishes_a_job_in_hand_within_the_grace_period(make_worker):
    async def quick(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0.1)

    register_handler("test.finish", quick)
    job_id = await enqueue("test.finish", {})
    worker = make_worker(grace_seconds=5)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.05)
    worker.stop()
    await running
    assert (await _job(job_id))["status"] == "succeeded"


async def test_stopping_releases_a_job_that_outlasts_the_grace_period(make_worker):
    started = asyncio.Event()

    async def endless(payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(3600)

    register_handler("test.endless", endless)
    job_id = await enqueue("test.endless", {})
    worker = make_worker(grace_seconds=0.1)
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await asyncio.wait_for(running, 5)

    job = await _job(job_id)
    assert job["status"] == "pending" and job["worker_id"] is None and job["lease_until"] is None
    assert job["attempts"] == 0, "a released job's claim must not count as an attempt"
    assert job["log"] == []


async def test_a_slow_group_holds_only_its_own_slots(make_worker):
    """Jobs of one group (a webhook endpoint) take at most group_limit slots; other jobs still run."""
    release = asyncio.Event()
    in_flight: list[int] = []
    done: list[str] = []

    async def stuck(payload: dict[str, Any]) -> None:
        in_flight.append(1)
        await release.wait()

    async def quick(payload: dict[str, Any]) -> None:
        done.append(payload["name"])

    register_handler("test.stuck", stuck, group_limit=2)
    register_handler("test.quick", quick)
    for _ in range(6):
        await enqueue("test.stuck", {}, group="endpoint-a")
    for name in ("x", "y", "z"):
        await enqueue("test.quick", {"name": name}, group=f"endpoint-{name}")
    worker = make_worker(concurrency=4)
    running = asyncio.create_task(worker.run())
    for _ in range(200):
        if len(done) == 3:
            break
        await asyncio.sleep(0.01)
    assert sorted(done) == ["x", "y", "z"]
    assert len(in_flight) == 2, "one group took more than its share of slots"
    release.set()
    for _ in range(200):
        if len(in_flight) == 6:
            break
        await asyncio.sleep(0.01)
    worker.stop()
    await running
    assert len(in_flight) == 6


async def test_a_finished_job_expires_a_week_later_and_a_job_due_again_never_does(worker):
    """The jobs collection is pruned by a TTL index on finished_at (MongoDB's TTL monitor; mongomock applies it
    on read); retry_now makes a finished job due again and takes its finished_at away."""
    from app.worker.models import FINISHED_JOBS_KEPT_SECONDS

    async def handler(payload: dict[str, Any]) -> None:
        return None

    register_handler("test.ttl", handler)
    kept = await enqueue("test.ttl", {"n": 1}, dedupe_key="kept")
    gone = await enqueue("test.ttl", {"n": 2}, dedupe_key="gone")
    await worker.run_until_idle()
    assert (await _job(kept))["finished_at"] is not None
    assert await jobs.retry_now("kept")
    week_ago = utc_now() - timedelta(seconds=FINISHED_JOBS_KEPT_SECONDS + 60)
    await Job.get_motor_collection().update_one({"_id": gone}, {"$set": {"finished_at": week_ago}})

    assert await jobs.get(gone) is None
    again = await jobs.get(kept)
    assert again is not None and again["status"] == "pending" and "finished_at" not in again
    indexes = await Job.get_motor_collection().index_information()
    assert indexes["finished_expire"]["expireAfterSeconds"] == FINISHED_JOBS_KEPT_SECONDS


async def test_a_stopping_worker_closes_what_its_handlers_hold(make_worker):
    """A handler with resources (the webhook sender's connections) gets `aclose()` when the worker stops."""

    class Holding:
        closed = 0

        async def __call__(self, payload: dict[str, Any]) -> None:
            return None

        async def aclose(self) -> None:
            self.closed += 1

    holding = Holding()
    register_handler("test.holding", holding)
    worker = make_worker()
    running = asyncio.create_task(worker.run())
    await enqueue("test.holding", {})
    await worker.run_until_idle()
    assert holding.closed == 0
    worker.stop()
    await asyncio.wait_for(running, 5)
    assert holding.closed == 1


async def test_the_webhook_job_closes_its_sender(settings):
    class Sender:
        closed = 0

        async def aclose(self) -> None:
            self.closed += 1

    sender = Sender()
    await DeliveryJob(settings, sender).aclose()  # type: ignore[arg-type]
    assert sender.closed == 1
