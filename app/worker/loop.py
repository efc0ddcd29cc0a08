"""The job loop: claim with a lease, run, record the attempt, back off; periodic tasks under a lease too.

One `Worker` runs inside each API process (WORKER=inline) or in `python -m app worker`. Any number run side
by side over one database: a claim is one atomic update, a lease that is not renewed (the worker died)
expires and the job is taken again, so delivery is at least once and every handler is idempotent. The
owners of due jobs take turns at each worker's slots (jobs.Turn): one owner's backlog never queues another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.core import error_text
from app.core.clock import utc_now
from app.core.retry import backoff_delay
from app.db.actors import SYSTEM, acting_as
from app.worker import jobs, registry
from app.worker.metrics import JobMetrics
from app.worker.models import FAILED, PENDING, RUNNING, SUCCEEDED, PeriodicLease
from app.worker.registry import PermanentFailure, QuotaHold, RetryAt, is_deterministic

log = logging.getLogger("orbix.worker")


class Worker:
    def __init__(
        self,
        metrics: JobMetrics,
        *,
        concurrency: int = 8,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        grace_seconds: float = 25.0,
        backoff_base_seconds: float = 5.0,
        backoff_cap_seconds: float = 3600.0,
        metrics_every_seconds: float = 15.0,
    ) -> None:
        self.id = f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(3)}"
        self.metrics = metrics
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.metrics_every_seconds = metrics_every_seconds
        self._tasks: dict[asyncio.Task[None], str | None] = {}  # in-flight job -> its group
        self._periodic_tasks: set[asyncio.Task[None]] = set()
        self._group_limits: dict[str, int] = {}
        self._turn: jobs.Turn | None = None  # whose job this worker claimed last: the owners take turns
        self._periodic_running: set[str] = set()
        self._periodic_check_at: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._metrics_at = 0.0

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        """Until stop(): claim and run jobs and periodic tasks. On stop, finish or release what is in hand."""
        registry.subscribe_wake(self._woken)
        log.info("worker started", extra={"worker": self.id, "concurrency": self.concurrency})
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    claimed = await self._tick()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database is down or failing: keep the loop alive, try again
                    log.warning("worker loop error: %s", error_text.describe(exc), extra={"worker": self.id})
                    claimed = 0
                if claimed and len(self._tasks) < self.concurrency:
                    continue  # there may be more due right now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            registry.unsubscribe_wake(self._woken)
            await self._finish_in_hand()
            await registry.close_handlers()
            log.info("worker stopped", extra={"worker": self.id})

    async def _tick(self) -> int:
        await self._start_due_periodics()
        claimed = await self._fill_slots()
        await self._refresh_pending(force=False)
        return claimed

    def stop(self) -> None:
        """Stop claiming; run() then waits for the jobs in hand (up to grace_seconds), releases the rest and
        returns."""
        self._stopping = True
        self._wake.set()

    async def run_until_idle(self) -> None:
        """Run every due job (and every due periodic task) to completion, then return (tests, scripts)."""
        while True:
            await self._start_due_periodics(force=True)
            claimed = await self._fill_slots()
            in_hand = [*self._tasks, *self._periodic_tasks]
            if in_hand:
                await asyncio.wait(in_hand)
            elif not claimed:
                break
        await self._refresh_pending(force=True)

    async def _finish_in_hand(self) -> None:
        in_hand = [*self._tasks, *self._periodic_tasks]
        if not in_hand:
            return
        _, unfinished = await asyncio.wait(in_hand, timeout=self.grace_seconds)
        for task in unfinished:
            task.cancel()  # _run_job releases its job on cancellation
        if unfinished:
            await asyncio.wait(unfinished)

    # ------------------------------------------------------------ jobs

    def _busy_groups(self) -> list[str]:
        in_flight = Counter(group for group in self._tasks.values() if group is not None)
        return [group for group, n in in_flight.items() if n >= self._group_limits.get(group, 1)]

    def _woken(self) -> None:
        self._wake.set()

    async def _fill_slots(self) -> int:
        claimed = 0
        kinds = registry.kinds()
        while kinds and not self._stopping and len(self._tasks) < self.concurrency:
            busy = self._busy_groups()
            job = await jobs.claim(self.id, kinds, busy, self.lease_seconds, self._turn)
            if job is None:
                # Nothing due for anyone: start over, so that an idle poll is one query, not two. With a full
                # group the turn stays, so that the group's next free place goes to the next owner.
                if not busy:
                    self._turn = None
                break
            self._turn = jobs.Turn.of(job)
            claimed += 1
            group = job.get("group")
            spec = registry.kind(job["kind"])
            if group is not None and spec is not None:
                self._group_limits[group] = spec.group_limit
            task = asyncio.create_task(self._run_job(job), name=f"job:{job['_id']}")
            self._tasks[task] = group
            task.add_done_callback(self._job_done)
        return claimed

    def _job_done(self, task: asyncio.Task[None]) -> None:
        """A slot (and maybe its group) is free: look for the next due job now, not at the next poll (with
        a full queue, waiting for the poll capped throughput at one group's limit per poll interval)."""
        self._tasks.pop(task)
        self._wake.set()

    async def _run_job(self, before: dict[str, Any]) -> None:
        """Run one claimed job (`before` is the job as it was before the claim) and record the attempt."""
        job_id, kind = before["_id"], before["kind"]
        attempt = before["attempts"] + 1
        spec = registry.kind(kind)
        assert spec is not None  # claims only ask for registered kinds
        at = utc_now()
        if before["status"] == RUNNING:
            await jobs.note_lost_attempt(before, at)
        started = time.perf_counter()
        status, run_at, error, held = SUCCEEDED, None, None, False
        heartbeat = asyncio.create_task(self._keep_lease(job_id))
        try:
            if before["status"] == RUNNING and attempt > spec.max_attempts:
                raise PermanentFailure("its workers kept dying before it finished")
            with acting_as(SYSTEM):  # what a job changes, Orbix did (db/actors.py)
                await spec.handler(before.get("payload") or {})
        except asyncio.CancelledError:
            heartbeat.cancel()
            await asyncio.shield(jobs.release(job_id, self.id))
            self._record(before, attempt, "released", time.perf_counter() - started, "worker shut down")
            raise
        except QuotaHold as exc:
            status, run_at, error, held = PENDING, exc.when, error_text.cut(exc.reason), True
            self.metrics.quota_exceeded.labels(exc.limit).inc()
        except RetryAt as exc:
            status, run_at, error = PENDING, exc.when, error_text.cut(exc.reason)
        except Exception as exc:
            error = error_text.describe(exc)
            if is_deterministic(exc):  # no retry can change it: failed now, never for hours
                status = FAILED
            elif attempt >= spec.max_attempts:
                status = FAILED
            else:
                delay = backoff_delay(attempt, base=self.backoff_base_seconds, cap=self.backoff_cap_seconds)
                status, run_at = PENDING, utc_now() + timedelta(seconds=delay)
        finally:
            heartbeat.cancel()
        duration = time.perf_counter() - started
        outcome = "held" if held else {SUCCEEDED: "succeeded", FAILED: "failed", PENDING: "retry"}[status]
        entry = {
            "at": at,
            "outcome": outcome,
            "duration_ms": round(duration * 1000, 1),
            "error": error,
            "worker": self.id,
        }
        if not await jobs.finish(
            job_id, self.id, status=status, entry=entry, run_at=run_at, attempt=not held
        ):
            outcome = "lease_lost"  # another worker re-took it meanwhile; its record wins
        self._record(before, attempt, outcome, duration, error)

    def _record(
        self, job: dict[str, Any], attempt: int, outcome: str, seconds: float, error: str | None
    ) -> None:
        """The metrics and the one JSON log line of an attempt."""
        kind = job["kind"]
        self.metrics.jobs.labels(kind, outcome).inc()
        self.metrics.seconds.labels(kind).observe(seconds)
        log.log(
            logging.WARNING if outcome in ("failed", "lease_lost") else logging.INFO,
            "job attempt",
            extra={
                "job_id": str(job["_id"]),
                "kind": kind,
                "attempt": attempt,
                "outcome": outcome,
                "duration_ms": round(seconds * 1000, 1),
                "error": error,
                "worker": self.id,
            },
        )

    async def _keep_lease(self, job_id: Any) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            with contextlib.suppress(Exception):  # a missed renewal is retried at the next beat
                await jobs.renew_lease(job_id, self.id, self.lease_seconds)

    async def _refresh_pending(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now >= self._metrics_at:
            self._metrics_at = now + self.metrics_every_seconds
            kinds = registry.kinds()
            self.metrics.set_pending(await jobs.pending_counts(kinds), kinds)

    # ------------------------------------------------------------ periodic tasks

    async def _start_due_periodics(self, *, force: bool = False) -> None:
        now = time.monotonic()
        for periodic in registry.periodics():
            name = periodic.name
            if name in self._periodic_running or self._stopping:
                continue
            if not force and now < self._periodic_check_at.get(name, 0.0):
                continue
            self._periodic_check_at[name] = now + min(periodic.every_seconds, self.poll_seconds * 5)
            if await self._acquire_periodic(name):
                self._periodic_running.add(name)
                task = asyncio.create_task(self._run_periodic(periodic), name=f"periodic:{name}")
                self._periodic_tasks.add(task)  # beside the jobs' slots, not in one
                task.add_done_callback(self._periodic_tasks.discard)

    async def _acquire_periodic(self, name: str) -> bool:
        """One atomic upsert: the lease is ours if the task is due and nobody holds an unexpired lease."""
        now = utc_now()
        due_and_free = {
            "_id": name,
            "$and": [
                {"$or": [{"next_run_at": None}, {"next_run_at": {"$lte": now}}]},
                {"$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}]},
            ],
        }
        try:
            taken = await PeriodicLease.get_motor_collection().find_one_and_update(
                due_and_free,
                {"$set": {"holder": self.id, "lease_until": now + timedelta(seconds=self.lease_seconds)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # it exists and is not due or is held: the upsert tried to insert a twin
            return False
        return taken is not None

    async def _run_periodic(self, periodic: registry.Periodic) -> None:
        collection = PeriodicLease.get_motor_collection()
        mine = {"_id": periodic.name, "holder": self.id}
        heartbeat = asyncio.create_task(self._keep_periodic_lease(mine))
        started = time.perf_counter()
        try:
            with acting_as(SYSTEM):
                await periodic.fn()
        except asyncio.CancelledError:
            heartbeat.cancel()
            await asyncio.shield(collection.update_one(mine, {"$set": {"holder": None, "lease_until": None}}))
            raise
        except Exception as exc:  # logged; the next run comes at its usual time
            log.warning(
                "periodic task failed: %s",
                error_text.describe(exc),
                extra={"periodic": periodic.name, "worker": self.id},
            )
        finally:
            heartbeat.cancel()
            self._periodic_running.discard(periodic.name)
        next_run = utc_now() + timedelta(seconds=periodic.every_seconds)
        await collection.update_one(
            mine, {"$set": {"holder": None, "lease_until": None, "next_run_at": next_run}}
        )
        self._periodic_check_at[periodic.name] = time.monotonic() + periodic.every_seconds
        log.debug(
            "periodic task ran",
            extra={
                "periodic": periodic.name,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    async def _keep_periodic_lease(self, mine: dict[str, Any]) -> None:
        collection = PeriodicLease.get_motor_collection()
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            with contextlib.suppress(Exception):
                until = utc_now() + timedelta(seconds=self.lease_seconds)
                await collection.update_one(mine, {"$set": {"lease_until": until}})
