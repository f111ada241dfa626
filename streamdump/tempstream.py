"""A format v1 stream in an anonymous temporary file: written once, then read back.

Used to spool sections that arrive before their phase, and to keep a copy of the tables an
import changes before it commits a first stage, so that a later failure can put them back.
Compressed, so memory and disk stay small whatever the table sizes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from typing import Any

import orjson
import zstandard

from .format import FORMAT_NAME, FORMAT_VERSION, row_digest, stream_digest
from .reader import StreamReader

_NEWLINE = orjson.OPT_APPEND_NEWLINE


class TempStream:
    """Write sections into a temporary file, then read them back with a StreamReader."""

    def __init__(self, purpose: str) -> None:
        self.file = tempfile.TemporaryFile(prefix=f"streamdump-{purpose}-")
        self.out = zstandard.ZstdCompressor(level=1).stream_writer(self.file, closefd=False)
        self._digests: list[str] = []
        self._rows = 0
        header = {"type": "header", "format": FORMAT_NAME, "version": FORMAT_VERSION,
                  "purpose": purpose, "tables": []}  # fmt: skip
        self.out.write(orjson.dumps(header, option=_NEWLINE))

    def record(self, rows: int, hexdigest: str) -> None:
        """Account for a section written directly to `out` (by the writer)."""
        self._digests.append(hexdigest)
        self._rows += rows

    def add(self, describe: dict, batches: Iterable[list[list[Any]]]) -> None:
        """Write one section from batches of decoded JSON rows."""
        self.out.write(orjson.dumps({"type": "section", **describe}, option=_NEWLINE))
        digest, count = row_digest(), 0
        for rows in batches:
            data = b"".join([orjson.dumps(row, option=_NEWLINE) for row in rows])
            digest.update(data)
            self.out.write(data)
            count += len(rows)
        end = {"type": "end", "model": describe["model"], "rows": count,
               "digest": digest.hexdigest()}  # fmt: skip
        self.out.write(orjson.dumps(end, option=_NEWLINE))
        self.record(count, end["digest"])

    @property
    def sections(self) -> int:
        return len(self._digests)

    def reader(self, batch_size: int, batch_bytes: int) -> StreamReader:
        """Finish the stream and return a reader over it from the start."""
        trailer = {"type": "trailer", "sections": len(self._digests), "rows": self._rows,
                   "digest": stream_digest(self._digests)}  # fmt: skip
        self.out.write(orjson.dumps(trailer, option=_NEWLINE))
        self.out.flush(zstandard.FLUSH_FRAME)
        self.file.seek(0)
        return StreamReader(self.file, batch_size, batch_bytes)

    def close(self) -> None:
        """Delete the temporary file."""
        self.file.close()
