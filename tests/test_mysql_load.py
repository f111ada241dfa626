"""MariaDB's LOAD DATA LOCAL INFILE path against its multi-row INSERT fallback.

Both must store exactly the same values, every awkward one included (NULL and empty strings,
escapes, tabs and newlines in text, any byte in binary columns, JSON, datetimes with
microseconds, decimals); the fallback must run where the client or the server refuses LOCAL
INFILE; a duplicate key in the data must fail with a message naming the table and the key; and
the summary and events must say which path each section went in by.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import io
import uuid

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connections, transaction

from streamdump.backends import backend_for, get_inserter
from streamdump.backends.mysql_infile import (
    PATH,
    InfileInserter,
    Unsupported,
    field_text,
    format_rows,
    row_formatter,
)
from streamdump.digest import database_digests
from streamdump.errors import ImportFailed
from streamdump.exporter import export
from streamdump.sequencer import load

from .servers import django_alias, migrated_database
from .streams import rewrite

# Its subject does not depend on Django's version (LOAD DATA LOCAL INFILE: the driver, the server
# and its files): `make compat` leaves it out, it runs in the main venv.
pytestmark = [pytest.mark.server, pytest.mark.version_independent]

INSERT = "multi-row INSERT"

# Text that LOAD DATA's format gives a meaning to, or that a careless escaping would change.
AWKWARD_TEXT = [
    "",
    "\\N",
    "N",
    "NULL",
    "null",
    "\\",
    "ends with a backslash \\",
    "\\\\ two",
    "tab\there",
    "\t",
    "new\nline",
    "\n",
    "crlf\r\nand a lone \r",
    "nul \x00 char",
    "\\t is not a tab, \\n not a newline, \\0 not a NUL, \\Z not ^Z",
    "quotes ' \" ` and ^Z \x1a",
    "emoji 😀 and ä, 中文",
    "x" * 70_000,
]
# Bytes that are not UTF-8, a lead byte before a tab, newline or backslash, every byte value.
AWKWARD_BYTES = [
    b"",
    bytes(range(256)),
    b"\xf0\t\xe0\n\xc3\\\xff\x80",
    b"\\N",
    b"NULL",
    b"\x00",
    b"\\",
    b"\t\n\r",
    b"\xe2\x82",  # a cut UTF-8 sequence at the end of the field
]
AWKWARD_JSON = [
    None,  # SQL NULL
    {"text": 'tab\t newline\n backslash\\ quote" nul\u0000 \\N', "none": None},
    [],
    "a JSON string \t with a tab",
    1.5e-300,
    {"nested": {"deep": [1, 2, {"x": "ä😀"}]}},
]
AWKWARD_DECIMALS = ["0", "-0.0000000001", "123456789012345678.1234567891", "1E+5", "-0E-10"]
UTC = datetime.timezone.utc
AWKWARD_TIMES = [
    datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime.datetime(2024, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
    datetime.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


@pytest.fixture(scope="module", autouse=True)
def _database_access(django_db_blocker):
    with django_db_blocker.unblock():
        yield


def add_awkward_rows(alias: str) -> None:
    """Rows holding every awkward value, in tables of every codec."""
    from django.contrib.auth.models import User
    from inventory.models import Attachment, Comment, Part, StockMovement, TrackedStockItem

    user = User.objects.db_manager(alias).create(username="awkward", first_name="")
    part_type = ContentType.objects.db_manager(alias).get_for_model(Part)
    parts = []
    for n, text in enumerate(AWKWARD_TEXT):
        parts.append(
            Part._base_manager.db_manager(alias).create(
                name=text[:100],
                IPN=None if n % 2 else f"ipn {text}"[:100],
                description=text,
                minimum_stock=decimal.Decimal(AWKWARD_DECIMALS[n % len(AWKWARD_DECIMALS)]),
                weight_kg=[None, 5e-324, -0.0, 1.7976931348623157e308, 0.1][n % 5],
                lead_time=[None, datetime.timedelta(days=-1, microseconds=1)][n % 2],
                metadata=AWKWARD_JSON[n % len(AWKWARD_JSON)],
                sort_key=[-(2**63), 2**63 - 1, 0][n % 3],
                revision=[-32768, 32767][n % 2],
                launched=[None, datetime.date(1000, 1, 1), datetime.date(9999, 12, 31)][n % 3],
                server_ip=[None, "::ffff:10.0.0.1", "2001:db8::1"][n % 3],
                trackable=[None, True, False][n % 3],
            )
        )
        Comment._base_manager.db_manager(alias).create(
            content_type=part_type, object_id=parts[-1].pk, author=user, text=text,
            created=AWKWARD_TIMES[n % len(AWKWARD_TIMES)],
        )  # fmt: skip
    for n, data in enumerate(AWKWARD_BYTES):
        item = TrackedStockItem._base_manager.db_manager(alias).create(
            part=parts[n],
            quantity=decimal.Decimal("-12345.67891"),
            serial=AWKWARD_TEXT[n],
            firmware=data if n % 3 else None,
            last_checked_at=datetime.time(23, 59, 59, 999999 if n % 2 else 0),
            notes=AWKWARD_TEXT[-n],
        )
        Attachment._base_manager.db_manager(alias).create(
            content_type=part_type, object_id=parts[n].pk, file=f"f{n}", data=data,
            size=len(data),
        )  # fmt: skip
        for m, payload in enumerate(AWKWARD_JSON):
            StockMovement._base_manager.db_manager(alias).create(
                id=uuid.UUID(int=n * 100 + m), item=item, quantity=decimal.Decimal("0.00001"),
                timestamp=AWKWARD_TIMES[m % len(AWKWARD_TIMES)], kind="move", payload=payload,
            )  # fmt: skip


@pytest.fixture(scope="module")
def awkward_dump():
    """A dump of a MariaDB database holding every awkward value, and its digests."""
    with migrated_database("mysql") as alias:
        add_awkward_rows(alias)
        out = io.BytesIO()
        export(out, using=alias)
        yield out.getvalue(), database_digests(alias)


def _load(dump: bytes, alias: str, **kwargs):
    events: list[dict] = []
    summary = load(io.BytesIO(dump), using=alias, events=events.append, **kwargs)
    return summary, events


@pytest.mark.parametrize("mode", ["on", "off"])
def test_awkward_values_are_exact_on_both_paths(awkward_dump, monkeypatch, mode):
    dump, expected = awkward_dump
    monkeypatch.setenv("STREAMDUMP_MYSQL_LOAD_DATA", mode)
    with migrated_database("mysql") as alias:
        summary, events = _load(dump, alias, batch_size=7)  # many batches per section
        assert database_digests(alias) == expected
    # Every table of the example app by the one path (start-up rows, replaced as they are loaded,
    # and regenerated rows, merged by natural key, go in by their own).
    inserted = {label: path for label, path in summary.paths.items() if "inventory." in label}
    assert set(inserted.values()) == {
        PATH
        if mode == "on"
        else f'{INSERT} ({PATH} not used: STREAMDUMP["MYSQL_LOAD_DATA"] is "off")'
    }, inserted
    assert summary.paths["common.Setting"] == INSERT  # rows replaced batch by batch
    assert summary.paths["auth.Permission"] == "merged by natural key"
    # The events say it too: per section, and counted in the summary.
    sections = {e["model"]: e["path"] for e in events if e["event"] == "section"}
    assert sections["inventory.Comment"] == inserted["inventory.Comment"]
    (done,) = [e for e in events if e["event"] == "summary"]
    assert done["paths"] == summary.tables_by_path()
    assert sum(done["paths"].values()) == len(summary.rows)


# --- the formatter against mysqlclient's literal, one value at a time -----------------------


class Color(enum.IntEnum):
    RED = 1


SCRATCH_COLUMNS = {
    "t": "LONGTEXT",
    "b": "LONGBLOB",
    "i": "BIGINT",
    "f": "DOUBLE",
    "d": "DECIMAL(40,12)",
    "dt": "DATETIME(6)",
    "da": "DATE",
    "ti": "TIME(6)",
    "u": "CHAR(36)",
}
SCRATCH_VALUES = {
    "t": [*AWKWARD_TEXT, None],
    "b": [*AWKWARD_BYTES, bytearray(b"\x00\t\\"), None],
    "i": [0, -1, 2**63 - 1, -(2**63), True, False, None],
    "f": [0.1, -0.0, 5e-324, 1.7976931348623157e308, 1e16, 123.0, None],
    "d": [decimal.Decimal(v) for v in AWKWARD_DECIMALS] + [decimal.Decimal("-0.000000000001")],
    "dt": [
        datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
        datetime.datetime(2024, 1, 1),
        datetime.datetime(1000, 1, 1, 0, 0, 0, 1),
        "2024-05-06 07:08:09.000010",
    ],
    "da": [datetime.date(2024, 2, 29), datetime.date(1000, 1, 1), "9999-12-31"],
    "ti": [
        datetime.time(0, 0),
        datetime.time(23, 59, 59, 999999),
        datetime.timedelta(days=-1, microseconds=5),
        datetime.timedelta(hours=838, minutes=59, seconds=59),
        datetime.timedelta(seconds=-1),
    ],
    "u": [uuid.UUID(int=0), uuid.UUID("12345678-1234-5678-1234-567812345678")],
}


@pytest.fixture
def scratch():
    """A migrated MariaDB database with a scratch table of one column per value type."""
    with migrated_database("mysql") as alias:
        columns = ", ".join(f"`{name}` {kind} NULL" for name, kind in SCRATCH_COLUMNS.items())
        with connections[alias].cursor() as cursor:
            cursor.execute(f"CREATE TABLE scratch (id INT PRIMARY KEY, {columns})")
        yield alias


def _stored(alias: str) -> list[tuple]:
    # TIME read as text: Django's converter refuses hours past 23, which MariaDB stores.
    columns = ", ".join(
        "CAST(ti AS CHAR)" if name == "ti" else f"`{name}`" for name in SCRATCH_COLUMNS
    )
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT id, {columns} FROM scratch ORDER BY id")
        return list(cursor.fetchall())


def _infile(alias: str, table: str, columns: list[str]) -> InfileInserter:
    inserter = get_inserter(connections[alias], table, columns, section_mode="on")
    assert isinstance(inserter, InfileInserter)
    return inserter


@pytest.mark.parametrize("column", list(SCRATCH_COLUMNS))
def test_each_value_is_stored_as_insert_stores_it(scratch, column):
    values = SCRATCH_VALUES[column]
    rows = [[n, v] for n, v in enumerate(values)]
    connection = connections[scratch]
    stored = {}
    for path in ("infile", "insert"):
        with transaction.atomic(using=scratch):
            if path == "infile":
                inserter = _infile(scratch, "scratch", ["id", column])
                assert inserter.insert(rows[:3]) == len(rows[:3])
                assert inserter.insert(rows[3:]) == len(rows[3:])
                inserter.finish()
                assert inserter.path == PATH
            else:
                assert backend_for(connection).inserter("scratch", ["id", column]).insert(rows)
            stored[path] = _stored(scratch)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM scratch")
    assert stored["infile"] == stored["insert"]
    assert len(stored["infile"]) == len(values)


def test_a_type_it_does_not_format_goes_on_by_insert(scratch):
    with transaction.atomic(using=scratch):
        inserter = _infile(scratch, "scratch", ["id", "i", "t"])
        inserter.insert([[1, 1, "a\tb"], [2, None, ""]])
        inserter.insert([[3, Color.RED, "c"]])  # an int subclass: mysqlclient's own literal
        inserter.insert([[4, 4, "d\n"]])
        inserter.finish()
        assert inserter.path.startswith(f"{PATH}, then {INSERT} for a value of type ")
        stored = [(row[0], row[1], row[3]) for row in _stored(scratch)]  # id, t, i
    assert stored == [(1, "a\tb", 1), (2, "", None), (3, "c", 1), (4, "d\n", 4)]


def test_abort_leaves_the_connection_usable(scratch):
    connection = connections[scratch]
    with pytest.raises(RuntimeError), transaction.atomic(using=scratch):
        inserter = _infile(scratch, "scratch", ["id", "t"])
        inserter.insert([[1, "one"]])
        try:
            raise RuntimeError("a failure between batches")
        except RuntimeError:
            inserter.abort()
            raise
    assert _stored(scratch) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_abort_before_the_first_batch_does_nothing(scratch):
    inserter = _infile(scratch, "scratch", ["id", "t"])
    inserter.abort()
    inserter.finish()
    assert _stored(scratch) == []


def test_format_rows_is_load_datas_text_format():
    assert format_rows([[1, None, "", "a\tb\nc\\d\x00"], [True, 1.5, b"\xff\t", None]]) == (
        b"1\t\\N\t\ta\\tb\\nc\\\\d\\0\n1\t1.5\t\xff\\t\t\\N\n"
    )


def test_the_compiled_formatter_gives_the_generic_text_for_any_mix_of_types():
    """A column's values need not share the class of its first value: any other goes the
    generic way, to the same text (bytes included, which make the batch bytes-wise)."""
    values = [
        1, True, None, 2.5, float("-0.0"), decimal.Decimal("-1E-3"), "a\\b", "plain", "", b"",
        b"\xff\n", bytearray(b"\t"), datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
        datetime.date(2024, 1, 2), datetime.time(1, 2), datetime.timedelta(seconds=-1),
        uuid.UUID(int=5),
    ]  # fmt: skip
    for first in values:
        rows = [[first, first], *[[v, w] for v in values for w in values]]
        text_rows = [row for row in rows if not any(isinstance(v, bytes | bytearray) for v in row)]
        assert format_rows(rows, row_formatter(rows)) == format_rows(rows)
        assert format_rows(text_rows, row_formatter(rows)) == format_rows(text_rows)
    with pytest.raises(Unsupported):
        format_rows([[Color.RED]], row_formatter([[1]]))
    with pytest.raises(Unsupported):
        format_rows([[float("nan")]], row_formatter([[1.5]]))


# --- duplicates ------------------------------------------------------------------------------


def _duplicate(dump: bytes, model: str, column_index: int) -> bytes:
    """The dump with the second row of `model` given the first row's value in one column."""
    seen: list = []

    def mutate(section, obj):
        if section == model and isinstance(obj, list):
            if len(seen) == 1:
                obj[column_index] = seen[0]
            seen.append(obj[column_index])
        return obj

    return rewrite(dump, mutate)


