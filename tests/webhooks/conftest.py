"""The webhook tests run jobs the way the worker tests do: the same fixtures."""

from tests.worker.conftest import clean_registry, make_worker, worker

__all__ = ["clean_registry", "make_worker", "worker"]
