"""Fuzzing the reader and the importer (docs/RELIABILITY.md, "Input").

Valid streams are mutated (bit flips, truncations, lines inserted, removed, duplicated or
swapped, values and header fields changed) and read or imported. The only outcomes allowed:

- the reader: exactly the original rows, or a FormatError;
- the importer: an import of exactly the original content, or ImportFailed from a streamdump
  error with the target unchanged. With values changed and digests recomputed (a consistent
  but altered dump), a successful import is allowed too: never another exception.

The fixed-seed slices here run in every `pytest`; the `stress` tests run many more cases
(STREAMDUMP_FUZZ_CASES read, a 25th of them imported; default 5000 and 200).
"""

from __future__ import annotations

import io
import json
import os
import random

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamdump.digest import database_digests
from streamdump.errors import FormatError, ImportFailed, StreamdumpError
from streamdump.exporter import export
from streamdump.inspection import inspect_stream
from streamdump.reader import StreamReader
from streamdump.sequencer import load
from streamdump.writer import StreamWriter

from .servers import migrated_database
from .streams import lines_of, rewrite

# Its subject does not depend on Django's version (damaged bytes, refused by the reader before
# Django sees a row): `make compat` leaves it out, it runs in the main venv.
pytestmark = pytest.mark.version_independent

STRESS_CASES = int(os.environ.get("STREAMDUMP_FUZZ_CASES", "5000"))
READ_OUTCOMES: dict[str, int] = {}

# Values a mutation may put anywhere: each kind of JSON value, at the edges of the codecs.
ODD_VALUES = [None, True, False, 0, -1, 2**31, 2**63, 2**64 - 1, -(2**63), 1.5, 1e308, -0.0,
              "", "x", "NaN", "Infinity", "2024-02-30T00:00:00+00:00", "0001-01-01T00:00:00+05:00",
              "9999-12-31", "25:00:00", "not base64!", "a" * 300, "\x00", "\ud7ff", [], [None],
              [[1]], {}, {"type": "end"}, ["inventory", "part"], ["no", "such"], 10**20,
              "12345678901234567890123456789012345678901234567890.5", "-1E+400"]  # fmt: skip
ODD_LINES = [b"", b" ", b"[", b"[1]", b"[]", b"null", b"{}", b'{"type":"end"}',
             b'{"type":"section","model":"app.A"}', b'{"type":"trailer"}', b"\xff\xfe",
             b'{"type":"header","format":"streamdump","version":1}']  # fmt: skip

