"""Read a format v1 stream in one pass: header, then sections yielding bounded batches of rows.

Counts and digests are verified as the stream goes by; a stream without its trailer is
truncated. Decoding values for a target database is the importer's job, not the reader's.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NoReturn

import orjson

from . import exactjson
from .errors import FormatError, TruncatedStream
from .format import FORMAT_NAME, FORMAT_VERSION, row_digest, stream_digest
from .framing import DEFAULT_MAX_LINE, Framed, Kind, LineTooLong

_FIXTURE = (
    "this is a Django fixture ({what} as written by dumpdata), not a streamdump stream; "
    "`streamdump inspect` shows what it holds"
)


def _stream_lines(framed: Framed) -> Iterator[bytes]:
    if framed.kind is Kind.EMPTY:
        raise TruncatedStream("the input is empty")
    if framed.kind is Kind.FIXTURE_JSON:
        raise FormatError(_FIXTURE.format(what="a JSON array"), line=1)
    if framed.kind is Kind.FIXTURE_JSONL:
        raise FormatError(_FIXTURE.format(what="JSON lines"), line=1)
    if framed.kind is Kind.UNKNOWN:
        raise FormatError("not a streamdump stream (neither zstd data nor NDJSON)")
    return framed.lines()


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_str_map(value: Any, check: Any) -> bool:
    return isinstance(value, dict) and all(check(item) for item in value.values())


def _table_problem(number: int, table: Any) -> str | None:
    if not isinstance(table, dict):
        return f"table {number} is not an object"
    for key in ("model", "table"):
        if not isinstance(table.get(key), str):
            return f"table {number} has no {key} name"
    columns = table.get("columns")
    if not isinstance(columns, list) or not all(
        _is_str_list(pair) and len(pair) == 2 for pair in columns
    ):
        return f"table {number} ({table['model']}) has no list of [column, codec] pairs"
    rows = table.get("rows")
    if rows is not None and (rows.__class__ is not int or rows < 0):
        return f"table {number} ({table['model']}) has an invalid row count {rows!r:.40}"
    return None


def _header_problem(header: dict[str, Any]) -> str | None:
    """What is wrong with the shape of the header's fields that an import relies on, or None.

    Checked once here so that no later step meets a value of the wrong type (issue 10: bad
    data gets a message, never a traceback).
    """
    tables = header.get("tables")
    if tables is not None:
        if not isinstance(tables, list):
            return "its tables are not a list"
        for number, table in enumerate(tables, 1):
            problem = _table_problem(number, table)
            if problem:
                return problem
    for key in ("migrations", "stale_migrations"):
        if header.get(key) is not None and not _is_str_map(header[key], _is_str_list):
            return f"its {key} are not lists of names per app"
    replacements = header.get("replacements")
    if replacements is not None and not _is_str_map(
        replacements,
        lambda squashes: _is_str_map(
            squashes,
            lambda replaced: (
                isinstance(replaced, list)
                and all(_is_str_list(key) and len(key) == 2 for key in replaced)
            ),
        ),
    ):
        return "its replacements are not [app, migration] pairs per squash"
    if header.get("apps") is not None and not _is_str_map(
        header["apps"], lambda module: isinstance(module, str)
    ):
        return "its apps are not module names per app"
    return None


@dataclass
class Section:
    """A section of the stream: one table's description; iterate batches() for its rows."""

    model: str
    table: str
    phase: str
    columns: list[str]
    codecs: list[str]
    expected_rows: int | None
    rows: int = 0
    digest: str = ""
    line: int = 0  # of the section line in the stream
    data_bytes: int = 0  # of its row lines, newlines included (as the export counts them)
    _reader: StreamReader | None = field(default=None, repr=False)
    _done: bool = False

    def describe(self) -> dict[str, Any]:
        """The section line's fields, as Table.describe() gives them (to write it again)."""
        return {
            "model": self.model,
            "table": self.table,
            "phase": self.phase,
            "columns": [list(pair) for pair in zip(self.columns, self.codecs, strict=True)],
        }

    def batches(self) -> Iterator[tuple[int, list[list[Any]]]]:
        """Yield (number of the batch's first row, rows); verifies the section at its end."""
        if self._reader is None or self._done:
            return
        yield from self._reader._section_rows(self)

    @property
    def has_lines(self) -> bool:
        """Whether its rows are stream lines to parse (line_batches works): not so for a
        fixture's spool, whose rows come already parsed."""
        return self._reader is not None and self._reader.reads_lines

    def natural_keys(self) -> dict[str, set[tuple[Any, ...]]] | None:
        """Every natural key each column of the section holds, by column, where the reader
        knows them before the rows (a fixture's first pass); None where it does not."""
        return None if self._reader is None else self._reader.natural_keys(self)

    def line_batches(self, digest_of: Callable[[], str]) -> Iterator[tuple[int, list[bytes]]]:
        """Yield (number of the batch's first row, its row lines), unparsed: the caller parses
        every batch, in order, with a RowParser of this section (perhaps in another process).
        At the section's end line `digest_of()` must give that parser's digest; the count of
        rows and the digest are verified there, as batches() does."""
        if self._reader is None or self._done:
            return
        yield from self._reader._section_lines(self, digest_of)


