from __future__ import annotations

from beanie import PydanticObjectId
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import Parameter

from app.auth.models import Caller
from app.contracts import service
from app.contracts.schemas import (
    ContractCreate,
    ContractOut,
    ContractPage,
    ContractSign,
    ContractStatus,
    ContractUpdate,
)
from app.core.errors import Conflict, InvalidReference, InvalidState, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.pagination import id_filter
from app.http.schemas import created
from app.http.tenancy import requires


class ContractController(Controller):
    path = "/contracts"
    tags = ["contracts"]

    @get(
        "/",
        operation_id="listContracts",
        opt={**requires(Role.VIEWER, scope="contracts"), **sorted_by(service.SORTS)},
    )
    async def list_contracts(
        self,
        owner: Caller,
        page: PageParams,
        status: ContractStatus | None = Parameter(default=None, description="Only contracts in this status"),
        client_id: str | None = id_filter("client"),
        project_id: str | None = id_filter("project"),
    ) -> ContractPage:
        """The caller's contracts. Sort by `created_at`, `title` or `start_date`."""
        listed = await service.list_contracts(owner, page, status, client_id, project_id)
        return listed.map(ContractOut.from_document)

    @post(
        "/",
        operation_id="createContract",
        opt={**requires(Role.BILLING, scope="contracts"), **raises(InvalidReference)},
    )
    async def create_contract(
        self, data: ContractCreate, caller: Caller, new_id: PydanticObjectId | None
    ) -> Response[ContractOut]:
        """Create a draft contract; currency defaults to the client's."""
        return created(
            ContractOut.from_document(await service.create_contract(caller, data, new_id)),
            "/api/contracts",
        )

    @get("/{contract_id:str}", operation_id="getContract", opt=requires(Role.VIEWER, scope="contracts"))
    async def get_contract(self, contract_id: str, owner: Caller) -> ContractOut:
        """One contract."""
        return ContractOut.from_document(await service.get_contract(owner, contract_id))

    @patch(
        "/{contract_id:str}",
        operation_id="updateContract",
        opt={**requires(Role.BILLING, scope="contracts"), **raises(InvalidReference, InvalidState, Conflict)},
    )
    async def update_contract(
        self, contract_id: str, data: ContractUpdate, caller: Caller, expected: Expected
    ) -> ContractOut:
        """Change some fields of a draft (else 409 invalid_state)."""
        return ContractOut.from_document(await service.update_contract(caller, contract_id, data, expected))

    @delete(
        "/{contract_id:str}",
        operation_id="deleteContract",
        opt={**requires(Role.BILLING, scope="contracts"), **raises(InvalidState)},
    )
    async def delete_contract(self, contract_id: str, caller: Caller, expected: Expected) -> None:
        """Delete a draft or cancelled contract (else 409 invalid_state)."""
        await service.delete_contract(caller, contract_id, expected)

    @post(
        "/{contract_id:str}/send",
        operation_id="sendContract",
        status_code=200,
        opt={**requires(Role.BILLING, scope="contracts"), **raises(InvalidState)},
    )
    async def send_contract(self, contract_id: str, caller: Caller, expected: Expected) -> ContractOut:
        """draft → sent; sets sent_at."""
        return ContractOut.from_document(await service.send_contract(caller, contract_id, expected))

    @post(
        "/{contract_id:str}/sign",
        operation_id="signContract",
        status_code=200,
        opt={**requires(Role.BILLING, scope="contracts"), **raises(InvalidState)},
    )
    async def sign_contract(
        self, contract_id: str, data: ContractSign, caller: Caller, expected: Expected
    ) -> ContractOut:
        """sent → signed; records who signed and when."""
        return ContractOut.from_document(
            await service.sign_contract(caller, contract_id, data.signed_by, expected)
        )

    @post(
        "/{contract_id:str}/cancel",
        operation_id="cancelContract",
        status_code=200,
        opt={**requires(Role.BILLING, scope="contracts"), **raises(InvalidState)},
    )
    async def cancel_contract(self, contract_id: str, caller: Caller, expected: Expected) -> ContractOut:
        """draft or sent → cancelled."""
        return ContractOut.from_document(await service.cancel_contract(caller, contract_id, expected))