@pytest.mark.parametrize("mode", ["on", "off"])
@pytest.mark.parametrize(
    ("model", "column", "key"),
    [
        ("inventory.Tag", 1, "name"),  # a secondary unique index
        ("inventory.Tag", 0, "PRIMARY"),  # the primary key
    ],
)
def test_a_duplicate_in_the_data_fails_naming_table_and_key(
    generated_dump, monkeypatch, mode, model, column, key
):
    dump = _duplicate(generated_dump, model, column)
    monkeypatch.setenv("STREAMDUMP_MYSQL_LOAD_DATA", mode)
    with migrated_database("mysql") as alias:
        before = database_digests(alias)
        with pytest.raises(ImportFailed) as failed:
            load(io.BytesIO(dump), using=alias)
        assert failed.value.target_state == ImportFailed.UNCHANGED
        assert database_digests(alias) == before
    message = str(failed.value)
    assert "section inventory.Tag (table inventory_tag)" in message, message
    assert key in message, message


@pytest.fixture(scope="module")
def generated_dump():
    from inventory.generate import generate

    with migrated_database("mysql") as alias:
        generate(400, seed=5, using=alias)
        out = io.BytesIO()
        export(out, using=alias)
        yield out.getvalue()


# --- where LOAD DATA cannot run --------------------------------------------------------------