FUZZ = settings(
    derandomize=True,  # a fixed seed: the same cases on every run
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def dumps(value) -> bytes:
    """JSON for any value here, integers beyond 64 bits included (orjson refuses those)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def compress(lines: list[bytes]) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(
        b"".join(line + b"\n" for line in lines)
    )


def mutate(data: bytes, draw) -> tuple[bytes, bool]:
    """A mutation of the stream `data`; returns (bytes, whether digests were kept consistent)."""
    kind = draw(st.sampled_from(["flip", "truncate", "drop", "duplicate", "insert", "swap",
                                 "value", "header", "crafted"]))  # fmt: skip
    if kind == "flip":
        flips = draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=3))
        damaged = bytearray(data)
        for bit in flips:
            damaged[bit // 8] ^= 1 << bit % 8
        return bytes(damaged), False
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))], False
    lines = lines_of(data)
    index = draw(st.integers(0, len(lines) - 1))
    if kind == "drop":
        del lines[index]
    elif kind == "duplicate":
        lines.insert(index, lines[index])
    elif kind == "insert":
        lines.insert(index, draw(st.sampled_from(ODD_LINES)))
    elif kind == "swap":
        other = draw(st.integers(0, len(lines) - 1))
        lines[index], lines[other] = lines[other], lines[index]
    elif kind == "header":
        header = orjson.loads(lines[0])
        key = draw(st.sampled_from(sorted(header)))
        header[key] = draw(st.sampled_from(ODD_VALUES))
        lines[0] = dumps(header)
    else:  # a value changed in a row: as damage, or crafted with digests recomputed
        rows = [i for i, line in enumerate(lines) if line[:1] == b"["]
        if not rows:
            return compress(lines), False
        row_index = draw(st.sampled_from(rows))
        row = orjson.loads(lines[row_index])
        column = draw(st.integers(0, len(row) - 1))
        value = draw(st.sampled_from(ODD_VALUES))
        if kind == "crafted" and not (isinstance(value, int) and value > 2**64 - 1):
            target = lines[row_index]

            def change(section, obj):
                if isinstance(obj, list) and orjson.dumps(obj) == target:
                    obj[column] = value
                return obj

            return rewrite(data, change), True
        row[column] = value
        lines[row_index] = dumps(row)
    return compress(lines), False


# --- the reader, without a database ------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),  # the float codec writes those as text
    st.text(max_size=30),
)
# A JSON document's values: integers of any size too (read exactly in "json" sections).
DOCUMENT_SCALARS = SCALARS | st.integers() | st.sampled_from([2**64, -(2**63) - 1, -(10**40)])


@st.composite
def streams(draw):
    """A valid stream of 1-3 sections of 0-6 rows, and its sections' rows."""
    sections = []
    for number in range(draw(st.integers(1, 3))):
        width = draw(st.integers(1, 4))
        codec = draw(st.sampled_from(["str", "json"]))
        columns = [[f"c{i}", codec] for i in range(width)]
        description = {"model": f"app.M{number}", "table": f"app_m{number}",
                       "phase": "remainder", "columns": columns}  # fmt: skip
        values = DOCUMENT_SCALARS if codec == "json" else SCALARS
        rows = draw(st.lists(st.lists(values, min_size=width, max_size=width), max_size=6))
        sections.append((description, rows))
    out = io.BytesIO()
    with StreamWriter(out) as writer:
        writer.header({"tables": [{**d, "rows": len(r)} for d, r in sections]})
        for description, rows in sections:
            writer.section(description)
            writer.rows(rows)
            writer.end()
        writer.trailer()
    return out.getvalue(), [(d["model"], rows) for d, rows in sections]


def read(data: bytes) -> list:
    reader = StreamReader(io.BytesIO(data), batch_size=2)
    return [(s.model, [r for _, rows in s.batches() for r in rows]) for s in reader.sections()]


def check_reader(data: bytes, original: list, consistent: bool) -> str:
    """Read the mutated stream; the outcome, or an AssertionError naming what went wrong."""
    try:
        got = read(data)
    except FormatError:
        outcome = "refused"
    else:
        assert consistent or got == original, "a damaged stream was read as different rows"
        outcome = "read"
    report = inspect_stream(io.BytesIO(data))  # never raises; agrees with the reader
    assert report.intact == (outcome == "read"), report.error
    return outcome


@settings(FUZZ, max_examples=300)
@given(streams(), st.data())
def test_fuzzed_streams_are_read_exactly_or_refused(stream, data):
    raw, original = stream
    mutated, consistent = mutate(raw, data.draw)
    check_reader(mutated, original, consistent)


@pytest.mark.stress
@settings(FUZZ, max_examples=STRESS_CASES)
@given(streams(), st.data())
def test_fuzzed_streams_stress(stream, data):
    raw, original = stream
    mutated, consistent = mutate(raw, data.draw)
    outcome = check_reader(mutated, original, consistent)
    READ_OUTCOMES[outcome] = READ_OUTCOMES.get(outcome, 0) + 1


def test_report_read_outcomes():
    """Runs after the stress test above: how many cases it ran, and their outcomes."""
    if READ_OUTCOMES:
        print("read fuzz outcomes:", READ_OUTCOMES)


# --- the importer, into SQLite -----------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _database_access(django_db_blocker):
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def example_dump():
    """A small example database exported, its digests, and an empty target's digests."""
    from inventory.generate import generate

    with migrated_database("sqlite") as source:
        generate(40, seed=11, using=source)
        out = io.BytesIO()
        export(out, using=source)
        expected = database_digests(source)
    with migrated_database("sqlite") as target:
        empty = database_digests(target)
    return out.getvalue(), expected, empty


def check_import(data: bytes, expected: dict, empty: dict, consistent: bool) -> str:
    """Import the mutated dump into a fresh SQLite database; the outcome."""
    with migrated_database("sqlite") as target:
        try:
            load(io.BytesIO(data), using=target, migrate=False)
        except ImportFailed as exc:
            assert isinstance(exc.__cause__, StreamdumpError), repr(exc.__cause__)
            assert exc.target_state == ImportFailed.UNCHANGED, exc.target_state
            assert database_digests(target) == empty, "a refused import changed the target"
            return "refused"
        if not consistent:
            assert database_digests(target) == expected, "a damaged dump imported differently"
        return "imported"


def import_cases(example_dump, seed: int, cases: int) -> dict[str, int]:
    raw, expected, empty = example_dump
    outcomes: dict[str, int] = {}

    @settings(FUZZ, max_examples=cases)
    @given(st.data())
    def run(data):
        mutated, consistent = mutate(raw, data.draw)
        outcome = check_import(mutated, expected, empty, consistent)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    run()
    return outcomes


def test_fuzzed_dumps_import_exactly_or_leave_the_target_unchanged(example_dump):
    outcomes = import_cases(example_dump, 0, 40)
    assert sum(outcomes.values()) >= 40 and outcomes.get("refused")


@pytest.mark.stress
def test_fuzzed_dumps_stress(example_dump):
    outcomes = import_cases(example_dump, 1, STRESS_CASES // 25)
    print("import fuzz outcomes:", outcomes)


def test_random_bytes_after_a_good_header_are_refused(example_dump):
    raw, expected, empty = example_dump
    lines = lines_of(raw)
    rng = random.Random(7)
    for _ in range(5):
        tail = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        data = compress(lines[:3]) + tail
        assert check_import(data, expected, empty, False) == "refused"
