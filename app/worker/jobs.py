"""The queries on the jobs collection. Each state change is one atomic single-document operation, valid on
MongoDB 7: a claim is a find_one_and_update (one, or two when the owners' rotation starts over), so two
workers can never both take a job."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from app.core import error_text
from app.core.clock import utc_now
from app.worker import registry
from app.worker.models import FAILED, PENDING, RUNNING, SUCCEEDED, TENANT, Job

LOG_KEPT = 50


def _jobs() -> Any:
    return Job.get_motor_collection()


async def enqueue(
    kind: str,
    payload: dict[str, Any],
    *,
    owner_id: ObjectId | None = None,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    group: str | None = None,
) -> ObjectId | None:
    """Queue a job; returns its id, or None when a job with `dedupe_key` already exists (a no-op)."""
    now = utc_now()
    job_id = ObjectId()
    document: dict[str, Any] = {
        "_id": job_id,
        "kind": kind,
        "payload": payload,
        TENANT: owner_id,
        "status": PENDING,
        "run_at": run_at or now,
        "attempts": 0,
        "lease_until": None,
        "worker_id": None,
        "log": [],
        "last_error": None,
        "dedupe_key": dedupe_key if dedupe_key is not None else f"id:{job_id}",
        "group": group,
        "created_at": now,
        "updated_at": now,
    }
    try:
        result = await _jobs().insert_one(document)
    except DuplicateKeyError:
        return None
    if document["run_at"] <= now:
        registry.wake_workers()
    return result.inserted_id


@dataclass(frozen=True)
class NewJob:
    """One job of `enqueue_many`, with enqueue's arguments."""

    kind: str
    payload: dict[str, Any]
    owner_id: ObjectId | None = None
    dedupe_key: str | None = None
    group: str | None = None


async def enqueue_many(new_jobs: Collection[NewJob]) -> int:
    """Queue several jobs due now in one unordered insert (a scheduler pass queues its runs in one round
    trip); a job whose `dedupe_key` exists already is skipped, as `enqueue` skips it. Returns how many were
    queued."""
    if not new_jobs:
        return 0
    now = utc_now()
    documents = []
    for new in new_jobs:
        job_id = ObjectId()
        documents.append(
            {
                "_id": job_id,
                "kind": new.kind,
                "payload": new.payload,
                TENANT: new.owner_id,
                "status": PENDING,
                "run_at": now,
                "attempts": 0,
                "lease_until": None,
                "worker_id": None,
                "log": [],
                "last_error": None,
                "dedupe_key": new.dedupe_key if new.dedupe_key is not None else f"id:{job_id}",
                "group": new.group,
                "created_at": now,
                "updated_at": now,
            }
        )
    try:
        result = await _jobs().insert_many(documents, ordered=False)
        queued = len(result.inserted_ids)
    except BulkWriteError as error:
        if any(failure.get("code") != 11000 for failure in error.details.get("writeErrors", [])):
            raise
        queued = int(error.details.get("nInserted", 0))
    if queued:
        registry.wake_workers()
    return queued


@dataclass(frozen=True)
class Turn:
    """Whose job a worker claimed last (`tenant` None: a job without owner). Its next claim looks at the
    owners after that one first, in the index's order, and only then starts over: the owners with due work
    take turns, so one owner's backlog delays another owner's next job by one claim, not by the backlog."""

    tenant: Any

    @classmethod
    def of(cls, job: Mapping[str, Any]) -> Turn:
        return cls(job.get(TENANT))  # a job enqueued before owners took turns may lack the field: no owner


def _owners(after: Turn | None) -> list[dict[str, Any]]:
    """The owner conditions a claim tries, in order: the owners after `after`, then all from the first."""
    if after is None:
        return [{}]
    # $gt an owner id matches owner ids only (type bracketing), never null: the jobs without owner, first in
    # the index's order, get their turn when the rotation starts over.
    later = {"$ne": None} if after.tenant is None else {"$gt": after.tenant}
    return [{TENANT: later}, {}]


