"""The one compare-and-set loop and the one lifecycle-table shape."""

from __future__ import annotations

import pytest

from app.core.errors import Conflict, InvalidState
from app.core.retry import ATTEMPTS, compare_and_set
from app.core.transitions import DELETED, Lifecycle, Transition


async def test_compare_and_set_retries_a_miss_and_returns_the_first_write_that_lands():
    calls = []

    async def attempt():
        calls.append(1)
        return "written" if len(calls) == 3 else None

    assert await compare_and_set(attempt, "gave up") == "written"
    assert len(calls) == 3


async def test_compare_and_set_gives_up_after_its_documented_bound_with_409_conflict():
    calls = []

    async def attempt():
        calls.append(1)

    with pytest.raises(Conflict) as raised:
        await compare_and_set(attempt, "it kept changing")
    assert len(calls) == ATTEMPTS and type(raised.value) is Conflict
    assert raised.value.code == "conflict" and raised.value.detail == "it kept changing"


async def test_compare_and_set_gives_up_with_the_error_built_by_re_reading():
    async def attempt():
        return None

    async def why():
        return InvalidState("it is paid now")

    with pytest.raises(InvalidState, match="paid"):
        await compare_and_set(attempt, why)


async def test_compare_and_set_lets_a_refusal_through_at_once():
    calls = []

    async def attempt():
        calls.append(1)
        raise InvalidState("not a draft")

    with pytest.raises(InvalidState):
        await compare_and_set(attempt, "gave up")
    assert len(calls) == 1


LIFECYCLE = Lifecycle(
    {
        "edit": Transition(("draft",)),
        "delete": Transition(("draft", "cancelled"), DELETED),
        "send": Transition(("draft",), "sent"),
    }
)


def test_lifecycle_answers_what_an_action_may_start_from_and_leads_to():
    assert LIFECYCLE.allows("draft", "send") and not LIFECYCLE.allows("sent", "send")
    assert LIFECYCLE.sources("delete") == ["draft", "cancelled"]
    assert LIFECYCLE.where("delete") == {"status": {"$in": ["draft", "cancelled"]}}
    assert LIFECYCLE.target("send") == "sent"
    assert LIFECYCLE.target("edit", "draft") == "draft"  # an edit keeps the status
    assert LIFECYCLE.target("delete") == DELETED
