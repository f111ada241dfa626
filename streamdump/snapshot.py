"""One consistent read snapshot per backend, for the duration of an export."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections, transaction


@contextlib.contextmanager
def read_snapshot(using: str) -> Iterator[None]:
    """Run the block inside one read transaction that sees a single point in time."""
    connection = connections[using]
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            elif connection.vendor == "mysql":
                # Django's MySQL default is READ COMMITTED; the snapshot needs REPEATABLE READ,
                # set before START TRANSACTION (which replaces the implicit one).
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            elif connection.vendor == "sqlite":
                # A deferred BEGIN takes its read snapshot at the first read.
                cursor.execute("SELECT count(*) FROM sqlite_master")
        yield
