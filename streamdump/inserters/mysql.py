"""MariaDB/MySQL fast path: multi-row ``INSERT ... VALUES (...), (...)`` under max_allowed_packet.

Each row is escaped by the driver's own ``literal`` (the escaping mysqlclient's executemany
uses), so both paths store the same values; the difference is that statements are filled up to
the server's ``max_allowed_packet`` instead of the driver's 64 KiB, which saves round trips.
Statements go to the raw driver cursor: Django's debug cursor would keep every statement's text.
"""

from __future__ import annotations

from typing import Any

from ..errors import StreamdumpError

# Room for the packet header and what the server adds; a statement stays this far below the limit.
_MARGIN = 1024
# Larger statements do not get faster, and a batch is already in memory once.
_MAX_STATEMENT = 16 * 1024 * 1024


def _statement_limit(connection: Any) -> int:
    limit = getattr(connection, "_streamdump_max_statement", None)
    if limit is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@max_allowed_packet")
            (packet,) = cursor.fetchone()
        limit = min(int(packet) - _MARGIN, _MAX_STATEMENT)
        connection._streamdump_max_statement = limit  # one query per connection
    return limit


class MultiRowInserter:
    """INSERT ... VALUES with as many rows per statement as max_allowed_packet allows."""

    def __init__(self, connection: Any, table: str, columns: list[str]) -> None:
        qn = connection.ops.quote_name
        self.connection = connection
        self.table = table
        self.prefix = "INSERT INTO {} ({}) VALUES ".format(
            qn(table), ", ".join(qn(c) for c in columns)
        ).encode("utf-8")

    @staticmethod
    def supports(connection: Any) -> bool:
        """Needs mysqlclient (MySQLdb), whose connection can escape literals."""
        return connection.Database.__name__ == "MySQLdb"

    def insert(self, rows: list[list[Any]]) -> int:
        """Send the rows in as few statements as fit under max_allowed_packet."""
        if not rows:
            return 0
        connection = self.connection
        limit = _statement_limit(connection)
        with connection.wrap_database_errors:
            raw = connection.connection
            literal = raw.literal
            cursor = raw.cursor()
            try:
                statement = bytearray(self.prefix)
                empty = len(statement)
                for row in rows:
                    values = literal(row)  # b"(v1,v2,...)"
                    if len(statement) + len(values) + 1 > limit and len(statement) > empty:
                        cursor.execute(bytes(statement))
                        del statement[empty:]
                    if len(statement) > empty:
                        statement += b","
                    statement += values
                    if len(statement) > limit:
                        raise StreamdumpError(
                            f"a row of table {self.table} takes {len(values)} bytes as SQL, more "
                            f"than max_allowed_packet allows ({limit + _MARGIN}); raise "
                            "max_allowed_packet on the server"
                        )
                cursor.execute(bytes(statement))
            finally:
                cursor.close()
        return len(rows)
