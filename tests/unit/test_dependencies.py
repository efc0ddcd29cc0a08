"""Dependencies of a route resolved without a task group when every provider is a plain function (the
values, and a generator provider's cleanup, exactly as Litestar's own resolution gives them)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, get
from litestar._kwargs import kwargs_model
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from app.http import dependencies

cleaned: list[str] = []


def provide_a() -> str:
    return "a"


def provide_b(a: str) -> str:
    return a + "b"


def provide_c() -> Any:
    yield "c"
    cleaned.append("c")


async def provide_d() -> str:
    return "d"


@get("/sync", sync_to_thread=False)
def sync_route(a: str, b: str, c: str) -> str:
    return a + b + c


@get("/mixed", sync_to_thread=False)
def mixed_route(a: str, d: str) -> str:
    return a + d


@pytest.fixture
def task_groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made: list[int] = []
    litestar_create = kwargs_model.create_task_group

    def counting() -> Any:
        made.append(1)
        return litestar_create()

    monkeypatch.setattr(kwargs_model, "create_task_group", counting)
    return made


async def test_plain_function_providers_are_resolved_in_order_without_a_task_group(
    task_groups: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    litestar_own = dependencies._litestar_resolve_dependencies
    monkeypatch.setattr(kwargs_model.KwargsModel, "resolve_dependencies", litestar_own)
    app = Litestar(
        [sync_route, mixed_route],
        dependencies={
            "a": Provide(provide_a, sync_to_thread=False),
            "b": Provide(provide_b, sync_to_thread=False),
            "c": Provide(provide_c),
            "d": Provide(provide_d),
        },
    )
    async with AsyncTestClient(app) as client:
        assert (await client.get("/sync")).text == "aabc"
        assert task_groups == [1]  # Litestar's own: a task group for the level holding a and c
        task_groups.clear()
        dependencies.install()
        cleaned.clear()
        assert (await client.get("/sync")).text == "aabc"
        assert cleaned == ["c"]  # the generator provider's cleanup ran
        assert task_groups == []
        assert (await client.get("/mixed")).text == "ad"  # an async provider: Litestar's task group
        assert task_groups == [1]
