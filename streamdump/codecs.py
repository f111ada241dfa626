"""Value codecs: one per field type, in one place.

Each codec turns the Python value Django reads from a column into a JSON value for the stream
(``encode``) and back into a Python value for the target column (``decode``). The exporter's
table pages (pages.py) and the import's loaders (loaders.py) compile one row function per
section from these (row_function) and know nothing about individual types. A new field type
goes here; a database's faster way to the same values goes into its module in backends/.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import orjson
from django.db import models

from . import exactjson
from .errors import CodecError

if TYPE_CHECKING:
    from .backends import Backend

Fn = Callable[[Any], Any]

# Codec names by Django's internal field type. Fields that are not Django's own and convert
# values themselves (from_db_value) use the "text" codec: value_to_string / to_python.
_BY_INTERNAL_TYPE = {
    "AutoField": "int",
    "BigAutoField": "int",
    "SmallAutoField": "int",
    "IntegerField": "int",
    "BigIntegerField": "int",
    "SmallIntegerField": "int",
    "PositiveIntegerField": "int",
    "PositiveBigIntegerField": "int",
    "PositiveSmallIntegerField": "int",
    "CharField": "str",
    "TextField": "str",
    "SlugField": "str",
    "EmailField": "str",
    "URLField": "str",
    "FilePathField": "str",
    "FileField": "str",
    "ImageField": "str",
    "GenericIPAddressField": "str",
    "IPAddressField": "str",
    "BooleanField": "bool",
    "NullBooleanField": "bool",
    "FloatField": "float",
    "DecimalField": "decimal",
    "DateTimeField": "datetime",
    "DateField": "date",
    "TimeField": "time",
    "DurationField": "duration",
    "UUIDField": "uuid",
    "BinaryField": "bytes",
    "JSONField": "json",
}


def _django_base(cls: type) -> type:
    for klass in cls.__mro__:
        if klass.__module__.startswith("django."):
            return klass
    return models.Field


def _value_field(field: models.Field) -> models.Field:
    """The field that defines a column's values: a foreign key's target, followed to the end."""
    while field.is_relation and (field.many_to_one or field.one_to_one):
        field = field.target_field
    return field


def codec_name(field: models.Field, regenerated: frozenset[str] = frozenset()) -> str:
    """Name of the codec that writes this concrete field's column."""
    if field.is_relation and field.related_model is not None:
        if field.related_model._meta.label in regenerated:
            return "natural"
    value_field = _value_field(field)
    klass = type(value_field)
    internal_type = value_field.get_internal_type()
    if klass.__module__.startswith("django.") or internal_type == "JSONField":
        # A field that declares the JSON column type (Wagtail's StreamField, a plain Field) moves
        # the stored document as it is: its Python value (a StreamValue) may rewrite or drop
        # parts of the document, and JSON columns compare by content, not by text.
        return _BY_INTERNAL_TYPE.get(internal_type, "text")
    base = _django_base(klass)
    # A custom subclass that only changes validation or forms reads the same values as its base.
    if getattr(klass, "from_db_value", None) is getattr(base, "from_db_value", None):
        return _BY_INTERNAL_TYPE.get(base.__name__, "text")
    return "text"


# --- encoders: value read by Django -> JSON value -------------------------------------------


def _enc_float(v: float) -> float | str:
    if math.isfinite(v):
        return v
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


def _enc_duration(v: datetime.timedelta) -> int:
    return (v.days * 86400 + v.seconds) * 1_000_000 + v.microseconds


def _enc_bytes(v: bytes | memoryview) -> str:
    return binascii.b2a_base64(v, newline=False).decode("ascii")  # base64.b64encode's own step


def _enc_json(raw: str | bytes) -> list[Any]:
    # The column is read as text (Table.select), so SQL NULL (None, never reaches here) and a JSON
    # null document stay distinct: a document is boxed in a one-element array. Integers of any
    # size stay exact (exactjson.py).
    try:
        return [exactjson.loads(raw)]
    except ValueError as exc:
        raise CodecError(f"JSON value cannot be represented exactly: {exc}") from None


def _enc_json_within_64_bits(raw: str | bytes) -> list[Any]:
    # orjson alone: for a text known to hold no integer beyond 64 bits (pages.py looks at a
    # whole page at once, a quarter of the cost of a look per value).
    try:
        return [orjson.loads(raw)]
    except orjson.JSONDecodeError:
        return _enc_json(raw)


_ENCODERS: dict[str, Fn | None] = {
    "int": None,
    "str": None,
    "bool": None,
    "float": _enc_float,
    "decimal": str,
    "datetime": datetime.datetime.isoformat,
    "date": datetime.date.isoformat,
    "time": datetime.time.isoformat,
    "duration": _enc_duration,
    "uuid": str,
    "bytes": _enc_bytes,
    "json": _enc_json,
}


