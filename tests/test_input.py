"""Hostile input in bounded memory and linear time (docs/RELIABILITY.md, "Input"): a zstd bomb,
an over-long line, and garbage are refused with a message naming where, by the reader, inspect,
the fixture reader and loadstream, never with a traceback.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import types
from decimal import Decimal

import orjson
import pytest
import zstandard

from streamdump import exitcodes, fixtures, framing
from streamdump.errors import FormatError
from streamdump.fixtures import iter_fixture
from streamdump.format import row_digest, stream_digest
from streamdump.framing import DEFAULT_MAX_LINE, Framed, LineTooLong, decompressed, split_lines
from streamdump.inspection import inspect_stream
from streamdump.reader import RowParser, Section, StreamReader
from streamdump.writer import StreamWriter

from .helpers import example_env, manage, migrated_sqlite

# Its subject does not depend on Django's version (framing hostile bytes: zstd and the line
# reader, before Django sees a row): `make compat` leaves it out, it runs in the main venv.
pytestmark = pytest.mark.version_independent

COLUMNS = [["id", "int"], ["name", "str"]]
SECTION = {"model": "app.A", "table": "app_a", "phase": "remainder", "columns": COLUMNS}


def stream_of(rows: list[list], level: int = 3) -> bytes:
    out = io.BytesIO()
    with StreamWriter(out, level=level) as writer:
        writer.header({"tables": [{**SECTION, "rows": len(rows)}]})
        writer.section(SECTION)
        writer.rows(rows)
        writer.end()
        writer.trailer()
    return out.getvalue()


def read_all(data: bytes, **options) -> list[list]:
    reader = StreamReader(io.BytesIO(data), **options)
    return [row for section in reader.sections() for _, rows in section.batches() for row in rows]


def bomb(total: int, first: bytes = b'{"type": "header", "format": "streamdump", "x": "') -> bytes:
    """A zstd frame of `total` bytes or so: `first`, then spaces, no newline, in RLE blocks of
    128 KiB (4 bytes each): 20 GiB take 640 KiB."""
    out = bytearray(b"\x28\xb5\x2f\xfd" + bytes([0x00, 0x38]))  # no checksum, 128 KiB window
    out += (len(first) << 3).to_bytes(3, "little") + first  # a raw block
    block = 128 << 10
    count = total // block
    for i in range(count):
        last = 1 if i == count - 1 else 0
        out += (block << 3 | 1 << 1 | last).to_bytes(3, "little") + b" "
    return bytes(out)


# --- decompression in bounded pieces ---------------------------------------------------------


def test_a_bomb_decompresses_a_little_at_a_time():
    data = bomb(2 << 30)  # 2 GiB from 64 KiB
    sizes = []
    for chunk in decompressed(io.BytesIO(data)):
        sizes.append(len(chunk))
        if sum(sizes) > 64 << 20:
            break
    assert max(sizes) <= (1 << 20) + (128 << 10)


def test_pieces_cut_at_block_boundaries_decompress_exactly():
    text = b"".join(orjson.dumps([i, "x" * (i % 300), os.urandom(i % 50).hex()]) + b"\n"
                    for i in range(40000))  # fmt: skip
    frames = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(text[:700000])
    frames += zstandard.ZstdCompressor(level=5).compress(text[700000:])
    skippable = b"\x50\x2a\x4d\x18" + (300000).to_bytes(4, "little") + os.urandom(300000)
    data = frames[:1000] + frames[1000:]  # two frames
    for stream in (data, frames + skippable + zstandard.ZstdCompressor().compress(b"end\n")):
        assert b"".join(decompressed(io.BytesIO(stream))).startswith(text)


def test_the_bomb_is_refused_by_inspect_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.zst"
    path.write_bytes(bomb(20 << 30))  # 20 GiB without a newline, as in issue 10
    assert path.stat().st_size < 700_000
    code = (
        "import resource, sys, streamdump.cli as cli; status = cli.main(['inspect', sys.argv[1]]);"
        "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(status)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            check=False, timeout=120)  # fmt: skip
    assert result.returncode == 1 and b"Traceback" not in result.stderr, result.stderr.decode()
    assert b"DAMAGED: a line longer than 67108864 bytes" in result.stdout
    assert b"(line 1)" in result.stdout
    peak_kib = int(result.stdout.split(b"RSS ")[1])
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib} KiB"
    # Counted, not timed: refused after the limit's worth of output, so about 2 KiB of the
    # 640 KiB file (4 bytes a 128 KiB block) are read, in one 64 KiB read, not the whole.
    stream = io.BytesIO(path.read_bytes())
    assert "a line longer than" in inspect_stream(stream).error
    assert stream.tell() <= 2 * framing._READ


def test_the_bomb_is_refused_by_loadstream(sqlite_template, tmp_path):
    path = tmp_path / "bomb.zst"
    path.write_bytes(bomb(4 << 30))
    env = example_env("sqlite", migrated_sqlite(sqlite_template, tmp_path / "db.sqlite3"))
    result = manage("loadstream", str(path), "--no-migrate", env=env, check=False)
    assert result.returncode == exitcodes.BAD_INPUT and b"Traceback" not in result.stderr
    assert b"a line longer than" in result.stderr and b"(line 1)" in result.stderr
    assert b"the database is unchanged" in result.stderr


# --- JSON documents with integers beyond 64 bits ---------------------------------------------

DOCUMENT_SECTION = {**SECTION, "columns": [["id", "int"], ["doc", "json"]]}
LONG = "123456789012345678901234567890"  # 30 digits: the row is read by the exact parser


def plain_stream(lines: list[bytes]) -> bytes:
    """A stream of one section of JSON documents whose row lines are given as they are, with
    the counts and digest they make."""
    digest = row_digest()
    for line in lines:
        digest.update(line + b"\n")
    control = [
        {"type": "header", "format": "streamdump", "version": 1,
         "tables": [{**DOCUMENT_SECTION, "rows": len(lines)}]},
        {"type": "section", **DOCUMENT_SECTION},
    ]  # fmt: skip
    end = {"type": "end", "model": "app.A", "rows": len(lines), "digest": digest.hexdigest()}
    trailer = {"type": "trailer", "sections": 1, "rows": len(lines),
               "digest": stream_digest([digest.hexdigest()])}  # fmt: skip
    return b"\n".join([*map(orjson.dumps, control), *lines, orjson.dumps(end),
                       orjson.dumps(trailer)]) + b"\n"  # fmt: skip


def test_integers_beyond_64_bits_read_exactly_in_json_documents_only():
    rows = [[1, [{"n": int(LONG), "f": 1.5}]], [2, [-(2**63) - 1]], [3, [2**64 - 1]], [4, None],
            [5, [{"f": 1e300, "g": -9.5e18, "s": LONG, "n": 10**400}]]]  # fmt: skip
    assert read_all(plain_stream([json.dumps(r).encode() for r in rows])) == rows
    with_ints = {**SECTION, "columns": [["id", "int"], ["name", "str"]]}  # nothing looked for
    assert RowParser(Section(**{**with_ints, "columns": ["id", "name"], "codecs": ["int", "str"],
                                "expected_rows": None})).documents == []  # fmt: skip


@pytest.mark.parametrize(
    ("document", "message"),
    [(f'{{"n": {LONG}, "x": NaN}}', "NaN is not a JSON value"),
     (f'[{LONG}, 1e400]', "is infinity when parsed as double"),
     (f'["\\ud800", {LONG}]', "a lone surrogate"),
     (f'[{LONG}, "\udcff"]', "invalid JSON row"),  # the byte 0xff: not UTF-8
     (f'[{LONG}', "invalid JSON row"),
     ("[" * 5000 + LONG + "]" * 5000, "nested deeper")],  # fmt: skip
)
def test_what_orjson_refuses_the_exact_parser_refuses_too(document, message):
    """A row holding 19 digits in a row is read by the json module, which reads more than
    orjson: what orjson refuses is still refused there, naming the row and its line."""
    good = json.dumps([1, [{"n": 2**70}]]).encode()
    bad = b"[2, [" + document.encode("utf-8", "surrogateescape") + b"]]"
    with pytest.raises(FormatError) as info:
        read_all(plain_stream([good, bad]))
    assert (info.value.section, info.value.row, info.value.line) == ("app.A", 2, 4)
    assert message in str(info.value)


# --- the line limit ----------------------------------------------------------------------------


def test_a_row_longer_than_the_limit_is_named():
    data = stream_of([[1, "short"], [2, "x" * 5000], [3, "short"]])
    assert read_all(data, max_line=6000)[1] == [2, "x" * 5000]
    with pytest.raises(LineTooLong) as info:
        read_all(data, max_line=4000)
    error = info.value
    assert (error.section, error.row, error.line) == ("app.A", 2, 4)
    assert "a line longer than 4000 bytes (STREAMDUMP['MAX_LINE_BYTES'])" in str(error)


def test_the_limit_holds_in_plain_ndjson_and_for_the_header():
    plain = zstandard.ZstdDecompressor().decompressobj().decompress(stream_of([[1, "a"]]))
    with pytest.raises(LineTooLong) as info:
        read_all(plain, max_line=50)
    assert info.value.line == 1
    assert read_all(plain, max_line=1000) == [[1, "a"]]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_split_lines_gives_every_line_whatever_the_chunks(chunk):
    text = b"a\n\nbcd\n" + b"e" * 10000 + b"\nlast"
    chunks = (text[i : i + chunk] for i in range(0, len(text), chunk))
    assert list(split_lines(chunks, 20000)) == text.split(b"\n")
    chunks = (text[i : i + chunk] for i in range(0, len(text), chunk))
    with pytest.raises(LineTooLong) as info:
        list(split_lines(chunks, 9999))
    assert info.value.line == 4


def test_the_default_limit_is_generous():
    assert DEFAULT_MAX_LINE == 64 << 20
    big = "x" * (8 << 20)  # an 8 MiB value in one row
    assert read_all(stream_of([[1, big]]))[0][1] == big


def test_inspect_refuses_an_over_long_line(tmp_path):
    report = inspect_stream(io.BytesIO(stream_of([[1, "x" * 3000]])), max_line=1000)
    assert not report.intact and "a line longer than 1000 bytes" in report.error
    assert "section app.A, row 1, line 3" in report.error
    path = tmp_path / "long.zst"
    path.write_bytes(stream_of([[1, "x" * 3000]]))
    result = subprocess.run([sys.executable, "-m", "streamdump", "inspect", "--max-line-bytes",
                             "1000", str(path)], capture_output=True, check=False)  # fmt: skip
    assert result.returncode == 1 and b"a line longer than 1000 bytes" in result.stdout


def test_the_fixture_reader_refuses_an_over_long_object():
    objects = [{"model": "app.a", "pk": i, "fields": {"name": "x" * (i * 1000)}} for i in (1, 9)]
    array = orjson.dumps(objects)
    assert len(list(iter_fixture(Framed(io.BytesIO(array), max_line=20000)))) == 2
    with pytest.raises(LineTooLong):
        list(iter_fixture(Framed(io.BytesIO(array), max_line=5000)))
    lines = b"".join(orjson.dumps(o) + b"\n" for o in objects)
    with pytest.raises(LineTooLong) as info:
        list(iter_fixture(Framed(io.BytesIO(lines), max_line=5000)))
    assert info.value.line == 2


class _Trickle(io.RawIOBase):
    """A file whose read() gives at most `step` bytes: every item is cut somewhere."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.at = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        piece = self.data[self.at : self.at + min(self.step, len(buffer))]
        buffer[: len(piece)] = piece
        self.at += len(piece)
        return len(piece)


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_the_array_reader_joins_items_cut_anywhere(step):
    """Items cut between reads (numbers too, which may go on after the cut), multi-byte
    characters cut inside, white space anywhere: the same items as json.loads reads."""
    items = [{"model": "app.a", "pk": i, "fields": {"name": "é€𝄞" * (i % 5), "n": 1.5 * i,
              "big": -9223372036854775808 - i}} for i in range(40)]  # fmt: skip
    items += [12345678901234567890, 0.25, "x", None, True, [1, [2, []]], {}]
    text = json.dumps(items, ensure_ascii=False).encode()
    text = text.replace(b",", b" ,\n ").replace(b"[", b"[ \t", 1)
    read = list(iter_fixture(Framed(_Trickle(text, step))))  # type: ignore[arg-type]
    # Other numbers come as floats (orjson) or Decimals (the exact parser, for an item holding a
    # long integer), json_numbers() makes both the floats json.loads gives; integers are exact:
    # -9223372036854775809 is not equal to the float orjson would make of it.
    assert _floats(read) == json.loads(text)
    assert all(type(item["fields"]["big"]) is int for item in read[:40])


