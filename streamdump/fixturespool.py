"""Rows of many tables, arriving mixed in any order, kept per table in one temporary file.

A fixture's records come in whatever order dumpdata (or a person) wrote them; the import needs
them table by table in phase and dependency order. Rows are buffered per table and written in
chunks, each chunk an independent zstd frame at a known offset, so that a table's rows are read
back chunk by chunk in their order of arrival. Memory holds the chunk index and at most
`buffer_bytes` of encoded rows, whatever the number of rows or tables.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import orjson
import zstandard

from . import exactjson

_NEWLINE = orjson.OPT_APPEND_NEWLINE


class ChunkSpool:
    """Rows per table label, written in compressed chunks, read back table by table."""

    def __init__(self, chunk_bytes: int = 1 << 20, buffer_bytes: int = 16 << 20) -> None:
        self.file = tempfile.TemporaryFile(prefix="streamdump-fixture-")
        self.chunk_bytes, self.buffer_bytes = chunk_bytes, buffer_bytes
        self._compress = zstandard.ZstdCompressor(level=1)
        # One bytearray per table: orjson's bytes carry kilobytes of spare capacity each, which
        # a list of them would keep.
        self._pending: dict[str, bytearray] = defaultdict(bytearray)
        # file, offset, length: a spool may hold another's chunks (adopt())
        self._chunks: dict[str, list[tuple[BinaryIO, int, int]]] = defaultdict(list)
        self._adopted: list[ChunkSpool] = []
        # Rows and bytes of the chunks written, per table; those pending are counted on demand
        # (one bytes.count per table instead of two dict updates per row).
        self._counts: dict[str, int] = defaultdict(int)
        self._sizes: dict[str, int] = defaultdict(int)
        self._buffered = 0
        # Tables with a row orjson could not write (an integer beyond 64 bits): read exactly.
        self.exact: set[str] = set()

    @property
    def counts(self) -> dict[str, int]:
        """Rows kept so far, per table label."""
        counts = dict(self._counts)
        for label, lines in self._pending.items():
            counts[label] = counts.get(label, 0) + lines.count(b"\n")
        return {label: n for label, n in counts.items() if n}

    @property
    def sizes(self) -> dict[str, int]:
        """Bytes of the rows kept so far as NDJSON lines, per table label."""
        sizes = dict(self._sizes)
        for label, lines in self._pending.items():
            sizes[label] = sizes.get(label, 0) + len(lines)
        return sizes

    def add(self, label: str, row: list[Any]) -> None:
        """Keep one row of table `label`; TypeError for a row that JSON cannot hold."""
        try:
            line = orjson.dumps(row, option=_NEWLINE)
        except orjson.JSONEncodeError:
            line = exactjson.dumps(row, newline=True)
            self.exact.add(label)
        pending = self._pending[label]
        pending += line
        self._buffered += len(line)
        if len(pending) >= self.chunk_bytes:
            self._flush(label)
        elif self._buffered >= self.buffer_bytes:
            for other in list(self._pending):
                self._flush(other)

    def _flush(self, label: str) -> None:
        lines = self._pending.pop(label, None)
        if not lines:
            return
        self._counts[label] += lines.count(b"\n")
        self._sizes[label] += len(lines)
        self._buffered -= len(lines)
        data = self._compress.compress(lines)
        self.file.seek(0, 2)
        self._chunks[label].append((self.file, self.file.tell(), len(data)))
        self.file.write(data)

    def index(self) -> dict[str, Any]:
        """Everything written to the file, and where (for another process: adopt_index())."""
        for label in list(self._pending):
            self._flush(label)
        self.file.flush()  # the other process reads the file, not this one's buffer
        chunks = {label: [(offset, length) for _, offset, length in entries]
                  for label, entries in self._chunks.items()}  # fmt: skip
        return {"chunks": chunks, "counts": dict(self._counts), "sizes": dict(self._sizes),
                "exact": sorted(self.exact)}  # fmt: skip

    def adopt_index(self, index: dict[str, Any]) -> None:
        """Take index() of this spool as another process (a fork's copy) wrote it."""
        for label, entries in index["chunks"].items():
            self._chunks[label] += [(self.file, offset, length) for offset, length in entries]
        for label, n in index["counts"].items():
            self._counts[label] += n
        for label, n in index["sizes"].items():
            self._sizes[label] += n
        self.exact.update(index["exact"])

    def adopt(self, other: ChunkSpool) -> None:
        """Read `other`'s rows as this spool's, after its own of the same table; close it with
        this one."""
        for label in list(other._pending):
            other._flush(label)
        for label in list(other._chunks):
            self._flush(label)  # this spool's pending rows of the table came first
            self._chunks[label] += other._chunks.pop(label)
        for label, n in other._counts.items():
            self._counts[label] += n
        for label, n in other._sizes.items():
            self._sizes[label] += n
        self.exact |= other.exact
        other._counts.clear()
        other._sizes.clear()
        self._adopted.append(other)

    def line_batches(self, label: str) -> Iterator[list[bytes]]:
        """The rows of table `label` as NDJSON lines (without newlines), a chunk at a time."""
        self._flush(label)
        decompress = zstandard.ZstdDecompressor()
        for file, offset, length in self._chunks.pop(label, []):
            file.seek(offset)
            yield decompress.decompress(file.read(length)).splitlines()

    def batches(self, label: str) -> Iterator[list[list[Any]]]:
        """The rows of table `label` in their order of arrival, a chunk at a time."""
        loads = self.loads(label)
        for lines in self.line_batches(label):
            yield [loads(line) for line in lines]

    def loads(self, label: str) -> Callable[[bytes], Any]:
        """The function that reads a line of table `label` back (orjson's, unless a row needed
        exactjson's way)."""
        return exactjson.loads if label in self.exact else orjson.loads

    def close(self) -> None:
        """Delete the temporary file (and those of the spools adopted)."""
        self.file.close()
        for other in self._adopted:
            other.close()
