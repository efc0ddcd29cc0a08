from __future__ import annotations

from beanie import PydanticObjectId
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import Parameter

from app.auth.models import Caller
from app.clients import service
from app.clients.schemas import ClientCreate, ClientOut, ClientPage, ClientUpdate
from app.core.errors import InUse, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.schemas import created
from app.http.tenancy import requires


class ClientController(Controller):
    path = "/clients"
    tags = ["clients"]

    @get(
        "/",
        operation_id="listClients",
        opt={**requires(Role.VIEWER, scope="clients"), **sorted_by(service.SORTS)},
    )
    async def list_clients(
        self,
        owner: Caller,
        page: PageParams,
        q: str | None = Parameter(
            default=None, max_length=200, description="Substring of name, company or email"
        ),
    ) -> ClientPage:
        """The caller's clients. Sort by `name` or `created_at`."""
        return await service.list_clients(owner, page, q)

    @post("/", operation_id="createClient", opt=requires(Role.BILLING, scope="clients"))
    async def create_client(
        self, data: ClientCreate, caller: Caller, new_id: PydanticObjectId | None
    ) -> Response[ClientOut]:
        """Create a client; currency and payment terms default to the business profile."""
        return created(
            ClientOut.from_document(await service.create_client(caller, data, new_id)), "/api/clients"
        )

    @get("/{client_id:str}", operation_id="getClient", opt=requires(Role.VIEWER, scope="clients"))
    async def get_client(self, client_id: str, owner: Caller) -> ClientOut:
        """One client."""
        return ClientOut.from_document(await service.get_client(owner, client_id))

    @patch("/{client_id:str}", operation_id="updateClient", opt=requires(Role.BILLING, scope="clients"))
    async def update_client(
        self, client_id: str, data: ClientUpdate, caller: Caller, expected: Expected
    ) -> ClientOut:
        """Change some fields of a client."""
        return ClientOut.from_document(await service.update_client(caller, client_id, data, expected))

    @delete(
        "/{client_id:str}",
        operation_id="deleteClient",
        opt={**requires(Role.BILLING, scope="clients"), **raises(InUse)},
    )
    async def delete_client(self, client_id: str, caller: Caller, expected: Expected) -> None:
        """Delete a client that nothing references (else 409 in_use)."""
        await service.delete_client(caller, client_id, expected)
