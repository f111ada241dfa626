"""MariaDB/MySQL: a section's rows in one LOAD DATA LOCAL INFILE statement, fed through a FIFO.

Why one statement per section: InnoDB loads an empty table in bulk (MariaDB 10.6+: the indexes
are built by sorting, with one undo record for the table) only for the first statement that
inserts into it, and only with unique_checks and foreign_key_checks off. One statement reading
a named pipe gets that for the whole section while memory stays bounded: the loader formats
each batch and writes it into the pipe while the statement runs in a thread (mysqlclient lets go
of the GIL while it waits for the server), so formatting and the server's work overlap.

Formatting (``format_rows``) gives LOAD DATA's text format (tab between fields, newline after
a row, backslash escapes, ``\\N`` for NULL) the value that mysqlclient's ``literal`` would have
put in an INSERT for each Python type, so both insert paths store the same values. A value of
a type not listed here makes the inserter finish the statement and insert the rest of the
section with multi-row INSERTs (``fallback``).

With LOCAL the server cannot stop reading the file, so it turns errors it would raise into
warnings (a duplicate key skips the row, a bad value is truncated): after the statement, any
warning, skipped row or row count other than the rows sent fails the section with the server's
messages.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, IntegrityError

from .base import Inserter, insert_path
from .fifodir import FifoDir

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

# What the summary and the events call this path, and the multi-row INSERT path.
PATH = "LOAD DATA LOCAL INFILE"

# A pipe buffer of 1 MiB (Linux's default maximum for an unprivileged process) lets a whole
# batch go in without waiting for the server to read; 64 KiB is the kernel's default.
_PIPE_BYTES = 1 << 20
# MariaDB's InnoDB bulk load reports a duplicate key, found when it builds an index, as this.
_BULK_DUPLICATE = 1180  # ER_ERROR_DURING_COMMIT, "Got error 1 "Operation not permitted""

_SPECIAL = re.compile("[\\\\\t\n\0]").search
_BYTES_SPECIAL = re.compile(b"[\\\\\t\n\0]").search


class Unsupported(Exception):
    """A value of a type this module does not format (it goes in with INSERT instead)."""


class _Binary(Exception):
    """A bytes value in the batch: formatted as bytes, field by field."""


def _escape(v: str) -> str:
    # Four replaces: 20 times faster than str.translate with a table of strings.
    return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\0", "\\0")


def _timestamp(v: datetime.datetime) -> str:
    # mysqlclient's format_TIMESTAMP: the time zone, if any, is not written.
    text = f"{v.year:04}-{v.month:02}-{v.day:02} {v.hour:02}:{v.minute:02}:{v.second:02}"
    return f"{text}.{v.microsecond:06}" if v.microsecond else text


def _timedelta(v: datetime.timedelta) -> str:
    # mysqlclient's format_TIMEDELTA: the sign in front, then the absolute value.
    sign = ""
    if v.days < 0:
        sign, v = "-", abs(v)
    minutes, seconds = divmod(v.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    hours += 24 * v.days
    if v.microseconds:
        return f"{sign}{hours:d}:{minutes:02d}:{seconds:02d}.{v.microseconds:06d}"
    return f"{sign}{hours:d}:{minutes:02d}:{seconds:02d}"


def _float(v: float) -> str:
    if v != v or v in (float("inf"), float("-inf")):
        raise Unsupported("a float that is not finite")  # mysqlclient refuses it on INSERT
    return repr(v)  # the shortest text that reads back as the same double


_FORMATS: dict[type, Callable[[Any], str]] = {
    bool: lambda v: "1" if v else "0",
    int: str,
    float: _float,
    Decimal: lambda v: format(v, "f"),
    datetime.datetime: _timestamp,
    datetime.date: datetime.date.isoformat,
    datetime.time: str,  # what mysqlclient quotes for a time: str()
    datetime.timedelta: _timedelta,
    uuid.UUID: str,
}


def field_text(v: Any) -> str:
    """One value as a field of LOAD DATA's text format (escaped); bytes raise _Binary."""
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return _escape(v) if _SPECIAL(v) else str(v)
    cls = v.__class__
    fmt = _FORMATS.get(cls)
    if fmt is not None:
        return fmt(v)
    if cls is bytes or cls is bytearray:
        raise _Binary
    raise Unsupported(f"a value of type {cls.__module__}.{cls.__qualname__}")


def field_bytes(v: Any) -> bytes:
    """One value as a field, in bytes: binary values as they are, escaped."""
    cls = v.__class__
    if cls is bytes or cls is bytearray:
        v = bytes(v)
        if _BYTES_SPECIAL(v):
            v = v.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
            v = v.replace(b"\0", b"\\0")
        return v
    return field_text(v).encode("utf-8")


