"""Whole tables as the database holds them, whatever the installed models say: the rows an
import's journal keeps (journal.py), written to a file and inserted back.

The journal is written before migrate, when a table may not match its model yet (a pending
migration is about to add or rename a column) or belong to no installed model at all (one a
migration is about to delete). So rows are read and written by each table's own columns
(information_schema), each value as the driver gives it and tagged where JSON has no type for it:
``["b", base64]`` bytes, ``["d", "1.50"]`` decimals, ``["dt"|"da"|"t", iso]`` datetimes, dates
and times, ``["td", [days, seconds, microseconds]]`` intervals. A row is a JSON array and a
value never one, so a tag cannot be mistaken for a value. TIME columns are read as text (MySQL
allows -838:59:59 to 838:59:59, more than Python's time), generated columns are left out (the
server computes them). The file is zstd-compressed NDJSON (level 1): a line
``{"table": name, "columns": [...]}`` opens a table, its rows follow.

MariaDB/MySQL only (information_schema, DATABASE()): the only databases that journal. Reading
streams through the driver's unbuffered cursor, inserting goes in batches: memory stays bounded
by the batch size whatever the tables hold.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, BinaryIO

import orjson
import zstandard
from django.db.backends.base.base import BaseDatabaseWrapper

Columns = list[tuple[str, str]]  # (name, information_schema DATA_TYPE)


def table_columns(connection: BaseDatabaseWrapper) -> dict[str, Columns]:
    """The columns rows are copied by, per base table of the database (generated ones left out)."""
    found: dict[str, Columns] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE FROM information_schema.COLUMNS c "
            "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA "
            "AND t.TABLE_NAME = c.TABLE_NAME "
            "WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' "
            "AND c.EXTRA NOT LIKE '%%GENERATED%%' ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION"
        )
        for table, column, data_type in cursor.fetchall():
            found.setdefault(table, []).append((column, str(data_type).lower()))
    return found


def _tag(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["b", base64.b64encode(bytes(value)).decode()]
    if isinstance(value, Decimal):
        return ["d", str(value)]
    if isinstance(value, datetime.datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, datetime.date):
        return ["da", value.isoformat()]
    if isinstance(value, datetime.time):
        return ["t", value.isoformat()]
    if isinstance(value, datetime.timedelta):
        return ["td", [value.days, value.seconds, value.microseconds]]
    raise TypeError(f"cannot keep a value of type {type(value).__name__} in the journal")


_UNTAG: dict[str, Callable[[Any], Any]] = {
    "b": base64.b64decode,
    "d": Decimal,
    "dt": datetime.datetime.fromisoformat,
    "da": datetime.date.fromisoformat,
    "t": datetime.time.fromisoformat,
    "td": lambda v: datetime.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
}


def _untag(row: list[Any]) -> list[Any]:
    return [_UNTAG[v[0]](v[1]) if type(v) is list else v for v in row]


@contextlib.contextmanager
def _unbuffered(connection: BaseDatabaseWrapper) -> Iterator[Any]:
    """A cursor that streams a result (mysqlclient's SSCursor); others buffer it."""
    connection.ensure_connection()
    with connection.wrap_database_errors:
        database = connection.Database
        if database.__name__ == "MySQLdb":
            cursor = connection.connection.cursor(database.cursors.SSCursor)
        else:
            cursor = connection.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()


def _select(connection: BaseDatabaseWrapper, table: str, columns: Columns) -> str:
    qn = connection.ops.quote_name
    listed = ", ".join(
        f"CAST({qn(name)} AS CHAR)" if data_type == "time" else qn(name)
        for name, data_type in columns
    )
    return f"SELECT {listed} FROM {qn(table)}"


def has_rows(connection: BaseDatabaseWrapper, table: str) -> bool:
    """Whether the table holds any row."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")
        return cursor.fetchone() is not None


def write_tables(
    connection: BaseDatabaseWrapper,
    tables: Iterable[str],
    columns: dict[str, Columns],
    out: BinaryIO,
    batch_size: int,
) -> list[str]:
    """Write the rows of the tables that hold any into `out`; return those tables."""
    copied = []
    compressor = zstandard.ZstdCompressor(level=1, write_checksum=True)
    with compressor.stream_writer(out, closefd=False) as writer:
        for table in tables:
            if not has_rows(connection, table):
                continue
            names = [name for name, _ in columns[table]]
            writer.write(orjson.dumps({"table": table, "columns": names}) + b"\n")
            with _unbuffered(connection) as cursor:
                with connection.wrap_database_errors:
                    cursor.execute(_select(connection, table, columns[table]))
                    while rows := cursor.fetchmany(batch_size):
                        for row in rows:
                            writer.write(
                                orjson.dumps(
                                    row,
                                    default=_tag,
                                    option=orjson.OPT_PASSTHROUGH_DATETIME,
                                )
                                + b"\n"
                            )
            copied.append(table)
    return copied


def read_tables(
    connection: BaseDatabaseWrapper, copy: BinaryIO, batch_size: int, batch_bytes: int
) -> list[str]:
    """Insert the copy's rows back into their tables (which the caller emptied or made);
    return the tables loaded."""
    qn = connection.ops.quote_name
    decompressor = zstandard.ZstdDecompressor()
    lines = io.BufferedReader(decompressor.stream_reader(copy, read_across_frames=True))
    loaded: list[str] = []
    sql = ""
    rows: list[list[Any]] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(sql, rows)
        rows.clear()
        size = 0

    for line in lines:
        value = orjson.loads(line)
        if isinstance(value, dict):
            flush()
            table, names = value["table"], value["columns"]
            sql = "INSERT INTO {} ({}) VALUES ({})".format(
                qn(table), ", ".join(qn(n) for n in names), ", ".join(["%s"] * len(names))
            )
            loaded.append(table)
            continue
        rows.append(_untag(value))
        size += len(line)
        if len(rows) >= batch_size or size >= batch_bytes:
            flush()
    flush()
    return loaded
