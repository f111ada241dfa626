"""Insert paths per database behind one small interface, chosen by the connection's vendor.

An inserter is built for one table and a list of columns, then takes batches of rows whose
values are already prepared for the driver (see codecs.decoder). Fast paths:

- PostgreSQL: ``COPY ... FROM STDIN`` through psycopg 3 (postgresql.py);
- MariaDB/MySQL: multi-row INSERT statements sized under ``max_allowed_packet`` (mysql.py);
- SQLite: executemany, which is the portable path.

The portable path (portable.py) works on every backend and is the reference the fast paths are
tested against; ask for it with ``portable=True`` or by setting the environment variable
``STREAMDUMP_PORTABLE_INSERTS=1``. All paths run inside the caller's transaction; foreign-key
checks are the caller's business (deferred or disabled, then checked before commit).
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from .portable import PortableInserter


class Inserter(Protocol):
    """Inserts prepared rows into one table."""

    def insert(self, rows: list[list[Any]]) -> int:
        """Insert the rows; return how many were written."""


def _fast_inserter(vendor: str) -> type | None:
    # Imported on demand: each module needs its driver, and only one driver may be installed.
    if vendor == "postgresql":
        from .postgresql import CopyInserter

        return CopyInserter
    if vendor == "mysql":
        from .mysql import MultiRowInserter

        return MultiRowInserter
    return None


def get_inserter(connection: Any, table: str, columns: list[str], portable: bool = False):
    """The fastest inserter this connection's vendor has, or the portable one."""
    if portable or os.environ.get("STREAMDUMP_PORTABLE_INSERTS", "") not in ("", "0"):
        return PortableInserter(connection, table, columns)
    fast = _fast_inserter(connection.vendor)
    if fast is None or not fast.supports(connection):
        return PortableInserter(connection, table, columns)
    return fast(connection, table, columns)


__all__ = ["Inserter", "PortableInserter", "get_inserter"]
