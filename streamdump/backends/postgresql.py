"""PostgreSQL: a REPEATABLE READ snapshot, psycopg's own timestamptz loader, and COPY.

COPY rows go to the server in COPY's text format, each value written by psycopg's own dumper for
its Python type (the same adaptation a parameterised INSERT gets), so both paths store the same
values. One COPY per batch keeps memory bounded; COPY runs in the caller's transaction, and
foreign keys created by Django are DEFERRABLE INITIALLY DEFERRED, so they are checked at the
end as usual (by Django's check_constraints, which fires the deferred triggers).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .base import Backend, Inserter

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


class CopyInserter:
    """COPY ... FROM STDIN with psycopg 3's ``Cursor.copy`` and ``Copy.write_row``."""

    path = "COPY"

    def __init__(self, connection: BaseDatabaseWrapper, table: str, columns: list[str]) -> None:
        qn = connection.ops.quote_name
        self.connection = connection
        self.sql = "COPY {} ({}) FROM STDIN".format(qn(table), ", ".join(qn(c) for c in columns))

    def insert(self, rows: list[list[Any]]) -> int:
        """Send the rows in one COPY."""
        if not rows:
            return 0
        connection = self.connection
        connection.ensure_connection()
        with connection.wrap_database_errors:
            with connection.connection.cursor() as cursor:
                with cursor.copy(self.sql) as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
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

    def inserter(self, table: str, columns: list[str]) -> Inserter:
        if not _psycopg3():
            return super().inserter(table, columns)
        return CopyInserter(self.connection, table, columns)
