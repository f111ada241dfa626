"""Read Django fixtures (dumpdata JSON arrays, JSON lines) one object at a time, in one pass.

JSON arrays are read a chunk at a time, each item parsed by the json module's C scanner
(raw_decode), so a fixture of any size reads in bounded memory, about ten times faster than
ijson's event stream did (a Python call per event). Numbers are read exactly: integers of any
size as int, the others as Decimal (json_numbers() turns them into the floats Python's json
module gives, where a JSON value is wanted); ijson's fastest backend overflowed on some
(-9223372036854775808 in a JSONField). JSON lines go through orjson,
and through the json module for the rare line orjson refuses (integers beyond 64 bits).
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
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # orjson reads 64-bit integers only; Python's json reads every valid number.
        return json.loads(line)


def iter_fixture(framed: Framed) -> Iterator[Any]:
    """Yield each object of a dumpdata fixture (a JSON array or JSON lines), in file order.

    Numbers that are not integers come as Decimal from a JSON array (see json_numbers()).
    """
    number = 0
    try:
        if framed.kind is Kind.FIXTURE_JSON:
            for number, item in enumerate(_array_items(framed), 1):  # noqa: B007
                framed.mark()  # each object may be as long as a line
                yield item
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


def is_metadata(obj: Any) -> bool:
    """Whether a fixture object is a metadata record (InvenTree's export-records writes one)."""
    return isinstance(obj, dict) and obj.get("metadata") is True and "model" not in obj


_DECODER = json.JSONDecoder(parse_float=Decimal)
_SPACE = re.compile(r"[ \t\n\r]*")
_SEPARATOR = re.compile(r"[ \t\n\r]*,[ \t\n\r]*").match


class _ArrayItems:
    """The items of a JSON array, each parsed by the json module's C scanner (raw_decode).

    The text is decoded a chunk at a time; an item cut by the end of what was read is parsed
    again once more was read (at least as much again, so that a long item costs linear time).
    What an item holds beyond the items before it is bounded by the input's max_line. Deep
    nesting ends in the scanner's RecursionError (at Python's recursion limit), not in memory.
    """

    def __init__(self, framed: Framed) -> None:
        self.framed = framed
        self.chunks = framed.chunks()
        self.text = codecs.getincrementaldecoder("utf-8")()
        self.buffer, self.pos, self.ended = "", 0, False

    def more(self, at_least: int = 1) -> bool:
        """Read at least `at_least` more characters (fewer at the end); False at the end."""
        if self.ended:
            return False
        parts, got = [self.buffer[self.pos :]], 0
        while got < at_least:
            data = next(self.chunks, None)
            if data is None:
                self.ended = True
                parts.append(self.text.decode(b"", final=True))
                break
            parts.append(self.text.decode(data))
            got += len(parts[-1])
        self.buffer, self.pos = "".join(parts), 0
        return True

    def skip_space(self) -> str:
        """The next character after white space ("" at the end of the input)."""
        while True:
            self.pos = _SPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer) or not self.more():
                return self.buffer[self.pos : self.pos + 1]

    def item(self) -> Any:
        """The item that starts at pos."""
        limit = self.framed.max_line
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError:
                pending = len(self.buffer) - self.pos
                if pending > limit:
                    raise LineTooLong(limit) from None
                if not self.more(max(_MIN_READ, min(pending, limit + 1 - pending))):
                    raise
                continue
            except RecursionError:
                raise FormatError("the fixture nests deeper than the recursion limit") from None
            # A number (the only value that may end where the text ends) may go on.
            if end == len(self.buffer) and self.more():
                continue
            if end - self.pos > limit:
                raise LineTooLong(limit)
            self.pos = end
            return value

    def __iter__(self) -> Iterator[Any]:
        if self.skip_space() != "[":
            raise ValueError("the fixture does not start with [")
        self.pos += 1
        if self.skip_space() == "]":
            self.pos += 1
        else:
            separator = _SEPARATOR
            while True:
                yield self.item()
                # The usual case in one match: ", " (dumpdata) or ",\n  " (--indent) and the
                # next item in what was read.
                found_at = separator(self.buffer, self.pos)
                if found_at is not None and found_at.end() < len(self.buffer):
                    self.pos = found_at.end()
                    continue
                found = self.skip_space()
                self.pos += 1
                if found == "]":
                    break
                if found != ",":
                    raise ValueError(f"expected , or ] after an item, found {found or 'the end'!r}")
                self.skip_space()
        if self.skip_space():
            raise ValueError("data follows the array")


_MIN_READ = 1 << 16


def _array_items(framed: Framed) -> Iterator[Any]:
    """The items of the fixture's JSON array, in file order (see _ArrayItems)."""
    return iter(_ArrayItems(framed))


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
