"""PostgreSQL: a REPEATABLE READ snapshot, psycopg's own timestamptz loader, COPY, and foreign
keys and indexes built after the rows, as pg_restore does.

COPY rows go to the server in COPY's text format, one COPY per batch (memory stays bounded; COPY
runs in the caller's transaction). A batch is one block of COPY text written from the stream's
own values (pgcopy.py: the text the stream holds where PostgreSQL reads it as the value the
decoder would build, else the decoded value written as psycopg's dumper writes it), made in the
decode worker for a large section; in a table whose columns all hold such text, the batch's row
lines go in COPY's CSV format, rewritten as bytes without being parsed (pgcsv.py), and the lines
it leaves (another form of a value, a bad one) follow in a second COPY, in text; a table with a
custom field that converts its values itself
goes row by row through psycopg's write_row, each value written by psycopg's own dumper, as the
portable INSERT path would adapt it.

Foreign keys created by Django are DEFERRABLE INITIALLY DEFERRED: each row COPY writes queues a
check that the server runs row by row before commit (Django's check_constraints fires them), and
each index is updated row by row. For the tables an import fills with many rows, the sequencer
asks for both to be set aside (postpone_schema): inside the import's transaction (PostgreSQL's
DDL is transactional, so a failure rolls the schema back with the rows) the foreign keys between
imported tables and the tables' non-unique indexes are dropped before the rows and re-created
from their own definitions (pg_get_constraintdef, pg_get_indexdef, names included) before
commit: each index built in one sort, each foreign key validated in one query. Primary keys and
unique constraints stay: a duplicate is still refused by the batch that brings it, and the
loaders' lookups (start-up rows replaced by unique key, natural keys) keep their indexes.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import time
from collections.abc import Callable, Iterator
from itertools import groupby
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError

from ..errors import DanglingReference, StreamdumpError
from .base import Backend, Inserter, Postponed
from .pgcopy import CopyBlock, copy_formatter
from .pgcsv import csv_formatter

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


log = logging.getLogger("streamdump")

# The tables named (Django's db_table, unquoted), as regclass; NULL for a table not found.
_REGCLASSES = "ARRAY(SELECT to_regclass(quote_ident(n)) FROM unnest({}::text[]) AS n)"

# A foreign key (con, of table rel) that can be dropped and made again from its definition as it
# was: plain keys of plain tables that this role may re-create; anything unusual (a comment,
# inheritance, partitions, an extension's) is not.
_RECREATABLE = """(con.conislocal AND con.coninhcount = 0 AND con.conparentid = 0
  AND rel.relkind = 'r' AND NOT rel.relispartition AND NOT rel.relhassubclass
  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = rel.oid)
  AND pg_has_role(rel.relowner, 'USAGE')
  AND has_table_privilege(con.confrelid, 'REFERENCES')
  AND NOT EXISTS (SELECT 1 FROM pg_description d
                  WHERE d.classoid = 'pg_constraint'::regclass AND d.objoid = con.oid)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_constraint'::regclass AND d.objid = con.oid
                    AND d.deptype NOT IN ('a', 'n')))"""

# Foreign keys declared on a table filled with many rows and pointing at a table the import
# writes: a key to a table left out (a partial import) stays and is checked row by row, so that
# the table left out is not locked against writers until commit by its re-creation. Only plain
# keys that can be re-created (_RECREATABLE); anything else stays as it is.
_FOREIGN_KEYS = f"""
SELECT con.conrelid::regclass::text, quote_ident(con.conname), pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
WHERE con.contype = 'f'
  AND con.conrelid = ANY({_REGCLASSES.format("%(postponed)s")})
  AND con.confrelid = ANY({_REGCLASSES.format("%(written)s")})
  AND {_RECREATABLE}
ORDER BY con.conrelid::regclass::text, con.conname
"""

# Foreign keys of tables outside `emptied` (a partial import's tables, which --clear empties)
# pointing into them: TRUNCATE refuses a table such a key points at unless CASCADE empties the
# other table too. Whether each may be set aside and re-created (the conditions above).
_KEYS_INTO = f"""
SELECT con.conrelid::regclass::text, quote_ident(con.conname), pg_get_constraintdef(con.oid),
       {_RECREATABLE}
FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
WHERE con.contype = 'f'
  AND con.confrelid = ANY({_REGCLASSES.format("%(emptied)s")})
  AND NOT con.conrelid = ANY(ARRAY(SELECT c FROM unnest({_REGCLASSES.format("%(emptied)s")}) c
                                   WHERE c IS NOT NULL))