def format_rows(
    rows: list[list[Any]], text: Callable[[list[list[Any]]], str] | None = None
) -> bytes:
    """The rows in LOAD DATA's text format, UTF-8 (the statement says CHARACTER SET utf8mb4).

    `text` is a formatter from row_formatter() for the rows' columns (the generic one if None).
    """
    try:
        if text is not None:
            return text(rows).encode("utf-8")
        return "".join(["\t".join([field_text(v) for v in row]) + "\n" for row in rows]).encode()
    except _Binary:
        return b"".join([b"\t".join([field_bytes(v) for v in row]) + b"\n" for row in rows])


# Per column, by the class of its values: an expression of the value ($v) that formats values of
# that class; any other value, NULL included, goes to field_text (F), which gives the same text.
_INLINE = {
    int: "$v if $v.__class__ is int else F($v)",
    str: "(E($v) if (BS in $v or TAB in $v or NL in $v or NUL in $v) else $v) "
    "if $v.__class__ is str else F($v)",
    bool: "(ONE if $v else ZERO) if $v.__class__ is bool else F($v)",
    float: "R($v) if $v.__class__ is float and $v - $v == 0.0 else F($v)",  # finite floats
    Decimal: "format($v, FIX) if $v.__class__ is D else F($v)",
}
_NAMES = {
    "F": field_text, "E": _escape, "NULL": "\\N", "BS": "\\", "TAB": "\t", "NL": "\n",
    "NUL": "\0", "ONE": "1", "ZERO": "0", "R": float.__repr__, "FIX": "f", "D": Decimal,
}  # fmt: skip


def row_formatter(rows: list[list[Any]]) -> Callable[[list[list[Any]]], str]:
    """A function formatting rows like these, compiled once per section: each column's
    expression inlined for the class of its first non-NULL value in `rows`, so that most
    values cost no function call."""
    width = len(rows[0])
    classes: list[type | None] = [None] * width
    for row in rows:
        for i, v in enumerate(row):
            if classes[i] is None and v is not None:
                classes[i] = v.__class__
        if None not in classes:
            break
    fields = [
        "{NULL if $v is None else " + _INLINE.get(cls, "F($v)") + "}"  # type: ignore[arg-type]
        for cls in classes
    ]
    fields = [field.replace("$v", f"v{i}") for i, field in enumerate(fields)]
    names = ", ".join(f"v{i}" for i in range(width))
    line = "{TAB}".join(fields) + "{NL}"  # an f-string: TAB and NL are names in the namespace
    source = f"def text(rows):\n    return ''.join([f'{line}' for {names}, in rows])\n"
    namespace: dict[str, Any] = dict(_NAMES)
    exec(source, namespace)  # made of column indexes and the expressions above
    return namespace["text"]


