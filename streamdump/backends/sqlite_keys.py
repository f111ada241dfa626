"""SQLite: whether any row's foreign key points nowhere, read in key order.

`PRAGMA foreign_key_check` walks each table in rowid order and looks every key up in its parent:
the parents' pages are read in random order, and once the database outgrows SQLite's page cache
(2 MB by default) each lookup can read a page again (58,000 page reads for the example project
at 100,000 rows, 19 MB: docs/PERFORMANCE.md). Here each single-column key to its parent's
primary key is checked by one query, `key NOT IN (SELECT pk FROM parent)`, which SQLite runs over
the key's index, in key order, looking the parent up by its primary key: each page is read
about once.

The answer errs only one way. A key found this way is found by SQLite too: the values are
compared under BINARY collation (equal bytes are equal under any collation) and the two columns
have the same affinity (so no conversion differs). A key this reports missing may
still have a parent under the parent's own collation, so a positive answer is only a reason to
run SQLite's check, which decides (and names the row). Keys of another shape (several columns,
to a column other than the parent's primary key, between columns of different affinities, to a
table that does not exist) are checked by `PRAGMA foreign_key_check` on their table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Quote = Callable[[str], str]


def _columns(cursor: Any, quote: Quote, table: str) -> dict[str, tuple[str, bool, int]]:
    """Column -> (declared type, NOT NULL, position in the primary key: 0 if not in it)."""
    cursor.execute(f"PRAGMA table_info({quote(table)})")
    return {name: (str(kind).lower(), bool(notnull), pk) for _, name, kind, notnull, _, pk in
            cursor.fetchall()}  # fmt: skip


def _keys(cursor: Any, quote: Quote, table: str) -> list[list[tuple[str, str, str | None]]]:
    """The table's foreign keys, each a list of (parent table, column, parent column)."""
    cursor.execute(f"PRAGMA foreign_key_list({quote(table)})")
    keys: dict[int, list[tuple[str, str, str | None]]] = {}
    for key_id, _, parent, column, parent_column, *_ in cursor.fetchall():
        keys.setdefault(key_id, []).append((parent, column, parent_column))
    return list(keys.values())


def affinity(declared: str) -> str:
    """The column affinity SQLite gives a declared type (its rules, in their order)."""
    kind = declared.upper()
    if "INT" in kind:
        return "INTEGER"
    if "CHAR" in kind or "CLOB" in kind or "TEXT" in kind:
        return "TEXT"
    if "BLOB" in kind or not kind:
        return "BLOB"
    if "REAL" in kind or "FLOA" in kind or "DOUB" in kind:
        return "REAL"
    return "NUMERIC"


class _Schema:
    """table_info of each table, read once."""

    def __init__(self, cursor: Any, quote: Quote) -> None:
        self.cursor, self.quote = cursor, quote
        self._info: dict[str, dict[str, tuple[str, bool, int]]] = {}

    def columns(self, table: str) -> dict[str, tuple[str, bool, int]]:
        if table not in self._info:
            self._info[table] = _columns(self.cursor, self.quote, table)
        return self._info[table]

    def primary_key(self, table: str) -> str | None:
        """The parent's primary key column when it is one column, else None."""
        keys = [name for name, (_, _, pk) in self.columns(table).items() if pk]
        return keys[0] if len(keys) == 1 else None


def _query(schema: _Schema, table: str, key: list[tuple[str, str, str | None]]) -> str | None:
    """The query finding a row whose key has no parent, or None: a key of another shape."""
    if len(key) != 1:
        return None
    parent, column, parent_column = key[0]
    parent_columns = schema.columns(parent)  # empty: no such table
    primary = schema.primary_key(parent) if parent_columns else None
    if primary is None or (parent_column or primary) != primary:
        return None
    declared = schema.columns(table).get(column)
    if declared is None or affinity(declared[0]) != affinity(parent_columns[primary][0]):
        return None
    q = schema.quote
    child, key_column, parent_key = q(table), q(column), q(primary)
    if parent_columns[primary][1] or parent_columns[primary][0] == "integer":
        # Never NULL (INTEGER PRIMARY KEY is the rowid): SQLite looks the values up in the
        # parent's primary key itself, without copying them.
        return (
            f"SELECT 1 FROM {child} WHERE {key_column} IS NOT NULL AND {key_column} "
            f"COLLATE BINARY NOT IN (SELECT {parent_key} FROM {q(parent)}) LIMIT 1"
        )
    return (
        f"SELECT 1 FROM {child} AS c WHERE c.{key_column} IS NOT NULL AND NOT EXISTS (SELECT 1 "
        f"FROM {q(parent)} AS p WHERE p.{parent_key} = c.{key_column} COLLATE BINARY) LIMIT 1"
    )


def may_have_dangling_keys(cursor: Any, quote: Quote) -> bool:
    """False when no row of the database has a foreign key pointing nowhere; True when one may
    (then SQLite's own check decides). `quote` quotes a name (connection.ops.quote_name)."""
    cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    schema = _Schema(cursor, quote)
    for (table,) in cursor.fetchall():
        by_pragma = False
        for key in _keys(cursor, quote, table):
            query = _query(schema, table, key)
            if query is None:
                by_pragma = True
                continue
            cursor.execute(query)
            if cursor.fetchone() is not None:
                return True
        if by_pragma:
            cursor.execute(f"PRAGMA foreign_key_check({quote(table)})")
            if cursor.fetchone() is not None:
                return True
    return False