ORDER BY con.conrelid::regclass::text, con.conname
"""

# Non-unique indexes of the tables filled with many rows: not a constraint's, nothing depending
# on them, and nothing pg_get_indexdef leaves out (a tablespace, a comment, CLUSTER, replica
# identity, statistics targets, an index being built).
_INDEXES = f"""
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class rel ON rel.oid = i.indrelid
WHERE i.indrelid = ANY({_REGCLASSES.format("%(postponed)s")})
  AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
  AND i.indisvalid AND i.indisready AND i.indislive
  AND NOT i.indisclustered AND NOT i.indisreplident
  AND ic.relkind = 'i' AND ic.reltablespace = 0 AND current_setting('default_tablespace') = ''
  AND rel.relkind = 'r' AND NOT rel.relispartition AND NOT rel.relhassubclass
  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid IN (rel.oid, ic.oid))
  AND pg_has_role(rel.relowner, 'USAGE')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
  AND NOT EXISTS (SELECT 1 FROM pg_description d
                  WHERE d.classoid = 'pg_class'::regclass AND d.objoid = i.indexrelid)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                    AND d.deptype NOT IN ('a', 'n'))
  AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0)
ORDER BY i.indexrelid::regclass::text
"""


class PostponedSchema:
    """Foreign keys and indexes dropped for the rows' load, and re-created by restore()."""

    def __init__(
        self,
        connection: BaseDatabaseWrapper,
        foreign_keys: list[tuple[str, str, str]],
        indexes: list[tuple[str, str]],
    ) -> None:
        self.connection = connection
        self.foreign_keys = foreign_keys  # (table, quoted name, definition)
        self.indexes = indexes  # (name, CREATE INDEX statement)

    def drop(self) -> None:
        """Drop them (in the caller's transaction, which rolls them back on failure)."""
        with self.connection.cursor() as cursor:
            for table, keys in groupby(self.foreign_keys, key=lambda k: k[0]):
                drops = ", ".join(f"DROP CONSTRAINT {name}" for _, name, _ in keys)
                cursor.execute(f"ALTER TABLE {table} {drops}")
            if self.indexes:
                cursor.execute("DROP INDEX " + ", ".join(name for name, _ in self.indexes))

    def restore(self) -> None:
        """Build the indexes, then add the foreign keys, each validated by one query over its
        table; a row whose key points nowhere raises DanglingReference naming the table, the
        constraint and the key (PostgreSQL's own message, as its deferred check gives it)."""
        started = time.monotonic()
        with self.connection.cursor() as cursor:
            for _, create in self.indexes:
                cursor.execute(create)
            for table, keys in groupby(self.foreign_keys, key=lambda k: k[0]):
                adds = ", ".join(f"ADD CONSTRAINT {name} {define}" for _, name, define in keys)
                try:
                    cursor.execute(f"ALTER TABLE {table} {adds}")
                except IntegrityError as exc:
                    message = f"the imported rows break a foreign key: {exc}"
                    raise DanglingReference(message) from exc
        log.info(
            "re-created %d foreign keys and %d indexes in %.2fs",
            len(self.foreign_keys),
            len(self.indexes),
            time.monotonic() - started,
        )


class CopyInserter:
    """COPY ... FROM STDIN with psycopg 3's ``Cursor.copy``: a batch formatted from the stream's
    values or lines (a CopyBlock, pgcopy.py, pgcsv.py) goes in with one ``Copy.write`` per
    block; decoded rows (a section whose columns pgcopy does not format) with
    ``Copy.write_row``."""

    path = "COPY"

    def __init__(self, connection: BaseDatabaseWrapper, table: str, columns: list[str]) -> None:
        qn = connection.ops.quote_name
        self.connection = connection
        self.sql = "COPY {} ({}) FROM STDIN".format(qn(table), ", ".join(qn(c) for c in columns))
        # pgcsv.py's blocks: CSV matches NULL against unquoted values only ("null" stays text).
        self.csv_sql = self.sql + " WITH (FORMAT csv, NULL 'null')"

    def block_encoder(
        self, codecs: list[str], fields: list[Any], decoders: list[Callable[[Any], Any]]
    ) -> Callable[[list[list[Any]]], CopyBlock] | None:
        """A function making a batch of stream rows into one CopyBlock (None: these columns
        are not formatted from the stream: the rows are decoded and sent with write_row)."""
        if os.environ.get("STREAMDUMP_COPY_ROWS", "") not in ("", "0"):  # to compare the two
            return None
        text = copy_formatter(codecs, fields, decoders, self.connection)
        if text is None:
            return None

        def encode(rows: list[list[Any]]) -> CopyBlock:
            return CopyBlock(text(rows), len(rows))

        return encode

    def line_encoder(
        self, codecs: list[str], fields: list[Any], decoders: list[Callable[[Any], Any]]
    ) -> Callable[[list[bytes]], tuple[CopyBlock | None, list[int]]] | None:
        """A function making a batch of the stream's row lines into one CopyBlock in CSV
        without parsing them (pgcsv.py): (the block, the positions of the lines it left to
        block_encoder's function); None where these columns never go so."""
        if os.environ.get("STREAMDUMP_COPY_ROWS", "") not in ("", "0"):
            return None
        if os.environ.get("STREAMDUMP_COPY_CSV", "") == "0":  # to compare with the text path
            return None
        return csv_formatter(codecs, fields, decoders)

    def insert(self, rows: Any) -> int:
        """Send the batch: decoded rows in one COPY, a CopyBlock in one per block."""
        if not rows:
            return 0
        connection = self.connection
        connection.ensure_connection()
        with connection.wrap_database_errors:
            with connection.connection.cursor() as cursor:
                if not isinstance(rows, CopyBlock):
                    with cursor.copy(self.sql) as copy:
                        write_row = copy.write_row
                        for row in rows:
                            write_row(row)
                    return len(rows)
                block: CopyBlock | None = rows
                while block is not None:
                    with cursor.copy(self.csv_sql if block.csv else self.sql) as copy:
                        copy.write(block.data)
                    block = block.then
        return len(rows)


