"""Shared wire types: the base structs, ids, money, timestamps, and the page envelope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

import msgspec
import pycountry
from litestar import Response
from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import KwargDefinition

from app.core.identifiers import country_code

T = TypeVar("T")
R = TypeVar("R", bound="ResponseStruct")
U = TypeVar("U")


class BaseStruct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Every request body: unknown fields are a 400, never silently dropped."""


class ResponseStruct(msgspec.Struct, kw_only=True):
    """Every response body."""


class StoredView(Protocol):
    """A response struct read straight from the driver's documents (the lean read path): `STORED` is the
    projection of the stored fields it needs, `from_raw` builds it from a document so projected. It must give
    exactly what `from_document` gives from the model of the same document (tests compare the two)."""

    STORED: ClassVar[dict[str, Literal[1]]]

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Self: ...


def stored_fields(*names: str) -> dict[str, Literal[1]]:
    """A projection of `names` (plus `_id`, which MongoDB always returns) and `version`, for a StoredView."""
    return dict.fromkeys((*names, "version"), 1)


class AddressOut(ResponseStruct):
    """An address as stored, whatever rules its input has gained since (never re-validated on the way out)."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @classmethod
    def from_stored(cls, address: Any) -> AddressOut | None:
        """From the stored (pydantic) address of a document, or None."""
        return cls(**address.model_dump()) if address is not None else None

    @classmethod
    def from_raw(cls, address: dict[str, Any] | None) -> AddressOut | None:
        """From a stored address as the driver returns it, or None."""
        return msgspec.convert(address, cls) if address is not None else None


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int
    limit: int
    offset: int

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (a service's documents -> the controller's structs)."""
        return Page(
            items=[convert(item) for item in self.items],
            total=self.total,
            limit=self.limit,
            offset=self.offset,
        )


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


OBJECT_ID_PATTERN = "^[0-9a-f]{24}$"
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
    return msgspec.to_builtins(struct, builtin_types=_PLAIN)


def created(resource: R, collection: str) -> Response[R]:
    """201 with `Location: {collection}/{id}`, the URL of the resource just created."""
    return Response(resource, status_code=201, headers={"Location": f"{collection}/{resource.id}"})  # type: ignore[attr-defined]
