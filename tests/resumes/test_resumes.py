"""Resumes written by hand: CRUD, validation, lists and tenancy."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem, moment
from tests.resumes.factories import PROFILE, create_resume

MISSING_ID = "6740f0c2a1b2c3d4e5f60718"


async def test_create_resume_stores_profile_and_markdown(client, auth):
    created = await create_resume(
        client, auth, title="Engines", target_role="Analyst", profile=PROFILE, content="# Ada\n\n*Analyst*"
    )
    assert set(created) == {
        "id",
        "title",
        "target_role",
        "profile",
        "content",
        "source",
        "model",
        "created_at",
        "updated_at",
    }
    assert created["title"] == "Engines"
    assert created["target_role"] == "Analyst"
    assert created["profile"] == PROFILE
    assert created["content"] == "# Ada\n\n*Analyst*"
    assert created["source"] == "manual"
    assert created["model"] is None
    fetched = await client.get(f"/api/resumes/{created['id']}", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_create_resume_with_title_only_has_empty_profile(client, auth):
    created = await create_resume(client, auth, title="  Draft  ")
    assert created["title"] == "Draft"
    assert created["target_role"] is None
    assert created["content"] == ""
    assert created["profile"] == {
        "full_name": None,
        "headline": None,
        "email": None,
        "phone": None,
        "location": None,
        "summary": None,
        "skills": [],
        "experience": [],
        "education": [],
    }


async def test_create_resume_accepts_content_of_100000_chars(client, auth):
    created = await create_resume(client, auth, content="x" * 100_000)
    assert len(created["content"]) == 100_000


def _profile(**changes):
    return {**PROFILE, **changes}


def _experience(**changes):
    return _profile(experience=[{**PROFILE["experience"][0], **changes}])


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 3}, "title"),
        ({"title": "T", "content": "x" * 100_001}, "content"),
        ({"title": "T", "target_role": "x" * 201}, "target_role"),
        ({"title": "T", "source": "ai"}, "source"),
        ({"title": "T", "model": "gpt-4o"}, "model"),
        ({"title": "T", "profile": _profile(age=3)}, "profile.age"),
        ({"title": "T", "profile": _profile(summary="x" * 5001)}, "profile.summary"),
        ({"title": "T", "profile": _profile(skills=["s"] * 101)}, "profile.skills"),
        ({"title": "T", "profile": _profile(skills=["x" * 101])}, "profile.skills[0]"),
        ({"title": "T", "profile": _profile(skills=[""])}, "profile.skills[0]"),
        ({"title": "T", "profile": _profile(experience=[{}] * 51)}, "profile.experience"),
        ({"title": "T", "profile": _experience(highlights=["h"] * 21)}, "profile.experience[0].highlights"),
        ({"title": "T", "profile": _experience(start_date="1942-13-01")}, "profile.experience[0].start_date"),
        (
            {"title": "T", "profile": _experience(start_date="2020-01-01T00:00:00Z")},
            "profile.experience[0].start_date",
        ),
        ({"title": "T", "profile": _experience(end_date="1941-12-31")}, "profile.experience[0].end_date"),
        (
            {"title": "T", "profile": _profile(education=[{"degree": "x" * 201}])},
            "profile.education[0].degree",
        ),
        ({"title": "T", "profile": _profile(email={"$gt": ""})}, "profile.email"),
    ],
)
async def test_create_resume_rejects_bad_input(client, auth, body, field):
    body = assert_problem(await client.post("/api/resumes", json=body, headers=auth), 400, "validation_error")
    assert field in [error["field"] for error in body["errors"]], body


async def test_update_resume_changes_only_sent_fields(client, auth):
    created = await create_resume(
        client, auth, title="Old", target_role="Analyst", profile=PROFILE, content="# v1"
    )
    response = await client.patch(
        f"/api/resumes/{created['id']}", json={"title": "New", "target_role": None}, headers=auth
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["title"] == "New"
    assert updated["target_role"] is None
    assert updated["content"] == "# v1"
    assert updated["profile"] == PROFILE
    assert updated["source"] == "manual"
    assert updated["created_at"] == created["created_at"]
    assert moment(updated["updated_at"]) >= moment(created["updated_at"])
    assert (await client.get(f"/api/resumes/{created['id']}", headers=auth)).json() == updated


async def test_update_resume_replaces_profile_whole(client, auth):
    created = await create_resume(client, auth, profile=PROFILE)
    new_profile = {
        "full_name": "Grace Hopper",
        "experience": [{"company": "Navy", "start_date": "1943-12-01"}],
    }
    response = await client.patch(
        f"/api/resumes/{created['id']}", json={"profile": new_profile}, headers=auth
    )
    assert response.status_code == 200, response.text
    profile = (await client.get(f"/api/resumes/{created['id']}", headers=auth)).json()["profile"]
    assert profile["full_name"] == "Grace Hopper"
    assert profile["skills"] == []
    assert profile["experience"] == [
        {"company": "Navy", "title": None, "start_date": "1943-12-01", "end_date": None, "highlights": []}
    ]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"source": "ai"}, "source"),
        ({"model": "x"}, "model"),
        ({"title": None}, "title"),
        ({"title": " "}, "title"),
        ({"content": "x" * 100_001}, "content"),
        ({"profile": {"skills": "python"}}, "profile.skills"),
    ],
)
async def test_update_resume_rejects_bad_input(client, auth, body, field):
    created = await create_resume(client, auth)
    response = await client.patch(f"/api/resumes/{created['id']}", json=body, headers=auth)
    assert field in [error["field"] for error in assert_problem(response, 400, "validation_error")["errors"]]


async def test_delete_resume(client, auth):
    created = await create_resume(client, auth)
    response = await client.delete(f"/api/resumes/{created['id']}", headers=auth)
    assert response.status_code == 204
    assert_problem(await client.get(f"/api/resumes/{created['id']}", headers=auth), 404, "not_found")
    assert_problem(await client.delete(f"/api/resumes/{created['id']}", headers=auth), 404, "not_found")


async def test_list_resumes_sorts_and_paginates(client, auth):
    for title in ["Charlie", "Alpha", "Bravo"]:
        await create_resume(client, auth, title=title)
    newest = (await client.get("/api/resumes", headers=auth)).json()
    assert [r["title"] for r in newest["items"]] == ["Bravo", "Alpha", "Charlie"]
    assert newest["total"] == 3 and newest["limit"] == 20 and newest["offset"] == 0
    by_title = (await client.get("/api/resumes?sort=title", headers=auth)).json()
    assert [r["title"] for r in by_title["items"]] == ["Alpha", "Bravo", "Charlie"]
    charlie = newest["items"][2]
    await client.patch(f"/api/resumes/{charlie['id']}", json={"content": "# touched"}, headers=auth)
    recent = (await client.get("/api/resumes?sort=-updated_at&limit=1", headers=auth)).json()
    assert [r["title"] for r in recent["items"]] == ["Charlie"]
    page = (await client.get("/api/resumes?sort=-title&limit=1&offset=1", headers=auth)).json()
    assert page["total"] == 3
    assert [r["title"] for r in page["items"]] == ["Bravo"]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "sort=content", "sort=-profile"])
async def test_list_resumes_rejects_bad_query(client, auth, query):
    assert_problem(await client.get(f"/api/resumes?{query}", headers=auth), 400, "validation_error")


async def test_list_resumes_shows_only_the_callers(client, auth, other_user):
    await create_resume(client, auth, title="Mine")
    await create_resume(client, other_user.headers, title="Theirs")
    listed = (await client.get("/api/resumes", headers=auth)).json()
    assert [r["title"] for r in listed["items"]] == ["Mine"]
    assert listed["total"] == 1


@pytest.mark.parametrize("resume_id", ["theirs", MISSING_ID, "not-an-id", "6740F0C2A1B2C3D4E5F60718"])
async def test_resume_of_another_user_or_missing_is_not_found_on_every_verb(
    client, auth, other_user, resume_id
):
    theirs = await create_resume(client, other_user.headers, title="Theirs", content="# secret")
    if resume_id == "theirs":
        resume_id = theirs["id"]
    url = f"/api/resumes/{resume_id}"
    assert_problem(await client.get(url, headers=auth), 404, "not_found")
    assert_problem(await client.patch(url, json={"title": "Mine now"}, headers=auth), 404, "not_found")
    assert_problem(await client.delete(url, headers=auth), 404, "not_found")
    kept = (await client.get(f"/api/resumes/{theirs['id']}", headers=other_user.headers)).json()
    assert kept["title"] == "Theirs"


async def test_resumes_require_authentication(client):
    assert_problem(await client.get("/api/resumes"), 401, "unauthorized")
    assert_problem(await client.post("/api/resumes", json={"title": "T"}), 401, "unauthorized")
    assert_problem(await client.post("/api/resumes/generate", json={"profile": PROFILE}), 401, "unauthorized")
