"""The portable insert path: one parameterised INSERT run with executemany."""

from __future__ import annotations

from typing import Any


class PortableInserter:
    """INSERT ... VALUES (%s, ...) through the DB-API's executemany; works everywhere."""

    def __init__(self, connection: Any, table: str, columns: list[str]) -> None:
        qn = connection.ops.quote_name
        self.connection = connection
        self.sql = "INSERT INTO {} ({}) VALUES ({})".format(
            qn(table), ", ".join(qn(c) for c in columns), ", ".join(["%s"] * len(columns))
        )

    def insert(self, rows: list[list[Any]]) -> int:
        """Insert the rows in one executemany call."""
        if rows:
            with self.connection.cursor() as cursor:
                cursor.executemany(self.sql, rows)
        return len(rows)
