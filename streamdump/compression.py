"""Inputs compressed other than with zstd: gzip, bz2, xz/lzma and zip, told by their magic bytes.

Django's loaddata reads fixtures in these (by file name); we tell them from the content, so a
piped fixture works too. framing.py decompresses zstd itself and asks here for the others.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from typing import BinaryIO, cast

from .errors import FormatError

# Magic bytes at the start of each format (the first 4 bytes are enough for all of them).
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zX": "xz",
    b"PK\x03\x04": "zip",
}


def compression_of(head: bytes) -> str | None:
    """The name of the compression whose magic bytes `head` starts with, or None."""
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def some_of(stream: BinaryIO) -> Callable[[int], bytes]:
    """The stream's read of what is there (read1): at most one system call, so that data from a
    pipe is taken as it comes, and a signal (Ctrl-C, SIGTERM) that arrives while the process is
    between two reads is acted on before it waits again. A buffered read(n) of a pipe reads
    until it has n bytes, and the signal would wait for more data. Its read() where it has no
    read1."""
    return getattr(stream, "read1", None) or stream.read


class _Prepended(io.RawIOBase):
    """A stream whose first bytes were already read: `head`, then the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head, self._stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = some_of(self._stream)(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _zip_member(head: bytes, stream: BinaryIO) -> BinaryIO:
    # A zip's directory is at its end: a pipe is copied to a temporary file first (disk, not
    # memory). Like loaddata, a zip holds one fixture.
    spool = tempfile.TemporaryFile(prefix="streamdump-zip-")
    spool.write(head)
    shutil.copyfileobj(stream, spool, 1 << 20)
    spool.seek(0)
    try:
        archive = zipfile.ZipFile(spool)
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile as exc:
        raise FormatError(f"the zip archive is damaged: {exc}") from None
    if len(names) != 1:
        raise FormatError(f"a zip archive must hold one file, this one holds {len(names)}")
    return cast(BinaryIO, archive.open(names[0]))


def decompressing(name: str, head: bytes, stream: BinaryIO) -> BinaryIO:
    """A binary stream of the decompressed bytes of `stream`, whose first bytes are `head`."""
    if name == "zip":
        return _zip_member(head, stream)
    raw = io.BufferedReader(_Prepended(head, stream), 1 << 16)
    if name == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw))
    if name == "bz2":
        return cast(BinaryIO, bz2.BZ2File(raw))
    return cast(BinaryIO, lzma.LZMAFile(raw))


# What reading a damaged or cut compressed input raises, per library.
DECOMPRESSION_ERRORS = (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile)
