from __future__ import annotations

from beanie import PydanticObjectId
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import Parameter

from app.auth.models import Caller
from app.core.errors import InUse, InvalidReference, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.pagination import id_filter
from app.http.schemas import created
from app.http.tenancy import requires
from app.projects import service
from app.projects.schemas import (
    ProjectCreate,
    ProjectDetailOut,
    ProjectOut,
    ProjectPage,
    ProjectStatus,
    ProjectUpdate,
)


class ProjectController(Controller):
    path = "/projects"
    tags = ["projects"]

    @get(
        "/",
        operation_id="listProjects",
        opt={**requires(Role.VIEWER, scope="projects"), **sorted_by(service.SORTS)},
    )
    async def list_projects(
        self,
        owner: Caller,
        page: PageParams,
        client_id: str | None = id_filter("client"),
        status: ProjectStatus | None = Parameter(default=None, description="Only projects in this status"),
    ) -> ProjectPage:
        """The caller's projects. Sort by `name`, `status`, `hourly_rate`, `created_at` or `updated_at`."""
        listed = await service.list_projects(owner, page, client_id, status)
        return listed.map(ProjectOut.from_document)

    @post(
        "/",
        operation_id="createProject",
        opt={**requires(Role.BILLING, scope="projects"), **raises(InvalidReference)},
    )
    async def create_project(
        self, data: ProjectCreate, caller: Caller, new_id: PydanticObjectId | None
    ) -> Response[ProjectOut]:
        """Create a project for one of the caller's clients; its currency is the client's."""
        return created(
            ProjectOut.from_document(await service.create_project(caller, data, new_id)),
            "/api/projects",
        )

    @get("/{project_id:str}", operation_id="getProject", opt=requires(Role.VIEWER, scope="projects"))
    async def get_project(self, project_id: str, owner: Caller) -> ProjectDetailOut:
        """One project, with its tracked and unbilled seconds."""
        return ProjectDetailOut.with_totals(*await service.get_project(owner, project_id))

    @patch(
        "/{project_id:str}",
        operation_id="updateProject",
        opt={**requires(Role.BILLING, scope="projects"), **raises(InvalidReference, InUse)},
    )
    async def update_project(
        self, project_id: str, data: ProjectUpdate, caller: Caller, expected: Expected
    ) -> ProjectOut:
        """Change some fields; client_id only while no time entry, invoice or contract references it."""
        return ProjectOut.from_document(await service.update_project(caller, project_id, data, expected))

    @delete(
        "/{project_id:str}",
        operation_id="deleteProject",
        opt={**requires(Role.BILLING, scope="projects"), **raises(InUse)},
    )
    async def delete_project(self, project_id: str, caller: Caller, expected: Expected) -> None:
        """Delete a project that nothing references (else 409 in_use)."""
        await service.delete_project(caller, project_id, expected)
