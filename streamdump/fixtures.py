"""Read Django fixtures (dumpdata JSON arrays, JSONL) one object at a time, zstd or plain.

JSON arrays are parsed incrementally with ijson, so a fixture of any size reads in bounded
memory; a leading metadata record (as InvenTree's export-records writes) is reported apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson
import orjson
import zstandard

from .errors import FormatError
from .format import ZSTD_MAGIC

_SNIFF = 64 << 10


class Replay:
    """A readable that first returns bytes already read from the stream, then the rest."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.stream.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.stream.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data  # a short read is allowed; the next call goes on with the stream


def sniff(stream: BinaryIO) -> tuple[str, Replay]:
    """What the input holds: "streamdump", "json" (a fixture array), "jsonl" or "unknown".

    Returns the kind and a readable that starts again from the first byte.
    """
    head = stream.read(_SNIFF)
    text = head
    if head[:4] == ZSTD_MAGIC:
        try:
            text = zstandard.ZstdDecompressor().decompressobj().decompress(head)
        except zstandard.ZstdError:
            text = b""
    start = text.lstrip()[:1]
    if start == b"[":
        kind = "json"
    elif start == b"{":
        first_line = text.lstrip().split(b"\n", 1)[0]
        kind = "streamdump" if b'"format":"streamdump"' in first_line else "jsonl"
    else:
        kind = "streamdump" if not text else "unknown"
    return kind, Replay(head, stream)


def _decompressed(stream: Replay) -> Any:
    head = stream.read(4)
    source = Replay(head, stream)
    if head == ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    return source


def iter_fixture(stream: BinaryIO, kind: str) -> Iterator[dict]:
    """Yield each object of a dumpdata fixture (kind "json" or "jsonl"), in file order."""
    source = _decompressed(stream if isinstance(stream, Replay) else Replay(b"", stream))
    try:
        if kind == "json":
            yield from ijson.items(source, "item", use_float=True)
            return
        pending = b""
        while data := source.read(1 << 20):
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if line.strip():
                    yield orjson.loads(line)
        if pending.strip():
            yield orjson.loads(pending)
    except (ijson.JSONError, orjson.JSONDecodeError, zstandard.ZstdError) as exc:
        raise FormatError(f"the fixture is damaged or truncated: {exc}") from None


def fixture_summary(stream: BinaryIO, kind: str) -> tuple[dict | None, dict[str, int]]:
    """(metadata record or None, objects per model label) of a fixture, read in one pass."""
    metadata, counts = None, {}
    for number, obj in enumerate(iter_fixture(stream, kind), 1):
        if not isinstance(obj, dict):
            raise FormatError(f"fixture object {number} is not a JSON object")
        if obj.get("metadata") is True and metadata is None and not counts:
            metadata = obj
            continue
        model = obj.get("model")
        if not isinstance(model, str) or "fields" not in obj:
            raise FormatError(f"fixture object {number} has no model and fields")
        counts[model] = counts.get(model, 0) + 1
    return metadata, counts
