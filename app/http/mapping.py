"""Response structs built from stored documents, generated from the struct's own fields.

A response struct that mixes in `Mapped` and names its `SOURCE` gets three things derived from its fields:

- `from_document(doc)`: from the Beanie model (attributes);
- `from_raw(raw)`: from the driver's document, for the lean read paths (`_id` read as `id`; a key absent
  from an older document reads as the model's default, as loading the model would read it);
- `STORED`: the projection `from_raw` needs (every stored key it reads, plus `version` for the ETag).

A field is copied as it is stored, under its own name, unless `SOURCE` says otherwise (`Read`, `Computed`,
`GIVEN`), or its type is a struct (converted; a `Mapped` one through its own from_document/from_raw). Both
paths are generated from the same plan, and the raw path brings stored types to what the model gives (a
model field typed `date` is stored as a midnight datetime, a `Decimal` one as Decimal128: both are read back
as the model reads them, and `Source.normalize` adds any other), so the two give the same struct. Each is
compiled once per class (on first use) into one direct function, as fast as a hand-written mapper: the lean
paths are hot, and `msgspec.convert` over a dict merged with the defaults costs some 1.5x more.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, cast

import msgspec

from app.core.money import format_cents
from app.db.dates import stored_date
from app.db.decimals import stored_decimal
from app.db.versions import VERSION  # stored with every versioned document; the lean paths project it
from app.http.versioning import saw


@dataclasses.dataclass(frozen=True)
class Read:
    """`convert(stored[key])`; a stored None stays None (the key defaults to the field's name)."""

    convert: Callable[[Any], Any]
    key: str | None = None


def cents(key: str) -> Read:
    """Money stored as integer cents under `key`, shown as a 2-place string (None stays None)."""
    return Read(format_cents, key)


@dataclasses.dataclass(frozen=True)
class Computed:
    """`compute(*stored values of keys)`, for a field made of several stored ones."""

    compute: Callable[..., Any]
    keys: tuple[str, ...]

    def __init__(self, compute: Callable[..., Any], *keys: str) -> None:
        object.__setattr__(self, "compute", compute)
        object.__setattr__(self, "keys", keys)


class Given:
    """Not stored: passed to from_document as a keyword (totals a service computed)."""


GIVEN = Given()
Spec = Read | Computed | Given | Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a `Mapped` struct's fields come from: `model` (its field defaults are what an absent raw key
    reads as), `normalize` (stored key -> the model's reading of the raw value), `id_key` (the raw key of
    `id`: `_id` for a document, the key itself for an embedded one) and the fields that differ from a
    same-named copy: a callable (applied to the same-named value, None kept), `Read`, `cents`, `Computed`
    or `GIVEN`."""

    model: Any
    fields: dict[str, Spec]
    normalize: dict[str, Callable[[Any], Any]]
    id_key: str

    def __init__(
        self,
        model: Any,
        *,
        normalize: dict[str, Callable[[Any], Any]] | None = None,
        id_key: str = "_id",
        **fields: Spec,
    ) -> None:
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "normalize", normalize or {})
        object.__setattr__(self, "id_key", id_key)

    def extended(self, **fields: Spec) -> Source:
        """The same source with more (or other) field specs, for a struct extending another."""
        return Source(self.model, normalize=self.normalize, id_key=self.id_key, **{**self.fields, **fields})


class _Projection:
    """`STORED`, computed from the class's plan when first read."""

    def __get__(self, instance: object, owner: type[Mapped]) -> dict[str, Literal[1]]:
        return _plan(owner).stored