@pytest.mark.parametrize(
    ("number", "exact_parser"),
    [(b"9999999999999999999", False), (b"1234567890123456789", False),
     (b"-9223372036854775808", False), (b"-1234567890123456789", False),
     (b"18446744073709551615", True), (b"-9223372036854775809", True),
     (b"0.1234567890123456789", True), (b"1234567890123456789.5", True),
     (b"1e1234567890123456789", True), (b"1E+1234567890123456789", True)],  # fmt: skip
)
def test_only_numbers_orjson_misreads_go_to_the_exact_parser(number, exact_parser):
    """A run of 19 digits sends an item to the exact parser only where orjson would read it
    otherwise: beyond 64 bits, or in a float; an unsigned 19-digit integer (a sort key) is read
    by orjson, exactly. Either way the reader gives what json.loads gives."""
    item = b'{"model": "app.a", "pk": 1, "fields": {"key": %s, "text": "%s"}}' % (number, number)
    assert fixtures._long_number(item) is exact_parser
    if b"e" in number.lower():
        return  # json.loads makes no finite float of it
    text = b"[" + b", ".join([item] * 3) + b"]"
    read = list(iter_fixture(Framed(io.BytesIO(text))))
    assert _floats(read) == json.loads(text)
    if b"." not in number:
        assert all(type(r["fields"]["key"]) is int for r in read)


