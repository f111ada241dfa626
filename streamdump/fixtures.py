"""Read Django fixtures (dumpdata JSON arrays, JSON lines) one object at a time, in one pass.

JSON arrays are read a chunk at a time, so a fixture of any size reads in bounded memory: each
object's span found by a scan and parsed by orjson, the rare item orjson cannot read exactly by
the json module's C scanner (raw_decode), with integers of any size as int and the other numbers
as Decimal (json_numbers() turns them into the floats Python's json module gives, where a JSON
value is wanted); ijson's event stream was ten times slower (a Python call per event) and its
fastest backend overflowed on some numbers (-9223372036854775808 in a JSONField). JSON lines go
through orjson, and through the json module for the rare line orjson cannot read exactly
(integers beyond 64 bits).
A leading metadata record (as InvenTree's export-records writes) is told apart by its
"metadata": true. Decompression and telling a fixture from a stream are framing.py's job.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson

from .errors import FormatError
from .framing import Framed, Kind, LineTooLong


def _json_line(line: bytes) -> Any:
    # orjson reads integers beyond 64 bits as floats (or refuses them, before 3.10); Python's
    # json reads every valid number exactly.
    if _long_number(line):
        return json.loads(line)
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def iter_fixture(framed: Framed) -> Iterator[Any]:
    """Yield each object of a dumpdata fixture (a JSON array or JSON lines), in file order.

    Numbers that are not integers come as Decimal from a JSON array (see json_numbers()).
    """
    number = 0
    try:
        if framed.kind is Kind.FIXTURE_JSON:
            items = _ArrayItems(framed)
            try:
                yield from items
            finally:
                number = items.count
            return
        for line in framed.lines():
            if line.strip():
                number += 1
                yield _json_line(line)
    except ValueError as exc:
        raise FormatError(
            f"the fixture is damaged or truncated after object {number}: {exc}"
        ) from None


def json_numbers(value: Any) -> Any:
    """A JSON value with its Decimals as floats, as json.loads would have read them."""
    if value.__class__ is Decimal:
        return float(value)
    if value.__class__ is list:
        return [json_numbers(v) for v in value]
    if value.__class__ is dict:
        return {k: json_numbers(v) for k, v in value.items()}
    return value


def json_document(value: Any) -> Any:
    """A record's JSON document as the stream holds it: json_numbers(), and NaN or an infinity
    refused (ValueError), which no JSON text can hold (orjson would write null for them)."""
    cls = value.__class__
    if cls is Decimal or cls is float:
        number = float(value)
        if number - number != 0:
            raise ValueError(f"{value} in a JSON document is not a number JSON can hold")
        return number
    if cls is list:
        return [json_document(v) for v in value]
    if cls is dict:
        return {k: json_document(v) for k, v in value.items()}
    return value


def is_metadata(obj: Any) -> bool:
    """Whether a fixture object is a metadata record (InvenTree's export-records writes one)."""
    return isinstance(obj, dict) and obj.get("metadata") is True and "model" not in obj


_DECODER = json.JSONDecoder(parse_float=Decimal)
_SPACE = re.compile(rb"[ \t\n\r]*")
_SEPARATOR = re.compile(rb"[ \t\n\r]*,[ \t\n\r]*").match
# Where an object of the array may end: "}" before ", {" or "]". Inside an item this may match
# too (nested objects, text in strings): the span is then not valid JSON, as no proper prefix
# of an object is, and the search goes on.
_OBJECT_END = re.compile(rb"\}[ \t\n\r]*(?:,[ \t\n\r]*(?=\{)|\])").search
# A number orjson reads otherwise than exactly: an integer beyond 64 bits (above
# 18446744073709551615, which has 20 digits, or below -9223372036854775808, which has 19), or a
# number with 19 digits or more in its fraction or exponent (the exact parser keeps those as
# Decimal). Each has 19 digits in a row, and each such run is looked at: 20 or more digits, a
# run after "-" beyond 64 bits, or one next to ".", "e", "E" or "+" send the item to the exact
# parser; a run of exactly 19 digits otherwise is an unsigned integer below 2**64, or only
# text, and orjson reads either exactly (a sort key, a hash: common in real data). Digits are
# made zeros and the zeros looked for: ten times faster than a regular expression.
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else i for i in range(256))
_LONG = b"0" * 19
_GOES_ON = frozenset(b"0.eE")  # after a run: it is longer, or a float's
_FLOAT_BEFORE = frozenset(b".eE+")  # before a run: a float's fraction or exponent
_MINUS, _I64_MIN = ord("-"), b"9223372036854775808"


def _long_number(data: bytes) -> bool:
    """Whether `data` may hold a number that orjson does not read exactly (see above)."""
    return _long_number_at(data) >= 0


