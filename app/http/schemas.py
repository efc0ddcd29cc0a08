"""Shared wire types: the base structs, ids, money, timestamps, and the page envelope."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import pycountry
from litestar import Response
from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import KwargDefinition

from app.core.identifiers import OBJECT_ID_PATTERN, country_code
from app.db.actors import Actor
from app.http.mapping import Mapped, Source

T = TypeVar("T")
R = TypeVar("R", bound="ResponseStruct")
U = TypeVar("U")


class BaseStruct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Every request body: unknown fields are a 400, never silently dropped."""


class ResponseStruct(msgspec.Struct, kw_only=True):
    """Every response body."""


class AddressOut(ResponseStruct):
    """An address as stored, whatever rules its input has gained since (never re-validated on the way out)."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class ActorOut(ResponseStruct, Mapped):
    """Who did something (API.md section 19): a user, an API key, or Orbix itself (`id` null)."""

    type: Literal["user", "api_key", "system"]
    id: str | None

    SOURCE = Source(Actor, id_key="id", id=str)


ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]


Country = Annotated[
    str, msgspec.Meta(max_length=8, description="ISO 3166-1 alpha-2, upper-cased", examples=["DE"])
]


class Address(BaseStruct):
    """A postal address, as the business profile and clients carry it (input: the country is checked)."""

    line1: ShortText | None = None
    line2: ShortText | None = None
    city: ShortText | None = None
    state: ShortText | None = None
    postal_code: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    country: Country | None = None

    def __post_init__(self) -> None:
        if self.country is not None:
            self.country = country_code(self.country, "address.country")


def component(name: str) -> KwargDefinition:
    """The OpenAPI component name of an annotated type, for generic ones that Litestar would name after
    their module (`Page_app.clients.schemas.ClientOut_`):
    `ClientPage = Annotated[Page[ClientOut], component("ClientPage")]`."""
    return KwargDefinition(schema_component_key=name)


# ISO 4217 codes in current use, from the maintained iso-codes data pycountry ships (never a hand list).
CURRENCY_CODES = frozenset(currency.alpha_3 for currency in pycountry.currencies)
CURRENCY_PATTERN = f"^({'|'.join(sorted(CURRENCY_CODES))})$"

ObjectIdStr = Annotated[
    str,
    msgspec.Meta(
        pattern=OBJECT_ID_PATTERN,
        description="A MongoDB ObjectId: 24 lower-case hex characters",
        examples=["6740f0c2a1b2c3d4e5f60718"],
    ),
]
Currency = Annotated[
    str,
    msgspec.Meta(pattern=CURRENCY_PATTERN, description="ISO 4217 code in current use", examples=["USD"]),
]
UtcDatetime = Annotated[
    datetime,
    msgspec.Meta(tz=True, description="RFC 3339 with an offset; stored in UTC at millisecond precision"),
]
MoneyOut = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^-?\d+\.\d{2}$", description="Decimal string with two places", examples=["1234.50"]
    ),
]
RateOut = Annotated[str, msgspec.Meta(description="Percentage as a decimal string", examples=["8.875"])]
# A file downloaded as it is (a PDF, an XML document): a handler returning `Response[FileBytes]` is documented
# as `type: string, format: binary`; its route's `media_type` and `content_media_type` say what it holds.
FileBytes = Annotated[bytes, KwargDefinition(format=OpenAPIFormat.BINARY)]


def not_blank(value: str, field: str) -> str:
    """Trimmed text that must keep at least one character (for __post_init__ validation)."""
    trimmed = value.strip()
    if not trimmed:
        raise ValueError(f"{field}: must not be blank")
    return trimmed


_PLAIN = (Decimal, datetime, date)


def provided_fields(struct: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carried (UNSET left out), nested structs as plain dicts."""
    return {
        name: msgspec.to_builtins(value, builtin_types=_PLAIN)
        for name in struct.__struct_fields__
        if (value := getattr(struct, name)) is not msgspec.UNSET
    }


def as_plain(struct: msgspec.Struct) -> dict[str, Any]:
    """A whole request struct as plain values, Decimal/datetime/date kept, ready for a document."""
    plain: dict[str, Any] = msgspec.to_builtins(struct, builtin_types=_PLAIN)
    return plain


def created(resource: R, collection: str) -> Response[R]:
    """201 with `Location: {collection}/{id}`, the URL of the resource just created."""
    return Response(resource, status_code=201, headers={"Location": f"{collection}/{resource.id}"})  # type: ignore[attr-defined]