@dataclass
class MediaFile:
    """A media file of the stream: its name and size; iterate chunks() for its bytes.

    The chunks are verified as they go by: their total size against the file line's and the
    end line's, their digest against the end line's (`digest` is set once they all passed).
    """

    name: str
    size: int
    digest: str = ""
    line: int = 0
    _reader: StreamReader | None = field(default=None, repr=False)
    _done: bool = False

    def chunks(self) -> Iterator[bytes]:
        """Yield the file's bytes, one chunk (at most the writer's chunk size) at a time."""
        if self._reader is None or self._done:
            return
        yield from self._reader._file_chunks(self)


# The codecs whose values may hold an integer beyond 64 bits: JSON documents, natural keys.
_ANY_INTEGER = frozenset({"json", "natural"})
# A float at or above 2**63 in magnitude, as orjson writes it: with an exponent of 18 or more.
_LARGE_EXPONENT = re.compile(rb"[0-9]e\+?(?:1[89]|[2-9][0-9]|[0-9]{3})")
# Where orjson writes "e+" (as 3.13 does), that is looked for first: bytes.find is about ten
# times faster than a regular expression over the text.
_PLUS = b"e+" in orjson.dumps(1e20)


def _large_exponent(text: bytes) -> bool:
    """Whether orjson's text of JSON values holds a float at or above 2**63 in magnitude."""
    if not _PLUS:
        return _LARGE_EXPONENT.search(text) is not None
    at = text.find(b"e+")
    while at >= 0:
        if at and _LARGE_EXPONENT.match(text, at - 1):
            return True
        at = text.find(b"e+", at + 2)
    return False


