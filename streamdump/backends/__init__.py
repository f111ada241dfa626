"""Everything that differs between databases: one module per vendor, chosen once per connection.

base.py is the portable path: it works on every database Django supports and is the reference
the fast paths are tested against. sqlite.py, postgresql.py and mysql.py (naive.py: what SQLite
and MariaDB share) subclass it and implement only what they speed up or change. A new fast path
for a database goes into its module; a new database gets the portable path until it has one.

``STREAMDUMP_PORTABLE_INSERTS=1`` (or ``STREAMDUMP["PORTABLE_INSERTS"]``) makes every database
insert with the portable executemany path, to compare the two.
"""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING

from .base import Backend, Inserter, PortableInserter, Postponed
from .mysql import MySQLBackend
from .postgresql import PostgreSQLBackend
from .sqlite import SQLiteBackend

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

_BY_VENDOR: dict[str, type[Backend]] = {
    "sqlite": SQLiteBackend,
    "postgresql": PostgreSQLBackend,
    "mysql": MySQLBackend,  # MariaDB too: Django's vendor name for both
}
# One backend per connection object, so what a backend learns (a server limit) is asked once.
_CHOSEN: weakref.WeakKeyDictionary[BaseDatabaseWrapper, Backend] = weakref.WeakKeyDictionary()


def backend_for(connection: BaseDatabaseWrapper) -> Backend:
    """The backend of this connection's vendor (the portable one for any other vendor)."""
    backend = _CHOSEN.get(connection)
    if backend is None:
        backend = _BY_VENDOR.get(connection.vendor, Backend)(connection)
        _CHOSEN[connection] = backend
    return backend


def get_inserter(
    connection: BaseDatabaseWrapper, table: str, columns: list[str], portable: bool = False
) -> Inserter:
    """The fastest insert path of the connection's vendor, or the portable one on request."""
    if portable or os.environ.get("STREAMDUMP_PORTABLE_INSERTS", "") not in ("", "0"):
        return PortableInserter(connection, table, columns)
    return backend_for(connection).inserter(table, columns)


__all__ = ["Backend", "Inserter", "PortableInserter", "Postponed", "backend_for", "get_inserter"]