def _psycopg3() -> bool:
    """COPY through the driver needs psycopg 3 (psycopg2's copy API is different)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return bool(is_psycopg3)


class PostgreSQLBackend(Backend):
    """PostgreSQL through psycopg 3 (or psycopg2, on the portable insert path)."""

    vendor = "postgresql"
    flush_resets_sequences = True  # TRUNCATE ... RESTART IDENTITY is transactional

    def begin_snapshot(self, cursor: Any) -> None:
        # A REPEATABLE READ, READ ONLY transaction: every query sees the database as of the
        # transaction's first query. Must be the first statement; psycopg has just sent BEGIN.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT 1")  # fixes the snapshot now, not at the first table

    def prepare_cursor(self, cursor: Any) -> None:
        """In UTC, read timestamptz with psycopg's own (C) loader on this cursor.

        Django registers a Python loader that re-labels each value with the connection's time
        zone; when the session and Django's connection time zone are both UTC, psycopg's loader
        gives the same datetimes (tzinfo=timezone.utc) about ten times faster.
        """
        if self.connection.timezone is not datetime.timezone.utc:
            return
        adapters = getattr(cursor, "adapters", None)  # psycopg 3 only
        if adapters is None or cursor.connection.info.parameter_status("TimeZone") != "UTC":
            return
        import psycopg

        oid = psycopg.postgres.types["timestamptz"].oid
        loader = psycopg.postgres.adapters.get_loader(oid, psycopg.pq.Format.TEXT)
        if loader is not None:
            adapters.register_loader(oid, loader)

    @contextlib.contextmanager
    def immediate_constraints(self) -> Iterator[None]:
        """SET CONSTRAINTS ALL IMMEDIATE fires the deferred checks pending now and checks each
        statement's as it runs, until DEFERRED again."""
        with self.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        yield  # on an error, the transaction rolls back: nothing to set back
        with self.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    def postpone_schema(self, filled: list[str], written: list[str]) -> Postponed | None:
        """Drop the non-unique indexes of the tables `filled`, and their foreign keys to tables
        in `written` (every table the import writes); restore() re-creates them. None when
        there is nothing to set aside."""
        if not filled:
            return None
        names = {"postponed": filled, "written": written}
        with self.connection.cursor() as cursor:
            cursor.execute(_FOREIGN_KEYS, names)
            foreign_keys = [tuple(row) for row in cursor.fetchall()]
            cursor.execute(_INDEXES, names)
            indexes = [tuple(row) for row in cursor.fetchall()]
        if not foreign_keys and not indexes:
            return None
        # Checks queued by earlier statements (a data migration's rows) would forbid the ALTERs.
        self.connection.check_constraints()
        schema = PostponedSchema(self.connection, foreign_keys, indexes)
        schema.drop()
        log.info(
            "set aside %d foreign keys and %d indexes of %d tables until the rows are in",
            len(foreign_keys),
            len(indexes),
            len(filled),
        )
        return schema

    def flush(self, tables: list[str]) -> Postponed | None:
        """TRUNCATE ... RESTART IDENTITY of `tables` in one statement (transactional, sequences
        included). TRUNCATE refuses a table that another table's foreign key points at, unless
        CASCADE empties that table too: such keys (from tables a partial import leaves out) are
        dropped first, in the same transaction, and returned to be re-created (validated) once
        the import's rows are in. A key that cannot be re-created as it was is refused."""
        if not tables:
            return super().flush(tables)
        with self.connection.cursor() as cursor:
            cursor.execute(_KEYS_INTO, {"emptied": tables})
            keys = cursor.fetchall()
        fixed = [f"{table}.{name}" for table, name, _, recreatable in keys if not recreatable]
        if fixed:
            raise StreamdumpError(
                f"-c would empty tables that foreign keys of tables outside the import point "
                f"at, and these keys cannot be set aside and made again as they are: "
                f"{', '.join(fixed)}. Include their tables in the import, or import without -c."
            )
        schema = None
        if keys:
            # Checks queued by earlier statements (a data migration's rows) forbid the ALTERs.
            self.connection.check_constraints()
            schema = PostponedSchema(self.connection, [tuple(k[:3]) for k in keys], [])
            schema.drop()
            log.info(
                "set aside %d foreign keys of tables outside the import into the tables -c "
                "empties, until the rows are in", len(keys),
            )  # fmt: skip
        super().flush(tables)
        return schema

    def inserter(self, table: str, columns: list[str]) -> Inserter:
        if not _psycopg3():
            return super().inserter(table, columns)
        return CopyInserter(self.connection, table, columns)
