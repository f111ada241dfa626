"""A spooled fixture read as the stream reader reads a stream, without writing the stream.

load() of a fixture used to write the spooled rows as a format v1 stream and read that stream
back (encode, compress, digest, decompress, decode every row once more: about a third of the
import). FixtureReader gives the sequencer the same header and sections, in phase then
dependency order, whose batches come straight from the spool (fixturespool.py). There is
nothing to verify that the first pass did not make itself: the row counts are checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import exactjson
from .errors import FormatError
from .fixturestream import FixtureTables, map_ids
from .reader import Section, StreamReader


class FixtureReader(StreamReader):
    """The sections of a fixture's spool (FixtureTables), as StreamReader yields a stream's."""

    # The spool holds each row as a stream's row line: a large section is parsed and decoded
    # in a worker process as a stream's is (decodeworker.py), unless its rows need the
    # importing process (natural keys looked up in the target: the loader decides).
    reads_lines = True

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

    def natural_keys(self, section: Section) -> dict[str, set[tuple[Any, ...]]] | None:
        """The distinct natural keys of each foreign-key column of the section, where the first
        pass kept them all (few enough: fixturerows.KeySet)."""
        label, _ = self._sources[section.model]
        known = self.tables.natural_keys.get(label, {})
        return {column: keys.keys for column, keys in known.items() if keys.keys is not None}

    def _section_lines(
        self, section: Section, digest_of: Callable[[], str]
    ) -> Iterator[tuple[int, list[bytes]]]:
        """The section's row lines in batches of at most batch_size rows (and of one spool
        chunk, about a megabyte, as batch_bytes would make them). `digest_of()` is called at
        the end, where the decoding worker hands in its last batches; there is no digest to
        check it against (the first pass wrote the spool)."""
        label, mapped = self._sources[section.model]
        size, first = self.batch_size, 1
        loads, dumps = self.tables.spool.loads(label), exactjson.dumps
        for lines in self.tables.spool.line_batches(label):
            if mapped:  # rare: ids of regenerated rows, replaced by their natural keys
                rows = [loads(line) for line in lines]
                map_ids(label, rows, mapped)
                lines = [dumps(row) for row in rows]
            for start in range(0, len(lines), size):
                batch = lines[start : start + size]
                section.rows += len(batch)
                section.data_bytes += sum(map(len, batch)) + len(batch)
                yield first, batch
                first += len(batch)
        digest_of()
        self._finish_section(section)

    def _finish_section(self, section: Section) -> None:
        section._done = True
        if section.rows != section.expected_rows:  # pragma: no cover - the spool counted them
            raise FormatError(
                f"the spool holds {section.rows} rows, {section.expected_rows} were read",
                section=section.model,
            )

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
        self._finish_section(section)
