"""A spooled fixture read as the stream reader reads a stream, without writing the stream.

load() of a fixture used to write the spooled rows as a format v1 stream and read that stream
back (encode, compress, digest, decompress, decode every row once more: about a third of the
import). FixtureReader gives the sequencer the same header and sections, in phase then
dependency order, whose batches come straight from the spool (fixturespool.py). There is
nothing to verify that the first pass did not make itself: the row counts are checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import FormatError
from .fixturestream import FixtureTables, map_ids
from .reader import Section, StreamReader


class FixtureReader(StreamReader):
    """The sections of a fixture's spool (FixtureTables), as StreamReader yields a stream's."""

    reads_lines = False  # rows come parsed from the spool: nothing for a decoding worker

    def __init__(
        self, tables: FixtureTables, batch_size: int, batch_bytes: int, using: str = "default"
    ) -> None:
        # StreamReader's __init__ reads a header line: there is none, the header is made here.
        self.batch_size, self.batch_bytes = batch_size, batch_bytes
        self.tables = tables
        try:
            order = tables.ordered(using)
        except BaseException:
            tables.close()
            raise
        self.header = tables.header([described for described, _, _ in order])
        self._sources = {described["model"]: (label, mapped) for described, label, mapped in order}
        self._planned = list(self.header["tables"])
        self._lineno = 0
        self._digests: list[str] = []
        self._total_rows = 0
        self.trailer: dict[str, Any] | None = None
        self.on_media = None
        self._file_digests: list[str] = []
        self.media_bytes = 0

    def sections(self) -> Iterator[Section]:
        """Yield each table's section in the header's order; the spool is deleted at the end."""
        try:
            for described in self._planned:
                columns = described["columns"]
                section = Section(
                    model=described["model"],
                    table=described["table"],
                    phase=described["phase"],
                    columns=[name for name, _ in columns],
                    codecs=[codec for _, codec in columns],
                    expected_rows=described["rows"],
                    _reader=self,
                )
                yield section
                for _ in section.batches():  # drain what the caller did not read
                    pass
                self._digests.append("")
                self._total_rows += section.rows
            self.trailer = {"type": "trailer", "sections": len(self._digests),
                            "rows": self._total_rows}  # fmt: skip
        finally:
            self.tables.close()

    def _section_rows(self, section: Section) -> Iterator[tuple[int, list[list[Any]]]]:
        label, mapped = self._sources[section.model]
        size, first = self.batch_size, 1
        for chunk in self.tables.spool.batches(label):
            if mapped:
                map_ids(label, chunk, mapped)
            for start in range(0, len(chunk), size):
                rows = chunk[start : start + size]
                section.rows += len(rows)
                yield first, rows
                first += len(rows)
        section.data_bytes = self.tables.spool.sizes.get(label, 0)
        section._done = True
        if section.rows != section.expected_rows:  # pragma: no cover - the spool counted them
            raise FormatError(
                f"the spool holds {section.rows} rows, {section.expected_rows} were read",
                section=section.model,
            )
