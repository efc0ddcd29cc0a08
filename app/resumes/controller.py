from __future__ import annotations

from beanie import PydanticObjectId
from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import State

from app.auth.models import Caller
from app.core.errors import UpstreamBadGateway, UpstreamTimeout, UpstreamUnavailable, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.schemas import created
from app.http.tenancy import requires
from app.resumes import service
from app.resumes.schemas import ResumeCreate, ResumeGenerate, ResumeOut, ResumePage, ResumeUpdate


class ResumeController(Controller):
    path = "/resumes"
    tags = ["resumes"]

    @get(
        "/",
        operation_id="listResumes",
        opt={**requires(Role.VIEWER, scope="resumes"), **sorted_by(service.SORTS)},
    )
    async def list_resumes(self, owner: Caller, page: PageParams) -> ResumePage:
        """The caller's resumes. Sort by `created_at`, `updated_at` or `title`."""
        return (await service.list_resumes(owner, page)).map(ResumeOut.from_document)

    @post("/", operation_id="createResume", opt=requires(Role.BILLING, scope="resumes"))
    async def create_resume(
        self, data: ResumeCreate, caller: Caller, new_id: PydanticObjectId | None
    ) -> Response[ResumeOut]:
        """Store a resume written by hand (`source: "manual"`)."""
        return created(
            ResumeOut.from_document(await service.create_resume(caller, data, new_id)), "/api/resumes"
        )

    @post(
        "/generate",
        operation_id="generateResume",
        opt={
            **requires(Role.BILLING, scope="resumes"),
            **raises(UpstreamBadGateway, UpstreamUnavailable, UpstreamTimeout),
        },
    )
    async def generate_resume(
        self, data: ResumeGenerate, caller: Caller, state: State, new_id: PydanticObjectId | None
    ) -> Response[ResumeOut]:
        """Have the AI service write a resume and store it (`source: "ai"`); nothing is stored on failure."""
        return created(
            ResumeOut.from_document(await service.generate_resume(caller, data, state.ai, new_id)),
            "/api/resumes",
        )

    @get("/{resume_id:str}", operation_id="getResume", opt=requires(Role.VIEWER, scope="resumes"))
    async def get_resume(self, resume_id: str, owner: Caller) -> ResumeOut:
        """One resume."""
        return ResumeOut.from_document(await service.get_resume(owner, resume_id))

    @patch("/{resume_id:str}", operation_id="updateResume", opt=requires(Role.BILLING, scope="resumes"))
    async def update_resume(
        self, resume_id: str, data: ResumeUpdate, caller: Caller, expected: Expected
    ) -> ResumeOut:
        """Change some fields of a resume; `profile` is replaced whole."""
        return ResumeOut.from_document(await service.update_resume(caller, resume_id, data, expected))

    @delete("/{resume_id:str}", operation_id="deleteResume", opt=requires(Role.BILLING, scope="resumes"))
    async def delete_resume(self, resume_id: str, caller: Caller, expected: Expected) -> None:
        """Delete a resume."""
        await service.delete_resume(caller, resume_id, expected)
