"""One consistent read snapshot per backend, for the duration of an export.

- PostgreSQL: a REPEATABLE READ, READ ONLY transaction: every query sees the database as of the
  transaction's first query.
- MariaDB/MySQL: ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` at REPEATABLE READ:
  InnoDB takes the read view at once, so every table is read as of that moment.
- SQLite: one read transaction (``BEGIN`` then a read): readers see the database as of that read;
  in rollback-journal mode writers wait until the export ends, in WAL mode they go on.

Inside a transaction the caller already opened, the export reads in that transaction and does not
change it (PostgreSQL and MySQL fix a transaction's isolation when it starts); the caller then
owns the consistency of what it reads.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from django.db import connections, transaction

log = logging.getLogger("streamdump")


def _begin(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Must be the transaction's first statement; psycopg has just sent BEGIN.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT 1")  # fixes the snapshot now, not at the first table
        elif connection.vendor == "mysql":
            # Django's MySQL default is READ COMMITTED; the snapshot needs REPEATABLE READ, set for
            # the next transaction, which START TRANSACTION begins (ending the implicit one, empty).
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        else:
            # A deferred BEGIN (Django's atomic) takes its read snapshot at the first read.
            cursor.execute("SELECT count(*) FROM sqlite_master")


@contextlib.contextmanager
def read_snapshot(using: str) -> Iterator[None]:
    """Run the block inside one read transaction that sees a single point in time."""
    connection = connections[using]
    if connection.in_atomic_block:
        log.debug("exporting inside the caller's transaction on %r", using)
        yield
        return
    with transaction.atomic(using=using):
        _begin(connection)
        yield
