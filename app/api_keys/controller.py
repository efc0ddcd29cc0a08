"""API keys of the organisation the request acts in (API.md section 20): admins manage them; keys never do."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post

from app.api_keys import service
from app.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyPage
from app.auth.models import Caller
from app.core import scopes
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.idempotency import never_replayed
from app.http.schemas import created
from app.http.tenancy import requires

# Keys never manage keys, whatever their scopes.
ADMINS_ONLY = requires(Role.ADMIN, scope=scopes.NO_KEY)


class ApiKeyController(Controller):
    path = "/organization/api-keys"
    tags = ["api keys"]

    @post("/", operation_id="createApiKey", opt={**ADMINS_ONLY, **never_replayed()})
    async def create_api_key(self, data: ApiKeyCreate, owner: Caller) -> Response[ApiKeyCreated]:
        """Create a key with scopes; the answer is the only time the key itself is shown. Not replayed for an
        Idempotency-Key: a kept answer would store the key."""
        document, key = await service.create_key(owner, data)
        return created(ApiKeyCreated.of(document, key), "/api/organization/api-keys")

    @get("/", operation_id="listApiKeys", opt={**ADMINS_ONLY, **sorted_by(service.SORTS)})
    async def list_api_keys(self, owner: Caller, page: PageParams) -> ApiKeyPage:
        """The organisation's keys (never the keys: their `prefix`). Sort by `name` or `created_at`."""
        return await service.list_keys(owner, page)

    @get("/{key_id:str}", operation_id="getApiKey", opt=ADMINS_ONLY)
    async def get_api_key(self, key_id: str, owner: Caller) -> ApiKeyOut:
        """One key, with its usage (`last_used_at` to the minute; both written about once a minute)."""
        return await service.get_key(owner, key_id)

    @delete("/{key_id:str}", operation_id="revokeApiKey", opt=ADMINS_ONLY)
    async def revoke_api_key(self, key_id: str, owner: Caller, expected: Expected) -> None:
        """Revoke a key at once: its next request is a 401."""
        await service.revoke_key(owner, key_id, expected)