@pytest.fixture
def client_refusing():
    """A migrated MariaDB database, and an alias to it whose client refuses LOCAL INFILE."""
    with migrated_database("mysql") as alias:
        name = connections[alias].settings_dict["NAME"]
        with django_alias("mysql", name) as refusing:
            connections[refusing].settings_dict["OPTIONS"] = {
                **connections[refusing].settings_dict["OPTIONS"], "local_infile": 0
            }  # fmt: skip
            yield refusing


def test_a_client_refusing_local_infile_falls_back(generated_dump, client_refusing):
    summary, events = _load(generated_dump, client_refusing)
    reason = (
        f"{INSERT} ({PATH} not used: the client does not allow it (OPTIONS local_infile is off))"
    )
    assert summary.paths["inventory.Part"] == reason
    assert any(e["event"] == "section" and e["path"] == reason for e in events)


def test_mode_on_refuses_an_import_it_cannot_do(generated_dump, client_refusing, monkeypatch):
    monkeypatch.setenv("STREAMDUMP_MYSQL_LOAD_DATA", "on")
    before = database_digests(client_refusing)
    with pytest.raises(ImportFailed) as failed:
        load(io.BytesIO(generated_dump), using=client_refusing)
    assert failed.value.target_state == ImportFailed.UNCHANGED
    assert database_digests(client_refusing) == before
    assert "LOAD DATA LOCAL INFILE cannot run" in str(failed.value)
    assert "the client does not allow it" in str(failed.value)


