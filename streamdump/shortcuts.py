"""Shortcuts for Django's own field types: the same values Django computes, in fewer steps.

Export: a column's raw driver value goes through the backend's converters, then the codec's
encoder; read_encoder fuses the two, doing the common converters (SQLite and MariaDB datetimes,
UUIDs, booleans, dates, times) directly. Import: fast_prep gives what the field's
get_db_prep_save gives for DateTimeField, DecimalField, UUIDField, DateField and TimeField.

Every shortcut applies only to Django's own classes and backends (a subclass may change any
step) and falls back to Django's own path for anything unusual; tests/test_codecs.py compares
each with Django's path on edge inputs. codecs.py stays the place where a new field type goes.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import models

Fn = Callable[[Any], Any]


def read_encoder(
    encode: Fn | None, converters: list, expression: Any, connection: Any
) -> tuple[Fn | None, bool]:
    """One function from a column's raw driver value to its JSON value: Django's converters
    for the column (as the compiler lists them), then the codec's encoder.

    Returns (function, whether it must see NULLs too). The backend converters of the common
    types are done here in fewer steps, giving the same values; any other converter runs as is.
    """
    if not converters:
        return encode, False
    if len(converters) == 1:
        fast = _fast_read(converters[0], encode, connection)
        if fast is not None:
            return fast, False

    def read(v: Any) -> Any:
        for convert in converters:
            v = convert(v, expression, connection)
        return v if v is None or encode is None else encode(v)

    return read, True


def _is(converter: Any, ops: Any, name: str) -> bool:
    # The backend's own converter method, not one a subclass of its operations replaced.
    func = getattr(converter, "__func__", None)
    own = getattr(type(ops), name, None)
    return func is not None and func is own and own.__module__.startswith("django.db.backends.")


def _fast_read(converter: Any, encode: Fn | None, connection: Any) -> Fn | None:
    ops, vendor = connection.ops, connection.vendor
    if vendor not in ("sqlite", "mysql") or getattr(converter, "__self__", None) is not ops:
        return None
    if _is(converter, ops, "convert_booleanfield_value") and encode is None:

        def read_bool(v: Any) -> Any:
            return bool(v) if v in (1, 0) else v  # what both backends' converters do

        return read_bool
    if _is(converter, ops, "convert_datetimefield_value") and encode is datetime.datetime.isoformat:
        # Both make a naive datetime aware in the connection's time zone (USE_TZ).
        slow = _slow_read(converter, encode, connection)
        if not settings.USE_TZ:
            return None
        tz = connection.timezone
        utc = tz is datetime.timezone.utc
        dt = datetime.datetime

        def read_datetime(v: Any) -> Any:
            if v.__class__ is dt and v.tzinfo is None:
                # isoformat of the aware UTC value is the naive one with its offset appended.
                return v.isoformat() + "+00:00" if utc else v.replace(tzinfo=tz).isoformat()
            return slow(v)

        return read_datetime
    if _is(converter, ops, "convert_uuidfield_value") and encode is str:
        slow = _slow_read(converter, encode, connection)

        def read_uuid(v: Any) -> Any:
            # str(UUID(v)) of the 32 lower-case hex digits Django stores is v with hyphens.
            if v.__class__ is str and _HEX32(v):
                return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"
            return slow(v)

        return read_uuid
    kind = _DATE_TYPES.get(getattr(converter, "__name__", None))
    if vendor == "sqlite" and kind is not None and encode is kind.isoformat:
        if _is(converter, ops, converter.__name__):
            slow = _slow_read(converter, encode, connection)

            def read_date(v: Any) -> Any:
                # SQLite's driver already parsed it (Django registers converters for it).
                return encode(v) if v.__class__ is kind else slow(v)

            return read_date
    return None


_HEX32 = re.compile(r"[0-9a-f]{32}\Z").match
_DATE_TYPES = {
    "convert_datefield_value": datetime.date,
    "convert_timefield_value": datetime.time,
}


def _slow_read(converter: Any, encode: Fn | None, connection: Any) -> Fn:
    def read(v: Any) -> Any:
        v = converter(v, None, connection)  # these backend converters ignore the expression
        return v if v is None or encode is None else encode(v)

    return read


# --- import ---


def fast_prep(name: str, field: Any, connection: Any, parse: Fn) -> Fn | None:
    """For Django's own field classes, the same value get_db_prep_save gives, with fewer steps.

    Only where the shortcut is exactly what the field and the backend do: a subclass may change
    any step, so anything unusual goes through the field's own get_db_prep_save.
    """
    if name == "datetime" and type(field) is models.DateTimeField:
        return _fast_datetime(field, connection, parse)
    if name == "uuid" and type(field) is models.UUIDField:
        if connection.features.has_native_uuid_field:
            return parse

        def dec_uuid_hex(v: Any) -> str:
            if v.__class__ is str and _CANONICAL_UUID(v):  # what str(UUID) writes
                return v.replace("-", "")
            return parse(v).hex

        return dec_uuid_hex
    if name == "decimal" and type(field) is models.DecimalField:
        return _fast_decimal(field, connection, parse)
    if (name, type(field)) in (("date", models.DateField), ("time", models.TimeField)):
        # get_prep_value (to_python) returns a parsed date or time as it is: only the
        # backend's adapt step remains.
        adapt = getattr(connection.ops, f"adapt_{name}field_value")
        return lambda v: adapt(parse(v))
    return None


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\Z").match


def _fast_datetime(field: Any, connection: Any, parse: Fn) -> Fn:
    adapt = connection.ops.adapt_datetimefield_value
    prep = field.get_db_prep_save
    fromisoformat = datetime.datetime.fromisoformat
    # SQLite and MySQL store naive datetimes in the connection's time zone, as str(value):
    # the same steps as their adapt_datetimefield_value (make_naive, then str) without the
    # settings lookups. Other backends (PostgreSQL: the aware value itself) use their own.
    naive_str = connection.vendor in ("sqlite", "mysql") and settings.USE_TZ
    tz = connection.timezone if naive_str else None
    utc = tz is datetime.timezone.utc

    def dec_datetime(v: Any) -> Any:
        if naive_str and v.__class__ is str:
            try:
                value = fromisoformat(v)
            except ValueError:
                value = None
            if value is not None and value.utcoffset() is not None:
                if utc and value.tzinfo is tz:
                    text = _utc_text(v, value.microsecond)
                    if text is not None:
                        return text
                return str(value.astimezone(tz).replace(tzinfo=None))
        value = parse(v)  # reports a bad value
        if value.tzinfo is None:  # naive: Django warns and makes it aware (USE_TZ)
            return prep(value, connection)
        # get_prep_value leaves an aware datetime as it is; only the backend adapts it.
        return adapt(value)

    return dec_datetime


def _utc_text(v: str, microsecond: int) -> str | None:
    """str() of the naive UTC datetime, cut from the text where it is in isoformat's layout.

    v has already parsed as a UTC datetime; the layout checks rule out the other forms
    fromisoformat accepts (week dates, basic format, other separators, zero fractions).
    """
    if v[4] != "-" or v[7] != "-" or v[10] != "T":
        return None
    if len(v) == 32 and v[19] == "." and v[26:] == "+00:00" and microsecond:
        return f"{v[:10]} {v[11:26]}"
    if len(v) == 25 and v[19:] == "+00:00":
        return f"{v[:10]} {v[11:19]}"
    return None


def _fast_decimal(field: Any, connection: Any, parse: Fn) -> Fn:
    # DecimalField.get_db_prep_save of a finite Decimal is the backend's adapt step of
    # to_python(value), which is Decimal(value): an equal Decimal.
    prep = field.get_db_prep_save
    adapt = connection.ops.adapt_decimalfield_value
    digits, places = field.max_digits, field.decimal_places

    def dec_decimal(v: Any) -> Any:
        if v.__class__ is str:
            try:
                value = Decimal(v)
            except InvalidOperation:
                value = None
            if value is not None and value.is_finite():
                return adapt(value, digits, places)
        return prep(parse(v), connection)  # the field's own errors for anything else

    return dec_decimal
