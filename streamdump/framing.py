"""Framing: the bytes of an input (zstd frames or plain) as decompressed chunks and as lines, and
what kind of input it is.

Shared by the stream reader and the fixture reader. Nothing here interprets a line beyond the
first one, which says what the input holds; memory stays at one compressed chunk's output and
one line.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import BinaryIO

import orjson
import zstandard

from .compression import DECOMPRESSION_ERRORS, compression_of, decompressing, some_of
from .errors import FormatError, TruncatedStream
from .format import FORMAT_NAME, ZSTD_MAGIC

_CHUNK = 1 << 20
_READ = 64 << 10  # compressed bytes read at a time
# Compressed input goes to the decompressor in pieces that produce at most about this much: a
# zstd block of 4 bytes can stand for 128 KiB, so a small file may expand a thousandfold and
# more (a "zstd bomb"). The pieces are cut at block boundaries read from the block headers.
_OUTPUT_PER_PIECE = 1 << 20
_MAX_BLOCK = 128 << 10  # the most one zstd block decompresses to (RFC 8878, Block_Maximum_Size)
# A line longer than this is refused while it is read, unless the caller says otherwise
# (STREAMDUMP["MAX_LINE_BYTES"]): reading a line holds a few times its size (pieces, joined line,
# parsed row), never more than that of the limit.
DEFAULT_MAX_LINE = 64 << 20


class LineTooLong(FormatError):
    """A line of the input is longer than the limit: refused before it is held whole."""

    def __init__(
        self,
        limit: int,
        *,
        line: int | None = None,
        section: str | None = None,
        row: int | None = None,
    ) -> None:
        self.limit = limit
        super().__init__(
            f"a line longer than {limit} bytes (STREAMDUMP['MAX_LINE_BYTES']): the input is "
            "damaged or hostile, or holds a value too large for this setting",
            line=line,
            section=section,
            row=row,
        )


class Kind(enum.Enum):
    """What an input holds, judged from its first line."""

    STREAM = "streamdump"  # a format v1 stream: the first line is its header
    FIXTURE_JSON = "json"  # a Django fixture as dumpdata writes it: one JSON array
    FIXTURE_JSONL = "jsonl"  # a Django fixture in JSON lines: one object per line
    EMPTY = "empty"
    UNKNOWN = "unknown"


def _frame_header_size(descriptor: int) -> int:
    """The size of a zstd frame header after the magic number, from its descriptor byte."""
    single_segment = descriptor >> 5 & 1
    dictionary = (0, 1, 2, 4)[descriptor & 3]
    content_size = (single_segment, 2, 4, 8)[descriptor >> 6]
    return 1 + (0 if single_segment else 1) + dictionary + content_size


def _bounded_pieces(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    """The compressed input in pieces that each decompress to at most about _OUTPUT_PER_PIECE.

    Walks the frame and block headers (RFC 8878) to know what each block can produce; the bytes
    are passed on unchanged, so damaged data is still the decompressor's to report. What is not
    a zstd frame (garbage after a frame) is passed on as it comes.
    """
    buffer = bytearray(head)
    cut = pos = 0  # start of the piece being built; start of the next structure
    bound = 0  # what the complete blocks of the piece can decompress to
    state, checksum = "frame", False
    ended = False
    read = some_of(stream)

    def fill(size: int) -> bool:
        nonlocal ended
        while len(buffer) < size and not ended:
            data = read(_READ)
            if data:
                buffer.extend(data)
            else:
                ended = True
        return len(buffer) >= size

    while True:
        if state == "frame":
            if not fill(pos + 5):
                break
            magic = bytes(buffer[pos : pos + 4])
            if magic == ZSTD_MAGIC:
                checksum = bool(buffer[pos + 4] & 4)
                pos += 4 + _frame_header_size(buffer[pos + 4])
                state = "block"
            elif magic[1:] == b"\x2a\x4d\x18" and magic[0] & 0xF0 == 0x50:  # skippable frame
                if not fill(pos + 8):
                    break
                pos += 8 + int.from_bytes(buffer[pos + 4 : pos + 8], "little")
                if pos > len(buffer):  # passed on as it comes: it decompresses to nothing
                    remaining = pos - len(buffer)
                    yield bytes(buffer[cut:])
                    buffer.clear()
                    cut = pos = bound = 0
                    while remaining and (data := read(min(_READ, remaining))):
                        remaining -= len(data)
                        yield data
            else:
                state = "other"
        elif state == "block":
            start = pos  # the end of the piece's complete blocks
            if not fill(pos + 3):
                break
            header = int.from_bytes(buffer[pos : pos + 3], "little")
            kind, size = header >> 1 & 3, header >> 3
            pos += 3 + (1 if kind == 1 else size)  # an RLE block holds one byte
            if len(buffer) < pos and start > cut:
                # The next read may wait (a pipe whose writer is slow): the complete blocks go
                # on first, so that what has arrived is imported as it arrives.
                yield bytes(buffer[cut:start])
                del buffer[:start]
                pos -= start
                cut = bound = 0
            bound += size if kind in (0, 1) else _MAX_BLOCK
            if header & 1:
                state = "checksum" if checksum else "frame"
            if not fill(pos):
                break
            # A piece also ends with its frame, so that many small frames cost linear time.
            if bound >= _OUTPUT_PER_PIECE or state == "frame":
                yield bytes(buffer[cut:pos])
                del buffer[:pos]
                cut = pos = bound = 0
        elif state == "checksum":
            pos += 4
            state = "frame"
            if not fill(pos):
                break
            yield bytes(buffer[cut:pos])
            del buffer[:pos]
            cut = pos = bound = 0
        else:  # not zstd: the decompressor refuses it at once
            fill(pos + _READ)
            break
    if len(buffer) > cut:
        yield bytes(buffer[cut:])
    while data := read(_READ):
        yield data  # only after input that was not zstd


def _zstd_chunks(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    """Decompress concatenated zstd frames; a frame cut short is a truncated stream."""
    dctx = zstandard.ZstdDecompressor()
    frame = dctx.decompressobj()
    started = False
    for data in _bounded_pieces(head, stream):
        try:
            started = True
            out = frame.decompress(data)
            while frame.eof and frame.unused_data:
                rest = frame.unused_data
                frame, started = dctx.decompressobj(), True
                out += frame.decompress(rest)
        except zstandard.ZstdError as exc:
            raise FormatError(f"the compressed data is damaged: {exc}") from None
        if frame.eof:
            frame, started = dctx.decompressobj(), False
        if out:
            yield out
    if started:
        raise TruncatedStream("the compressed data ends inside a zstd frame: the file is truncated")


def _plain_chunks(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    if head:
        yield head
    read = some_of(stream)
    while data := read(_CHUNK):
        yield data


def _other_chunks(name: str, head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    """Bytes decompressed by compression.py (gzip, bz2, xz, zip: fixtures as loaddata reads)."""
    try:
        inner = decompressing(name, head, stream)
        while data := inner.read(_CHUNK):
            yield data
    except DECOMPRESSION_ERRORS as exc:
        raise FormatError(f"the {name} data is damaged or truncated: {exc}") from None


def decompressed(stream: BinaryIO) -> Iterator[bytes]:
    """The input's bytes, decompressed when it starts with the magic number of zstd (or of
    gzip, bz2, xz or zip); each zstd chunk is at most a little over 1 MiB, however much the
    data expands."""
    head = stream.read(4)
    if head == ZSTD_MAGIC:
        return _zstd_chunks(head, stream)
    other = compression_of(head)
    if other is not None:
        return _other_chunks(other, head, stream)
    return _plain_chunks(head, stream)


def _joined(pieces: list[bytes]) -> bytes:
    """The pieces of one line as one bytes object. Every copy of a line's pieces is made here,
    once per line: tests/test_input.py counts the bytes copied to prove reading stays linear."""
    return b"".join(pieces)


def split_lines(chunks: Iterator[bytes], max_line: int = DEFAULT_MAX_LINE) -> Iterator[bytes]:
    """The lines of the chunks, without their newlines; a last line without one is kept.

    A line longer than `max_line` raises LineTooLong as soon as that many bytes of it have been
    read. The pieces of a long line are joined once, at its end: time stays linear in its size.
    """
    pending: list[bytes] = []  # the pieces of the line being read
    size = 0
    number = 0  # lines yielded so far
    for data in chunks:
        parts = data.split(b"\n")
        if len(parts) == 1:
            pending.append(data)
            size += len(data)
            if size > max_line:
                raise LineTooLong(max_line, line=number + 1)
            continue
        first = parts[0]
        if pending:
            if size + len(first) > max_line:
                raise LineTooLong(max_line, line=number + 1)
            pending.append(first)
            first = _joined(pending)
        elif len(first) > max_line:
            raise LineTooLong(max_line, line=number + 1)
        last = parts.pop()
        parts[0] = first
        if len(data) > max_line:  # only then can a line inside one chunk be too long
            for part in parts:
                number += 1
                if len(part) > max_line:
                    raise LineTooLong(max_line, line=number)
                yield part
        else:
            number += len(parts)
            yield from parts
        pending, size = [last], len(last)
        if size > max_line:
            raise LineTooLong(max_line, line=number + 1)
    if size:
        yield _joined(pending)  # no final newline: the parser reports the cut line


def _kind_of(head: bytes) -> Kind:
    """The kind of an input from its first bytes: up to the end of its first line, or to the
    first byte of a JSON array."""
    if not head:
        return Kind.EMPTY
    text = head.lstrip()
    if text[:1] == b"[":
        return Kind.FIXTURE_JSON
    if text[:1] != b"{":
        return Kind.UNKNOWN
    first_line = text.split(b"\n", 1)[0]
    try:
        obj = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return Kind.STREAM  # a damaged header: the stream reader says what is wrong, and where
    if isinstance(obj, dict) and obj.get("type") == "header" and obj.get("format") == FORMAT_NAME:
        return Kind.STREAM
    # Streamdump's control lines have a "type"; a fixture's objects (a model and its fields, or
    # a leading metadata record) do not.
    if not isinstance(obj, dict) or "type" in obj:
        return Kind.STREAM
    return Kind.FIXTURE_JSONL


class Framed:
    """An input, decompressed, whose kind is known; read it once as lines or as a file.

    No line (nor, read as a file, no object between two calls of mark()) may be longer than
    `max_line` bytes: LineTooLong.
    """

    def __init__(self, stream: BinaryIO, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        chunks = decompressed(stream)
        # Read up to the first line's end, or only to the first byte of a JSON array: a
        # dumpdata fixture may be one line of any length. At most one line's worth.
        pieces: list[bytes] = []
        size, text = 0, False
        for data in chunks:
            pieces.append(data)
            size += len(data)
            if not text:
                stripped = data.lstrip()
                text = bool(stripped)
                if stripped[:1] == b"[" or b"\n" in stripped:
                    break
            elif b"\n" in data:
                break
            if size > max_line:
                break
        head = _joined(pieces)
        del pieces
        self.kind = _kind_of(head[: max_line + 1])
        self.bytes_read = 0  # decompressed bytes handed over by chunks() so far
        self._chunks = self._replay(head, chunks)
        self._buffer, self._offset = b"", 0
        self._since_mark = 0

    def _replay(self, head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
        if head:
            self.bytes_read += len(head)
            yield head
        for data in rest:
            self.bytes_read += len(data)
            yield data

    def chunks(self) -> Iterator[bytes]:
        """The decompressed bytes from the first one."""
        return self._chunks

    def lines(self) -> Iterator[bytes]:
        """The lines from the first one, without their newlines."""
        return split_lines(self._chunks, self.max_line)

    def mark(self) -> None:
        """A parser reading through read() finished one object: the next may be max_line long."""
        self._since_mark = 0

    def read(self, size: int = -1) -> bytes:
        """A file's read() over the decompressed bytes (for parsers that pull).

        Raises LineTooLong when more than max_line bytes are read without a mark().
        """
        if size is None or size < 0:
            parts = []
            while data := self.read(_CHUNK):
                parts.append(data)
            return b"".join(parts)
        if self._offset >= len(self._buffer):
            self._buffer, self._offset = next(self._chunks, b""), 0
        data = self._buffer[self._offset : self._offset + size]
        self._offset += len(data)
        self._since_mark += len(data)
        if self._since_mark > self.max_line:
            raise LineTooLong(self.max_line)
        return data  # a short read is allowed; the next call goes on
