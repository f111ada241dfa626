"""The import's journal, for databases whose DDL commits (MariaDB/MySQL): what the target was,
schema and rows, kept durably in the target itself, so that an interrupted import can be put
back exactly.

Where DDL is transactional (PostgreSQL, SQLite) the whole import is one transaction and needs no
journal. On MariaDB every migration commits (the target's own pending ones, the plugins', an
upgrade's), so when an import is to run any, the sequencer first writes, in one transaction of
its own and before migrate, a journal into two tables of the target database:

- ``streamdump_journal``: one row (id 1) whose ``detail`` is JSON: when and where the import
  started (time, host, pid), whether it empties the target (``clear``), ``tables_before``
  (every table and view the database had), ``schema`` (each base table's definition, as
  ``SHOW CREATE TABLE`` gives it) and ``copied`` (the tables whose rows the copy holds);
- ``streamdump_journal_chunk``: a copy of every base table that holds rows, django_migrations
  included, by the table's own columns (rawcopy.py: not through the models, which a pending
  migration may not match yet), zstd level 1, cut into chunks of CHUNK_BYTES. Without
  ``--clear`` the target holds only start-up rows (content types, permissions, settings), so
  the copy is small; with it, the copy is the whole target's data.

Found by any later run against the same database, durable with it, and gone with it. The
import's last transaction deletes the row and chunks when it commits, so "journal present"
means exactly "an import began changing this database and did not finish". Recovery (run by
the sequencer after a failure, or by ``loadstream --recover`` after a kill), with foreign-key
checks off: drops the tables and views that were not there before (a migration's, even
half-created); drops and re-creates, from its recorded definition, every table whose
definition is not the recorded one (a column a migration added, renamed or removed, an index
or constraint it made) or that is gone; then in one transaction empties every table that was
there, loads the copy back (migration history included) and deletes the journal; the journal
tables themselves are dropped last. Each part can be repeated: a recovery that is itself
interrupted is run again. The sequencer owns every transaction boundary: the functions here
run inside the transaction it gives them, or (DDL) outside any.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson
from django.db.backends.base.base import BaseDatabaseWrapper

from . import rawcopy
from .conf import Config
from .errors import InterruptedImport, StreamdumpError

log = logging.getLogger("streamdump")

JOURNAL = "streamdump_journal"
CHUNKS = "streamdump_journal_chunk"
# Under MariaDB's default max_allowed_packet (16 MiB) with room to spare; bounds memory too.
CHUNK_BYTES = 1 << 20
VERSION = 2  # 1: a copy of the installed models' tables through the models, no schema
# The next id a table hands out is no part of its definition: rows inserted (and rolled back)
# move it, and InnoDB never moves it back.
_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")
_TYPES = {  # text, binary
    "mysql": ("LONGTEXT", "LONGBLOB"),
    "postgresql": ("TEXT", "BYTEA"),
}
_TABLE_OPTIONS = {"mysql": " ENGINE=InnoDB"}


@dataclass
class Entry:
    """The journal's row: what the target was before the import began."""

    detail: dict[str, Any]

    @property
    def started(self) -> str:
        return str(self.detail.get("started", "?"))

    def describe(self, using: str) -> str:
        """Who started the interrupted import, and when."""
        d = self.detail
        clear = " with --clear" if d.get("clear") else ""
        return (
            f"an import{clear} into database {using!r} began at {self.started} (process "
            f"{d.get('pid', '?')} on {d.get('host', '?')}) and did not finish"
        )


def _qn(connection: BaseDatabaseWrapper, name: str) -> str:
    return str(connection.ops.quote_name(name))


def _tables(connection: BaseDatabaseWrapper) -> list[str]:
    with connection.cursor() as cursor:
        return list(connection.introspection.table_names(cursor))


