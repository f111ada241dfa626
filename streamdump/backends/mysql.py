"""MariaDB/MySQL: a consistent-snapshot transaction, multi-row INSERT under max_allowed_packet,
and the foreign-key check as one anti-join per foreign key.

Each inserted row is escaped by the driver's own ``literal`` (the escaping mysqlclient's
executemany uses), so both insert paths store the same values; the difference is that statements
are filled up to the server's ``max_allowed_packet`` instead of the driver's 64 KiB, which saves
round trips. Statements go to the raw driver cursor: Django's debug cursor would keep every
statement's text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import DanglingReference, StreamdumpError
from .base import Inserter
from .naive import NaiveBackend

if TYPE_CHECKING:
    from django.db import models
    from django.db.backends.base.base import BaseDatabaseWrapper

# Room for the packet header and what the server adds; a statement stays this far below the limit.
_MARGIN = 1024
# Larger statements do not get faster, and a batch is already in memory once.
_MAX_STATEMENT = 16 * 1024 * 1024


class MultiRowInserter:
    """INSERT ... VALUES with as many rows per statement as max_allowed_packet allows."""

    def __init__(
        self, connection: BaseDatabaseWrapper, table: str, columns: list[str], limit: int
    ) -> None:
        qn = connection.ops.quote_name
        self.connection = connection
        self.table = table
        self.limit = limit
        self.prefix = "INSERT INTO {} ({}) VALUES ".format(
            qn(table), ", ".join(qn(c) for c in columns)
        ).encode("utf-8")

    def insert(self, rows: list[list[Any]]) -> int:
        """Send the rows in as few statements as fit under max_allowed_packet."""
        if not rows:
            return 0
        connection, limit = self.connection, self.limit
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


class MySQLBackend(NaiveBackend):
    """MariaDB or MySQL through mysqlclient (or another driver, on the portable insert path)."""

    vendor = "mysql"
    # Django resets AUTO_INCREMENT with TRUNCATE, which commits: an emptied table keeps numbering
    # after the rows it had (no id is reused; new rows just get higher ids than after a flush).
    flush_resets_sequences = False

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        super().__init__(connection)
        self._statement_limit: int | None = None  # asked once per connection

    def begin_snapshot(self, cursor: Any) -> None:
        # InnoDB takes the read view at START TRANSACTION WITH CONSISTENT SNAPSHOT. Django's
        # default is READ COMMITTED; the snapshot needs REPEATABLE READ, set for the next
        # transaction, which START TRANSACTION begins (ending the implicit one, empty).
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    def inserter(self, table: str, columns: list[str]) -> Inserter:
        # Needs mysqlclient (MySQLdb), whose connection can escape literals.
        if self.connection.Database.__name__ != "MySQLdb":
            return super().inserter(table, columns)
        return MultiRowInserter(self.connection, table, columns, self.statement_limit())

    def statement_limit(self) -> int:
        """The largest statement the server accepts, less a margin (max_allowed_packet)."""
        if self._statement_limit is None:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT @@max_allowed_packet")
                (packet,) = cursor.fetchone()
            self._statement_limit = min(int(packet) - _MARGIN, _MAX_STATEMENT)
        return self._statement_limit

    def after_flush(self) -> None:
        """Django's MySQL flush brackets its DELETEs with SET FOREIGN_KEY_CHECKS = 0 and = 1,
        which would leave the checks on for the rest of the import: rows referring to rows later
        in the stream (trees, cycles, multi-table children) would be refused. Off again."""
        self.connection.disable_constraint_checking()

    def check_foreign_keys(self, tables: list[type[models.Model]]) -> None:
        """Checks were switched off during the import, and Django's own check here introspects
        information_schema table by table (slow on MariaDB): one anti-join per foreign key, from
        the installed models' metadata, does the same work."""
        connection = self.connection
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            for model in tables:
                opts = model._meta
                pk = opts.pk.column
                for field in opts.local_concrete_fields:
                    if not (field.is_relation and getattr(field, "db_constraint", False)):
                        continue
                    target = field.target_field
                    parent = target.model._meta.db_table
                    child, parent_key = qn(field.column), qn(target.column)
                    cursor.execute(
                        f"SELECT c.{qn(pk)}, c.{child} FROM {qn(opts.db_table)} c "
                        f"LEFT JOIN {qn(parent)} p ON c.{child} = p.{parent_key} "
                        f"WHERE c.{child} IS NOT NULL AND p.{parent_key} IS NULL LIMIT 1"
                    )
                    bad = cursor.fetchone()
                    if bad is not None:
                        raise DanglingReference(
                            "the imported rows break a foreign key: the row in table "
                            f"{opts.db_table!r} with primary key {bad[0]!r} has {field.column} = "
                            f"{bad[1]!r}, which is not in {parent}.{target.column}"
                        )
