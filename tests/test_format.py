"""docs/FORMAT.md as tests, one per rule, without a database.

Streams are written with StreamWriter (the exporter's writer) or line by line, and read back with
StreamReader (the importer's reader); each refusal changes one thing in a good stream and
checks that the reader names it.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import subprocess
import uuid
from decimal import Decimal
from typing import Any

import orjson
import pytest
import zstandard
from django.db import connections, models

from streamdump.backends import backend_for
from streamdump.codecs import decoder, encoder
from streamdump.errors import FormatError, TruncatedStream
from streamdump.format import DIGEST_NAME, FORMAT_NAME, FORMAT_VERSION
from streamdump.phases import PhasedSections
from streamdump.reader import StreamReader
from streamdump.tempstream import TempStream
from streamdump.writer import StreamWriter

COLUMNS = [["id", "int"], ["name", "str"]]


def describe(model: str, phase: str = "remainder", columns: list[list[str]] = COLUMNS) -> dict:
    return {"model": model, "table": model.replace(".", "_").lower(), "phase": phase,
            "columns": columns}  # fmt: skip


def written(*sections: tuple[dict, list[list[Any]]], header: dict | None = None) -> bytes:
    """A good stream of these (description, rows) sections, as the exporter writes it."""
    out = io.BytesIO()
    with StreamWriter(out) as writer:
        tables = [{**d, "rows": len(rows)} for d, rows in sections]
        writer.header({"created": "2026-11-25T17:35:25+00:00", **(header or {}), "tables": tables})
        for description, rows in sections:
            writer.section(description)
            writer.rows(rows)
            writer.end()
        writer.trailer()
    return out.getvalue()


def good() -> bytes:
    return written(
        (describe("app.A"), [[1, "one"], [2, "two"], [3, "three"]]),
        (describe("app.B"), [[1, "b"]]),
    )


def lines_of(data: bytes) -> list[bytes]:
    raw = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()
    return raw.split(b"\n")[:-1]


def compressed(lines: list[bytes]) -> bytes:
    return zstandard.ZstdCompressor().compress(b"".join(line + b"\n" for line in lines))


def edited(data: bytes, index: int, change: Any) -> bytes:
    """The stream with line `index` parsed, changed by change(obj) (returns the new object)."""
    lines = lines_of(data)
    lines[index] = orjson.dumps(change(orjson.loads(lines[index])))
    return compressed(lines)


def read(data: bytes, batch_size: int = 2) -> list[tuple[str, list[list[Any]]]]:
    """Every section's model and rows; raises what the reader refuses."""
    reader = StreamReader(io.BytesIO(data), batch_size)
    return [
        (section.model, [row for _, rows in section.batches() for row in rows])
        for section in reader.sections()
    ]


def refused(data: bytes, match: str, kind: type[FormatError] = FormatError) -> FormatError:
    with pytest.raises(kind, match=match) as info:
        read(data)
    return info.value


# --- container ------------------------------------------------------------------------------


def test_a_stream_is_zstd_ndjson_that_standard_tools_read():
    data = good()
    assert data[:4] == b"\x28\xb5\x2f\xfd"  # a standard zstd frame
    lines = lines_of(data)
    assert all(isinstance(orjson.loads(line), (dict, list)) for line in lines)
    assert read(data)[0] == ("app.A", [[1, "one"], [2, "two"], [3, "three"]])


def test_every_frame_carries_its_content_checksum(tmp_path):
    """So that `zstd -t` verifies a dump, and the reader checks each frame as it ends."""
    data = good()
    assert data[4] & 0b100  # Content_Checksum_flag of the frame header descriptor
    path = tmp_path / "dump.zst"
    path.write_bytes(data)
    assert subprocess.run(["zstd", "-t", "-q", str(path)], check=False).returncode == 0
    damaged = data[:-1] + bytes([data[-1] ^ 1])  # the checksum itself: the data decodes
    path.write_bytes(damaged)
    result = subprocess.run(["zstd", "-t", str(path)], capture_output=True, check=False)
    assert result.returncode != 0 and b"checksum" in result.stderr
    refused(damaged, "the compressed data is damaged: .*checksum")
    spool = TempStream("test")
    spool.add(describe("app.A"), [[[1, "one"]]])
    spool.reader(10, 1000)
    spool.file.seek(0)
    assert spool.file.read(5)[4] & 0b100
    spool.close()