def encoder(
    name: str,
    field: models.Field,
    keys_by_pk: dict[Any, list[Any]] | None = None,
    *,
    within_64_bits: bool = False,
) -> Fn | None:
    """The function that encodes one non-NULL value of this column (None: value as read).

    `keys_by_pk` maps the source's primary keys to natural keys, for the "natural" codec.
    `within_64_bits`: the caller knows that the values hold no integer beyond 64 bits (their
    text has no 20 digits or signs in a row: exactjson.has_long_number), which a JSON document
    is then read faster for.
    """
    if name == "json" and within_64_bits:
        return _enc_json_within_64_bits
    if name == "natural":
        label = field.related_model._meta.label

        def enc_natural(v: Any) -> list[Any]:
            try:
                return keys_by_pk[v]  # type: ignore[index]
            except (KeyError, TypeError):
                raise CodecError(f"no {label} row with primary key {v!r}") from None

        return enc_natural
    if name == "text":
        attname = field.attname
        return lambda v: field.value_to_string(SimpleNamespace(**{attname: v}))
    return _ENCODERS[name]


# --- decoders: JSON value -> Python value for the target column ------------------------------


def _typed(kind: type, label: str) -> Fn:
    def check(v: Any) -> Any:
        if v.__class__ is not kind:
            raise CodecError(f"expected {label}, got {type(v).__name__} {v!r:.60}")
        return v

    check.only_type = kind  # type: ignore[attr-defined]  # row_function inlines the check
    return check


def _dec_float(v: Any) -> float:
    if v.__class__ is float:
        return v
    if v.__class__ is int:
        return float(v)
    if v in ("NaN", "Infinity", "-Infinity"):
        return float(v.replace("inity", ""))
    raise CodecError(f"expected a number, got {v!r:.60}")


def _parser(kind: Callable[[str], Any], label: str) -> Fn:
    def parse(v: Any) -> Any:
        if v.__class__ is not str:
            raise CodecError(f"expected {label} as a string, got {v!r:.60}")
        try:
            return kind(v)
        except (ValueError, InvalidOperation, binascii.Error):
            raise CodecError(f"invalid {label}: {v!r:.60}") from None

    return parse


def _dec_duration(v: Any) -> datetime.timedelta:
    if v.__class__ is not int:
        raise CodecError(f"expected a duration in integer microseconds, got {v!r:.60}")
    try:
        return datetime.timedelta(microseconds=v)
    except OverflowError:
        raise CodecError(f"duration out of range: {v!r:.60} microseconds") from None


def _ranged(low: int | None, high: int | None, what: str) -> Fn:
    """The integer decoder for a column that holds only low..high (None: no bound)."""
    low_ = -(1 << 200) if low is None else low  # beyond any integer orjson reads
    high_ = 1 << 200 if high is None else high

    def check_range(v: Any) -> Any:
        if v.__class__ is not int:
            raise CodecError(f"expected an integer, got {type(v).__name__} {v!r:.60}")
        if not low_ <= v <= high_:
            raise CodecError(f"{v} is out of range for {what} ({low} to {high})")
        return v

    check_range.only_range = (low_, high_)  # type: ignore[attr-defined]  # inlined
    return check_range


def _b64(v: str) -> bytes:
    return base64.b64decode(v, validate=True)


_DECODERS: dict[str, Fn] = {
    "int": _typed(int, "an integer"),
    "str": _typed(str, "a string"),
    "bool": _typed(bool, "true or false"),
    "float": _dec_float,
    "decimal": _parser(Decimal, "decimal"),
    "datetime": _parser(datetime.datetime.fromisoformat, "datetime"),
    "date": _parser(datetime.date.fromisoformat, "date"),
    "time": _parser(datetime.time.fromisoformat, "time"),
    "duration": _dec_duration,
    "uuid": _parser(uuid.UUID, "UUID"),
    "bytes": _parser(_b64, "base64"),
}

# Values of these codecs go to the driver as decoded; the rest pass through the field's
# get_db_prep_save so that each backend gets its own representation (naive UTC on SQLite, ...).
_NO_PREP = frozenset({"int", "str", "bool", "float", "natural"})