def _long_number_at(data: bytes) -> int:
    """Where the first run of digits that may be such a number starts in `data`, or -1."""
    digits = data.translate(_DIGITS)
    at = digits.find(_LONG)
    while at >= 0:
        end = at + 19
        if end < len(digits) and digits[end] in _GOES_ON:
            return at
        if at:
            before = digits[at - 1]
            if before in _FLOAT_BEFORE or (before == _MINUS and data[at:end] > _I64_MIN):
                return at
        at = digits.find(_LONG, end)
    return -1


_OBJECT_END_AT = re.compile(rb"\}[ \t\n\r]*,[ \t\n\r]*(?=\{)").match
_RECORD_NEXT = re.compile(rb'\}[ \t\n\r]*,[ \t\n\r]*\{[ \t\n\r]*"model"[ \t\n\r]*:').match
_RECORD_START = re.compile(rb'\{[ \t\n\r]*"model"[ \t\n\r]*:').match
_SPAN_TRIES = 64  # "}" looked at from the end of what was read, for where a record ends
_SLOW = object()
_MAX_TRIES = 8  # spans tried per item before the exact parser reads it (linear time)
_PER_ITEM = 256  # items read one by one after a span of many could not be parsed at once


class _ArrayItems:
    """The items of a JSON array, read from bytes a chunk at a time, in bounded memory.

    Fast path: an object's span is found by a scan for where it may end (_OBJECT_END) and
    parsed by orjson, which reads it only if the span is the whole object. An item orjson cannot
    read exactly (integers beyond 64 bits, NaN, lone surrogates, not an object, or a span not
    found in a few tries) is read by the json module's C scanner (raw_decode) with non-integers
    as Decimal, as every item was before. An item cut by the end of what was read is parsed
    again once more was read (at least as much again, so that a long item costs linear time).
    What an item holds beyond the items before it is bounded by the input's max_line. Deep
    nesting ends in the scanner's RecursionError (at Python's recursion limit), not in memory.
    """

    def __init__(self, framed: Framed) -> None:
        self.framed = framed
        self.chunks = framed.chunks()
        self.buffer, self.pos, self.ended = b"", 0, False
        self.per_item = 0
        self.count = 0  # items yielded

    def objects(self) -> list[Any] | None:
        """The objects from pos to the last one that ends in what was read, parsed by one orjson
        call (a Python step per object less); None where that cannot be done.

        The span ends where the last object of the buffer may end (_span_end); if that is
        inside an object, the span is not a JSON array's items (that object's "{" is not
        closed) and orjson refuses it: the items are then read one by one for a while. A span
        holding a number orjson would misread ends before the object holding it, which the
        exact parser reads next, alone.
        """
        buffer, pos = self.buffer, self.pos
        if buffer[pos : pos + 1] != b"{":
            return None
        end = self._span_end(pos, len(buffer))
        if end < 0:
            return None
        span = buffer[pos : end + 1]
        if len(span) > self.framed.max_line:
            self.per_item = _PER_ITEM
            return None
        long_at = _long_number_at(span)
        if long_at >= 0:
            end = self._span_end(pos, pos + long_at)
            if end < 0:  # the object at pos holds it
                return None
            span = buffer[pos : end + 1]
        try:
            items: list[Any] = orjson.loads(b"".join((b"[", span, b"]")))
        except orjson.JSONDecodeError:
            self.per_item = _PER_ITEM
            return None
        self.pos = end + 1
        if long_at >= 0:
            self.per_item = 1  # the object holding the number, by the exact parser
        return items

    def _span_end(self, pos: int, limit: int) -> int:
        """Where the last object starting at or after pos and ending before `limit` may end
        (its "}"), or -1: before ", {"; where the object at pos starts with the key "model", as
        dumpdata writes every record, only before another such object. In a valid document a
        "{" followed by '"model":' is no string's: only a nested object listed with that key
        can mislead it (orjson then refuses the span), while "}, {" is in every JSON field
        holding a list of objects."""
        buffer, end, fallback = self.buffer, limit, -1
        # Records that start with "model" (dumpdata's) end only before another: a "}, {" in
        # the last record, cut by the end of what was read, is not taken for its end.
        records = _RECORD_START(buffer, pos) is not None
        for _ in range(_SPAN_TRIES):
            end = buffer.rfind(b"}", pos, end)
            if end < 0:
                break
            if _OBJECT_END_AT(buffer, end):
                if _RECORD_NEXT(buffer, end):
                    return end
                if fallback < 0 and not records:
                    fallback = end
        return fallback

    def more(self, at_least: int = 1) -> bool:
        """Read at least `at_least` more bytes (fewer at the end); False at the end."""
        if self.ended:
            return False
        parts, got = [self.buffer[self.pos :]], 0
        while got < at_least:
            data = next(self.chunks, None)
            if data is None:
                self.ended = True
                break
            parts.append(data)
            got += len(data)
        self.buffer, self.pos = b"".join(parts), 0
        return True

    def _read_more(self, limit: int) -> bool:
        pending = len(self.buffer) - self.pos
        if pending > limit:
            raise LineTooLong(limit)
        return self.more(max(_MIN_READ, min(pending, limit + 1 - pending)))

    def skip_space(self) -> bytes:
        """The next byte after white space (b"" at the end of the input)."""
        while True:
            self.pos = _SPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer) or not self.more():
                return self.buffer[self.pos : self.pos + 1]

    def item(self) -> Any:
        """The item that starts at pos."""
        limit = self.framed.max_line
        if self.buffer[self.pos : self.pos + 1] == b"{":
            value = self._object(limit)
            if value is not _SLOW:
                return value
        return self._exact_item(limit)

    def _object(self, limit: int) -> Any:
        """The object that starts at pos, parsed by orjson; _SLOW where it cannot be."""
        at, tries, loads = self.pos, 0, orjson.loads
        while tries < _MAX_TRIES:
            found = _OBJECT_END(self.buffer, at)
            if found is None:
                offset = at - self.pos
                if not self._read_more(limit):
                    return _SLOW  # the exact parser names what is wrong
                at = self.pos + offset
                continue
            end = found.start() + 1
            span = self.buffer[self.pos : end]
            if _long_number(span):
                return _SLOW
            try:
                value = loads(span)
            except orjson.JSONDecodeError as exc:
                # Cut short: "unexpected end of data" (where it says so: a later orjson may word
                # it otherwise, and the exact parser then reads these items, more slowly).
                # Another error is something orjson does not read.
                if exc.pos < len(span) - 1 and "end of data" not in exc.msg:
                    return _SLOW
                at, tries = end, tries + 1
                continue
            if end - self.pos > limit:
                raise LineTooLong(limit)
            self.pos = end
            return value
        return _SLOW

    def _exact_item(self, limit: int) -> Any:
        """The item that starts at pos, parsed by the json module from a window of the text
        (decoded as far as it goes, doubled until the item fits in it)."""
        window = 1 << 12
        while True:
            data = self.buffer[self.pos : self.pos + window]
            complete = self.ended and self.pos + window >= len(self.buffer)
            text = codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
            try:
                value, end = _DECODER.raw_decode(text)
            except json.JSONDecodeError:
                if self.pos + window < len(self.buffer):
                    window *= 2
                    continue
                if not self._read_more(limit):
                    raise
                continue
            except RecursionError:
                raise FormatError("the fixture nests deeper than the recursion limit") from None
            # A number (the only value that may end where the text ends) may go on.
            if end == len(text) and not complete:
                if self.pos + window < len(self.buffer):
                    window *= 2
                elif not self._read_more(limit):
                    pass
                continue
            size = len(text[:end].encode("utf-8"))
            if size > limit:
                raise LineTooLong(limit)
            self.pos += size
            return value

    def __iter__(self) -> Iterator[Any]:
        if self.skip_space() != b"[":
            raise ValueError("the fixture does not start with [")
        self.pos += 1
        if self.skip_space() == b"]":
            self.pos += 1
        else:
            separator = _SEPARATOR
            while True:
                batch = None if self.per_item else self.objects()
                if batch is None:
                    self.per_item -= self.per_item > 0
                    yield self.item()
                    self.count += 1
                else:
                    yield from batch
                    self.count += len(batch)
                # The usual case in one match: ", " (dumpdata) or ",\n  " (--indent) and the
                # next item in what was read.
                found_at = separator(self.buffer, self.pos)
                if found_at is not None and found_at.end() < len(self.buffer):
                    self.pos = found_at.end()
                    continue
                found = self.skip_space()
                self.pos += 1
                if found == b"]":
                    break
                if found != b",":
                    shown = found.decode("utf-8", "replace") or "the end"
                    raise ValueError(f"expected , or ] after an item, found {shown!r}")
                self.skip_space()
        if self.skip_space():
            raise ValueError("data follows the array")


_MIN_READ = 1 << 16


def fixture_summary(framed: Framed) -> tuple[dict[str, Any] | None, dict[str, int]]:
    """(metadata record or None, objects per model label) of a fixture, read in one pass."""
    metadata: dict[str, Any] | None = None
    counts: dict[str, int] = {}
    for number, obj in enumerate(iter_fixture(framed), 1):
        if not isinstance(obj, dict):
            raise FormatError(f"fixture object {number} is not a JSON object")
        if is_metadata(obj) and metadata is None and not counts:
            metadata = json_numbers(obj)
            continue
        model = obj.get("model")
        if not isinstance(model, str) or "fields" not in obj:
            raise FormatError(f"fixture object {number} has no model and fields")
        counts[model] = counts.get(model, 0) + 1
    return metadata, counts
