"""Resume builders for tests: a full profile and one resume created over HTTP."""

from __future__ import annotations

from typing import Any

PROFILE: dict[str, Any] = {
    "full_name": "Ada Lovelace",
    "headline": "Analyst of engines",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "location": "London",
    "summary": "Writes programs for machines that do not exist yet.",
    "skills": ["Mathematics", "Algorithms"],
    "experience": [
        {
            "company": "Babbage & Co",
            "title": "Analyst",
            "start_date": "1942-01-01",
            "end_date": None,
            "highlights": ["Wrote the first published program", "Notes A to G"],
        }
    ],
    "education": [
        {
            "institution": "Home tutoring",
            "degree": "Mathematics",
            "start_date": "1930-09-01",
            "end_date": "1935-06-30",
        }
    ],
}


async def create_resume(http: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await http.post("/api/resumes", json={"title": "My resume", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
