"""COPY text written from the stream's values (backends/pgcopy.py), and COPY CSV made from the
row lines themselves (backends/pgcsv.py): escaped exactly, the same values stored as the row path
(decoded values, psycopg's write_row) stores, in a worker or not, and a bad value refused naming
its section, row and column, as the row path refuses it."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import io
import json
import pickle
import re
import uuid

import orjson
import psycopg
import pytest
from django.db import connections, models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from streamdump.backends import backend_for, pgcopy, pgcsv
from streamdump.backends import postgresql as pg_backend
from streamdump.backends.pgcopy import (
    _DATE,
    _DATETIME,
    _TIME,
    NUL_REFUSED,
    CopyBlock,
    copy_formatter,
    py_text,
)
from streamdump.codecs import decoder
from streamdump.conf import get_config
from streamdump.digest import database_digests
from streamdump.errors import CodecError, FormatError, ImportFailed
from streamdump.sequencer import load

from .servers import migrated_database
from .test_values import dump, with_value  # noqa: F401  # the module's dump fixture

# Its subject does not depend on Django's version (COPY text and its escapes: psycopg and the
# server): `make compat` leaves it out, it runs in the main venv.
pytestmark = [pytest.mark.server, pytest.mark.version_independent]

# a worker for every section, however busy the machine (cpuwatch would else decide)
WORKER = {"decode_worker": "always", "decode_worker_min_rows": 0}


@pytest.fixture(scope="module", autouse=True)
def _database_access(django_db_blocker):
    with django_db_blocker.unblock():
        yield


def unescape_copy(block: bytes) -> list[list[str | None]]:
    """A reference reader of COPY's text format (PostgreSQL's rules, written out)."""
    rows = []
    for line in block.decode().split("\n")[:-1]:
        fields, current, i = [], [], 0
        while i < len(line):
            c = line[i]
            if c == "\t":
                fields.append("".join(current))
                current = []
            elif c == "\\":
                i += 1
                current.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "N": "\0N"}[line[i]])
            else:
                current.append(c)
            i += 1
        fields.append("".join(current))
        rows.append([None if f == "\0N" else f for f in fields])
    return rows


@pytest.fixture(scope="module")
def pg() -> str:
    """A PostgreSQL alias, for its backend's decoders (no rows written)."""
    with migrated_database("postgresql") as alias:
        yield alias


def _columns(alias: str, columns: tuple[tuple[str, models.Field], ...]):
    """The codecs, fields (named c0, c1...) and decoders of `columns` on `alias`."""
    backend = backend_for(connections[alias])
    fields = []
    for n, (_, field) in enumerate(columns):
        field.set_attributes_from_name(f"c{n}")
        fields.append(field)
    codecs = [c for c, _ in columns]
    decoders = [decoder(codec, f, backend) for codec, f in zip(codecs, fields, strict=True)]
    return codecs, fields, decoders


def formatter(alias: str, *columns: tuple[str, models.Field]):
    codecs, fields, decoders = _columns(alias, columns)
    text = copy_formatter(codecs, fields, decoders, connections[alias])
    assert text is not None
    return text


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"))


@settings(
    max_examples=300, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.none() | TEXT, st.none() | TEXT), max_size=5))
def test_strings_read_back_exactly(pg, rows):
    text = formatter(pg, ("str", models.TextField()), ("str", models.TextField()))
    assert unescape_copy(text([list(r) for r in rows])) == [list(r) for r in rows]


def test_the_escapes_themselves(pg):
    text = formatter(pg, ("str", models.TextField()), ("int", models.BigIntegerField()))
    rows = [["a\tb\nc\rd\\e", 1], ["\\N", None], ["\\.", -5], ["", 0], ["é 𝄞 \x7f \x08 \x0c", 2]]
    assert text(rows) == (
        b"a\\tb\\nc\\rd\\\\e\t1\n\\\\N\t\\N\n\\\\.\t-5\n\t0\n"
        + "é 𝄞 \x7f \x08 \x0c\t2\n".encode()
    )
    assert unescape_copy(text(rows)) == [[r[0], None if r[1] is None else str(r[1])] for r in rows]