class InfileInserter:
    """The rows of one section in one LOAD DATA LOCAL INFILE, read from a FIFO in a temp dir.

    insert() formats a batch and writes it into the FIFO (starting the statement with the first
    batch); finish() ends the input, waits for the statement and checks what it did; abort()
    ends it after an error elsewhere, without raising its own. Nothing else may use the
    connection between the first insert() and finish() or abort(): the loader guarantees it.
    """

    def __init__(
        self,
        connection: BaseDatabaseWrapper,
        table: str,
        columns: list[str],
        *,
        relax_unique: bool,
        fallback: Callable[[], Inserter],
    ) -> None:
        self.connection, self.table = connection, table
        self.relax_unique = relax_unique
        self.path = PATH
        self._fallback = fallback
        self._columns = columns
        self._inserter: Inserter | None = None  # the fallback, once a value needs it
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._dir: FifoDir | None = None
        self._fifo = ""
        self._text: Callable[[list[list[Any]]], str] | None = None  # row_formatter's
        self._sent = 0
        self._outcome: tuple[int, str, int, list[tuple[Any, ...]]] | None = None
        self._error: BaseException | None = None

    # --- what the loader calls -------------------------------------------------------------

    def insert(self, rows: list[list[Any]]) -> int:
        """Write the rows into the statement's input (or insert them on the fallback path)."""
        if self._inserter is not None:
            return self._inserter.insert(rows)
        if not rows:
            return 0
        if self._text is None:
            self._text = row_formatter(rows)
        try:
            data = format_rows(rows, self._text)
        except Unsupported as exc:
            self.finish()
            self._inserter = self._fallback()
            self.path = f"{PATH}, then {insert_path(self._inserter)} for {exc}"
            return self._inserter.insert(rows)
        if self._thread is None:
            self._start()
        self._write(data)
        self._sent += len(rows)
        return len(rows)

    def finish(self) -> None:
        """End the input and check the statement: every row sent is in, with no warning."""
        if self._thread is None:
            return
        self._end()
        self._check()

    def abort(self) -> None:
        """End the statement after a failure elsewhere; its own outcome is not reported (the
        transaction it ran in is about to be rolled back)."""
        if self._thread is not None:
            self._end()
            self._error = None

    def _end(self) -> None:
        """Close the input, wait for the statement, remove the FIFO."""
        try:
            self._close_input()
            self._wait()
        finally:
            self._cleanup()
            self._thread = None

    # --- the statement -----------------------------------------------------------------------

    def _start(self) -> None:
        connection = self.connection
        connection.ensure_connection()
        qn = connection.ops.quote_name
        self._dir = FifoDir("rows.tsv")  # and directories that killed imports left
        self._fifo = fifo = self._dir.fifo
        raw = connection.connection
        sql = (
            f"LOAD DATA LOCAL INFILE {raw.literal(fifo).decode()} INTO TABLE {qn(self.table)} "
            "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
            f"LINES TERMINATED BY '\\n' ({', '.join(qn(c) for c in self._columns)})"
        )
        self._thread = threading.Thread(
            target=self._run, args=(raw, sql), name=f"streamdump LOAD DATA {self.table}"
        )
        self._thread.daemon = True  # never keeps a dying process alive; joined before any use
        self._thread.start()
        self._fd = self._open_input(fifo)

    def _run(self, raw: Any, sql: str) -> None:
        """In the thread: the statement, then what it reports (SHOW WARNINGS comes first: any
        other statement would clear them)."""
        cursor = raw.cursor()
        try:
            if self.relax_unique:
                # For this statement only; the session's own value comes back after it.
                cursor.execute("SET @streamdump_unique_checks = @@SESSION.unique_checks")
                cursor.execute("SET SESSION unique_checks = 0")
            try:
                cursor.execute(sql)
                affected, info, count = raw.affected_rows(), raw.info() or "", raw.warning_count()
                warnings: list[tuple[Any, ...]] = []
                if count:
                    cursor.execute("SHOW WARNINGS LIMIT 3")
                    warnings = list(cursor.fetchall())
                self._outcome = (affected, info, count, warnings)
            finally:
                if self.relax_unique:
                    cursor.execute("SET SESSION unique_checks = @streamdump_unique_checks")
        except BaseException as exc:  # handed to the loader's thread
            self._error = exc
        finally:
            cursor.close()

    def _open_input(self, fifo: str) -> int:
        """Open the FIFO for writing once the client library opened it for reading (when the
        server asked for the file); if the statement ends first, raise its error."""
        assert self._thread is not None
        pause = 0.0005
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                if not self._thread.is_alive():
                    self._end()
                    self._check()
                    raise DatabaseError(
                        f"LOAD DATA LOCAL INFILE into {self.table} ended without reading its input"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
                continue
            os.set_blocking(fd, True)
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
            return fd

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except BrokenPipeError:  # the statement stopped reading: its error says why
            self._end()
            self._check()
            raise

    def _close_input(self) -> None:
        """End the input. If the statement has not opened the FIFO yet (it waits for the
        server), open it for a moment, or the client library would wait for a writer forever."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # end of the input: the statement finishes
            return
        while self._thread is not None and self._thread.is_alive():
            try:
                os.close(os.open(self._fifo, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
            time.sleep(0.01)

    def _wait(self) -> None:
        assert self._thread is not None
        while self._thread.is_alive():
            try:
                self._thread.join()
            except BaseException:  # interrupted: still wait, nothing may use the connection
                self._thread.join()
                raise

    def _cleanup(self) -> None:
        if self._dir is not None:
            self._dir.remove()
            self._dir = None

    def _check(self) -> None:
        """Raise what the statement did wrong: its error, warnings, skipped or missing rows."""
        connection = self.connection
        error, self._error = self._error, None
        if error is not None:
            if getattr(error, "args", (None,))[0] == _BULK_DUPLICATE and self.relax_unique:
                raise IntegrityError(
                    "two rows have the same value in one of the unique indexes of "
                    f"{self.table}: {self._unique_indexes()} (InnoDB, loading the empty table "
                    f"in bulk, does not say which; it reports: {error.args[1]})"
                ) from error
            with connection.wrap_database_errors:
                raise error
        assert self._outcome is not None
        (affected, info, count, warnings), self._outcome = self._outcome, None
        sent, self._sent = self._sent, 0
        if count or affected != sent:
            messages = list(dict.fromkeys(f"{message} ({level} {code})"
                                          for level, code, message in warnings))  # fmt: skip
            if count > len(warnings):
                messages.append(f"{count} warnings in all")
            rows = "; a row number is the section's" if any("row" in m for m in messages) else ""
            kind = IntegrityError if any(code == 1062 for _, code, _ in warnings) else DatabaseError
            raise kind(
                f"{'; '.join(messages)} (LOAD DATA LOCAL INFILE stored {affected} of the "
                f"{sent} rows sent: {info.strip()}{rows})"
            )

    def _unique_indexes(self) -> str:
        """The table's unique indexes and their columns, for the message (read after the
        failed statement, from the server's own metadata)."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) "
                "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = %s AND NON_UNIQUE = 0 GROUP BY INDEX_NAME ORDER BY INDEX_NAME",
                [self.table],
            )
            return ", ".join(f"{name} ({columns})" for name, columns in cursor.fetchall())
