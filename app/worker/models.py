"""The jobs collection and the leases of periodic tasks. Declared as Beanie documents for their indexes;
the worker reads and writes them with single atomic driver operations (see jobs.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from app.core.clock import utc_now

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
JOB_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED)
FINISHED_JOBS_KEPT_SECONDS = 7 * 24 * 3600  # a finished job's log stays a week, for the operator to read
# Whose share of the worker a job uses: the owners of due jobs take turns (jobs.claim). Set when the job is
# enqueued; with organisations it becomes organisation_id, a rename here and in enqueue.
TENANT = "owner_id"


class Job(Document):
    kind: str
    payload: dict[str, Any] = Field(default_factory=dict)
    owner_id: PydanticObjectId | None = None
    status: str = PENDING
    run_at: datetime = Field(default_factory=utc_now)
    attempts: int = 0  # claims so far (a claim whose worker died counts too)
    lease_until: datetime | None = None
    worker_id: str | None = None
    # One entry per finished attempt: {at, outcome, duration_ms, error, worker}; the last 50 are kept.
    log: list[dict[str, Any]] = Field(default_factory=list)
    last_error: str | None = None
    # Unique: enqueueing a key twice is a no-op. A job enqueued without one gets "id:<its id>", so every job
    # has a key and a plain unique index works the same on MongoDB and on the embedded store (mongomock drops
    # a partial index's filter).
    dedupe_key: str
    # Optional: jobs of one group (e.g. one webhook endpoint) share a per-worker concurrency bound.
    group: str | None = None
    # When it succeeded or failed for good: a finished job is deleted FINISHED_JOBS_KEPT_SECONDS later (TTL);
    # one made due again (retry_now) loses it, so a job that may still run is never expired.
    finished_at: datetime | None = None
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)

    class Settings:
        name = "jobs"
        indexes = [
            # The claim: status equal, kind an $in of a few values (MongoDB expands it and merges the ranges
            # in the sort's order), the owners in turn, each owner's due jobs in (run_at, _id) order, so no
            # claim sorts in memory (one seek skips an owner's jobs that are not due yet); and the pending
            # count of a kind (the orbix_jobs_pending gauge) from its prefix's keys alone.
            IndexModel(
                [
                    ("status", ASCENDING),
                    ("kind", ASCENDING),
                    (TENANT, ASCENDING),
                    ("run_at", ASCENDING),
                    ("_id", ASCENDING),
                ],
                name="claim_order",
            ),
            IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)], name="leased"),
            IndexModel([("dedupe_key", ASCENDING)], name="dedupe_key_unique", unique=True),
            IndexModel(
                [("finished_at", ASCENDING)],
                name="finished_expire",
                expireAfterSeconds=FINISHED_JOBS_KEPT_SECONDS,
            ),
        ]


class PeriodicLease(Document):
    """One per periodic task (`_id` is its name): who runs it now, until when, and when it is due next."""

    id: str  # type: ignore[assignment]
    holder: str | None = None
    lease_until: datetime | None = None
    next_run_at: datetime | None = None

    class Settings:
        name = "worker_periodic"