def pending(connection: BaseDatabaseWrapper) -> Entry | None:
    """The journal of an unfinished import in this database, or None."""
    if JOURNAL not in _tables(connection):
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT detail FROM {_qn(connection, JOURNAL)} WHERE id = 1")
        row = cursor.fetchone()
    return None if row is None else Entry(orjson.loads(row[0]))


def refuse_if_pending(connection: BaseDatabaseWrapper, command: str) -> None:
    """Raise InterruptedImport, naming the recovery command, when a journal is present."""
    entry = pending(connection)
    if entry is None:
        return
    alias = connection.alias
    database = "" if alias == "default" else f" --database {alias}"
    raise InterruptedImport(
        f"{entry.describe(alias)}: the database holds part of it. Unless that import is still "
        f"running, put the database back exactly as it was before it with:\n"
        f"    manage.py loadstream --recover{database}\n"
        f"then run {command} again."
    )


def create_tables(connection: BaseDatabaseWrapper) -> None:
    """Create the journal's two tables (DDL: outside any transaction; they may exist)."""
    text, binary = _TYPES.get(connection.vendor, ("TEXT", "BLOB"))
    options = _TABLE_OPTIONS.get(connection.vendor, "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {_qn(connection, JOURNAL)} "
            f"(id INTEGER PRIMARY KEY, detail {text} NOT NULL){options}"
        )
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {_qn(connection, CHUNKS)} (journal_id INTEGER NOT NULL, "
            f"seq INTEGER NOT NULL, data {binary} NOT NULL, PRIMARY KEY (journal_id, seq))"
            f"{options}"
        )


def drop_tables(connection: BaseDatabaseWrapper) -> None:
    """Drop the journal's tables once it is gone (DDL: outside any transaction)."""
    with connection.cursor() as cursor:
        for table in (CHUNKS, JOURNAL):
            cursor.execute(f"DROP TABLE IF EXISTS {_qn(connection, table)}")


def _table_kinds(connection: BaseDatabaseWrapper) -> dict[str, str]:
    """Every table ("t") and view ("v") of the database, by name."""
    with connection.cursor() as cursor:
        return {t.name: t.type for t in connection.introspection.get_table_list(cursor)}


def definition(connection: BaseDatabaseWrapper, table: str, *, exists: bool = False) -> str | None:
    """The table's definition (SHOW CREATE TABLE), or None when there is no such table
    (`exists`: the caller knows there is)."""
    with connection.cursor() as cursor:
        if not exists:
            cursor.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                           "DATABASE() AND TABLE_NAME = %s AND TABLE_TYPE = 'BASE TABLE'",
                           [table])  # fmt: skip
            if cursor.fetchone() is None:
                return None
        cursor.execute(f"SHOW CREATE TABLE {_qn(connection, table)}")
        return str(cursor.fetchone()[1])


def same_definition(recorded: str, current: str | None) -> bool:
    """Whether a table's definition is the recorded one (its next auto-increment value aside)."""
    return current is not None and (
        _AUTO_INCREMENT.sub("", recorded) == _AUTO_INCREMENT.sub("", current)
    )


def write(connection: BaseDatabaseWrapper, config: Config, *, clear: bool) -> None:
    """Record the target as it is, schema and rows, inside the caller's transaction (the
    journal's tables made already)."""
    kinds = _table_kinds(connection)
    tables = sorted(t for t, kind in kinds.items() if kind == "t" and t not in (JOURNAL, CHUNKS))
    schema = {table: definition(connection, table, exists=True) for table in tables}
    columns = rawcopy.table_columns(connection)
    with tempfile.TemporaryFile(prefix="streamdump-journal-") as copy:
        copied = rawcopy.write_tables(connection, tables, columns, copy, config.batch_size)
        detail = {
            "journal": VERSION,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "clear": clear,
            "tables_before": sorted(t for t in kinds if t not in (JOURNAL, CHUNKS)),
            "schema": schema,
            "copied": copied,
        }
        size = copy.tell()
        copy.seek(0)
        _store(connection, detail, copy)
    log.info(
        "journal written: %d tables' definitions, %d tables' rows (%d bytes) in %s",
        len(schema), len(copied), size, JOURNAL,
    )  # fmt: skip


