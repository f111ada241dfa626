"""Facts about a database that a stream's header records and an import compares."""

from __future__ import annotations

from django.db import connections
from django.db.migrations.recorder import MigrationRecorder


def database_version(using: str) -> str:
    """The server's version as a dotted string, or the driver's answer for SQLite."""
    connection = connections[using]
    try:
        return ".".join(str(part) for part in connection.get_database_version())
    except Exception:  # older Django or a backend without it: the header just says less
        return "unknown"


def applied_migrations(using: str) -> dict[str, list[str]]:
    """Applied migrations per app, sorted, as recorded in the database."""
    recorder = MigrationRecorder(connections[using])
    if not recorder.has_table():
        return {}
    applied: dict[str, list[str]] = {}
    for app, name in sorted(recorder.applied_migrations()):
        applied.setdefault(app, []).append(name)
    return applied
