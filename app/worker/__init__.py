"""Background jobs: the public interface the areas use.

    from app.worker import register_handler, enqueue, register_periodic, PermanentFailure

- `register_handler(kind, async handler(payload))`: run each job of `kind`. A handler is idempotent
  (delivery is at least once); it raises `PermanentFailure` when retrying cannot help, and a `ValueError`
  (`UnicodeError` too: a value a library refuses to encode) is taken the same way: the job is `failed` at
  once with the reason in `last_error` (`DETERMINISTIC_ERRORS`). Any other exception is retried with
  exponential backoff and jitter, and after the last attempt the job stays `failed` in the `jobs` collection.
- `await enqueue(kind, payload, owner_id=None, run_at=None, dedupe_key=None)`: queue a job; a second enqueue
  with the same `dedupe_key` is a no-op (returns None). `owner_id` says whose job it is: the owners of due
  jobs take turns at the worker, so one owner's backlog never queues another's jobs.
- A handler that keeps its own schedule raises `RetryAt(when, reason)`; one held by a fair-share limit raises
  `QuotaHold(limit, when, reason)`: the job waits until `when` and the hold is not counted as an attempt.
- `register_periodic(name, every_seconds, async fn)`: run by some worker about every `every_seconds`, never by
  two at once (a lease in the database).
"""

from app.worker.jobs import NewJob, enqueue, enqueue_many, retry_now
from app.worker.registry import PermanentFailure, QuotaHold, RetryAt, register_handler, register_periodic

__all__ = [
    "NewJob",
    "PermanentFailure",
    "QuotaHold",
    "RetryAt",
    "enqueue",
    "enqueue_many",
    "register_handler",
    "register_periodic",
    "retry_now",
]
