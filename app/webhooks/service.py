"""Webhook endpoints and their delivery logs: every query starts from the owner."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.auth.models import Owner
from app.config import Settings
from app.core.clock import utc_now
from app.core.errors import AppError, Conflict, NotFound, QuotaExceeded, ValidationFailed
from app.core.retry import compare_and_set
from app.db import quota
from app.db.pagination import Page, PageParams, paginate, sortable
from app.db.repository import created_before, get_owned, insert_once, owned_filter, update_owned
from app.db.versions import ANY, Expected
from app.http.schemas import provided_fields
from app.organizations.models import Books
from app.webhooks import jobs, slots
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import MAX_URL_LENGTH, WebhookEndpointCreate, WebhookEndpointUpdate
from app.webhooks.url_guard import UnsafeUrl, check_url, normalized_url

ENDPOINT_SORTS = sortable(WebhookEndpoint, {"created_at": "created_at"})
DELIVERY_SORTS = sortable(WebhookDelivery, {"created_at": "created_at"}, scope=("endpoint_id",))
SECRET_BYTES = 32
MANUAL_RETRIES = "WEBHOOK_MANUAL_RETRIES_PER_HOUR"


def manual_retries(settings: Settings) -> quota.RollingLimit:
    return quota.RollingLimit(MANUAL_RETRIES, settings.webhook_manual_retries_per_hour, timedelta(hours=1))


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


async def _checked_url(url: str, settings: Settings) -> str:
    """The URL as stored: checked, its host in IDNA form (`http://bücher.example/` is kept as
    `http://xn--bcher-kva.example/`), so every HTTP client writes its Host as it is."""
    try:
        url = normalized_url(url, https_only=settings.is_production)
        await check_url(
            url, https_only=settings.is_production, allow_private=settings.webhook_allow_private_urls
        )
    except UnsafeUrl as exc:
        raise ValidationFailed.field("url", str(exc)) from None
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed.field(
            "url", f"must be at most {MAX_URL_LENGTH} characters with its host in IDNA form"
        )
    return url


async def list_endpoints(owner: Owner, params: PageParams) -> Page[WebhookEndpoint]:
    return await paginate(WebhookEndpoint, owned_filter(owner.id), params, ENDPOINT_SORTS)


async def create_endpoint(
    owner: Books, data: WebhookEndpointCreate, settings: Settings, new_id: PydanticObjectId | None = None
) -> WebhookEndpoint:
    """A new endpoint in a free slot below WEBHOOK_ENDPOINTS_MAX (429 when there is none). A retry whose
    earlier run committed (the same `new_id`) answers with that run's endpoint, whatever the count now."""
    earlier = await created_before(WebhookEndpoint, new_id, owner.id)
    if earlier is not None:
        return earlier
    endpoint = WebhookEndpoint(
        id=new_id or PydanticObjectId(),
        owner_id=owner.id,
        url=await _checked_url(data.url, settings),
        events=data.events,
        description=data.description,
        secret=new_secret(),
    )

    async def attempt() -> WebhookEndpoint | None:
        endpoint.quota_slot = await slots.free_slot(owner.id, settings.webhook_endpoints_max)
        if endpoint.quota_slot is None:
            return None
        try:
            return await insert_once(endpoint)
        except DuplicateKeyError:  # a concurrent create took the slot first: look again
            return None

    return await compare_and_set(attempt, "Webhook endpoints kept being created at once; retry")


async def get_endpoint(owner: Owner, endpoint_id: str) -> WebhookEndpoint:
    return await get_owned(WebhookEndpoint, endpoint_id, owner.id)


async def update_endpoint(
    owner: Books,
    endpoint_id: str,
    data: WebhookEndpointUpdate,
    settings: Settings,
    expected: Expected = ANY,
) -> WebhookEndpoint:
    await get_owned(
        WebhookEndpoint, endpoint_id, owner.id, expected
    )  # 404 or 412 before the URL is looked at
    changes = provided_fields(data)
    if "url" in changes:
        changes["url"] = await _checked_url(changes["url"], settings)
    if changes.get("enabled") is True:
        changes["failing_since"] = None  # a re-enabled endpoint gets a fresh 5 days
    return await _updated(owner, endpoint_id, changes, expected)


