"""Litestar resolves the dependencies of one level of a route's dependency graph in an anyio task group,
even when every provider of that level is a plain function: a route with `owner` and `page` paid for a task
group and two tasks per request (about a sixth of a cheap list's CPU), for no concurrency at all, since a
sync provider never awaits (litestar#4563). `install()` resolves such a level one provider after the
other, with Litestar's own resolve_dependency, so the values and their cleanup are Litestar's; a level with
an async provider, or a sync one run in a thread, still goes through Litestar's task group."""

from __future__ import annotations

from typing import Any

from litestar._kwargs import kwargs_model
from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency

_litestar_resolve_dependencies = kwargs_model.KwargsModel.resolve_dependencies


def _inline(batch: Any) -> bool:
    return all(
        dependency.provide.has_sync_callable and not dependency.provide.sync_to_thread for dependency in batch
    )


async def _resolve_dependencies(self: Any, connection: Any, kwargs: dict[str, Any]) -> DependencyCleanupGroup:
    if not all(_inline(batch) for batch in self.dependency_batches):
        return await _litestar_resolve_dependencies(self, connection, kwargs)
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def install() -> None:
    kwargs_model.KwargsModel.resolve_dependencies = _resolve_dependencies  # type: ignore[method-assign]