def test_canonical_values_go_as_they_are_and_others_through_the_decoder(pg):
    text = formatter(
        pg,
        ("decimal", models.DecimalField(max_digits=30, decimal_places=10)),
        ("datetime", models.DateTimeField()),
        ("uuid", models.UUIDField()),
        ("float", models.FloatField()),
        ("bool", models.BooleanField()),
        ("bytes", models.BinaryField()),
        ("date", models.DateField()),
        ("time", models.TimeField()),
        ("duration", models.DurationField()),
    )
    canonical = ["1E+2", "2024-03-01T12:30:00.000001+05:30", "0003d9b5-7245-4146-a001-c3008b9bf1d3",
                 -0.0, True, "AAEC/w==", "0001-01-01", "23:59:59.999999", -86399999999]  # fmt: skip
    assert unescape_copy(text([canonical])) == [
        ["1E+2", "2024-03-01T12:30:00.000001+05:30", "0003d9b5-7245-4146-a001-c3008b9bf1d3",
         "-0.0", "t", "\\x000102ff", "0001-01-01", "23:59:59.999999",
         "-1 day +0 second +1 microsecond"],
    ]  # fmt: skip
    # Not the stream's own form, yet what the decoder reads: its value, as psycopg writes it.
    other = ["12.50", "2024-03-01T12:30:00Z", "0003D9B5-7245-4146-A001-C3008B9BF1D3",
             3, False, "", "2024-02-29", "00:00", 0]  # fmt: skip
    assert unescape_copy(text([other])) == [
        ["12.50", "2024-03-01 12:30:00+00:00", "0003d9b5-7245-4146-a001-c3008b9bf1d3",
         "3.0", "f", "\\x", "2024-02-29", "00:00:00", "+0 day +0 second +0 microsecond"],
    ]  # fmt: skip
    specials = [[None, None, None, v, None, None, None, None, None] for v in ("NaN", "-Infinity")]
    assert [row[3] for row in unescape_copy(text(specials))] == ["NaN", "-Infinity"]


@pytest.mark.parametrize(
    ("codec", "field", "value", "message"),
    [
        ("str", models.TextField(), "a\0b", NUL_REFUSED),
        ("str", models.TextField(), 5, "expected a string"),
        ("int", models.SmallIntegerField(), 40000, "40000 is out of range"),
        ("int", models.IntegerField(), True, "expected an integer"),
        ("bool", models.BooleanField(), 1, "expected true or false"),
        ("float", models.FloatField(), "1.5", "expected a number"),
        ("decimal", models.DecimalField(max_digits=5, decimal_places=2), "1,5", "invalid decimal"),
        ("decimal", models.DecimalField(max_digits=5, decimal_places=2), "NaN", "invalid value"),
        ("datetime", models.DateTimeField(), "2024-02-30T00:00:00+00:00", "invalid datetime"),
        ("date", models.DateField(), "2023-02-29", "invalid date"),
        ("time", models.TimeField(), "24:00:00", "invalid time"),
        ("uuid", models.UUIDField(), "0003d9b5-7245-4146-a001-c3008b9bf1d", "invalid UUID"),
        ("bytes", models.BinaryField(), "not base64!", "invalid base64"),
        ("duration", models.DurationField(), 10**20, "duration out of range"),
    ],
)
def test_a_bad_value_names_its_row_and_column(pg, codec, field, value, message):
    good = {"str": "x", "int": 1, "bool": True, "float": 1.0, "decimal": "1.00",
            "datetime": "2024-03-01T00:00:00+00:00", "date": "2024-03-01", "time": "12:00:00",
            "uuid": str(uuid.UUID(int=1)), "bytes": "AA==", "duration": 1}[codec]  # fmt: skip
    text = formatter(pg, ("int", models.IntegerField()), (codec, field))
    text([[1, good], [2, None]])  # the column's good values pass
    with pytest.raises(CodecError) as info:
        text([[1, good], [2, None], [3, value], [4, good]])
    assert (info.value.row_offset, info.value.column_index) == (2, 1)
    assert message in str(info.value)


def test_python_values_as_psycopg_writes_them():
    cases = [
        (float("nan"), "NaN"), (float("-inf"), "-Infinity"), (-0.0, "-0.0"), (1e-300, "1e-300"),
        (decimal.Decimal("1E+2"), "1E+2"), (decimal.Decimal("-0.000"), "-0.000"),
        (datetime.timedelta(days=-1, microseconds=1), "-1 day +0 second +1 microsecond"),
        (datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc), "0001-01-01 00:00:00+00:00"),
        (b"\x00\\", "\\\\x005c"), (memoryview(b""), "\\\\x"), ("t\tab", "t\\tab"), (True, "t"),
        (psycopg.Binary(b"\x01"), "\\\\x01"), (Jsonb({"a": "\t"}), '{"a": "\\\\t"}'),
        (Jsonb([1], dumps=lambda obj: "[ 1 ]"), "[ 1 ]"),
    ]  # fmt: skip
    assert [py_text(v) for v, _ in cases] == [text for _, text in cases]
    with pytest.raises(CodecError, match="cannot be written by COPY"):
        py_text(object())


