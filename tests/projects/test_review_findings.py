"""Review findings on projects (and the list conventions they share): each test failed before its fix."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem


@pytest.mark.parametrize("sort", ["--name", "%2Bname", "-%2Bname", "---created_at"])
async def test_list_projects_sort_allows_only_field_or_minus_field(client, auth, sort):
    """API.md §1: `sort=field` or `sort=-field`; anything else names an unknown field → 400."""
    problem = assert_problem(
        await client.get(f"/api/projects?sort={sort}", headers=auth), 400, "validation_error"
    )
    assert [e["field"] for e in problem["errors"]] == ["sort"]
