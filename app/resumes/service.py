"""Resumes: every query starts from the owner; generation stores nothing unless the AI service answered."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from beanie.odm.utils.encoder import Encoder

from app.ai.client import AIClient
from app.auth.models import Owner
from app.core.errors import NotFound, UpstreamBadGateway
from app.db.outbox import pending, publish
from app.db.pagination import Page, PageParams, paginate, sortable
from app.db.repository import (
    created_before,
    delete_owned_where,
    get_owned,
    insert_with_event,
    owned_filter,
    update_owned,
)
from app.db.versions import ANY, Expected
from app.http.schemas import as_plain, provided_fields
from app.organizations.models import Books
from app.resumes.models import Resume, StoredProfile
from app.resumes.prompt import build_messages, clean_markdown
from app.resumes.schemas import MAX_CONTENT, ResumeCreate, ResumeGenerate, ResumeUpdate

SORTS = sortable(Resume, {"created_at": "created_at", "title": "title", "updated_at": "updated_at"})


async def list_resumes(owner: Owner, params: PageParams) -> Page[Resume]:
    return await paginate(Resume, owned_filter(owner.id), params, SORTS)


async def create_resume(owner: Books, data: ResumeCreate, new_id: PydanticObjectId | None = None) -> Resume:
    fields = as_plain(data)
    fields["profile"] = StoredProfile(**fields["profile"])
    resume = Resume(id=new_id or PydanticObjectId(), owner_id=owner.id, source="manual", model=None, **fields)
    return await insert_with_event(resume)


async def get_resume(owner: Owner, resume_id: str) -> Resume:
    return await get_owned(Resume, resume_id, owner.id)


async def update_resume(owner: Books, resume_id: str, data: ResumeUpdate, expected: Expected = ANY) -> Resume:
    changes: dict[str, Any] = provided_fields(data)
    if "profile" in changes:  # replaced whole; dates become BSON datetimes as Beanie stores them
        changes["profile"] = Encoder().encode(StoredProfile(**changes["profile"]))
    resume = await update_owned(
        Resume, resume_id, owner.id, changes, event=pending("resume.updated"), expected=expected
    )
    if resume is None:
        raise NotFound(f"No resume with id {resume_id!r}")
    await publish(resume)
    return resume


async def delete_resume(owner: Books, resume_id: str, expected: Expected = ANY) -> None:
    await delete_owned_where(Resume, resume_id, owner.id, {}, lambda resume: None, expected=expected)


async def generate_resume(
    owner: Books, data: ResumeGenerate, ai: AIClient, new_id: PydanticObjectId | None = None
) -> Resume:
    earlier = await created_before(Resume, new_id, owner.id)  # a retry does not ask the AI service again
    if earlier is not None:
        return earlier
    completion = await ai.complete(build_messages(data))
    content = clean_markdown(completion.text)
    if not content:
        raise UpstreamBadGateway("The AI service answered without any text")
    if len(content) > MAX_CONTENT:
        raise UpstreamBadGateway(f"The AI service answered with more than {MAX_CONTENT} characters")
    profile = as_plain(data.profile)
    resume = Resume(
        id=new_id or PydanticObjectId(),
        owner_id=owner.id,
        title=data.title or _default_title(data),
        target_role=data.target_role,
        profile=StoredProfile(**profile),
        content=content,
        source="ai",
        model=completion.model[:200],
    )
    return await insert_with_event(resume, "resume.generated")


def _default_title(data: ResumeGenerate) -> str:
    name = data.profile.full_name
    return (f"{name} — {data.target_role}" if data.target_role else name)[:200]