def test_a_block_pickles_as_its_bytes():
    block = CopyBlock(b"1\tx\n2\t\\N\n", 2)
    again = pickle.loads(pickle.dumps(block, protocol=pickle.HIGHEST_PROTOCOL))
    assert (again.data, len(again)) == (block.data, 2)


# --- against PostgreSQL -----------------------------------------------------------------------

EDGES = {  # (model, column): values at the edges of its codec, one per row from the first
    ("inventory.Part", "name"): ["tab\there\nnew line\rcr\\back \\N \\. é 𝄞", "\\", ""],
    ("inventory.Part", "weight_kg"): [-0.0, "NaN", "-Infinity", 5e-324, 7],
    ("inventory.Part", "minimum_stock"): ["1E+2", "-0", "0E-10", "123456789012345678.1234567890",
                                          "12.5"],
    ("inventory.Part", "created"): ["2024-03-01T12:30:00.000001+05:30",
                                    "0001-01-01T00:00:00-05:00", "2024-03-01T23:30:00Z"],
    ("inventory.Part", "last_modified"): ["9999-12-31T23:59:59.999999+00:00"],
    ("inventory.Part", "uuid"): ["0003D9B5-7245-4146-A001-C3008B9BF1D3",
                                 "{10000000-7245-4146-a001-c3008b9bf1d3}"],
    ("inventory.Part", "metadata"): [
        [None], ["back\\slash \"quoted\"\ttab é"],
        [{"b": [1.5e16, 1e-7, -0.0, 2**63 - 1], "a": {"": None}}],
    ],
    ("inventory.Part", "lead_time"): [-86399999999, 86400000000, 0, -1],
    ("inventory.Part", "launched"): ["0001-01-01", "2024-02-29"],
    ("inventory.Part", "trackable"): [False, True],
    ("inventory.Part", "revision"): [-32768, 32767],
    ("inventory.Part", "server_ip"): ["::ffff:1.2.3.4", "10.0.0.1"],
    ("inventory.TrackedStockItem", "firmware"): ["", "AAEC/w=="],
    ("inventory.TrackedStockItem", "last_checked_at"): ["00:00:00", "23:59:59.999999"],
    # A section whose every column may go in CSV (pgcsv.py): the escapes, and values it leaves
    # to the text path in the same batch.
    ("inventory.StockItem", "notes"): ["tab\there\nnew line\rcr\\back \\N \\. é 𝄞",
                                       '"quoted", "twice"', "null", " ", "\x01 \x1f \x7f \x08 \x0c",
                                       "\\", "\n\\.\n"],
    ("inventory.StockItem", "batch"): ["\\.", "\\", "a\\", '"', "NULL", "\\N"],
    ("inventory.StockItem", "quantity"): ["1E+2", "-0", "12.5", "0.00000"],
    ("inventory.StockItem", "expiry_date"): ["2024-02-29", "2000-02-29", "0001-01-01",
                                             "9999-12-31"],
    ("inventory.StockItem", "updated"): ["2024-03-01T12:30:00.000001+05:30",
                                         "2024-03-01T12:30:00Z", "2000-02-29T23:59:59-12:00"],
    ("inventory.StockItem", "status"): [-32768, 32767, 0],
}


def edged(data: bytes) -> bytes:
    for (model, column), values in EDGES.items():
        for row, value in enumerate(values, start=1):
            changed = with_value(data, model, column, value, row=row)
            assert changed != data, (model, column, value)  # the section has that many rows
            data = changed
    return data


@pytest.fixture(scope="module")
def edge_dump(dump) -> bytes:  # noqa: F811
    return edged(dump)


def config(**changes):
    return dataclasses.replace(get_config(), **changes)


SEND = pg_backend.CopyInserter.insert