def _claimable(
    kinds: Collection[str], busy_groups: Collection[str], owners: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A job a worker may take now: pending and due, or running under a lease that expired (its worker died),
    of a kind it runs and outside its full groups. Each clause of the $or is whole, so each is served by
    claim_order and their results merge in its order. The status and group conditions first: on the embedded
    store, which tests every job, they rule out finished jobs and the busy groups' backlog at the first look
    (on MongoDB the order is immaterial)."""
    rest: dict[str, Any] = {"group": {"$nin": list(busy_groups)}} if busy_groups else {}
    rest.update(owners)
    rest["kind"] = {"$in": list(kinds)}
    return {
        "$or": [
            {"status": PENDING, **rest, "run_at": {"$lte": now}},
            {"status": RUNNING, **rest, "lease_until": {"$lte": now}},
        ]
    }


def _claimed(worker_id: str, now: datetime, lease_seconds: float) -> dict[str, Any]:
    return {
        "$set": {
            "status": RUNNING,
            "worker_id": worker_id,
            "lease_until": now + timedelta(seconds=lease_seconds),
            "updated_at": now,
        },
        "$inc": {"attempts": 1},
    }


async def claim(
    worker_id: str,
    kinds: Collection[str],
    busy_groups: Collection[str],
    lease_seconds: float,
    after: Turn | None = None,
) -> dict[str, Any] | None:
    """Take the oldest due job of the next owner with one (see Turn). Returns the job as it was BEFORE the
    claim (its status says whether it was a re-take), or None when nothing is due."""
    now = utc_now()
    for owners in _owners(after):
        job: dict[str, Any] | None = await _jobs().find_one_and_update(
            _claimable(kinds, busy_groups, owners, now),
            _claimed(worker_id, now, lease_seconds),
            sort=[(TENANT, 1), ("run_at", 1), ("_id", 1)],
            return_document=ReturnDocument.BEFORE,
        )
        if job is not None:
            return job
    return None


def _mine(job_id: ObjectId, worker_id: str) -> dict[str, Any]:
    """Only the worker holding the lease may change a running job (a re-taken job is its new worker's)."""
    return {"_id": job_id, "status": RUNNING, "worker_id": worker_id}


async def renew_lease(job_id: ObjectId, worker_id: str, lease_seconds: float) -> bool:
    now = utc_now()
    result = await _jobs().update_one(
        _mine(job_id, worker_id),
        {"$set": {"lease_until": now + timedelta(seconds=lease_seconds), "updated_at": now}},
    )
    return bool(result.matched_count)


async def finish(
    job_id: ObjectId,
    worker_id: str,
    *,
    status: str,
    entry: Mapping[str, Any],
    run_at: datetime | None = None,
    attempt: bool = True,
) -> bool:
    """Record an attempt and move the job to `status` (succeeded, failed, or pending again at `run_at`).
    `attempt=False`: the run was no attempt (a hold): its claim does not count toward the job's attempts."""
    now = utc_now()
    fields: dict[str, Any] = {"status": status, "lease_until": None, "updated_at": now}
    if status in (SUCCEEDED, FAILED):
        fields["finished_at"] = now
    if run_at is not None:
        fields["run_at"] = run_at
    entry = {**entry, "error": error_text.cut(entry["error"]) if entry.get("error") else None}
    if entry["error"]:
        fields["last_error"] = entry["error"]
    update: dict[str, Any] = {"$set": fields, "$push": {"log": {"$each": [entry], "$slice": -LOG_KEPT}}}
    if not attempt:
        update["$inc"] = {"attempts": -1}
    result = await _jobs().update_one(_mine(job_id, worker_id), update)
    return bool(result.matched_count)


async def release(job_id: ObjectId, worker_id: str) -> bool:
    """Give back a job this worker will not finish (shutdown): due now, and the claim does not count."""
    now = utc_now()
    result = await _jobs().update_one(
        _mine(job_id, worker_id),
        {
            "$set": {
                "status": PENDING,
                "run_at": now,
                "lease_until": None,
                "worker_id": None,
                "updated_at": now,
            },
            "$inc": {"attempts": -1},
        },
    )
    return bool(result.matched_count)


async def note_lost_attempt(job: Mapping[str, Any], at: datetime) -> None:
    """A re-taken job: its previous worker's attempt ended without a word (the worker died)."""
    entry = {
        "at": at,
        "outcome": "lease_expired",
        "duration_ms": None,
        "error": error_text.cut(f"worker {job.get('worker_id')} did not finish within its lease"),
        "worker": job.get("worker_id"),
    }
    await _jobs().update_one({"_id": job["_id"]}, {"$push": {"log": {"$each": [entry], "$slice": -LOG_KEPT}}})


async def retry_now(dedupe_key: str) -> bool:
    """One more attempt now for the job with `dedupe_key`, whatever its state, unless a worker holds it."""
    now = utc_now()
    result = await _jobs().update_one(
        {"dedupe_key": dedupe_key, "status": {"$ne": RUNNING}},
        {"$set": {"status": PENDING, "run_at": now, "updated_at": now}, "$unset": {"finished_at": ""}},
    )
    if result.matched_count:
        registry.wake_workers()
    return bool(result.matched_count)


async def pending_counts(kinds: Collection[str]) -> dict[str, int]:
    """Jobs waiting to run, by kind (for the orbix_jobs_pending gauge): one indexed count per kind (an
    aggregation would do the same on MongoDB, but the embedded store copies every job to run one)."""
    return {kind: await _jobs().count_documents({"status": PENDING, "kind": kind}) for kind in kinds}


async def get(job_id: ObjectId) -> dict[str, Any] | None:
    return await _jobs().find_one({"_id": job_id})


async def get_by_key(dedupe_key: str) -> dict[str, Any] | None:
    return await _jobs().find_one({"dedupe_key": dedupe_key})
