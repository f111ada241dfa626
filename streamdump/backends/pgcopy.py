"""PostgreSQL's COPY text format written straight from the stream's values (issue 15).

psycopg's Copy.write_row takes Python values and formats each with its dumper: the import had to
build them first (Decimal, UUID, datetime, JSON written back to text), then psycopg wrote them
back to text, about 10 µs of a row's 13. Most of the stream's values already are text PostgreSQL
reads as the same value (docs/FORMAT.md): a decimal's digits, an ISO 8601 datetime with its
offset, a hyphenated UUID, an integer. copy_formatter() compiles, once per section, one function
that writes a batch's rows as one COPY text block (bytes), each column an inlined expression:

- values in the stream's canonical form go as they are (checked by shape, and dates and times
  by the C parser that the decoder uses, so an impossible date is still refused here);
- anything else goes through the column's own decoder (the one the Python path uses, which
  refuses a bad value with its CodecError) and is formatted as psycopg's text dumper would have
  (py_text), so both paths store the same values.

The block is built where the batch is decoded, in the decode worker for a large section
(decodeworker.py): the importing process only writes bytes to the server. A bad value raises
CodecError naming its row (row_offset) and column (column_index), as decode_batch reports them.
"""

from __future__ import annotations

import binascii
import datetime
import json
import math
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from django.db import models
from django.db.models.fields.json import JSONField

from ..errors import CodecError

Fn = Callable[[Any], Any]
Formatter = Callable[[list[list[Any]]], bytes]

try:  # the wrappers Django's PostgreSQL backend prepares values in (psycopg 3)
    from psycopg import Binary as _Binary
    from psycopg.types.json import _JsonWrapper
except ImportError:  # psycopg2: this module is not used
    _Binary = _JsonWrapper = None  # type: ignore[assignment,misc]

NUL_REFUSED = "PostgreSQL text fields cannot contain NUL (0x00) bytes"  # psycopg's own words


class CopyBlock:
    """A batch of rows in COPY's text format (or CSV, made by pgcsv.py: `csv`), ready for
    Copy.write, and perhaps `then` another block of the batch's rows (in the other format);
    len() is their row count."""

    __slots__ = ("data", "rows", "csv", "then")

    def __init__(
        self, data: bytes, rows: int, csv: bool = False, then: CopyBlock | None = None
    ) -> None:
        self.data, self.rows, self.csv, self.then = data, rows, csv, then

    def __len__(self) -> int:
        return self.rows + (len(self.then) if self.then is not None else 0)

    def __reduce__(self) -> tuple[type[CopyBlock], tuple[bytes, int, bool, CopyBlock | None]]:
        # pickled as the bytes it holds (decode worker)
        return CopyBlock, (self.data, self.rows, self.csv, self.then)


def escape(v: str) -> str:
    """A string as a field of COPY's text format: backslash, tab, newline and carriage return
    escaped; NUL refused, as psycopg refuses it (PostgreSQL's text types cannot hold it)."""
    if "\0" in v:
        raise CodecError(NUL_REFUSED)
    # Only the replacements needed: a search costs far less than a copy (a third less time on
    # the text-heavy schema's bodies, most of which hold a newline and nothing else to escape).
    if "\\" in v:
        v = v.replace("\\", "\\\\")
    if "\t" in v:
        v = v.replace("\t", "\\t")
    if "\n" in v:
        v = v.replace("\n", "\\n")
    if "\r" in v:
        v = v.replace("\r", "\\r")
    return v


def _float_text(v: float) -> str:
    if math.isfinite(v):
        return repr(v)  # the shortest text that reads back as the same double; -0.0 kept
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


def py_text(v: Any) -> str:
    """A decoded Python value as a COPY text field: the text psycopg's dumper writes for its
    type (the same value stored), escaped. A type psycopg would not know raises CodecError."""
    if v is None:
        return "\\N"
    cls = v.__class__
    if cls is str:
        return escape(v)
    if cls is bool:
        return "t" if v else "f"
    if isinstance(v, int) and cls is not bool:
        return str(int(v))
    if isinstance(v, float):
        return _float_text(v)
    if isinstance(v, Decimal):
        return str(v)  # NaN, Infinity and exponents as psycopg writes them
    if isinstance(v, (datetime.datetime, datetime.time)):
        return str(v)  # with the offset when aware
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        # psycopg's form for IntervalStyle sql_standard, read alike under every style.
        return f"{v.days:+d} day {v.seconds:+d} second {v.microseconds:+d} microsecond"
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "\\\\x" + bytes(v).hex()  # bytea's hex form, its backslash escaped for COPY
    if isinstance(v, str):
        return escape(str(v))
    if _Binary is not None and isinstance(v, _Binary):  # what Django's BinaryField prepares
        return py_text(bytes(v.obj))
    if _JsonWrapper is not None and isinstance(v, _JsonWrapper):  # Json, Jsonb
        text = (v.dumps or json.dumps)(v.obj)
        return escape(text.decode() if isinstance(text, bytes) else text)
    raise CodecError(f"a {cls.__module__}.{cls.__qualname__} value cannot be written by COPY")