def import_recording(data: bytes, monkeypatch, **changes):
    """Import into a fresh PostgreSQL database: (digests, the COPY blocks sent, by table)."""
    sent: list[tuple[str, bytes]] = []
    insert = SEND

    def recording(self, rows):
        block = rows if isinstance(rows, CopyBlock) else None
        while block is not None:
            sent.append((self.csv_sql if block.csv else self.sql, block.data))
            block = block.then
        return insert(self, rows)

    monkeypatch.setattr(pg_backend.CopyInserter, "insert", recording)
    with migrated_database("postgresql") as alias:
        load(io.BytesIO(data), using=alias, migrate=False, batch_size=7, config=config(**changes))
        return database_digests(alias), sent


def test_every_path_stores_the_same_values(edge_dump, monkeypatch):
    in_process, blocks = import_recording(edge_dump, monkeypatch, decode_worker=False)
    in_worker, worker_blocks = import_recording(edge_dump, monkeypatch, **WORKER)
    monkeypatch.setenv("STREAMDUMP_COPY_CSV", "0")  # every batch in COPY text
    as_text, text_blocks = import_recording(edge_dump, monkeypatch, decode_worker=False)
    monkeypatch.setenv("STREAMDUMP_COPY_ROWS", "1")  # decoded values, psycopg's write_row
    by_rows, none = import_recording(edge_dump, monkeypatch, decode_worker=False)
    assert in_process == in_worker == as_text == by_rows
    assert worker_blocks == blocks and none == []
    assert any("inventory_part" in sql for sql, _ in blocks)
    csv = [sql for sql, _ in blocks if "FORMAT csv" in sql]
    assert any("inventory_stockitem" in sql for sql in csv)  # the edges went in CSV
    assert not any("FORMAT csv" in sql for sql, _ in text_blocks)


BAD = [  # (model, column, value, words of the message)
    ("inventory.Part", "name", "nul \0 here", NUL_REFUSED),
    ("inventory.Part", "minimum_stock", "1,5", "invalid decimal"),
    ("inventory.Part", "created", "2024-02-30T00:00:00+00:00", "invalid datetime"),
    ("inventory.Part", "uuid", "not-a-uuid", "invalid UUID"),
    ("inventory.Part", "metadata", {"a": 1}, "boxed"),
    ("inventory.Part", "weight_kg", "1.5", "expected a number"),
    ("inventory.Part", "revision", 40000, "out of range"),
    ("inventory.Part", "launched", "2023-02-29", "invalid date"),
    ("inventory.TrackedStockItem", "firmware", "@@", "invalid base64"),
    # in a section that goes in CSV: the batch's bad line is left to the text path
    ("inventory.StockItem", "notes", "nul \0 here", NUL_REFUSED),
    ("inventory.StockItem", "quantity", "1,5", "invalid decimal"),
    ("inventory.StockItem", "expiry_date", "2023-02-29", "invalid date"),
    ("inventory.StockItem", "updated", "2024-02-30T00:00:00+00:00", "invalid datetime"),
    ("inventory.StockItem", "status", 40000, "out of range"),
    ("inventory.StockItem", "location_id", True, "expected an integer"),
]


@pytest.mark.parametrize(("model", "column", "value", "words"), BAD)
def test_a_bad_value_fails_naming_it_on_every_path(dump, monkeypatch, model, column, value, words):  # noqa: F811
    data = with_value(dump, model, column, value, row=3)
    errors = []
    with migrated_database("postgresql") as alias:
        before = database_digests(alias)
        for env, changes in (("", {"decode_worker": False}), ("", WORKER), ("1", {})):
            monkeypatch.setenv("STREAMDUMP_COPY_ROWS", env)
            with pytest.raises(ImportFailed) as info:
                load(io.BytesIO(data), using=alias, migrate=False, config=config(**changes))
            assert info.value.target_state == ImportFailed.UNCHANGED
            errors.append(info.value.__cause__)
        assert database_digests(alias) == before
    for error in errors[:2]:  # formatted from the stream's values, in process and in a worker
        assert isinstance(error, FormatError), repr(error)
        assert (error.section, error.row, error.column) == (model, 3, column)
        assert words in str(error)
    assert str(errors[0]) == str(errors[1])
    if words != NUL_REFUSED:  # the row path names the value the same way
        assert str(errors[2]) == str(errors[0])
    else:  # where psycopg refused it, for the whole batch
        assert NUL_REFUSED in str(errors[2])


