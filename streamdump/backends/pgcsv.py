"""PostgreSQL's COPY CSV format made from the stream's row lines themselves (issue 15).

A row line is a JSON array; with `COPY ... (FORMAT csv, NULL 'null')` most of it already is a
CSV line: values separated by commas, strings in double quotes, `null` unquoted (CSV matches the
NULL string against unquoted values only, so the string "null" stays a string), numbers and
`true`/`false` as PostgreSQL reads them. What differs is done with a few bytes operations over
the whole batch, no Python object per value: the brackets go, and JSON's escapes inside strings
become the characters themselves (CSV quotes them; a quote is doubled).

That holds only where the stream's text is what the COPY text path (pgcopy.py) would send as it
is, so a section gets a batch function here only if every column is of such a codec: integers in
their column's range, plain strings, booleans, and decimals, datetimes, dates, times and UUIDs of
Django's own fields in the stream's canonical form. One regular expression per section checks a
whole batch: each value's shape, integers against their range, dates and times against the
calendar (the same values the text path accepts with its shape checks and the decoder's
parser, or fewer). A batch it refuses (any other form, an escape it does not rewrite, a value
out of range, invalid UTF-8) goes the text path, which accepts or names the bad value as
before; a batch it takes stores the same values, since PostgreSQL reads each field from the
same text (tests/test_pgcopy.py).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from django.db import models

from .pgcopy import CopyBlock, _own

# Batches of fewer lines go the text path: the pattern, compiled at the first batch that CSV
# takes, costs a few milliseconds (re's parser is Python), what CSV saves on a few thousand rows.
MIN_LINES = 1000
# Integers of up to 18 digits: within 64 bits, which orjson reads as exact ints.
_MAX18 = 10**18 - 1

_STRING = rb'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u00(?:0[1-9a-fA-F]|1[0-9a-fA-F]))[^"\\\x00-\x1f]*+)*+"'  # fmt: skip  # noqa: E501
_YEAR = rb"(?!0000)[0-9]{4}"
_LEAP_YEAR = rb"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_MONTH_DAY = (
    rb"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    rb"|(?:0[13578]|1[02])-31)"
)
_DATE = rb"(?:" + _YEAR + rb"-" + _MONTH_DAY + rb"|(?!0000)" + _LEAP_YEAR + rb"-02-29)"
_TIME = rb"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{6})?"
_OFFSET = rb"[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]"
_PATTERNS = {
    "str": _STRING,
    "bool": rb"(?:true|false)",
    "decimal": rb'"-?[0-9]++(?:\.[0-9]++)?"',
    "datetime": rb'"' + _DATE + rb"T" + _TIME + _OFFSET + rb'"',
    "date": rb'"' + _DATE + rb'"',
    "time": rb'"' + _TIME + rb'"',
    "uuid": rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"',
}
# A JSON escape's letter (after its backslash) and the character CSV holds instead (a quote is
# doubled); \u escapes are \u0001 to \u001f here (the pattern allows no other).
_UNESCAPED = {
    b'"': b'""', b"/": b"/", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r",
    b"t": b"\t",
}  # fmt: skip
_INNER = operator.itemgetter(slice(1, -1))  # a row line without its brackets


def _up_to(bound: int) -> str:
    """A regular expression for the integers 0..bound in JSON's form (no leading zeros)."""
    digits = str(bound)
    parts = ["0"] if bound >= 0 else []
    if len(digits) > 1:
        parts.append(f"[1-9][0-9]{{0,{len(digits) - 2}}}")
    for i, digit in enumerate(digits):
        low, high = (1 if i == 0 else 0), int(digit) - 1
        if high >= low:
            parts.append(f"{digits[:i]}[{low}-{high}][0-9]{{{len(digits) - i - 1}}}")
    if bound > 0:
        parts.append(digits)
    return "(?:" + "|".join(parts) + ")"