# Shapes of the stream's canonical text (docs/FORMAT.md) that PostgreSQL reads as the same value.
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?[+-][0-9]{2}:[0-9]{2}\Z").match  # fmt: skip  # noqa: E501
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z").match
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?\Z").match
# fullmatch with no group: 204 ns where match with a repeated group and \Z took 339.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch


_MAX_DAYS = 999_999_999  # timedelta's range, which the decoder holds durations to
_DAY_US = 86_400_000_000


def _duration_text(v: int) -> str:
    # timedelta(microseconds=v) normalised (days, then seconds and microseconds >= 0), in
    # py_text's form; v is known to be within timedelta's range.
    days, rest = divmod(v, _DAY_US)
    seconds, micro = divmod(rest, 1_000_000)
    return f"{days:+d} day {seconds:+d} second {micro:+d} microsecond"


# Whether a string is [-]digits[.digits] in ASCII (str(Decimal) of most values): one call into
# re's matcher costs less than the Python function it replaces (147 against 206 ns). Exponents
# and the rest take the decoder's path.
_plain_decimal = re.compile(r"-?[0-9]+(?:\.[0-9]+)?").fullmatch


def _own(field: models.Field, cls: type) -> bool:
    return type(field) is cls


def _plain_encoder(encoder: Any) -> bool:
    # A JSON document parsed from the stream holds only JSON's own types: an encoder's
    # default() never runs, unless the class changes how it writes everything.
    return encoder is None or (
        encoder.encode is json.JSONEncoder.encode
        and encoder.iterencode is json.JSONEncoder.iterencode
    )


def _json_text(slow: Fn) -> Fn:
    def text(v: Any) -> str:
        if v.__class__ is list and len(v) == 1:
            try:
                return orjson.dumps(v[0]).decode().replace("\\", "\\\\")
            except orjson.JSONEncodeError:  # nested deeper than orjson writes
                pass
        return str(slow(v))

    return text


def _bytes_text(slow: Fn) -> Fn:
    def text(v: Any) -> str:
        if v.__class__ is str and v.isascii():
            try:
                data = binascii.a2b_base64(v)
            except binascii.Error:
                data = None
            # Canonical base64 only (what the exporter writes: encoding it again gives the same
            # text); anything else is for the decoder's own rules to accept or name.
            if data is not None and binascii.b2a_base64(data, newline=False) == v.encode():
                return "\\\\x" + data.hex()
        return str(slow(v))

    return text


def _expression(name: str, field: models.Field, decode: Fn, connection: Any) -> str:
    """The expression formatting a non-NULL value $v of the column: $S is its slow path (the
    decoder, then py_text), $X its codec's own function, $lo..$hi its integer range."""
    value_field = field
    while value_field.is_relation and (value_field.many_to_one or value_field.one_to_one):
        value_field = value_field.target_field
    own = type(field).__module__.startswith("django.")
    if name == "int":
        if getattr(decode, "only_range", None) is not None:
            return "$v if $v.__class__ is int and $lo <= $v <= $hi else $S($v)"
        return "$v if $v.__class__ is int else $S($v)"
    if name == "str" and getattr(decode, "only_type", None) is str:
        return (
            "($v if not (BS in $v or TAB in $v or NL in $v or CR in $v or NUL in $v) "
            "else E($v)) if $v.__class__ is str else $S($v)"
        )
    if name == "bool" and getattr(decode, "only_type", None) is bool:
        return "T if $v is True else F if $v is False else $S($v)"
    if name == "float":  # decoded without Django's prep: the field's class changes nothing
        return "$v if $v.__class__ is float else $S($v)"  # str(float) is repr()
    if name == "decimal" and _own(field, models.DecimalField):
        return "$v if $v.__class__ is str and DEC($v) else $S($v)"
    # Dates and times: the shape, then the decoder's C parser for the calendar (an impossible
    # date raises ValueError here: _locate then reports the decoder's own error).
    if name == "datetime" and _own(field, models.DateTimeField):
        return "$v if $v.__class__ is str and DT($v) and PDT($v) else $S($v)"
    if name == "date" and _own(field, models.DateField):
        return "$v if $v.__class__ is str and DA($v) and PDA($v) else $S($v)"
    if name == "time" and _own(field, models.TimeField):
        return "$v if $v.__class__ is str and TI($v) and PTI($v) else $S($v)"
    if (
        name == "duration"
        and _own(field, models.DurationField)
        and connection.features.has_native_duration_field
    ):
        return "DU($v) if $v.__class__ is int and MINU <= $v <= MAXU else $S($v)"
    if name == "uuid" and own and _own(value_field, models.UUIDField):
        return "$v if $v.__class__ is str and UU($v) else $S($v)"
    if name == "bytes" and _own(field, models.BinaryField):
        return "$X($v)"
    if (
        name == "json"
        and _own(field, JSONField)
        and field.db_type(connection) == "jsonb"
        and _plain_encoder(getattr(field, "encoder", None))
    ):
        return "$X($v)"
    return "$S($v)"


