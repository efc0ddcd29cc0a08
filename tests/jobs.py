"""Helpers for tests that run background jobs: keep the process-wide job registry as it was, and build
workers over the test's database (the app's lifespan connected it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry

from app.worker import registry
from app.worker.loop import Worker
from app.worker.metrics import JobMetrics


@contextmanager
def kept_registry() -> Iterator[None]:
    """Job kinds and periodic tasks are process-wide: what a test registers is gone after it."""
    kinds, periodics = dict(registry._kinds), dict(registry._periodics)
    try:
        yield
    finally:
        registry._kinds.clear()
        registry._kinds.update(kinds)
        registry._periodics.clear()
        registry._periodics.update(periodics)


def new_worker(**options: Any) -> Worker:
    """A worker with its own metrics that polls fast."""
    options.setdefault("poll_seconds", 0.02)
    return Worker(JobMetrics(CollectorRegistry()), **options)