def test_concatenated_zstd_frames_are_one_stream():
    lines = lines_of(good())
    middle = len(lines) // 2
    two_frames = compressed(lines[:middle]) + compressed(lines[middle:])
    assert read(two_frames) == read(good())


def test_uncompressed_ndjson_is_accepted():
    plain = b"".join(line + b"\n" for line in lines_of(good()))
    assert plain[:1] == b"{"
    assert read(plain) == read(good())


FIXTURE = b'[{"model": "app.a", "pk": 1, "fields": {"name": "one"}}]'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the input is empty"),
        (FIXTURE, "Django fixture"),
        (b"\n  " + FIXTURE, "Django fixture"),
        (zstandard.ZstdCompressor().compress(FIXTURE), "Django fixture"),
        (b'{"model": "app.a", "pk": 1, "fields": {}}\n', "Django fixture .JSON lines"),
        (b'{"type": "header", "format": "other"}\n', "the first line is not its header"),
        (b'{"metadata": true, "source": "an app"}\n', "Django fixture .JSON lines"),
        # zip, gzip, bz2 and xz are told by their magic bytes, as fixtures may be compressed so
        (b"PK\x03\x04zipfile", "the zip archive is damaged"),
        (gzip.compress(FIXTURE, mtime=0), "Django fixture"),
        (b"\x1f\x8b\x08garbage", "the gzip data is damaged"),
    ],
)
def test_input_that_is_not_a_stream_is_named(data, message):
    refused(data, message)


def test_a_zstd_frame_that_ends_early_is_truncated():
    data = good()
    refused(data[:-3], "ends inside a zstd frame", TruncatedStream)


def test_objects_are_control_lines_and_arrays_rows():
    lines = lines_of(good())
    # A control line where a row or the end line must be: the section line of the next table.
    damaged = compressed([lines[0], lines[1], lines[2], lines[6], *lines[3:]])
    refused(damaged, "unexpected 'section' line inside a section")


# --- header ---------------------------------------------------------------------------------


def test_the_header_comes_first_and_names_the_format():
    header = orjson.loads(lines_of(good())[0])
    assert (header["type"], header["format"], header["version"]) == ("header", FORMAT_NAME, 1)
    refused(edited(good(), 0, lambda h: {**h, "format": "other"}), "not a streamdump stream")
    headless = compressed(lines_of(good())[1:])
    refused(headless, "the first line is not its header")


def test_a_newer_version_is_refused_naming_both_versions():
    newer = edited(good(), 0, lambda h: {**h, "version": FORMAT_VERSION + 1})
    refused(newer, rf"format version {FORMAT_VERSION + 1}, newer .*\(version {FORMAT_VERSION}\)")


@pytest.mark.parametrize("version", [0, "1", None])
def test_an_invalid_version_is_refused(version):
    refused(edited(good(), 0, lambda h: {**h, "version": version}), "invalid format version")


def test_the_header_plans_every_table_with_columns_and_rows():
    header = StreamReader(io.BytesIO(good())).header
    assert [(t["model"], t["columns"], t["rows"]) for t in header["tables"]] == [
        ("app.A", COLUMNS, 3),
        ("app.B", COLUMNS, 1),
    ]


def test_a_section_not_listed_in_the_header_is_refused():
    only_a = edited(good(), 0, lambda h: {**h, "tables": h["tables"][:1]})
    refused(only_a, "section app.B is not listed in the header")


def test_a_section_that_differs_from_the_headers_table_is_refused():
    def other_columns(header: dict) -> dict:
        header["tables"][1]["columns"] = [["id", "int"], ["title", "str"]]
        return header

    refused(edited(good(), 0, other_columns), "section app.B differs from the header's table")
    swapped = edited(good(), 0, lambda h: {**h, "tables": h["tables"][::-1]})
    refused(swapped, "section app.A differs from the header's table app.B")


def test_the_headers_row_count_must_match_the_section():
    def five_rows(header: dict) -> dict:
        header["tables"][0]["rows"] = 5
        return header

    error = refused(edited(good(), 0, five_rows), "the header announced 5 rows")
    assert error.section == "app.A"


def test_a_header_listing_more_tables_than_the_stream_holds_is_refused():
    def extra(header: dict) -> dict:
        header["tables"].append({**describe("app.C"), "rows": 0})
        return header

    refused(edited(good(), 0, extra), "the header lists 3 tables, the stream holds 2")