def decoder(
    name: str,
    field: Any,
    backend: Backend,
    pks_by_key: dict[tuple[Any, ...], Any] | None = None,
    prep: bool = True,
) -> Fn:
    """The function that turns one non-NULL stream value into the value the driver inserts
    into `backend`'s database.

    `pks_by_key` maps natural keys to the target's primary keys, for the "natural" codec. With
    prep=False it returns the Python value instead, for saving through the ORM.
    """
    connection = backend.connection
    if name == "int":
        value_field = _value_field(field)
        limits = backend.integer_range(value_field)
        if limits is not None:
            what = f"a {value_field.get_internal_type()} on {connection.vendor}"
            return _ranged(*limits, what)
    if name == "natural":
        label = field.related_model._meta.label

        def dec_natural(v: Any) -> Any:
            try:
                return pks_by_key[tuple(v)]  # type: ignore[index]
            except (KeyError, TypeError):
                raise CodecError(f"no {label} with natural key {v!r:.80} in the target") from None

        return dec_natural
    if name == "json":
        adapt = getattr(connection.ops, "adapt_json_value", None)
        encoder_cls = getattr(_value_field(field), "encoder", None)

        def dec_json(v: Any) -> Any:
            if v.__class__ is not list or len(v) != 1:
                raise CodecError(f"expected a JSON document boxed as [document], got {v!r:.60}")
            if not prep:
                return v[0]
            if adapt is not None:
                return adapt(v[0], encoder_cls)
            return json.dumps(v[0], cls=encoder_cls)

        return dec_json
    if name == "text":
        value_field = _value_field(field)

        def dec_text(v: Any) -> Any:
            if v.__class__ is not str:
                raise CodecError(f"expected a string, got {v!r:.60}")
            try:
                value = value_field.to_python(v)
                return field.get_db_prep_save(value, connection) if prep else value
            except Exception as exc:  # the field's own validation, any type
                raise CodecError(f"invalid value {v!r:.60}: {exc}") from None

        return dec_text
    decode = _DECODERS[name]
    if name == "float" and prep:
        decode = backend.decode_float(decode)
    if name in _NO_PREP or not prep:
        return decode
    fast = backend.prep_shortcut(name, field, decode)
    if fast is not None:
        return fast
    prep_save = field.get_db_prep_save

    def dec_prep(v: Any) -> Any:
        return prep_save(decode(v), connection)

    return dec_prep


_ROW_TEMPLATE = """
def apply(row):
    try:
        {names}, = row
{checks}
        return [{values}]
    except Exception:
        return generic(row)
"""


def row_function(
    fns: Sequence[Fn | None], always: set[int] | frozenset[int] = frozenset()
) -> Callable[[Any], list[Any]]:
    """Compile per-column functions into one function over a row (of len(fns) values).

    NULLs pass through, except in the columns listed in always, whose functions see them too.
    The function is generated once per section, one expression per column, so that a row
    costs no loop and no lookups; type and range checks (codecs that return values as they
    are) are inlined. On a bad value the generic loop runs again over the original row, to find
    and name the column; whatever a function raises there becomes a CodecError.
    """
    active = [(i, fn) for i, fn in enumerate(fns) if fn is not None]
    if not active:
        return list

    def generic(row: Any) -> list[Any]:
        row = list(row)
        for i, fn in active:
            v = row[i]
            if v is not None or i in always:
                try:
                    row[i] = fn(v)
                except CodecError as exc:
                    exc.column_index = i  # the caller knows the column names
                    raise
                except Exception as exc:  # a value Django's own steps refuse (overflow...)
                    error = CodecError(f"invalid value {v!r:.60}: {exc}")
                    error.column_index = i
                    raise error from None
        return row

    values = [f"v{i}" for i in range(len(fns))]
    checks = []
    namespace: dict[str, Any] = {"CodecError": CodecError, "generic": generic}
    for i, fn in active:
        namespace[f"f{i}"] = fn
        kind = getattr(fn, "only_type", None)
        limits = getattr(fn, "only_range", None)
        if i in always:
            values[i] = f"f{i}(v{i})"
        elif limits is not None:
            namespace[f"lo{i}"], namespace[f"hi{i}"] = limits
            checks.append(
                f"        if v{i} is not None and (v{i}.__class__ is not int or v{i} < lo{i} "
                f"or v{i} > hi{i}): f{i}(v{i})"
            )
        elif kind is not None:
            namespace[f"t{i}"] = kind
            checks.append(f"        if v{i}.__class__ is not t{i} and v{i} is not None: f{i}(v{i})")
        else:
            values[i] = f"None if v{i} is None else f{i}(v{i})"
    source = _ROW_TEMPLATE.format(
        names=", ".join(f"v{i}" for i in range(len(fns))),
        checks="\n".join(checks) or "        pass",
        values=", ".join(values),
    )
    exec(source, namespace)  # source made of column indexes only
    return namespace["apply"]
