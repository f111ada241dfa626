"""SQLite: a snapshot taken by a first read, dates the driver has parsed already, and no NaN.

Inserts use the portable path (executemany is SQLite's fastest), into a table whose non-unique
indexes are dropped for the load and created again after its data, in the same transaction; the
foreign-key check reads each key in key order (sqlite_keys.py), and leaves it to Django's (PRAGMA
foreign_key_check) to name a row whose key points nowhere.
"""

from __future__ import annotations

import contextlib
import datetime
import sqlite3
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError, models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models.expressions import Col
from django.db.models.functions import Cast

from ..errors import CodecError, DanglingReference
from .base import Converter, Fn, own_converter, slow_read
from .naive import NaiveBackend
from .sqlite_keys import may_have_dangling_keys

_DATE_TYPES: dict[str, type[datetime.date] | type[datetime.time]] = {
    "convert_datefield_value": datetime.date,
    "convert_timefield_value": datetime.time,
}


# A section of fewer rows keeps its indexes: below this, dropping and creating them costs about
# what it saves (measured on the example project: docs/PERFORMANCE.md).
REBUILD_INDEXES_MIN_ROWS = 5000


class SQLiteBackend(NaiveBackend):
    """SQLite through the standard library's sqlite3."""

    vendor = "sqlite"
    flush_resets_sequences = True  # UPDATE sqlite_sequence, rolled back with the rest

    def begin_snapshot(self, cursor: Any) -> None:
        # A deferred BEGIN (Django's atomic) takes its read snapshot at the first read: readers
        # see the database as of that read; in rollback-journal mode writers wait until the
        # export ends, in WAL mode they go on.
        cursor.execute("SELECT count(*) FROM sqlite_master")

    def read_column(self, field: models.Field, codec: str) -> tuple[Any, Fn] | None:
        """Datetimes read as their stored text (CAST AS text), parsed once in C.

        A column declared `datetime` is otherwise parsed by the driver's converter (Django's
        parse_datetime, registered with sqlite3 for the declared type), then made aware by
        Django's converter, then written back as text by isoformat: three Python layers per
        value. The text goes through the same steps here (fromisoformat is parse_datetime's
        first step; the rest, for anything else, is Django's converter on the text).
        """
        if codec != "datetime" or not settings.USE_TZ:
            return None
        connection = self.connection
        ops = connection.ops
        column = Col(None, field)  # the alias does not change the converters
        converters = [*ops.get_db_converters(column), *column.get_db_converters(connection)]
        if len(converters) != 1 or not own_converter(
            converters[0], ops, "convert_datetimefield_value"
        ):
            return None
        slow = slow_read(converters[0], datetime.datetime.isoformat, connection)
        tz = connection.timezone
        utc = tz is datetime.timezone.utc
        fromisoformat = datetime.datetime.fromisoformat

        def read_datetime_text(v: Any) -> Any:
            if v.__class__ is str:
                try:
                    value = fromisoformat(v)
                except ValueError:
                    return slow(v)
                if value.tzinfo is not None:
                    return value.isoformat()
                # isoformat of the aware UTC value is the naive one with its offset appended.
                return value.isoformat() + "+00:00" if utc else value.replace(tzinfo=tz).isoformat()
            return slow(v)

        return Cast(field.attname, output_field=models.TextField()), read_datetime_text

    def read_encoder(
        self, encode: Fn | None, converters: list[Converter], expression: Any
    ) -> tuple[Fn | None, bool]:
        if encode is str and len(converters) == 1:
            fused = _fused_decimal(converters[0], expression)
            if fused is not None:
                return fused, False
        return super().read_encoder(encode, converters, expression)

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

    def driver_adapters(self) -> dict[type, Fn]:
        """sqlite3's adapters (Django registers str for Decimal, and its date and datetime
        adapters): the driver looks up the value's exact class there and binds the result."""
        protocol = sqlite3.PrepareProtocol
        adapters = {cls: fn for (cls, proto), fn in sqlite3.adapters.items() if proto is protocol}
        if adapters.keys() & {str, bytes}:
            # The driver adapts a value once: an adapter's str (or a memoryview's bytes) would be
            # adapted a second time if sent ready made.
            return {}
        return adapters

    @contextlib.contextmanager
    def loading_table(self, table: str, rows: int | None) -> Iterator[None]:
        """The table's non-unique indexes (CREATE INDEX, not UNIQUE) dropped for the load and
        created again from their own SQL after it: SQLite builds an index from sorted data
        faster than it inserts into it row by row.

        Only inside a transaction (the import's: a failure rolls the DROP back with the rest)
        and only for a section of REBUILD_INDEXES_MIN_ROWS or more. Unique indexes stay, so
        that a duplicate is refused naming its batch, as without this.
        """
        connection = self.connection
        if (rows is not None and rows < REBUILD_INDEXES_MIN_ROWS) or not connection.in_atomic_block:
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql IS NOT NULL ORDER BY name",
                [table],
            )
            indexes = cursor.fetchall()
            cursor.execute(f"PRAGMA index_list({connection.ops.quote_name(table)})")
            unique = {name for _, name, is_unique, *_ in cursor.fetchall() if is_unique}
            dropped = [(name, sql) for name, sql in indexes if name not in unique]
            for name, _ in dropped:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        yield
        with connection.cursor() as cursor:
            for name, sql in dropped:
                try:
                    cursor.execute(sql)
                except DatabaseError as exc:
                    raise DatabaseError(
                        f"creating index {name} of table {table} again after its rows: {exc}"
                    ) from exc

    def check_foreign_keys(self, tables: list[type[models.Model]]) -> None:
        """Every foreign key of the whole database: enforcement is off for the whole import's
        transaction (sequencer.py), so a row of a table not imported could point at a row the
        import deleted (a start-up row replaced, --clear). Read in key order first
        (sqlite_keys.py); only where that finds a key that may point nowhere, Django's check
        (PRAGMA foreign_key_check) decides and names the row."""
        connection = self.connection
        try:
            with connection.cursor() as cursor:
                if not may_have_dangling_keys(cursor, connection.ops.quote_name):
                    return
            connection.check_constraints()
        except DatabaseError as exc:
            raise DanglingReference(f"the imported rows break a foreign key: {exc}") from exc

    def decode_float(self, decode: Fn) -> Fn:
        def dec_float_sqlite(v: Any) -> Any:
            value = decode(v)
            if value != value:  # SQLite would store NULL: refuse instead of losing the value
                raise CodecError("SQLite cannot store NaN (it would become NULL)")
            return value

        return dec_float_sqlite


def _fused_decimal(converter: Any, expression: Any) -> Fn | None:
    """Django's SQLite decimal converter (15 significant digits, quantized to the field's
    places) and str in one function, from the converter's own constants; None for any other
    converter."""
    code = getattr(converter, "__code__", None)
    if (
        code is None
        or getattr(converter, "__module__", None) != "django.db.backends.sqlite3.operations"
        or not converter.__qualname__.startswith("DatabaseOperations.get_decimalfield_converter.")
    ):
        return None
    cells = converter.__closure__ or ()
    names = dict(zip(code.co_freevars, (cell.cell_contents for cell in cells), strict=True))
    create_decimal = names.get("create_decimal")
    if create_decimal is None or set(names) - {"create_decimal", "quantize_value"}:
        return None
    if "quantize_value" not in names:

        def read_decimal(v: Any) -> Any:
            return str(create_decimal(v))

        return read_decimal
    quantize_value = names["quantize_value"]
    context = expression.output_field.context

    def read_quantized(v: Any) -> Any:
        return str(create_decimal(v).quantize(quantize_value, context=context))

    return read_quantized