# --- sections -------------------------------------------------------------------------------


def test_a_section_line_names_model_table_phase_and_columns():
    section = next(StreamReader(io.BytesIO(good())).sections())
    assert (section.model, section.table, section.phase) == ("app.A", "app_a", "remainder")
    assert (section.columns, section.codecs) == (["id", "name"], ["int", "str"])
    assert section.describe() == describe("app.A")


def test_a_malformed_section_line_is_refused():
    refused(edited(good(), 1, lambda s: {"type": "section", "model": "app.A"}), "malformed section")


def test_sections_met_before_their_phase_are_spooled_and_replayed():
    data = written(
        (describe("app.Late"), [[1, "r"], [2, "s"]]),
        (describe("app.Auth", "auth"), [[7, "a"]]),
    )
    phases = {"app.Late": "remainder", "app.Auth": "auth"}
    sections = PhasedSections(StreamReader(io.BytesIO(data), 1), phases.__getitem__)
    got = []
    for phase in ("auth", "settings", "plugin_config", "remainder"):
        for section in sections.of_phase(phase):
            got.append((phase, section.model, [r for _, rows in section.batches() for r in rows]))
    sections.read_to_end()
    assert got == [
        ("auth", "app.Auth", [[7, "a"]]),
        ("remainder", "app.Late", [[1, "r"], [2, "s"]]),
    ]


def test_a_section_arriving_after_its_phase_is_refused():
    data = written(
        (describe("app.Auth", "auth"), [[1, "a"]]),
        (describe("app.Setting", "settings"), [[1, "s"]]),
        (describe("app.Part"), [[1, "p"]]),
    )
    phases = {"app.Auth": "auth", "app.Setting": "settings", "app.Part": "remainder"}
    sections = PhasedSections(StreamReader(io.BytesIO(data)), phases.__getitem__)
    assert [s.model for s in sections.of_phase("auth")] == ["app.Auth"]
    with pytest.raises(FormatError, match="section app.Setting of phase settings arrived too late"):
        list(sections.of_phase("remainder"))
    sections.close()


# --- rows -----------------------------------------------------------------------------------


def test_a_row_holds_one_value_per_column_null_for_sql_null():
    data = written((describe("app.A"), [[1, None]]))
    assert read(data) == [("app.A", [[1, None]])]


def test_a_row_with_another_number_of_values_is_refused():
    def short_row(row: list) -> list:
        return row[:1]

    error = refused(edited(good(), 3, short_row), "row has 1 values, the section has 2 columns")
    assert (error.section, error.row, error.line) == ("app.A", 2, 4)


def test_an_invalid_row_names_section_row_and_line():
    lines = lines_of(good())
    lines[4] = b'[3, "three"'
    error = refused(compressed(lines), "invalid JSON row")
    assert (error.section, error.row, error.line) == ("app.A", 3, 5)


# --- end lines ------------------------------------------------------------------------------


def test_the_end_line_carries_the_row_count_and_the_digest_of_the_row_lines():
    lines = lines_of(good())
    end = orjson.loads(lines[5])
    expected = hashlib.blake2b(b"".join(line + b"\n" for line in lines[2:5]), digest_size=16)
    assert end == {"type": "end", "model": "app.A", "rows": 3, "digest": expected.hexdigest()}


def test_an_end_line_with_another_row_count_is_refused():
    refused(edited(good(), 5, lambda e: {**e, "rows": 4}), "holds 3 rows but its end line says 4")


def test_a_changed_row_is_caught_by_the_section_digest():
    lines = lines_of(good())
    lines[3] = b'[2,"TWO"]'
    refused(compressed(lines), "row digest mismatch")


def test_an_end_line_naming_another_model_is_refused():
    refused(edited(good(), 5, lambda e: {**e, "model": "app.B"}), "end line names 'app.B'")


# --- trailer --------------------------------------------------------------------------------


def test_the_trailer_carries_totals_and_the_digest_over_the_sections():
    lines = lines_of(good())
    ends = [orjson.loads(lines[5]), orjson.loads(lines[8])]
    over = hashlib.blake2b(b"".join(e["digest"].encode() + b"\n" for e in ends), digest_size=16)
    trailer = orjson.loads(lines[-1])
    assert trailer == {"type": "trailer", "sections": 2, "rows": 4, "digest": over.hexdigest()}
    reader = StreamReader(io.BytesIO(good()))
    for _ in reader.sections():
        pass
    assert reader.trailer == trailer


