"""`streamdump cat`: a dump's rows as JSON objects keyed by column name, one per line, so that
jq, DuckDB or pandas read a table directly; or, with --files, its media files. No database is
used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from . import exactjson
from .errors import UsageError
from .reader import MediaFile, StreamReader


def _matches(label: str, wanted: tuple[str, ...]) -> bool:
    lower = label.lower()
    return not wanted or any(w in (lower, lower.partition(".")[0]) for w in wanted)


def table_rows(stream: BinaryIO, labels: tuple[str, ...] = ()) -> Iterator[bytes]:
    """Yield one line of JSON (with its newline) per row of the sections `labels` name
    (`app_label` or `app_label.Model`, case-insensitive; none: every section).

    Values are as the dump holds them (docs/FORMAT.md: datetimes and decimals as strings,
    natural keys as arrays). The whole stream is read and verified: a damaged stream raises
    FormatError after the rows before the damage. A label that names no section of the dump
    raises UsageError before any row.
    """
    reader = StreamReader(stream)
    wanted = tuple(label.lower() for label in labels)
    described = [t["model"] for t in reader.header.get("tables") or []]
    for label in wanted:
        if not any(_matches(model, (label,)) for model in described):
            raise UsageError(
                f"{label}: the dump holds no such app or model (it holds: "
                f"{', '.join(described) or 'nothing'})"
            )
    for section in reader.sections():
        chosen = _matches(section.model, wanted)
        columns = section.columns
        for _, rows in section.batches():
            if chosen:
                yield from (_line(columns, row) for row in rows)


def _line(columns: list[str], row: list[Any]) -> bytes:
    return exactjson.dumps(dict(zip(columns, row, strict=True)), newline=True)


def media_listing(stream: BinaryIO) -> Iterator[bytes]:
    """Yield one line of JSON per media file of the dump (name, size, digest), in stream order.

    Every file's bytes are read and verified (docs/FORMAT.md), none is kept: the listing holds
    only the names, about 100 bytes a file. A damaged stream raises FormatError.
    """
    reader = StreamReader(stream)
    found: list[tuple[str, int, str]] = []

    def verify(media: MediaFile) -> None:
        for _ in media.chunks():
            pass
        found.append((media.name, media.size, media.digest))

    reader.on_media = verify
    for section in reader.sections():
        for _ in section.batches():
            pass
    for name, size, digest in found:
        yield orjson.dumps({"name": name, "size": size, "digest": digest}) + b"\n"