@pytest.mark.serial
def test_a_server_refusing_local_infile_falls_back(generated_dump):
    with migrated_database("mysql") as alias, connections[alias].cursor() as cursor:
        cursor.execute("SELECT @@GLOBAL.local_infile")
        (was,) = cursor.fetchone()
        cursor.execute("SET GLOBAL local_infile = 0")
        try:
            summary, _ = _load(generated_dump, alias)
        finally:
            cursor.execute(f"SET GLOBAL local_infile = {int(was)}")
    assert summary.paths["inventory.Part"] == (
        f"{INSERT} ({PATH} not used: the server does not allow it (local_infile is OFF))"
    )


@pytest.mark.parametrize(
    "text",
    [
        "12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-56781234567A",
        "{12345678-1234-5678-1234-567812345678}",
        "12345678123456781234567812345678",
    ],
)
def test_native_uuid_shortcut_sends_what_the_field_sends(text):
    """MariaDB's uuid type: the canonical text passes as it is; the driver's literal (what
    both insert paths store) is the one of the field's own value."""
    from django.db import models

    from streamdump.codecs import decoder

    with migrated_database("mysql") as alias:
        connection = connections[alias]
        field = models.UUIDField()
        field.set_attributes_from_name("u")
        backend = backend_for(connection)
        fast = decoder("uuid", field, backend)(text)
        expected = field.get_db_prep_save(
            decoder("uuid", field, backend, prep=False)(text), connection
        )
        connection.ensure_connection()
        assert connection.connection.literal(fast) == connection.connection.literal(expected)
        assert field_text(fast) == field_text(expected)


