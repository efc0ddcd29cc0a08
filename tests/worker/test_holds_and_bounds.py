"""A job held by a fair-share limit waits for its window (not an attempt, counted in the quota metric), and
every error text a job stores is cut to 500 characters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client import generate_latest

from app.core import error_text
from app.core.clock import as_utc, utc_now
from app.worker import QuotaHold, enqueue, jobs, register_handler
from app.worker.models import Job


async def test_a_held_job_waits_for_its_window_without_using_an_attempt(worker):
    runs: list[int] = []
    until = utc_now() + timedelta(hours=3)

    async def handler(payload: dict[str, Any]) -> None:
        runs.append(1)
        if len(runs) <= 3:
            raise QuotaHold("TEST_LIMIT", until, "held: over TEST_LIMIT")

    register_handler("test.held", handler, max_attempts=2)
    job_id = await enqueue("test.held", {})
    for _ in range(3):  # held three times: more often than the job's 2 attempts, and never failed for it
        await worker.run_until_idle()
        job = await jobs.get(job_id)
        assert job is not None and job["status"] == "pending" and job["attempts"] == 0
        assert as_utc(job["run_at"]) == until.replace(microsecond=until.microsecond // 1000 * 1000)
        assert job["last_error"] == "held: over TEST_LIMIT" and job["log"][-1]["outcome"] == "held"
        await Job.get_motor_collection().update_one({"_id": job_id}, {"$set": {"run_at": utc_now()}})

    await worker.run_until_idle()
    job = await jobs.get(job_id)
    assert job is not None and job["status"] == "succeeded" and job["attempts"] == 1 and len(runs) == 4
    metrics = generate_latest(worker.metrics.registry).decode()
    assert 'orbix_quota_exceeded_total{limit="TEST_LIMIT"} 3.0' in metrics
    assert 'orbix_jobs_total{kind="test.held",outcome="held"} 3.0' in metrics


async def test_a_jobs_stored_errors_are_cut_to_500_characters(worker):
    async def handler(payload: dict[str, Any]) -> None:
        raise RuntimeError("x" * 5000)

    register_handler("test.verbose", handler, max_attempts=1)
    job_id = await enqueue("test.verbose", {})
    await worker.run_until_idle()

    job = await jobs.get(job_id)
    assert job is not None and job["status"] == "failed"
    assert len(job["last_error"]) == error_text.LIMIT and job["last_error"].endswith("…")
    assert job["last_error"].startswith("RuntimeError: xxx")
    assert [len(entry["error"]) for entry in job["log"]] == [error_text.LIMIT]


def test_cut_leaves_a_short_text_alone_and_marks_a_long_one():
    assert error_text.cut("HTTP 500") == "HTTP 500"
    assert error_text.cut("y" * 500) == "y" * 500
    assert error_text.cut("y" * 501) == "y" * 499 + "…"
    assert error_text.describe(ValueError()) == "ValueError"
    assert error_text.describe(ValueError("bad")) == "ValueError: bad"