@settings(
    max_examples=200, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.integers(-(2**63), 2**63 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.datetimes(timezones=st.timezones()).filter(lambda d: d.utcoffset().seconds % 60 == 0),
)
def test_the_fast_forms_are_the_decoded_values(pg, micro, number, moment):
    """What goes as the stream wrote it stands for the value the decoder gives (the row path)."""
    text = formatter(
        pg,
        ("duration", models.DurationField()),
        ("decimal", models.DecimalField(max_digits=30, decimal_places=10)),
        ("datetime", models.DateTimeField()),
    )
    duration, written, when = unescape_copy(text([[micro, str(number), moment.isoformat()]]))[0]
    in_range = -86399999913600000000 <= micro <= 86399999999999999999
    assert in_range  # 64-bit integers (what the stream holds) are all within timedelta's range
    assert duration == py_text(datetime.timedelta(microseconds=micro))
    assert decimal.Decimal(written).as_tuple() == number.as_tuple()  # same digits, same scale
    utc = datetime.timezone.utc
    assert datetime.datetime.fromisoformat(when).astimezone(utc) == moment.astimezone(utc)


@settings(
    max_examples=200, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.binary(max_size=64), st.text("ABCab01+/=\n -_", max_size=12))
def test_bytes_are_the_decoded_bytes_and_odd_base64_is_the_decoders(pg, data, odd):
    text = formatter(pg, ("bytes", models.BinaryField()))
    assert unescape_copy(text([[base64.b64encode(data).decode()]])) == [["\\x" + data.hex()]]
    try:  # anything else: what the decoder makes of it, or its error
        expected = "\\x" + base64.b64decode(odd, validate=True).hex()
    except ValueError:
        with pytest.raises(CodecError, match="invalid base64"):
            text([[odd]])
    else:
        assert unescape_copy(text([[odd]])) == [[expected]]


# --- CSV from the row lines (pgcsv.py) ----------------------------------------------------------


def read_csv(block: bytes) -> list[list[str | None]]:
    """A reference reader of COPY's CSV format with NULL 'null' (PostgreSQL's rules: a quoted
    value is never NULL; a quote inside one is doubled; it may hold newlines)."""
    text, rows, row, i = block.decode(), [], [], 0
    while i < len(text):
        if text[i] == '"':
            value, i = [], i + 1
            while True:
                end = text.index('"', i)
                value.append(text[i:end])
                if text[end + 1 : end + 2] != '"':
                    i = end + 1
                    break
                value.append('"')
                i = end + 2
            row.append("".join(value))
        else:
            end = re.compile(r"[^,\n]*").match(text, i).end()
            row.append(None if text[i:end] == "null" else text[i:end])
            i = end
        if text[i] == "\n":
            rows.append(row)
            row = []
        else:
            assert text[i] == ","
        i += 1
    return rows


@pytest.fixture(autouse=True)
def _csv_for_every_batch(monkeypatch):
    """CSV for batches of a few rows too (here, batches of 7 and hypothesis's examples)."""
    monkeypatch.setattr(pgcsv, "MIN_LINES", 1)


def both_formatters(alias: str, *columns: tuple[str, models.Field]):
    codecs, fields, decoders = _columns(alias, columns)
    csv = pgcsv.csv_formatter(codecs, fields, decoders)
    assert csv is not None
    return csv, copy_formatter(codecs, fields, decoders, connections[alias])


def same_fields(alias, columns, lines: list[bytes]) -> int:
    """Assert that the CSV block of `lines`, with the text block of the lines it leaves, gives
    PostgreSQL the same fields, row by row, as the text path gives for all of them; return how
    many lines went in CSV."""
    csv, text = both_formatters(alias, *columns)
    block, left = csv(lines)
    expected = unescape_copy(text([json.loads(line) for line in lines]))
    got = read_csv(block.data) if block is not None else []
    assert block is None or len(block) == len(got) == len(lines) - len(left)
    bools = [i for i, (codec, _) in enumerate(columns) if codec == "bool"]
    for row in got:  # PostgreSQL reads true and t alike
        for i in bools:
            row[i] = {"true": "t", "false": "f", None: None}[row[i]]
    taken = iter(got)
    assert [expected[i] if i in left else next(taken) for i in range(len(lines))] == expected
    return len(got)


SCALARS = (
    ("int", models.SmallIntegerField()), ("str", models.TextField()),
    ("bool", models.BooleanField()),
    ("decimal", models.DecimalField(max_digits=30, decimal_places=5)),
    ("datetime", models.DateTimeField()), ("date", models.DateField()),
    ("time", models.TimeField()), ("uuid", models.UUIDField()),
    ("int", models.PositiveBigIntegerField()),
)  # fmt: skip
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)))
ODD_DECIMALS = st.sampled_from(["1E+2", "-0", ".5", "1.", "1,5", "٣", "+1", " 1", "NaN"])
ODD_MOMENTS = st.sampled_from(["2024-03-01T12:30:00Z", "2024-03-01 12:30:00+00:00",
                               "2024-03-01T12:30:00", "2024-02-30T00:00:00+00:00",
                               "2024-03-01T24:00:00+00:00", "2024-03-01T12:30:00+24:00",
                               "2024-03-01T12:30:00.5+00:00"])  # fmt: skip