class RowParser:
    """Parses the row lines of one section, batch by batch and in order, into rows: a digest
    over every line, and each row checked to be an array of the section's width.

    Holds no state but the digest, so that the parsing of a section may run in another process
    (decodeworker.py) from a copy of its Section; a bad row is named by its row and line.
    Rows are read by orjson, but where a batch may hold an integer beyond 64 bits (in a JSON
    document or a natural key: exactjson.py), whose lines are read exactly.
    """

    def __init__(self, section: Section) -> None:
        self.model, self.section_line = section.model, section.line
        self.width = len(section.columns)
        self._digest = row_digest()
        # Other columns hold no integer beyond 64 bits: their sections need no look.
        self.documents = [i for i, codec in enumerate(section.codecs) if codec in _ANY_INTEGER]

    def hexdigest(self) -> str:
        """The digest of every line parsed so far (newlines included, as the export wrote)."""
        return self._digest.hexdigest()

    def account(self, lines: list[bytes]) -> None:
        """Add `lines` to the digest, for a batch its caller checked by other means (pgcsv)."""
        digest = self._digest
        for line in lines:
            digest.update(line)  # no copy of the line: it may be long
            digest.update(b"\n")

    def parse(self, lines: list[bytes], first: int) -> list[list[Any]]:
        """The rows of `lines`, the row numbered `first` and those after it."""
        self.account(lines)
        return self._rows(lines, first)

    def parse_joined(self, data: bytes, first: int) -> list[list[Any]]:
        """parse() of the batch's lines joined by newlines (as the decode worker receives
        them): the same digest in one update instead of two per line."""
        self._digest.update(data)
        self._digest.update(b"\n")
        return self._rows(data.split(b"\n"), first)

    def _rows(self, lines: list[bytes], first: int) -> list[list[Any]]:
        width = self.width
        # One loads() per line: as fast as one call over the joined batch, and the parser's
        # transient memory stays at one line's worth instead of ~15 times the batch.
        loads = orjson.loads
        try:
            rows = [loads(line) for line in lines]
        except orjson.JSONDecodeError:
            if not self.documents:
                self._locate_bad_row(lines, first)
            rows = self._exactly(lines, first)  # perhaps an integer beyond a double's range
        if any(len(r) != width for r in rows):
            self._locate_bad_row(lines, first)
        if self.documents and self._floats_from_integers(rows):
            rows = self._exactly(lines, first)
        return rows

    def parse_some(self, lines: list[bytes], first: int, positions: list[int]) -> list[list[Any]]:
        """The rows of the lines at `positions` (in order) of a batch whose every line goes
        into the digest; a bad one is named by its row and line."""
        self.account(lines)
        some = [lines[i] for i in positions]
        try:
            rows = [orjson.loads(line) for line in some]
        except orjson.JSONDecodeError:
            self._locate_bad_row(lines, first)
        if any(len(r) != self.width for r in rows):
            self._locate_bad_row(lines, first)
        return rows

    def _floats_from_integers(self, rows: list[list[Any]]) -> bool:
        """Whether the batch's JSON documents (and natural keys) may hold a float orjson made
        of an integer beyond 64 bits: at or above 2**63 in magnitude, which orjson writes with
        an exponent of 18 or more. Their values are written once more, by one orjson call,
        and the exponents looked for: a few instructions a byte of the documents alone, where
        looking for long numbers in the lines costs ten a byte of every column."""
        documents = self.documents
        values = [row[i] for row in rows for i in documents]
        try:
            text = orjson.dumps(values)
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: read exactly
            return True
        return _large_exponent(text)

    def _exactly(self, lines: list[bytes], first: int) -> list[list[Any]]:
        """The rows of `lines` read by exactjson.loads (integers of any size exact)."""
        loads = exactjson.loads
        try:
            return [loads(line) for line in lines]
        except ValueError:
            self._locate_bad_row(lines, first)

    def _locate_bad_row(self, lines: list[bytes], first: int) -> NoReturn:
        width = self.width
        loads = exactjson.loads if self.documents else orjson.loads
        for offset, line in enumerate(lines):
            # Row n of a section is n lines after its section line.
            row_number = first + offset
            line_number = self.section_line + row_number
            try:
                row = loads(line)
            except ValueError as exc:
                raise FormatError(
                    f"invalid JSON row: {exc}",
                    section=self.model,
                    row=row_number,
                    line=line_number,
                ) from None
            if not isinstance(row, list) or len(row) != width:
                got = len(row) if isinstance(row, list) else type(row).__name__
                raise FormatError(
                    f"row has {got} values, the section has {width} columns",
                    section=self.model,
                    row=row_number,
                    line=line_number,
                )
        raise FormatError("invalid rows", section=self.model)  # pragma: no cover