def test_a_stream_without_its_trailer_is_truncated():
    refused(compressed(lines_of(good())[:-1]), "without its trailer", TruncatedStream)


def test_trailer_totals_that_do_not_match_are_refused():
    refused(edited(good(), -1, lambda t: {**t, "rows": 5}), "trailer's totals do not match")


def test_a_trailer_digest_that_does_not_match_is_refused():
    refused(edited(good(), -1, lambda t: {**t, "digest": "0" * 32}), "trailer's digest")


def test_nothing_may_follow_the_trailer():
    lines = lines_of(good())
    refused(compressed([*lines, b'{"type":"header"}']), "data follows the trailer")
    refused(compressed([*lines, b"[1]"]), "data follows the trailer")


# --- compatibility --------------------------------------------------------------------------


def test_added_keys_on_control_lines_are_compatible():
    data = good()
    for index in (0, 1, 5, -1):
        data = edited(data, index, lambda obj: {**obj, "added_later": {"any": "value"}})
    assert read(data) == read(good())


def test_the_header_records_the_digest_name():
    assert DIGEST_NAME == "blake2b-128"
    header = StreamReader(io.BytesIO(written(header={"digest": DIGEST_NAME}))).header
    assert header["digest"] == DIGEST_NAME


# --- codecs ---------------------------------------------------------------------------------

UTC = datetime.timezone.utc
# (codec, field, value as Django reads it, JSON value): the examples of the codec table.
CODEC_EXAMPLES = [
    ("int", models.BigIntegerField(), 9223372036854775807, 9223372036854775807),
    ("str", models.CharField(max_length=40), "parts/pump.png", "parts/pump.png"),
    ("bool", models.BooleanField(), True, True),
    ("float", models.FloatField(), 1e-300, 1e-300),
    ("float", models.FloatField(), float("-inf"), "-Infinity"),
    ("decimal", models.DecimalField(max_digits=20, decimal_places=10),
     Decimal("12345.6789000000"), "12345.6789000000"),
    ("datetime", models.DateTimeField(),
     datetime.datetime(2024, 3, 1, 12, 30, 0, 1, tzinfo=UTC), "2024-03-01T12:30:00.000001+00:00"),
    ("date", models.DateField(), datetime.date(2024, 3, 1), "2024-03-01"),
    ("time", models.TimeField(), datetime.time(19, 38, 27, 947797), "19:38:27.947797"),
    ("duration", models.DurationField(),
     datetime.timedelta(microseconds=-86399999999), -86399999999),
    ("uuid", models.UUIDField(), uuid.UUID("0003d9b5-7245-4146-a001-c3008b9bf1d3"),
     "0003d9b5-7245-4146-a001-c3008b9bf1d3"),
    ("bytes", models.BinaryField(), b"\x00\x01\x02\xff", "AAEC/w=="),
]  # fmt: skip


@pytest.mark.parametrize(("codec", "field", "value", "json_value"), CODEC_EXAMPLES)
def test_codec_examples_of_the_spec(codec, field, value, json_value):
    field.set_attributes_from_name("column")
    encode = encoder(codec, field)
    encoded = value if encode is None else encode(value)
    assert encoded == json_value
    (back,) = orjson.loads(orjson.dumps([encoded]))
    assert decoder(codec, field, backend_for(connections["default"]), prep=False)(back) == value


def test_json_documents_are_boxed_so_null_differs_from_sql_null():
    field = models.JSONField(null=True)
    field.set_attributes_from_name("doc")
    assert encoder("json", field)('{"a": [1, 2]}') == [{"a": [1, 2]}]
    assert encoder("json", field)("null") == [None]


def test_natural_keys_travel_as_arrays():
    from django.contrib.contenttypes.models import ContentType

    field = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    field.set_attributes_from_name("content_type")
    assert encoder("natural", field, {12: ["inventory", "part"]})(12) == ["inventory", "part"]
    backend = backend_for(connections["default"])
    assert (
        decoder("natural", field, backend, {("inventory", "part"): 3})(["inventory", "part"]) == 3
    )