@settings(
    max_examples=300, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(
            st.none() | st.integers(-40000, 40000) | st.booleans(),
            st.none() | ANY_TEXT,
            st.none() | st.booleans() | st.integers(0, 1),
            st.none() | st.decimals(allow_nan=False, allow_infinity=False).map(str) | ODD_DECIMALS,
            st.none() | st.datetimes(timezones=st.timezones()).map(datetime.datetime.isoformat)
            | ODD_MOMENTS,
            st.none() | st.dates().map(str) | st.sampled_from(["2023-02-29", "0000-01-01"]),
            st.none() | st.times().map(str) | st.sampled_from(["24:00:00", "12:00"]),
            st.none() | st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()),
            st.none() | st.integers(-5, 2**64),
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_csv_gives_postgresql_the_text_paths_fields(pg, rows, ascii_escapes):
    """Whatever a batch holds, the lines CSV takes and those it leaves give PostgreSQL what
    the text path gives it; values the text path refuses are always left to it."""
    if ascii_escapes:  # another writer's JSON: é as \u00e9 (left to the text path)
        lines = [json.dumps(list(row)).replace(" ", "").encode() for row in rows]
    else:
        lines = [json.dumps(list(row), ensure_ascii=False, separators=(",", ":")).encode()
                 for row in rows]  # fmt: skip
    csv, text = both_formatters(pg, *SCALARS)
    while lines:
        try:
            text([json.loads(line) for line in lines])
            break
        except CodecError as exc:  # a bad value: its line is left, and named by the text path
            assert exc.row_offset in csv(lines)[1]
            del lines[exc.row_offset]
    if lines:
        same_fields(pg, SCALARS, lines)


@settings(
    max_examples=300, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.integers(-(2**31), 2**31 - 1), ANY_TEXT), min_size=1, max_size=6))
def test_csv_strings_read_back_exactly(pg, rows):
    columns = (("int", models.IntegerField()), ("str", models.TextField()))
    lines = [orjson.dumps(list(row)) for row in rows]
    if any("\0" in text for _, text in rows):  # refused by the text path, left by CSV
        left = both_formatters(pg, *columns)[0](lines)[1]
        assert all(i in left for i, (_, text) in enumerate(rows) if "\0" in text)
        return
    assert same_fields(pg, columns, lines) == len(lines)  # CSV takes every line the stream has


def test_csv_takes_the_streams_canonical_lines_and_their_escapes(pg):
    values = ["tab\there\nnew line\rcr\\back \\N \\. é 𝄞", '"quoted", null', "null", "",
              "\x01 \x1f \x7f \x08 \x0c", "\\", "\\\\\"", "\n\\.\n", "/", "\x0b"]  # fmt: skip
    lines = [orjson.dumps([n, v, None, "1.50"]) for n, v in enumerate(values)]
    lines.append(b'[99,"a\\/b\\\\u0041\\u001f",true,"-0.5"]')  # \/; \\ before a u; \u001f
    columns = (("int", models.IntegerField()), ("str", models.TextField()),
               ("bool", models.BooleanField(null=True)),
               ("decimal", models.DecimalField(max_digits=5, decimal_places=2)))  # fmt: skip
    assert same_fields(pg, columns, lines) == len(lines)
    block, _ = both_formatters(pg, *columns)[0](lines[-1:])
    assert block.data == b'99,"a/b\\u0041\x1f",true,"-0.5"\n'
    # \u0000 (NUL), other \u escapes and invalid UTF-8 are left to the text path
    for line in (b'[1,"\\u0000",null,null]', b'[1,"\\u00e9",null,null]', b'[1,"\xff",null,null]'):
        assert both_formatters(pg, *columns)[0]([line]) == (None, [0])