def _count_calls(monkeypatch: pytest.MonkeyPatch, *names: str) -> dict[str, int]:
    calls = dict.fromkeys(names, 0)
    for name in calls:
        original = getattr(fixtures._ArrayItems, name)

        def counted(self, *args, name=name, original=original):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return original(self, *args)

        monkeypatch.setattr(fixtures._ArrayItems, name, counted)
    return calls


def test_a_nineteen_digit_sort_key_keeps_the_fast_path(monkeypatch):
    """Records holding unsigned 19-digit integers are parsed many at once, never one by one."""
    items = [{"model": "app.a", "pk": i, "fields": {"sort_key": 9_000_000_000_000_000_000 + i}}
             for i in range(2000)]  # fmt: skip
    calls = _count_calls(monkeypatch, "item", "_exact_item")
    read = list(iter_fixture(Framed(io.BytesIO(json.dumps(items).encode()))))
    # One by one: only an item cut by the end of what was read (a few per chunk of input).
    assert read == items and calls["_exact_item"] == 0 and calls["item"] < 20, calls


@pytest.mark.parametrize("indent", [None, 4])
def test_lists_of_objects_and_long_numbers_keep_the_fast_path(monkeypatch, indent):
    """A JSON field holding a list of objects ("}, {" inside a record) does not make the
    reader take records one by one; a record with a number orjson misreads is read alone by
    the exact parser, and the records after it many at once again."""
    long = {i: -9223372036854775809 - i for i in range(7, 3000, 500)}  # below 64 bits
    items = [{"model": "app.a", "pk": i, "fields": {"payload": [{"a": i}, {"b": [{"c": 1}]}],
              "n": long.get(i, i)}} for i in range(3000)]  # fmt: skip
    text = json.dumps(items, indent=indent).encode()
    calls = _count_calls(monkeypatch, "item", "_exact_item")
    read = list(iter_fixture(Framed(io.BytesIO(text))))
    assert read == items and all(type(r["fields"]["n"]) is int for r in read)
    assert calls["_exact_item"] == 6 and calls["item"] < 6 + 30, calls