@pytest.mark.parametrize("mode", ["on", "off"])
def test_a_dangling_foreign_key_is_found_before_commit_naming_the_row(
    generated_dump, monkeypatch, mode
):
    """Foreign-key checks are off while loading: the set-wise check before commit finds the
    key that points nowhere and names a row that holds it."""
    rows: list = []

    def mutate(section, obj):
        if section == "inventory.StockItem" and isinstance(obj, list) and len(rows) < 2:
            rows.append(obj[0])
            obj[1] = 10**9  # part_id
        return obj

    monkeypatch.setenv("STREAMDUMP_MYSQL_LOAD_DATA", mode)
    with migrated_database("mysql") as alias:
        before = database_digests(alias)
        with pytest.raises(ImportFailed) as failed:
            load(io.BytesIO(rewrite(generated_dump, mutate)), using=alias)
        assert failed.value.target_state == ImportFailed.UNCHANGED
        assert database_digests(alias) == before
    message = str(failed.value)
    assert (
        "the imported rows break a foreign key: the row in table 'inventory_stockitem' " in message
    )
    assert any(f"with primary key {pk} has part_id = 1000000000, which is not in inventory_part.id"
               in message for pk in rows), message  # fmt: skip


# --- what a killed import leaves ---------------------------------------------------------------


def _fifo_dirs(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("streamdump-infile-"))


def test_a_later_import_removes_the_fifo_directory_a_killed_one_left(generated_dump, tmp_path):
    """SIGKILL during a LOAD DATA leaves its FIFO's temporary directory; the next import's first
    LOAD DATA removes it (its process is gone), and leaves a live process's alone."""
    import fcntl
    import os
    import signal
    import subprocess
    import sys
    import time

    from .helpers import MANAGE, example_env

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    dump = tmp_path / "dump.ndjson.zst"
    dump.write_bytes(generated_dump)

    def env_for(alias: str) -> dict[str, str]:
        env = example_env("mysql", connections[alias].settings_dict["NAME"])
        env["TMPDIR"] = str(tmp)
        return env

    left: list[str] = []
    for _ in range(5):  # until a kill lands during a LOAD DATA
        with migrated_database("mysql") as alias:
            process = subprocess.Popen(
                [sys.executable, str(MANAGE), "loadstream", str(dump), "--no-progress"],
                env=env_for(alias), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            while process.poll() is None and not _fifo_dirs(tmp):
                time.sleep(0.001)
            process.send_signal(signal.SIGKILL)
            process.wait()  # reaped: its pid is no longer alive
            left = _fifo_dirs(tmp)
            if left:
                break
    assert left, "no kill landed during a LOAD DATA"
    # A live process's directory (this one's, locked as an import holds it) stays.
    live = tmp / f"streamdump-infile-{os.getpid()}-live"
    live.mkdir()
    with open(live / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with migrated_database("mysql") as alias:
            finished = subprocess.run(
                [sys.executable, str(MANAGE), "loadstream", str(dump), "--no-progress"],
                env=env_for(alias), capture_output=True,
            )  # fmt: skip
        assert finished.returncode == 0, finished.stderr.decode()
        assert "LOAD DATA LOCAL INFILE" in finished.stderr.decode()
        assert _fifo_dirs(tmp) == [live.name]
