"""Write a format v1 stream: the mirror of reader.py (spec: docs/FORMAT.md).

Every control line (header, section, end, trailer) and every row line is built here and nowhere
else; the counts and digests the end lines and the trailer carry are kept here too. What goes
into the header, and where rows come from, is the caller's business (the exporter, the spool of
sections met early, the copy an import's journal keeps).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, Protocol, cast

import orjson
import zstandard

from . import exactjson
from .format import FORMAT_NAME, FORMAT_VERSION, row_digest, stream_digest

_NEWLINE = orjson.OPT_APPEND_NEWLINE
# Input bytes per zstd job when compressing in threads. zstd's own default at level 3 is 8 MiB,
# buffered by the job being filled and the one compressed: measured on 100k rows of the
# text-heavy schema, peak RSS 71 -> 112 MB with it, 84 MB with 2 MiB jobs, for the same size of
# output within 0.5 % (docs/PERFORMANCE.md).
_JOB_BYTES = 2 << 20


class Sink(Protocol):
    """Where the compressed bytes go: a binary file, or anything with its write()."""

    def write(self, data: bytes, /) -> int: ...


class StreamWriter:
    """Writes one zstd-compressed stream: header, then sections of rows, then the trailer.

    Use as a context manager: leaving the block ends the zstd frame (the sink stays open).
    A stream left without its trailer reads as truncated, which is what an export that failed
    half-way must look like.
    """

    def __init__(self, sink: Sink, *, level: int = 3, threads: int = 0) -> None:
        # Every frame carries its content checksum (XXH64): `zstd -t` verifies a dump, and the
        # reader's decompressor checks each frame as it ends.
        if threads > 0:
            # zstd compresses in its own threads, while this one reads and encodes the next
            # rows; in jobs of _JOB_BYTES, so that what they buffer stays small.
            params = zstandard.ZstdCompressionParameters.from_level(
                level, threads=threads, job_size=_JOB_BYTES, write_checksum=True
            )
            compressor = zstandard.ZstdCompressor(compression_params=params)
        else:
            compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        # zstandard only calls the sink's write() (and flush(), when it has one).
        self._out = compressor.stream_writer(cast(IO[bytes], sink), closefd=False)
        self._digests: list[str] = []
        self.rows_written = 0  # in every section ended so far
        self._section: str | None = None
        self._digest = row_digest()
        self._count = 0
        self._file_digests: list[str] = []  # of every media file ended so far
        self.media_bytes = 0

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None and not issubclass(kind, Exception):
            return  # interrupted (Ctrl-C): stop at once; ending the frame could block on a pipe
        self.close()

    def _line(self, obj: dict[str, Any]) -> None:
        self._out.write(exactjson.dumps(obj, newline=True))

    def header(self, fields: dict[str, Any]) -> None:
        """Write the header line: format name and version, then `fields` (created, tables...)."""
        self._line({"type": "header", "format": FORMAT_NAME, "version": FORMAT_VERSION, **fields})

    def section(self, description: dict[str, Any]) -> None:
        """Start a section: model, table, phase, columns (Table.describe(), Section.describe())."""
        self._line({"type": "section", **description})
        self._section = description["model"]
        self._digest, self._count = row_digest(), 0

    def rows(self, rows: Sequence[Any]) -> int:
        """Write row lines, one JSON array per row; return how many bytes they took.

        The lines are encoded before anything is written: a row that cannot be (TypeError)
        leaves the stream as it was. A JSON document's integers beyond 64 bits, which orjson
        refuses, make their batch take exactjson's way.
        """
        try:
            data = b"".join([orjson.dumps(row, option=_NEWLINE) for row in rows])
        except orjson.JSONEncodeError:
            data = b"".join([exactjson.dumps(row, newline=True) for row in rows])
        self._digest.update(data)
        self._out.write(data)
        self._count += len(rows)
        return len(data)

    def end(self) -> tuple[int, str]:
        """End the section: its end line with row count and digest; return (rows, hex digest)."""
        hexdigest = self._digest.hexdigest()
        self._line(
            {"type": "end", "model": self._section, "rows": self._count, "digest": hexdigest}
        )
        self._digests.append(hexdigest)
        self.rows_written += self._count
        self._section = None
        return self._count, hexdigest

    @property
    def sections(self) -> int:
        """How many sections have ended."""
        return len(self._digests)

    def file(self, name: str, size: int) -> None:
        """Start a media file (after the last section): its storage name and expected size."""
        self._line({"type": "file", "name": name, "size": size})

    def chunk(self, data: bytes) -> None:
        """Write one chunk of the current media file: a JSON string of its bytes in base64."""
        self._out.write(orjson.dumps(base64.b64encode(data).decode("ascii"), option=_NEWLINE))

    def file_end(self, name: str, size: int, digest: str) -> None:
        """End a media file: the bytes its chunks hold and their BLAKE2b-128 hex digest."""
        self._line({"type": "file_end", "name": name, "size": size, "digest": digest})
        self._file_digests.append(digest)
        self.media_bytes += size

    @property
    def files(self) -> int:
        """How many media files have ended."""
        return len(self._file_digests)

    def trailer(self, missing: list[str] | None = None, missing_count: int = 0) -> None:
        """Write the trailer: totals and the digest over the sections; the stream is complete.

        With media, or `missing` names (referenced files the source lacked), the trailer also
        carries the media totals.
        """
        trailer: dict[str, Any] = {
            "type": "trailer",
            "sections": len(self._digests),
            "rows": self.rows_written,
            "digest": stream_digest(self._digests),
        }
        if self._file_digests or missing is not None:
            trailer["media"] = {
                "files": len(self._file_digests),
                "bytes": self.media_bytes,
                "digest": stream_digest(self._file_digests),
                "missing": missing_count,
                "missing_names": missing or [],
            }
        self._line(trailer)

    def close(self) -> None:
        """End the zstd frame and flush it to the sink, which stays open."""
        if not self._out.closed:
            self._out.close()