def _floats(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("text", "message"),
    [(b"[1, 2] 3", "data follows the array"), (b"[1 2]", "expected , or ]"),
     (b"[1, 2", "expected , or ]"), (b'[{"a": 1}, {"b": ', "after object 1"),
     (b"[" * 100_000, "nests deeper")],  # fmt: skip
)
def test_the_array_reader_names_what_is_wrong(text, message):
    with pytest.raises(FormatError, match=message):
        list(iter_fixture(Framed(io.BytesIO(text))))


def test_a_fixture_bomb_is_refused():
    data = bomb(1 << 30, first=b'[{"model": "app.a", "pk": 1, "fields": {"name": "')
    report = inspect_stream(io.BytesIO(data), max_line=8 << 20)
    assert report.kind == "json" and "a line longer than" in report.error


# --- linear time -------------------------------------------------------------------------------


class _Copies:
    """Counts the bytes framing._joined copies: the one place the pieces of a line are joined."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        joined = framing._joined

        def counting(pieces: list[bytes]) -> bytes:
            out = joined(pieces)
            self.bytes += len(out)
            return out

        monkeypatch.setattr(framing, "_joined", counting)


def test_one_long_line_reads_in_linear_time(monkeypatch):
    """Issue 10: a 40 MB line took 14 s (the buffer was copied for every chunk), 200 MB never
    ended. Counted, not timed: the bytes copied to join a line's pieces are the line's size once
    (plus the header's chunk), for a line of 4 chunks as for one of 16."""
    copies = _Copies(monkeypatch)
    value = os.urandom(8 << 20).hex()  # compresses little: many chunks per line
    copied = {}
    for size in (4 << 20, 16 << 20):
        copies.bytes = 0
        rows = read_all(stream_of([[1, value[:size]]], level=1), max_line=64 << 20)
        assert rows == [[1, value[:size]]]
        copied[size] = copies.bytes
        assert size < copied[size] <= size + (3 << 20), copied  # the line, the header's chunk
    assert copied[16 << 20] < 5 * copied[4 << 20], copied


class _CountingDecompressor:
    """zstandard.ZstdDecompressor whose decompressobj()s count the bytes given to them."""

    fed = calls = 0

    def __init__(self) -> None:
        self._inner = zstandard.ZstdDecompressor()

    def decompressobj(self) -> _CountingDecompressor._Obj:
        return self._Obj(self._inner.decompressobj())

    class _Obj:
        def __init__(self, inner) -> None:
            self._inner = inner

        def decompress(self, data: bytes) -> bytes:
            _CountingDecompressor.fed += len(data)
            _CountingDecompressor.calls += 1
            return self._inner.decompress(data)

        def __getattr__(self, name: str):  # eof, unused_data
            return getattr(self._inner, name)


@pytest.mark.parametrize("checksum", [True, False], ids=["checksums", "no-checksums"])
def test_many_small_frames_read_in_linear_time(monkeypatch, checksum):
    """A stream may be any number of frames: each piece given to the decompressor ends with its
    frame (with 64 KiB pieces of many frames, each frame copied the rest of its piece: 100,000
    frames took 22.5 s). Counted, not timed: the decompressor is given each byte once."""
    monkeypatch.setattr(
        framing,
        "zstandard",
        types.SimpleNamespace(
            ZstdDecompressor=_CountingDecompressor, ZstdError=zstandard.ZstdError
        ),
    )
    compressor = zstandard.ZstdCompressor(write_checksum=checksum)
    fed = {}
    for count in (5000, 20000):
        data = b"".join(compressor.compress(b'{"a":%d}\n' % i) for i in range(count))
        _CountingDecompressor.fed = _CountingDecompressor.calls = 0
        out = b"".join(decompressed(io.BytesIO(data)))
        assert out.count(b"\n") == count
        fed[count] = _CountingDecompressor.fed
        assert fed[count] <= len(data), (count, fed[count], len(data))
        assert _CountingDecompressor.calls <= 2 * count
    assert fed[20000] < 5 * fed[5000], fed


# --- garbage -----------------------------------------------------------------------------------


GARBAGE = [
    os.urandom(5000),
    b"\x28\xb5\x2f\xfd" + os.urandom(5000),
    b'{"type": "header", "format": "streamdump", "version": 1, "tables": 7}\n',
    b'{"type": "header", "format": "streamdump", "version": 1, "tables": [{"model": 1}]}\n',
    b'{"type": "header", "format": "streamdump", "version": 1, "migrations": {"a": 3}}\n',
    b'{"type": "header", "format": "streamdump", "version": 1, "apps": []}\n',
    b"{" * 100000,
    b"[" * 100000,
    b"\xff\xfe{\n",
]


@pytest.mark.parametrize("data", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_gets_a_message_from_inspect_and_the_reader(data):
    report = inspect_stream(io.BytesIO(data))
    assert not report.intact and report.error
    with pytest.raises(FormatError):
        read_all(data)


def test_garbage_gets_a_message_from_the_commands(sqlite_template, tmp_path):
    env = example_env("sqlite", migrated_sqlite(sqlite_template, tmp_path / "db.sqlite3"))
    for number, data in enumerate(GARBAGE[:6]):
        path = tmp_path / f"garbage{number}"
        path.write_bytes(data)
        result = subprocess.run([sys.executable, "-m", "streamdump", "inspect", str(path)],
                                capture_output=True, check=False)  # fmt: skip
        assert result.returncode == 1 and b"Traceback" not in result.stderr
        assert b"DAMAGED" in result.stdout
    result = manage("loadstream", str(tmp_path / "garbage3"), "--no-migrate", env=env,
                    check=False)  # fmt: skip
    assert result.returncode == exitcodes.BAD_INPUT and b"Traceback" not in result.stderr
    assert b"malformed header: table 1 has no model name" in result.stderr


@pytest.mark.parametrize("compressed", [True, False], ids=["zstd", "plain"])
def test_what_a_pipe_holds_is_read_without_waiting_for_more(compressed):
    """Data from a pipe is taken as it comes (one system call a read): a dump arriving slowly
    over ssh is imported as it arrives, and a signal that lands between two reads is acted on
    before the next wait. A buffered read(64 KiB) kept reading the pipe until it had 64 KiB."""
    import threading

    payload = b'{"a":1}\n' * 100
    data = payload
    if compressed:
        data = zstandard.ZstdCompressor(write_checksum=True).compress(payload)
    read_end, write_end = os.pipe()
    got: list[bytes] = []
    with open(read_end, "rb") as stream, open(write_end, "wb", buffering=0) as writer:
        writer.write(data)  # and the writer stays open: more could come, but not now
        reader = threading.Thread(target=lambda: got.append(next(decompressed(stream))))
        reader.daemon = True
        reader.start()
        reader.join(timeout=10)
        stalled = reader.is_alive()
        writer.close()  # lets a stalled reader finish
        reader.join(timeout=10)
    assert not stalled, "the reader waited for more than the pipe held"
    assert payload.startswith(got[0])
