"""A database (through the app's lifespan), a clean job registry and workers to run jobs with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from app.worker import registry
from app.worker.loop import Worker
from app.worker.metrics import JobMetrics


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Job kinds and periodic tasks are process-wide: each test starts from and leaves the app's own."""
    kinds, periodics = dict(registry._kinds), dict(registry._periodics)
    yield
    registry._kinds.clear()
    registry._kinds.update(kinds)
    registry._periodics.clear()
    registry._periodics.update(periodics)


@pytest.fixture
def make_worker(client: Any) -> Callable[..., Worker]:
    """Workers over the test's database (the `client` fixture ran the app's lifespan); fast backoff."""

    def build(**options: Any) -> Worker:
        options.setdefault("poll_seconds", 0.02)
        options.setdefault("backoff_base_seconds", 30.0)
        return Worker(JobMetrics(CollectorRegistry()), **options)

    return build


@pytest.fixture
async def worker(make_worker: Callable[..., Worker]) -> AsyncIterator[Worker]:
    yield make_worker()
