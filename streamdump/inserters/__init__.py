"""Insert paths per database behind one small interface, chosen by the connection's vendor.

An inserter is built for one table and a list of columns, then takes batches of rows whose
values are already prepared for the driver (see codecs.decoder). The portable path works on
every backend and is the reference the fast paths are tested against.
"""

from __future__ import annotations

from typing import Any, Protocol

from .portable import PortableInserter


class Inserter(Protocol):
    """Inserts prepared rows into one table."""

    def insert(self, rows: list[list[Any]]) -> int:
        """Insert the rows; return how many were written."""


def get_inserter(connection: Any, table: str, columns: list[str], portable: bool = False):
    """The fastest inserter this connection's vendor has, or the portable one."""
    return PortableInserter(connection, table, columns)


__all__ = ["Inserter", "PortableInserter", "get_inserter"]