def _store(connection: BaseDatabaseWrapper, detail: dict[str, Any], copy: BinaryIO) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_qn(connection, CHUNKS)}")
        seq = 0
        while chunk := copy.read(CHUNK_BYTES):
            cursor.execute(
                f"INSERT INTO {_qn(connection, CHUNKS)} (journal_id, seq, data) VALUES (1, %s, %s)",
                [seq, chunk],
            )
            seq += 1
        cursor.execute(
            f"INSERT INTO {_qn(connection, JOURNAL)} (id, detail) VALUES (1, %s)",
            [orjson.dumps(detail).decode()],
        )


def forget(connection: BaseDatabaseWrapper) -> None:
    """Delete the journal, inside the caller's transaction: the import it records is over."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_qn(connection, CHUNKS)}")
        cursor.execute(f"DELETE FROM {_qn(connection, JOURNAL)}")


def check_version(entry: Entry) -> None:
    """Refuse a journal another version of streamdump wrote (it records other things)."""
    if entry.detail.get("journal") != VERSION:
        raise StreamdumpError(
            f"the journal of the interrupted import was written by another version of "
            f"streamdump (journal format {entry.detail.get('journal')}, this one reads "
            f"{VERSION}): recover with the version that wrote it"
        )


def restore_schema(connection: BaseDatabaseWrapper, entry: Entry) -> tuple[list[str], list[str]]:
    """Drop every table and view the interrupted import created, and re-create from its
    recorded definition every table whose definition changed or that is gone (empty: its rows
    come back with the others). DDL: outside any transaction, with foreign-key checks off (a
    table others refer to is dropped and made again). Returns (dropped, re-created)."""
    before = set(entry.detail["tables_before"]) | {JOURNAL, CHUNKS}
    kinds = _table_kinds(connection)
    created = {t: kind for t, kind in kinds.items() if t not in before}
    changed = [
        table
        for table, recorded in entry.detail["schema"].items()
        if kinds.get(table) != "t"
        or not same_definition(recorded, definition(connection, table, exists=True))
    ]
    with connection.constraint_checks_disabled(), connection.cursor() as cursor:
        for table, kind in created.items():
            cursor.execute(f"DROP {'VIEW' if kind == 'v' else 'TABLE'} {_qn(connection, table)}")
        for table in changed:
            cursor.execute(f"DROP TABLE IF EXISTS {_qn(connection, table)}")
            cursor.execute(entry.detail["schema"][table])
    if created:
        log.warning("dropped what the import had created: %s", ", ".join(sorted(created)))
    if changed:
        log.warning("made again as they were (the import had changed them): %s",
                    ", ".join(changed))  # fmt: skip
    return sorted(created), changed


def restore_rows(connection: BaseDatabaseWrapper, entry: Entry, config: Config) -> None:
    """Empty every table the database had and load the copy back (migration history included),
    inside the caller's transaction, foreign-key checks off. The schema is back already."""
    with connection.cursor() as cursor:
        for table in entry.detail["schema"]:
            cursor.execute(f"DELETE FROM {_qn(connection, table)}")
    with tempfile.TemporaryFile(prefix="streamdump-recover-") as copy:
        with connection.cursor() as cursor:
            seq = 0
            while True:  # chunk by chunk: drivers buffer a whole result set
                cursor.execute(
                    f"SELECT data FROM {_qn(connection, CHUNKS)} WHERE journal_id = 1 AND seq = %s",
                    [seq],
                )
                row = cursor.fetchone()
                if row is None:
                    break
                copy.write(bytes(row[0]))
                seq += 1
        copy.seek(0)
        rawcopy.read_tables(connection, copy, config.batch_size, config.batch_bytes)