async def rotate_secret(owner: Books, endpoint_id: str, expected: Expected = ANY) -> WebhookEndpoint:
    """A new secret; deliveries from now on are signed with it."""
    return await _updated(owner, endpoint_id, {"secret": new_secret()}, expected)


async def _updated(
    owner: Books, endpoint_id: str, changes: dict[str, Any], expected: Expected
) -> WebhookEndpoint:
    endpoint = await update_owned(WebhookEndpoint, endpoint_id, owner.id, changes, expected=expected)
    if endpoint is None:
        raise NotFound(f"No webhookendpoint with id {endpoint_id!r}")
    return endpoint


async def delete_endpoint(owner: Books, endpoint_id: str, expected: Expected = ANY) -> None:
    """The endpoint and its delivery log; queued attempts find their delivery gone and stop."""
    endpoint = await get_owned(WebhookEndpoint, endpoint_id, owner.id, expected)
    endpoints, mine = WebhookEndpoint.get_motor_collection(), owned_filter(owner.id, _id=endpoint.id)
    if (await endpoints.delete_one(expected.guard(mine))).deleted_count == 0:
        await expected.explain_miss(
            endpoints, mine
        )  # else a concurrent delete won: the log goes all the same
    await WebhookDelivery.get_motor_collection().delete_many(owned_filter(owner.id, endpoint_id=endpoint.id))


async def list_deliveries(
    owner: Owner, endpoint_id: str, params: PageParams, status: str | None
) -> Page[WebhookDelivery]:
    endpoint = await get_endpoint(owner, endpoint_id)
    query = owned_filter(owner.id, endpoint_id=endpoint.id)
    if status is not None:
        query["status"] = str(status)
    return await paginate(WebhookDelivery, query, params, DELIVERY_SORTS)


async def retry_delivery(
    owner: Books,
    endpoint_id: str,
    delivery_id: str,
    settings: Settings,
    expected: Expected = ANY,
    new_id: PydanticObjectId | None = None,
) -> WebhookDelivery:
    """One more attempt now, whatever the delivery's state (409 while an attempt is under way), within the
    endpoint's WEBHOOK_MANUAL_RETRIES_PER_HOUR: a retry refused for another reason gives its place back."""
    endpoint = await get_endpoint(owner, endpoint_id)
    delivery = await get_owned(WebhookDelivery, delivery_id, owner.id, expected)
    if delivery.endpoint_id != endpoint.id:
        raise NotFound(f"No webhookdelivery with id {delivery_id!r}")
    rule, use = manual_retries(settings), new_id or PydanticObjectId()
    wait = await quota.take(rule, endpoint.id, use)
    if wait is not None:
        raise QuotaExceeded(
            MANUAL_RETRIES, f"At most {rule.limit} manual retries per endpoint per hour", wait
        )
    try:
        return await _retry(owner, delivery, expected)
    except AppError:
        await quota.give_back(rule, endpoint.id, use)
        raise


async def _retry(owner: Books, delivery: WebhookDelivery, expected: Expected) -> WebhookDelivery:
    delivery_id = str(delivery.id)
    # Pending first, then the job: the attempt it runs finds the delivery pending (else it does nothing).
    wanted = await update_owned(
        WebhookDelivery,
        delivery.id,
        owner.id,
        {"status": "pending", "next_attempt_at": utc_now()},
        expected=expected,
    )
    if wanted is None:
        raise NotFound(f"No webhookdelivery with id {delivery_id!r}")
    if not await jobs.attempt_now(wanted):
        raise Conflict("An attempt of this delivery is under way; its result will show in the log")
    return wanted