def integer_pattern(low: int, high: int) -> bytes | None:
    """A regular expression for the integers low..high as JSON writes them, without -0; None
    if 0 is not in the range (no such column type here). Bounds of more than 18 digits (64-bit
    columns) count as 18 nines: a longer integer is left to the text path, and the pattern
    stays short (compiling it is paid once per section, in the importing process)."""
    low, high = max(low, -_MAX18), min(high, _MAX18)
    if not low <= 0 <= high:
        return None
    positive = _up_to(high)
    if low == 0:
        return positive.encode()
    negative = _up_to(-low).replace("(?:0|", "(?:", 1)  # 1..-low: -0 is left to the text path
    return f"(?:-{negative}|{positive})".encode()


def _column_pattern(name: str, field: models.Field, decode: Any) -> bytes | None:
    """The pattern of one column's non-null JSON values that go as they are (the conditions of
    pgcopy._expression's fast forms), or None."""
    if name == "int":
        limits = getattr(decode, "only_range", None)
        if limits is None and getattr(decode, "only_type", None) is not int:
            return None
        return integer_pattern(*(limits or (-_MAX18, _MAX18)))
    if name in ("str", "bool"):
        kind = str if name == "str" else bool
        return _PATTERNS[name] if getattr(decode, "only_type", None) is kind else None
    own = {
        "decimal": models.DecimalField,
        "datetime": models.DateTimeField,
        "date": models.DateField,
        "time": models.TimeField,
    }
    if name in own and _own(field, own[name]):
        return _PATTERNS[name]
    if name == "uuid":
        value_field = field
        while value_field.is_relation and (value_field.many_to_one or value_field.one_to_one):
            value_field = value_field.target_field
        if type(field).__module__.startswith("django.") and _own(value_field, models.UUIDField):
            return _PATTERNS[name]
    return None


def _unescape(data: bytes) -> bytes:
    """JSON's escapes inside the strings of `data` (checked by the pattern) as CSV holds them.

    Split at each backslash (a search for one byte, where bytes.replace of a two-byte escape
    scans at half the speed): each piece after the first starts with an escape's letter; an
    empty piece is the first backslash of an escaped backslash, and the piece after it is text.
    """
    pieces = data.split(b"\\")
    out = [pieces[0]]
    i, count = 1, len(pieces)
    while i < count:
        piece = pieces[i]
        if not piece:
            out.append(b"\\")
            out.append(pieces[i + 1])
            i += 2
            continue
        letter = piece[:1]
        if letter == b"u":
            out.append(bytes([int(piece[1:5], 16)]))
            out.append(piece[5:])
        else:
            out.append(_UNESCAPED[letter])
            out.append(piece[1:])
        i += 1
    return b"".join(out)


def csv_formatter(
    codecs: list[str], fields: list[models.Field], decoders: list[Any]
) -> Callable[[list[bytes]], tuple[CopyBlock | None, list[int]]] | None:
    """A function making a batch of row lines (bytes, as the stream holds them) into one
    CopyBlock in CSV: (the block, or None if it took no line; the positions of the lines it
    left to the text path, in order). None if a column's values never go as they are."""
    columns = []
    for name, field, decode in zip(codecs, fields, decoders, strict=True):
        pattern = _column_pattern(name, field, decode)
        if pattern is None:
            return None
        columns.append(b"(?:null|" + pattern + b")")
    # Rows, each with its newline: compiled at the first batch (in the worker, for a section it
    # decodes), where it costs a few milliseconds of Python (re's parser).
    source = rb"(?:\[" + b",".join(columns) + rb"\]\n)*+"
    compiled: list[Callable[[bytes], Any]] = []

    def csv_block(lines: list[bytes]) -> tuple[CopyBlock | None, list[int]]:
        if len(lines) < MIN_LINES:
            return None, list(range(len(lines)))
        if not compiled:
            compiled.append(re.compile(source).fullmatch)
        rows = compiled[0]
        left: list[int] = []
        if rows(b"\n".join(lines) + b"\n") is None:
            taken: list[int] = []
            for i, line in enumerate(lines):
                (left if rows(line + b"\n") is None else taken).append(i)
            if not taken:
                return None, left
            lines = [lines[i] for i in taken]
        data = b"\n".join(map(_INNER, lines))
        data += b"\n"
        try:
            data.decode()  # UTF-8, as orjson requires it
        except UnicodeDecodeError:
            return None, list(range(len(lines) + len(left)))
        if b"\\" in data:
            data = _unescape(data)
        return CopyBlock(data, len(lines), csv=True), left

    return csv_block