class Mapped:
    """Mixin for a ResponseStruct (list it after the struct base) with a `SOURCE`."""

    __slots__ = ()
    SOURCE: ClassVar[Source]
    if TYPE_CHECKING:
        STORED: ClassVar[dict[str, Literal[1]]]
    else:
        STORED = _Projection()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each class compiles its own mappers on first use (the stubs replace themselves in the class's
        # own namespace), so a subclass never inherits its parent's compiled functions.
        cls.from_raw = Mapped.__dict__["from_raw"]  # type: ignore[method-assign]
        cls.from_document = Mapped.__dict__["from_document"]  # type: ignore[method-assign]

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Self:
        """From the driver's document (projected to STORED): what from_document gives from its model."""
        return cast(Self, _plan(cls).from_raw(raw))

    @classmethod
    def from_document(cls, document: Any, **given: Any) -> Self:
        """From the model (a Beanie document or an embedded pydantic model); `given`: the GIVEN fields."""
        return cast(Self, _plan(cls).from_document(document, **given))


@dataclasses.dataclass(frozen=True)
class _Plan:
    stored: dict[str, Literal[1]]
    from_raw: Callable[..., Any]
    from_document: Callable[..., Any]


_PLANS: dict[type, _Plan] = {}


def _plan(cls: type[Mapped]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _compile(cls)
        cls.from_raw = staticmethod(plan.from_raw)  # type: ignore[method-assign]
        cls.from_document = staticmethod(plan.from_document)  # type: ignore[method-assign]
    return plan


def _struct_of(tp: Any) -> tuple[type[msgspec.Struct] | None, bool]:
    """(the struct a field holds, whether as a list of them), for a field typed S, S | None or list[S]."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return _struct_of(others[0]) if len(others) == 1 else (None, False)
    if origin is list:
        inner, _ = _struct_of(typing.get_args(tp)[0])
        return inner, inner is not None
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp, False
    return None, False


class _Generator:
    """The source of one class's two mappers: every stored value read once into a local, then one call."""

    def __init__(self, cls: type[Mapped]) -> None:
        self.cls = cls
        self.source = cls.SOURCE
        self.names: dict[str, Any] = {"cls": cls, "convert": msgspec.convert}
        self.keys: dict[str, int] = {}  # stored key -> local index, in the order first read

    def constant(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def local(self, key: str) -> str:
        return f"v{self.keys.setdefault(key, len(self.keys))}"

    def field(self, name: str, tp: Any) -> tuple[str, str]:
        """(raw expression, document expression) of one field."""
        spec = self.source.fields.get(name)
        if name == "id" and spec is None:
            value = self.local(self.source.id_key)
            return f"str({value})", f"str({value})"
        if isinstance(spec, Computed):
            call = f"{self.constant(spec.compute)}({', '.join(self.local(key) for key in spec.keys)})"
            return call, call
        if isinstance(spec, Read) or callable(spec):
            read = spec if isinstance(spec, Read) else Read(spec)
            value = self.local(read.key or name)
            call = f"None if {value} is None else {self.constant(read.convert)}({value})"
            return call, call
        value = self.local(name)
        struct, many = _struct_of(tp)
        if struct is None:
            return value, value
        if issubclass(struct, Mapped):
            nested = self.constant(struct)
            if many:
                return (
                    f"[{nested}.from_raw(item) for item in {value}]",
                    f"[{nested}.from_document(item) for item in {value}]",
                )
            return (
                f"None if {value} is None else {nested}.from_raw({value})",
                f"None if {value} is None else {nested}.from_document({value})",
            )
        target = self.constant(list[struct] if many else struct)  # type: ignore[valid-type]
        return (
            f"None if {value} is None else convert({value}, {target})",
            f"None if {value} is None else convert({value}, {target}, from_attributes=True)",
        )

    def raw_read(self, key: str) -> str:
        """How the raw path reads a stored key: required, or the model's default when absent, normalized."""
        info = getattr(self.source.model, "model_fields", {}).get(key)
        if key == self.source.id_key or info is None or info.is_required():
            read = f"raw[{key!r}]"
        elif info.default_factory is not None:
            read = f"(raw[{key!r}] if {key!r} in raw else {self.constant(info.default_factory)}())"
        else:
            read = f"raw.get({key!r}, {self.constant(info.default)})"
        normalize = self.source.normalize.get(key) or _stored_reading(info)
        return f"{self.constant(normalize)}({read})" if normalize else read

    def compile(self) -> _Plan:
        fields = [
            (field.name, *self.field(field.name, field.type))
            for field in msgspec.structs.fields(typing.cast(type[msgspec.Struct], self.cls))
            if not isinstance(self.source.fields.get(field.name), Given)
        ]
        raw_reads = "".join(f"    v{index} = {self.raw_read(key)}\n" for key, index in self.keys.items())
        # The model's id attribute is `id`, whatever its stored key (`_id`).
        doc_reads = "".join(
            f"    v{index} = document.{'id' if key == '_id' else key}\n" for key, index in self.keys.items()
        )
        raw_call = ", ".join(f"{name}={raw}" for name, raw, _ in fields)
        doc_call = ", ".join(f"{name}={doc}" for name, _, doc in fields)
        # A stored document's version goes to the response's ETag (http/versioning.py).
        versioned = self.source.id_key == "_id" and VERSION in getattr(self.source.model, "model_fields", {})
        raw_saw = f"    saw(raw['_id'], raw.get({VERSION!r}))\n" if versioned else ""
        doc_saw = f"    saw(document.id, document.{VERSION})\n" if versioned else ""
        from_document = f"{doc_reads}{doc_saw}    return cls({doc_call}, **given)\n"
        code = (
            f"def from_raw(raw):\n{raw_reads}{raw_saw}    return cls({raw_call})\n"
            f"def from_document(document, **given):\n{from_document}"
        )
        namespace = {**self.names, "saw": saw}
        exec(compile(code, f"<mapping of {self.cls.__qualname__}>", "exec"), namespace)  # noqa: S102
        stored = dict.fromkeys((*(key for key in self.keys if key != self.source.id_key), VERSION), 1)
        return _Plan(stored, namespace["from_raw"], namespace["from_document"])  # type: ignore[arg-type]


def _stored_reading(info: Any) -> Callable[[Any], Any] | None:
    """How the model reads a raw value of a field typed `date` or `Decimal` (optional or not), or None."""
    if info is None:
        return None
    union = typing.get_origin(info.annotation) in (typing.Union, types.UnionType)
    kinds = typing.get_args(info.annotation) if union else (info.annotation,)
    named = [_unannotated(kind) for kind in kinds if kind is not type(None)]
    if len(named) != 1 or named[0] not in _STORED_READINGS:
        return None
    read = _STORED_READINGS[named[0]]
    return (lambda value: None if value is None else read(value)) if len(kinds) > 1 else read


_STORED_READINGS: dict[Any, Callable[[Any], Any]] = {date: stored_date, Decimal: stored_decimal}


def _unannotated(kind: Any) -> Any:
    """`T` of `Annotated[T, ...]` (a StoredDecimal is an annotated Decimal), else the type itself."""
    return typing.get_args(kind)[0] if typing.get_origin(kind) is typing.Annotated else kind


def _compile(cls: type[Mapped]) -> _Plan:
    return _Generator(cls).compile()
