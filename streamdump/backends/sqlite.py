"""SQLite: a snapshot taken by a first read, dates the driver has parsed already, and no NaN.

Inserts use the portable path (executemany is SQLite's fastest), and the foreign-key check is
Django's (PRAGMA foreign_key_check).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import DatabaseError, models
from django.db.backends.base.operations import BaseDatabaseOperations

from ..errors import CodecError, DanglingReference
from .base import Fn, own_converter, slow_read
from .naive import NaiveBackend

_DATE_TYPES: dict[str, type[datetime.date] | type[datetime.time]] = {
    "convert_datefield_value": datetime.date,
    "convert_timefield_value": datetime.time,
}


class SQLiteBackend(NaiveBackend):
    """SQLite through the standard library's sqlite3."""

    vendor = "sqlite"
    flush_resets_sequences = True  # UPDATE sqlite_sequence, rolled back with the rest

    def begin_snapshot(self, cursor: Any) -> None:
        # A deferred BEGIN (Django's atomic) takes its read snapshot at the first read: readers
        # see the database as of that read; in rollback-journal mode writers wait until the
        # export ends, in WAL mode they go on.
        cursor.execute("SELECT count(*) FROM sqlite_master")

    def fast_read(self, converter: Any, encode: Fn | None) -> Fn | None:
        fast = super().fast_read(converter, encode)
        if fast is not None:
            return fast
        name = getattr(converter, "__name__", "")
        kind = _DATE_TYPES.get(name)
        ops = self.connection.ops
        if kind is None or encode is not kind.isoformat or not own_converter(converter, ops, name):
            return None
        if getattr(converter, "__self__", None) is not ops:
            return None
        slow = slow_read(converter, encode, self.connection)
        isoformat: Fn = encode

        def read_date(v: Any) -> Any:
            # SQLite's driver already parsed it (Django registers converters for it).
            return isoformat(v) if v.__class__ is kind else slow(v)

        return read_date

    def integer_range(self, field: models.Field) -> tuple[int | None, int | None] | None:
        """The range Django declares for the field's type (the portable one, which PostgreSQL
        enforces): SQLite would store any 64-bit integer in any integer column, and a value
        of 2**63 or more fails in the driver (OverflowError)."""
        return BaseDatabaseOperations.integer_field_ranges.get(field.get_internal_type())

    def check_foreign_keys(self, tables: list[type[models.Model]]) -> None:
        """PRAGMA foreign_key_check over the whole database: enforcement is off for the whole
        import's transaction (sequencer.py), so a row of a table not imported could point at
        a row the import deleted (a start-up row replaced, --clear)."""
        try:
            self.connection.check_constraints()
        except DatabaseError as exc:
            raise DanglingReference(f"the imported rows break a foreign key: {exc}") from exc

    def decode_float(self, decode: Fn) -> Fn:
        def dec_float_sqlite(v: Any) -> Any:
            value = decode(v)
            if value != value:  # SQLite would store NULL: refuse instead of losing the value
                raise CodecError("SQLite cannot store NaN (it would become NULL)")
            return value

        return dec_float_sqlite
