from __future__ import annotations

from beanie import PydanticObjectId
from litestar import Controller, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter

from app.auth.models import Caller
from app.core.errors import Conflict, QuotaExceeded, raises
from app.core.roles import Role
from app.db.pagination import PageParams, sorted_by
from app.db.versions import Expected
from app.http.schemas import created
from app.http.tenancy import requires
from app.webhooks import service
from app.webhooks.schemas import (
    DeliveryStatus,
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookEndpointCreate,
    WebhookEndpointOut,
    WebhookEndpointPage,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)


class WebhookEndpointController(Controller):
    path = "/webhook-endpoints"
    tags = ["webhooks"]

    @get(
        "/",
        operation_id="listWebhookEndpoints",
        opt={**requires(Role.ADMIN, scope="webhooks"), **sorted_by(service.ENDPOINT_SORTS)},
    )
    async def list_endpoints(self, owner: Caller, page: PageParams) -> WebhookEndpointPage:
        """The caller's webhook endpoints (never their secrets). Sort by `created_at`."""
        return (await service.list_endpoints(owner, page)).map(WebhookEndpointOut.from_document)

    @post(
        "/",
        operation_id="createWebhookEndpoint",
        opt={**requires(Role.ADMIN, scope="webhooks"), **raises(QuotaExceeded, Conflict)},
    )
    async def create_endpoint(
        self, data: WebhookEndpointCreate, caller: Caller, state: State, new_id: PydanticObjectId | None
    ) -> Response[WebhookEndpointWithSecret]:
        """Subscribe a URL to event types (or `["*"]`). The response is the only one that shows the secret,
        besides rotate-secret: keep it to verify signatures. At most WEBHOOK_ENDPOINTS_MAX endpoints (20 by
        default): beyond, 429 `quota_exceeded`."""
        endpoint = await service.create_endpoint(caller, data, state.settings, new_id)
        return created(WebhookEndpointWithSecret.with_secret(endpoint), "/api/webhook-endpoints")

    @get("/{endpoint_id:str}", operation_id="getWebhookEndpoint", opt=requires(Role.ADMIN, scope="webhooks"))
    async def get_endpoint(self, endpoint_id: str, owner: Caller) -> WebhookEndpointOut:
        """One webhook endpoint (without its secret)."""
        return WebhookEndpointOut.from_document(await service.get_endpoint(owner, endpoint_id))

    @patch(
        "/{endpoint_id:str}", operation_id="updateWebhookEndpoint", opt=requires(Role.ADMIN, scope="webhooks")
    )
    async def update_endpoint(
        self,
        endpoint_id: str,
        data: WebhookEndpointUpdate,
        caller: Caller,
        state: State,
        expected: Expected,
    ) -> WebhookEndpointOut:
        """Change the URL, the event types, the description, or enable/disable the endpoint."""
        endpoint = await service.update_endpoint(caller, endpoint_id, data, state.settings, expected)
        return WebhookEndpointOut.from_document(endpoint)

    @delete(
        "/{endpoint_id:str}", operation_id="deleteWebhookEndpoint", opt=requires(Role.ADMIN, scope="webhooks")
    )
    async def delete_endpoint(self, endpoint_id: str, caller: Caller, expected: Expected) -> None:
        """Delete the endpoint and its delivery log; nothing more is sent to it."""
        await service.delete_endpoint(caller, endpoint_id, expected)

    @post(
        "/{endpoint_id:str}/rotate-secret",
        operation_id="rotateWebhookSecret",
        status_code=200,
        opt=requires(Role.ADMIN, scope="webhooks"),
    )
    async def rotate_secret(
        self, endpoint_id: str, caller: Caller, expected: Expected
    ) -> WebhookEndpointWithSecret:
        """Replace the signing secret and show the new one (once)."""
        endpoint = await service.rotate_secret(caller, endpoint_id, expected)
        return WebhookEndpointWithSecret.with_secret(endpoint)

    @get(
        "/{endpoint_id:str}/deliveries",
        operation_id="listWebhookDeliveries",
        opt={**requires(Role.ADMIN, scope="webhooks"), **sorted_by(service.DELIVERY_SORTS)},
    )
    async def list_deliveries(
        self,
        endpoint_id: str,
        owner: Caller,
        page: PageParams,
        status: DeliveryStatus | None = Parameter(default=None, description="Only deliveries in this state"),
    ) -> WebhookDeliveryPage:
        """The endpoint's deliveries, newest first, each with every attempt."""
        deliveries = await service.list_deliveries(owner, endpoint_id, page, status)
        return deliveries.map(WebhookDeliveryOut.from_document)

    @post(
        "/{endpoint_id:str}/deliveries/{delivery_id:str}/retry",
        operation_id="retryWebhookDelivery",
        status_code=200,
        opt={**requires(Role.ADMIN, scope="webhooks"), **raises(Conflict, QuotaExceeded)},
    )
    async def retry_delivery(
        self,
        endpoint_id: str,
        delivery_id: str,
        caller: Caller,
        state: State,
        expected: Expected,
        new_id: PydanticObjectId | None,
    ) -> WebhookDeliveryOut:
        """Queue one more attempt now. At most WEBHOOK_MANUAL_RETRIES_PER_HOUR (60 by default) per endpoint in
        any hour: beyond, 429 `quota_exceeded`."""
        delivery = await service.retry_delivery(
            caller, endpoint_id, delivery_id, state.settings, expected, new_id
        )
        return WebhookDeliveryOut.from_document(delivery)
