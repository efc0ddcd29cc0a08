"""Job metrics, registered on the registry of whoever runs the worker (the API's /metrics or the worker's)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class JobMetrics:
    def __init__(self, registry: CollectorRegistry, quota_exceeded: Counter | None = None) -> None:
        """`quota_exceeded`: the registry's orbix_quota_exceeded counter when it has one already (the API's
        requests count there too), else it is made here."""
        self.registry = registry
        self.quota_exceeded = quota_exceeded or Counter(
            "orbix_quota_exceeded",
            "Requests refused and jobs held by a fair-share limit, by the limit's setting",
            ("limit",),
            registry=registry,
        )
        self.jobs = Counter(
            "orbix_jobs", "Job attempts by kind and outcome", ("kind", "outcome"), registry=registry
        )
        self.seconds = Histogram(
            "orbix_job_seconds",
            "Duration of job attempts by kind",
            ("kind",),
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.pending = Gauge(
            "orbix_jobs_pending", "Jobs waiting to run, by kind", ("kind",), registry=registry
        )

    def set_pending(self, counts: dict[str, int], known: list[str]) -> None:
        for kind in {*known, *counts}:
            self.pending.labels(kind).set(counts.get(kind, 0))