_NAMES: dict[str, Any] = {
    "NULL": "\\N", "T": "t", "F": "f", "BS": "\\", "TAB": "\t", "NL": "\n", "CR": "\r",
    "NUL": "\0", "E": escape, "DEC": _plain_decimal, "DT": _DATETIME, "DA": _DATE, "TI": _TIME,
    "UU": _UUID, "PDT": datetime.datetime.fromisoformat, "PDA": datetime.date.fromisoformat,
    "PTI": datetime.time.fromisoformat, "DU": _duration_text,
    "MINU": -_MAX_DAYS * _DAY_US,  # timedelta.min in microseconds
    "MAXU": (_MAX_DAYS + 1) * _DAY_US - 1,  # timedelta.max
}  # fmt: skip


def _slow(decode: Fn) -> Fn:
    def slow(v: Any) -> str:
        return py_text(decode(v))

    return slow


def copy_formatter(
    codecs: list[str], fields: list[models.Field], decoders: list[Fn], connection: Any
) -> Callable[[list[list[Any]]], bytes] | None:
    """A function writing a batch of stream rows (parsed values, in the section's column
    order) as one COPY text block, compiled for these columns; None if a column's values
    could not be written this way (the "text" codec: a custom field's own conversions).

    `decoders` are the columns' decoders for the target (codecs.decoder), used for every
    value not in the stream's canonical form. A bad value raises CodecError with
    `column_index` and `row_offset` (its row's position in the batch).
    """
    if "text" in codecs:
        return None
    namespace = dict(_NAMES)
    fields_src, columns = [], []
    for i, (name, field, decode) in enumerate(zip(codecs, fields, decoders, strict=True)):
        template = _expression(name, field, decode, connection)
        slow = _slow(decode)
        namespace[f"S{i}"] = slow
        if "$X" in template:
            namespace[f"X{i}"] = (_bytes_text if name == "bytes" else _json_text)(slow)
        limits = getattr(decode, "only_range", None)
        if limits is not None:
            namespace[f"lo{i}"], namespace[f"hi{i}"] = limits
        expression = (
            template.replace("$S", f"S{i}")
            .replace("$X", f"X{i}")
            .replace("$lo", f"lo{i}")
            .replace("$hi", f"hi{i}")
        )
        value = f"(NULL if $v is None else {expression})"
        fields_src.append("{" + value.replace("$v", f"v{i}") + "}")
        columns.append(f"lambda v: {value.replace('$v', 'v')}")
    names = ", ".join(f"v{i}" for i in range(len(codecs)))
    line = "{TAB}".join(fields_src) + "{NL}"  # an f-string; TAB and NL are names
    source = (
        f"def block(rows):\n    return ''.join([f'{line}' for {names}, in rows]).encode()\n"
        f"columns = [{', '.join(columns)}]\n"
    )
    exec(source, namespace)  # made of column indexes and the expressions above
    block, per_column = namespace["block"], namespace["columns"]

    slows = [namespace[f"S{i}"] for i in range(len(codecs))]

    def format_rows(rows: list[list[Any]]) -> bytes:
        try:
            return bytes(block(rows))
        except Exception:
            _locate(rows, per_column, slows)
            raise

    return format_rows


def _locate(rows: list[list[Any]], per_column: list[Fn], slows: list[Fn]) -> None:
    """Raise a CodecError naming the row and the column of the value the batch failed on,
    found again value by value, with the decoder's own message; return if none fails."""
    for offset, row in enumerate(rows):
        for index, (text, v) in enumerate(zip(per_column, row, strict=True)):
            try:
                f"{text(v)}".encode()
                continue
            except Exception as error:
                found = error
            try:
                slows[index](v)  # the decoder's words for what it refuses
            except CodecError as error:
                found = error
            except Exception as error:  # a value Django's own steps refuse (overflow...)
                found = CodecError(f"invalid value {v!r:.60}: {error}")
            if not isinstance(found, CodecError):
                found = CodecError(f"invalid value {v!r:.60}: {found}")
            found.column_index, found.row_offset = index, offset
            raise found from None