def test_csv_leaves_a_section_with_other_columns(pg):
    backend = backend_for(connections[pg])
    others = (("json", models.JSONField()), ("duration", models.DurationField()),
              ("bytes", models.BinaryField()), ("float", models.FloatField()))  # fmt: skip
    for codec, field in others:
        field.set_attributes_from_name("c")
        assert pgcsv.csv_formatter([codec], [field], [decoder(codec, field, backend)]) is None


RANGES = [(-32768, 32767), (0, 2147483647), (-(2**63), 2**63 - 1), (-1234, 987), (0, 0),
          (-9, 10), (0, 2**64)]  # fmt: skip


@pytest.mark.parametrize(("low", "high"), RANGES)
def test_integer_patterns_are_their_ranges(low, high):
    match = re.compile(pgcsv.integer_pattern(low, high)).fullmatch
    low, high = max(low, 1 - 10**18), min(high, 10**18 - 1)  # longer: left to the text path
    edges = {low, high, low - 1, high + 1, 0, 1, -1, 9, 10, 99, 100, -99, -100, 2**63, -(2**63) - 1}
    for power in range(20):
        edges |= {10**power - 1, 10**power, -(10**power) + 1, -(10**power)}
    for n in sorted(edges) + list(range(-2000, 2000)):
        assert (match(str(n).encode()) is not None) == (low <= n <= high), n
    for text in (b"-0", b"01", b"1e3", b"1.0", b"+1", b" 1", b"--1", b""):
        assert match(text) is None


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"), st.from_regex(
    r"\A[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?\Z"), st.from_regex(r"\A[+-][0-9]{2}:[0-9]{2}\Z"))
def test_the_calendar_patterns_are_the_decoders(date, time, offset):
    """A date, time or datetime of the canonical shape goes in CSV if and only if the text path
    takes it as it is (its shape, then the decoder's parser); a datetime with an offset of 24
    hours or more, or of 60 minutes, is left to the text path too."""

    def parses(parse, v):
        try:
            parse(v)
        except ValueError:
            return False
        return True

    patterns = {k: re.compile(pgcsv._PATTERNS[k]).fullmatch for k in ("date", "time", "datetime")}
    assert bool(patterns["date"](f'"{date}"'.encode())) == bool(
        _DATE(date) and parses(datetime.date.fromisoformat, date))
    assert bool(patterns["time"](f'"{time}"'.encode())) == bool(
        _TIME(time) and parses(datetime.time.fromisoformat, time))
    moment = f"{date}T{time}{offset}"
    text_path = bool(_DATETIME(moment) and parses(datetime.datetime.fromisoformat, moment))
    csv = bool(patterns["datetime"](f'"{moment}"'.encode()))
    assert csv <= text_path
    if int(offset[1:3]) < 24 and int(offset[4:]) < 60:
        assert csv == text_path


def test_csv_leaves_small_batches_to_the_text_path(pg, monkeypatch):
    monkeypatch.setattr(pgcsv, "MIN_LINES", 3)
    csv, _ = both_formatters(pg, ("int", models.IntegerField()))
    assert csv([b"[1]", b"[2]"]) == (None, [0, 1])
    block, left = csv([b"[1]", b"[2]", b"[3]"])
    assert (block.data, left) == (b"1\n2\n3\n", [])


@settings(max_examples=500, deadline=None, database=None, derandomize=True)
@given(st.text("0123456789.-eE+ ٣a", max_size=8) | st.decimals(allow_nan=False).map(str),
       st.text("0123456789abcdefABCDEF-{} ", max_size=40) | st.uuids().map(str))  # fmt: skip
def test_the_text_paths_shape_checks(decimal_text, uuid_text):
    """[-]digits[.digits] in ASCII digits; a lowercase hyphenated UUID (str(UUID))."""
    head, dot, tail = (decimal_text[1:] if decimal_text[:1] == "-" else decimal_text).partition(".")
    plain = head.isdigit() and head.isascii() and (not dot or (tail.isdigit() and tail.isascii()))
    assert bool(pgcopy._plain_decimal(decimal_text)) == plain
    try:
        canonical = str(uuid.UUID(uuid_text)) == uuid_text
    except ValueError:
        canonical = False
    assert bool(pgcopy._UUID(uuid_text)) == canonical
