"""PostgreSQL fast path: ``COPY table (columns) FROM STDIN`` through psycopg 3.

Rows go to the server in COPY's text format, each value written by psycopg's own dumper for its
Python type (the same adaptation a parameterised INSERT gets), so both paths store the same values.
One COPY per batch keeps memory bounded; COPY runs in the caller's transaction, and foreign keys
created by Django are DEFERRABLE INITIALLY DEFERRED, so they are checked at the end as usual.
"""

from __future__ import annotations

from typing import Any


class CopyInserter:
    """COPY ... FROM STDIN with psycopg 3's ``Cursor.copy`` and ``Copy.write_row``."""

    def __init__(self, connection: Any, table: str, columns: list[str]) -> None:
        qn = connection.ops.quote_name
        self.connection = connection
        self.sql = "COPY {} ({}) FROM STDIN".format(qn(table), ", ".join(qn(c) for c in columns))

    @staticmethod
    def supports(connection: Any) -> bool:
        """COPY through the driver needs psycopg 3 (psycopg2's copy API is different)."""
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return False
        from django.db.backends.postgresql.psycopg_any import is_psycopg3

        return is_psycopg3

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