class StreamReader:
    """One-pass reader over a format v1 stream (zstd or plain NDJSON); mirrors StreamWriter.

    `stream` is a binary file, or an input already framed (whose kind was looked at). A line
    longer than `max_line` bytes is refused as it is read (LineTooLong).
    """

    reads_lines = True  # its sections' rows are lines of the stream (Section.line_batches)

    def natural_keys(self, section: Section) -> dict[str, set[tuple[Any, ...]]] | None:
        """A stream's natural keys are known only as its rows go by (Section.natural_keys)."""
        return None

    def __init__(
        self,
        stream: BinaryIO | Framed,
        batch_size: int = 2000,
        batch_bytes: int = 1 << 20,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        self.batch_size, self.batch_bytes = batch_size, batch_bytes
        framed = stream if isinstance(stream, Framed) else Framed(stream, max_line)
        self._lines = _stream_lines(framed)
        self._lineno = 0
        self._digests: list[str] = []
        self._total_rows = 0
        self.trailer: dict[str, Any] | None = None
        self.header = self._read_header()
        self._planned = list(self.header.get("tables") or [])
        # Called with each media file met after the sections; it reads the chunks it wants
        # (the rest are read past and verified). None: every file is only verified.
        self.on_media: Callable[[MediaFile], None] | None = None
        self._file_digests: list[str] = []
        self.media_bytes = 0

    def _next(self) -> bytes | None:
        try:
            line = next(self._lines)
        except StopIteration:
            return None
        self._lineno += 1
        return line

    def _control(self, line: bytes, expect: str) -> dict[str, Any]:
        try:
            obj = exactjson.loads(line)  # a fixture's metadata record may hold any integer
        except ValueError as exc:
            raise FormatError(f"invalid JSON in {expect} line: {exc}", line=self._lineno) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise FormatError(f"expected {expect} line, got {line[:60]!r}", line=self._lineno)
        return obj

    def _read_header(self) -> dict[str, Any]:
        line = self._next()
        if line is None:
            raise TruncatedStream("the stream ends before its header: the file is truncated")
        header = self._control(line, "a header")
        if header.get("format") != FORMAT_NAME or header.get("type") != "header":
            raise FormatError("not a streamdump stream: the first line is not its header", line=1)
        version = header.get("version")
        if not isinstance(version, int) or version < 1:
            raise FormatError(f"invalid format version {version!r}", line=1)
        if version > FORMAT_VERSION:
            raise FormatError(
                f"the stream uses format version {version}, newer than this streamdump reads "
                f"(version {FORMAT_VERSION}); upgrade streamdump to import it",
                line=1,
            )
        problem = _header_problem(header)
        if problem:
            raise FormatError(f"malformed header: {problem}", line=1)
        return header

    def sections(self) -> Iterator[Section]:
        """Yield each section in stream order; ends after verifying the trailer."""
        current: Section | None = None
        while True:
            if current is not None and not current._done:
                for _ in current.batches():  # drain what the caller did not read
                    pass
            line = self._next()
            if line is None:
                raise TruncatedStream(
                    f"the stream ends after {len(self._digests)} sections without its trailer: "
                    "the file is truncated",
                    line=self._lineno,
                )
            obj = self._control(line, "a section or trailer")
            kind = obj["type"]
            if kind == "trailer":
                self._check_trailer(obj)
                return
            if kind == "file":
                self._media_file(obj)
                continue
            if self._file_digests:
                raise FormatError(f"a {kind!r} line after the media files", line=self._lineno)
            if kind != "section":
                raise FormatError(f"unexpected {kind!r} line between sections", line=self._lineno)
            current = self._section(obj)
            yield current

    def _section(self, obj: dict[str, Any]) -> Section:
        try:
            columns = [str(name) for name, _ in obj["columns"]]
            codecs = [str(codec) for _, codec in obj["columns"]]
            section = Section(
                model=str(obj["model"]),
                table=str(obj["table"]),
                phase=str(obj.get("phase", "remainder")),
                columns=columns,
                codecs=codecs,
                expected_rows=None,
                line=self._lineno,
                _reader=self,
            )
        except (KeyError, TypeError, ValueError):
            raise FormatError("malformed section line", line=self._lineno) from None
        index = len(self._digests)
        if self._planned:
            if index >= len(self._planned):
                raise FormatError(
                    f"section {section.model} is not listed in the header", line=self._lineno
                )
            plan = self._planned[index]
            if plan.get("model") != section.model or plan.get("columns") != obj["columns"]:
                raise FormatError(
                    f"section {section.model} differs from the header's table {plan.get('model')}",
                    line=self._lineno,
                )
            section.expected_rows = plan.get("rows")
        return section

    def _section_rows(self, section: Section) -> Iterator[tuple[int, list[list[Any]]]]:
        parser = RowParser(section)
        for first, lines in self._section_lines(section, parser.hexdigest):
            yield first, parser.parse(lines, first)

    def _section_lines(
        self, section: Section, digest_of: Callable[[], str]
    ) -> Iterator[tuple[int, list[bytes]]]:
        """The section's row lines in bounded batches; its end line checked against the count
        of lines yielded and `digest_of()`, the digest of their parse (RowParser)."""
        pending: list[bytes] = []
        pending_bytes = 0
        first = 1
        while True:
            try:
                line = self._next()
            except LineTooLong as exc:
                raise LineTooLong(
                    exc.limit,
                    line=exc.line,
                    section=section.model,
                    row=section.rows + len(pending) + 1,
                ) from None
            if line is None:
                raise TruncatedStream(
                    "the stream ends inside the section: the file is truncated",
                    section=section.model,
                    row=section.rows + len(pending),
                )
            if line[:1] == b"[":
                pending.append(line)
                pending_bytes += len(line)
                section.data_bytes += len(line) + 1
                if len(pending) >= self.batch_size or pending_bytes >= self.batch_bytes:
                    section.rows += len(pending)
                    yield first, pending
                    first += len(pending)
                    pending, pending_bytes = [], 0
                continue
            if pending:
                section.rows += len(pending)
                yield first, pending
                first += len(pending)
                pending, pending_bytes = [], 0
            end = self._control(line, "a row or end")
            if end["type"] != "end":
                raise FormatError(
                    f"unexpected {end['type']!r} line inside a section",
                    section=section.model,
                    line=self._lineno,
                )
            self._check_end(section, end, digest_of())
            section._done = True
            return

    def _check_end(self, section: Section, end: dict[str, Any], hexdigest: str) -> None:
        if end.get("model") not in (None, section.model):
            raise FormatError(
                f"end line names {end.get('model')!r}", section=section.model, line=self._lineno
            )
        if end.get("rows") != section.rows:
            raise FormatError(
                f"the section holds {section.rows} rows but its end line says {end.get('rows')}",
                section=section.model,
                line=self._lineno,
            )
        if section.expected_rows is not None and section.expected_rows != section.rows:
            raise FormatError(
                f"the header announced {section.expected_rows} rows, the section holds "
                f"{section.rows}",
                section=section.model,
                line=self._lineno,
            )
        if end.get("digest") != hexdigest:
            raise FormatError(
                "row digest mismatch: the section's data is damaged",
                section=section.model,
                line=self._lineno,
            )
        section.digest = hexdigest
        self._digests.append(hexdigest)
        self._total_rows += section.rows

    @property
    def media_files(self) -> int:
        """How many media files have been read and verified."""
        return len(self._file_digests)

    def _media_file(self, obj: dict[str, Any]) -> None:
        name, size = obj.get("name"), obj.get("size")
        if not isinstance(name, str) or size.__class__ is not int or size < 0:
            raise FormatError("malformed file line", line=self._lineno)
        media = MediaFile(name=name, size=size, line=self._lineno, _reader=self)
        if self.on_media is not None:
            self.on_media(media)
        for _ in media.chunks():  # what the handler did not read
            pass

    def _file_chunks(self, media: MediaFile) -> Iterator[bytes]:
        digest = row_digest()
        read = 0
        while True:
            line = self._next()
            if line is None:
                raise TruncatedStream(
                    f"the stream ends inside media file {media.name!r}: the file is truncated",
                    line=self._lineno,
                )
            if line[:1] == b'"':
                try:
                    data = base64.b64decode(orjson.loads(line), validate=True)
                except (orjson.JSONDecodeError, binascii.Error, TypeError):
                    raise FormatError(
                        f"invalid chunk of media file {media.name!r}", line=self._lineno
                    ) from None
                read += len(data)
                if read > media.size:
                    raise FormatError(
                        f"media file {media.name!r} holds more than its {media.size} bytes",
                        line=self._lineno,
                    )
                digest.update(data)
                yield data
                continue
            end = self._control(line, "a chunk or file end")
            if end["type"] != "file_end" or end.get("name") != media.name:
                raise FormatError(
                    f"unexpected {end['type']!r} line inside media file {media.name!r}",
                    line=self._lineno,
                )
            if read != media.size or end.get("size") != read:
                raise FormatError(
                    f"media file {media.name!r} holds {read} bytes, its lines say {media.size}",
                    line=self._lineno,
                )
            if end.get("digest") != digest.hexdigest():
                raise FormatError(
                    f"digest mismatch: media file {media.name!r} is damaged", line=self._lineno
                )
            media.digest, media._done = digest.hexdigest(), True
            self._file_digests.append(media.digest)
            self.media_bytes += read
            return

    def _check_media_totals(self, media: Any) -> None:
        if media is None:
            if self._file_digests:
                raise FormatError("the trailer has no media totals", line=self._lineno)
            return
        if (
            not isinstance(media, dict)
            or media.get("files") != len(self._file_digests)
            or media.get("bytes") != self.media_bytes
            or media.get("digest") != stream_digest(self._file_digests)
        ):
            raise FormatError(
                "the trailer's media totals do not match the media files", line=self._lineno
            )

    def _check_trailer(self, trailer: dict[str, Any]) -> None:
        if self._planned and len(self._digests) != len(self._planned):
            raise FormatError(
                f"the header lists {len(self._planned)} tables, the stream holds "
                f"{len(self._digests)}",
                line=self._lineno,
            )
        if trailer.get("sections") != len(self._digests) or trailer.get("rows") != self._total_rows:
            raise FormatError("the trailer's totals do not match the stream", line=self._lineno)
        if trailer.get("digest") != stream_digest(self._digests):
            raise FormatError("the trailer's digest does not match the sections", line=self._lineno)
        self._check_media_totals(trailer.get("media"))
        if self._next() is not None:
            raise FormatError("data follows the trailer", line=self._lineno)
        self.trailer = trailer
