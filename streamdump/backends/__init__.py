"""Everything that differs between databases: one module per vendor, chosen once per connection.

base.py is the portable path: it works on every database Django supports and is the reference
the fast paths are tested against. sqlite.py, postgresql.py and mysql.py (naive.py: what SQLite
and MariaDB share) subclass it and implement only what they speed up or change. A new fast path
for a database goes into its module; a new database gets the portable path until it has one.

``STREAMDUMP_PORTABLE_INSERTS=1`` (or ``STREAMDUMP["PORTABLE_INSERTS"]``) makes every database
insert with the portable executemany path, to compare the two. ``STREAMDUMP_MYSQL_LOAD_DATA``
(or ``STREAMDUMP["MYSQL_LOAD_DATA"]``: auto, on, off) chooses MariaDB's path (mysql.py).
"""

from __future__ import annotations

import importlib
import os
import weakref
from typing import TYPE_CHECKING

from .base import (
    Backend,
    BlockInserter,
    Inserter,
    PortableInserter,
    Postponed,
    StreamingInserter,
    check_references,
    constrained_keys,
    insert_path,
)  # fmt: skip

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

# A vendor's module is imported when a connection of that vendor first needs it: the PostgreSQL
# one imports psycopg, which a SQLite import or export would load for nothing (about a tenth of
# every process's start-up).
_BY_VENDOR: dict[str, tuple[str, str]] = {
    "sqlite": ("sqlite", "SQLiteBackend"),
    "postgresql": ("postgresql", "PostgreSQLBackend"),
    "mysql": ("mysql", "MySQLBackend"),  # MariaDB too: Django's vendor name for both
}


def backend_class(vendor: str) -> type[Backend]:
    """The Backend subclass of a Django vendor name (the portable Backend for any other)."""
    where = _BY_VENDOR.get(vendor)
    if where is None:
        return Backend
    module, name = where
    backend: type[Backend] = getattr(importlib.import_module(f".{module}", __name__), name)
    return backend


# One backend per connection object, so what a backend learns (a server limit) is asked once.
_CHOSEN: weakref.WeakKeyDictionary[BaseDatabaseWrapper, Backend] = weakref.WeakKeyDictionary()


def backend_for(connection: BaseDatabaseWrapper) -> Backend:
    """The backend of this connection's vendor (the portable one for any other vendor)."""
    backend = _CHOSEN.get(connection)
    if backend is None:
        backend = backend_class(connection.vendor)(connection)
        _CHOSEN[connection] = backend
    return backend


def get_inserter(
    connection: BaseDatabaseWrapper,
    table: str,
    columns: list[str],
    portable: bool = False,
    *,
    section_mode: str | None = None,
) -> Inserter:
    """The fastest insert path of the connection's vendor, or the portable one on request.

    A loader that leaves the connection to the inserter from its first batch to the end of
    its section gives `section_mode` (STREAMDUMP["MYSQL_LOAD_DATA"]): the path may then be a
    StreamingInserter, one statement for the whole section.
    """
    if portable or os.environ.get("STREAMDUMP_PORTABLE_INSERTS", "") not in ("", "0"):
        return PortableInserter(connection, table, columns)
    backend = backend_for(connection)
    if section_mode is not None:
        inserter = backend.section_inserter(table, columns, section_mode)
        if inserter is not None:
            return inserter
    return backend.inserter(table, columns)


__all__ = [
    "Backend", "BlockInserter", "Inserter", "PortableInserter", "Postponed", "StreamingInserter",
    "backend_class", "backend_for", "check_references", "constrained_keys", "get_inserter",
    "insert_path",
]  # fmt: skip
