"""The portable backend: what every database Django supports gets, and the reference that the
vendors' fast paths are tested against.

A vendor module (sqlite.py, postgresql.py, mysql.py) subclasses Backend and overrides only what it
speeds up or changes. The seams, in the order data meets them:

- export: begin_snapshot (one point in time), read_column (a column selected in a form that is
  cheaper to read), prepare_cursor (driver loaders), read_encoder (Django's column converters
  fused with the codec's encoder);
- import: decode_float and integer_range (what the target can store: anything else is refused
  before it is written, naming row and column), prep_shortcut (get_db_prep_save in fewer
  steps for Django's own field types), postpone_schema (what is rebuilt faster after the
  rows are in), inserter (the insert path; a BlockInserter also takes a batch encoded from the
  stream's own values: PostgreSQL's COPY text), check_foreign_keys (before commit).

Every shortcut applies only to Django's own field classes and backend methods (a subclass may
change any step) and falls back to Django's path for anything unusual; tests/test_codecs.py
compares each with Django's path on edge inputs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sized
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from django.db import DatabaseError, models

from ..errors import DanglingReference

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

Fn = Callable[[Any], Any]
Converter = Callable[[Any, Any, Any], Any]


class Inserter(Protocol):
    """Inserts rows, prepared for the driver, into one table, inside the caller's transaction."""

    def insert(self, rows: list[list[Any]]) -> int:
        """Insert the rows; return how many were written."""
        ...


class Postponed(Protocol):
    """Schema objects set aside while rows are loaded, inside the import's transaction."""

    def restore(self) -> None:
        """Re-create them as they were, checking the rows (a foreign key that the rows break
        raises DanglingReference)."""
        ...


@runtime_checkable
class StreamingInserter(Inserter, Protocol):
    """An inserter whose rows go into one statement that runs across the section's batches:
    the section ends with finish() (which raises what the statement refused) or, after a
    failure elsewhere, abort(). In between, nothing else may use the connection."""

    def finish(self) -> None:
        """End the statement; raise DatabaseError if it did not store every row as sent."""
        ...

    def abort(self) -> None:
        """End the statement after another error, without raising its own."""
        ...


@runtime_checkable
class BlockInserter(Inserter, Protocol):
    """An inserter that also takes a batch encoded for it from the stream's own values (its
    block_encoder's result), in place of the decoded rows."""

    def block_encoder(
        self, codecs: list[str], fields: list[models.Field], decoders: list[Fn]
    ) -> Callable[[list[list[Any]]], Sized] | None:
        """A function encoding a batch of stream rows (parsed values, the columns' `codecs`;
        `decoders` decode one value for the target, as the row path does) into one object
        insert() takes, whose len() is the row count; it raises CodecError with column_index
        and row_offset on a bad value. None: these columns are not encoded so."""
        ...

    def line_encoder(
        self, codecs: list[str], fields: list[models.Field], decoders: list[Fn]
    ) -> Callable[[list[bytes]], tuple[Any, list[int]]] | None:
        """A function encoding a batch of the stream's row lines (unparsed) into what insert()
        takes: (that, or None if it took no line; the positions of the lines it left to
        block_encoder's function, which then go in after it). It checks every value it takes
        and stores what that function would. None: never for these columns."""
        ...


def insert_path(inserter: Inserter) -> str:
    """What the summary calls an inserter's path (its `path`, else its class name)."""
    return str(getattr(inserter, "path", type(inserter).__name__))


class PortableInserter:
    """INSERT ... VALUES (%s, ...) through the DB-API's executemany; works everywhere."""

    path = "executemany"

    def __init__(self, connection: BaseDatabaseWrapper, table: str, columns: list[str]) -> None:
        qn = connection.ops.quote_name
        self.connection = connection
        self.sql = "INSERT INTO {} ({}) VALUES ({})".format(
            qn(table), ", ".join(qn(c) for c in columns), ", ".join(["%s"] * len(columns))
        )

    def insert(self, rows: list[list[Any]]) -> int:
        """Insert the rows in one executemany call."""
        if rows:
            with self.connection.cursor() as cursor:
                cursor.executemany(self.sql, rows)
        return len(rows)


class Backend:
    """The portable path for one connection; vendors override what they do better."""

    vendor = "portable"
    # Whether Django's sql_flush(reset_sequences=True) stays inside the import's transaction, so
    # that a table emptied by --clear numbers its next rows from 1, as after `manage.py flush`.
    # Unknown for an unknown vendor: no.
    flush_resets_sequences = False

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    # --- export ---------------------------------------------------------------------------

    def begin_snapshot(self, cursor: Any) -> None:
        """Make the transaction Django just opened see one point in time (first statement)."""
        # Django's BEGIN: the database's own isolation decides; vendors make it a snapshot.

    def read_column(self, field: models.Field, codec: str) -> tuple[Any, Fn] | None:
        """A cheaper way to read one column for the export, or None (the field as it is).

        Returns the expression to select in its place (a values_list argument) and the
        function from its non-NULL raw value to the codec's JSON value, which must be what
        Django's converters and the codec's encoder give for the column.
        """
        return None

    def prepare_cursor(self, cursor: Any) -> None:
        """Adjust a driver cursor before it reads a page of rows (driver-level loaders)."""

    def read_encoder(
        self, encode: Fn | None, converters: list[Converter], expression: Any
    ) -> tuple[Fn | None, bool]:
        """One function from a column's raw driver value to its JSON value: Django's converters
        for the column (as the compiler lists them), then the codec's encoder.

        Returns (function, whether it must see NULLs too).
        """
        if not converters:
            return encode, False
        if len(converters) == 1:
            fast = self.fast_read(converters[0], encode)
            if fast is not None:
                return fast, False
        connection = self.connection

        def read(v: Any) -> Any:
            for convert in converters:
                v = convert(v, expression, connection)
            return v if v is None or encode is None else encode(v)

        return read, True

    def fast_read(self, converter: Any, encode: Fn | None) -> Fn | None:
        """The converter then the encoder in fewer steps, or None: the portable path has none."""
        return None

    # --- import ---------------------------------------------------------------------------

    def decode_float(self, decode: Fn) -> Fn:
        """The float decoder for this target: refuse what it cannot store."""
        return decode

    def integer_range(self, field: models.Field) -> tuple[int | None, int | None] | None:
        """The integers a column of this field's type holds here (None: a type Django gives
        no range), so that a value out of it is refused naming its row and column."""
        internal = field.get_internal_type()
        ops = self.connection.ops
        if internal not in ops.integer_field_ranges:
            return None
        low, high = ops.integer_field_range(internal)
        return low, high

    def prep_shortcut(self, name: str, field: models.Field, parse: Fn) -> Fn | None:
        """For Django's own field classes, what get_db_prep_save gives, with fewer steps."""
        connection = self.connection
        if name == "datetime" and type(field) is models.DateTimeField:
            return self.datetime_prep(field, parse)
        if name == "uuid" and type(field) is models.UUIDField:
            if connection.features.has_native_uuid_field:
                return parse

            def dec_uuid_hex(v: Any) -> str:
                if v.__class__ is str and _CANONICAL_UUID(v):  # what str(UUID) writes
                    return str(v.replace("-", ""))
                return str(parse(v).hex)

            return dec_uuid_hex
        if name == "decimal" and type(field) is models.DecimalField:
            return _decimal_prep(field, connection, parse)
        if (name, type(field)) in (("date", models.DateField), ("time", models.TimeField)):
            # get_prep_value (to_python) returns a parsed date or time as it is: only the
            # backend's adapt step remains.
            adapt = getattr(connection.ops, f"adapt_{name}field_value")
            return lambda v: adapt(parse(v))
        return None

    def datetime_prep(self, field: models.Field, parse: Fn) -> Fn:
        """get_db_prep_save of a DateTimeField: aware values go to the backend's adapt step."""
        connection = self.connection
        adapt = connection.ops.adapt_datetimefield_value
        prep = field.get_db_prep_save

        def dec_datetime(v: Any) -> Any:
            value = parse(v)  # reports a bad value
            if value.tzinfo is None:  # naive: Django warns and makes it aware (USE_TZ)
                return prep(value, connection)
            # get_prep_value leaves an aware datetime as it is; only the backend adapts it.
            return adapt(value)

        return dec_datetime

    def postpone_schema(self, filled: list[str], written: list[str]) -> Postponed | None:
        """Set aside, until restore(), what is faster to rebuild after the rows than to keep up
        to date row by row (PostgreSQL: foreign keys and indexes) for the tables `filled` (about
        to receive many rows); `written` names every table the import writes. Called by the
        sequencer only inside a transaction that rolls DDL back; here, nothing is set aside."""
        return None

    def inserter(self, table: str, columns: list[str]) -> Inserter:
        """The fastest insert path this connection has; here, executemany."""
        return PortableInserter(self.connection, table, columns)

    def driver_adapters(self) -> dict[type, Fn]:
        """Value class -> what the driver binds in its place, where it adapts the class exactly
        so (a decode worker applies them before sending values: decodeworker._Wire); here,
        none."""
        return {}

    def section_inserter(self, table: str, columns: list[str], mode: str) -> Inserter | None:
        """The insert path for a loader that leaves the connection to the inserter for a whole
        section (it may be a StreamingInserter), or None: the same as inserter(). `mode` is
        STREAMDUMP["MYSQL_LOAD_DATA"]: "auto", "on" or "off"."""
        return None

    @contextlib.contextmanager
    def loading_table(self, table: str, rows: int | None) -> Iterator[None]:
        """Around the inserts of one section of about `rows` rows (None: not announced) into
        `table`, inside the import's transaction: a vendor may ready the table for a bulk load
        and put it back after the data (SQLite: its secondary indexes). Here, nothing."""
        yield

    def flush(self, tables: list[str]) -> Postponed | None:
        """Delete every row of `tables`, inside the import's transaction (Django's sql_flush,
        resetting sequences where flush_resets_sequences), never emptying another table.
        Returns what was set aside to make that possible (PostgreSQL: other tables' foreign
        keys into these), to be restored, checking the rows, once the import's rows are in."""
        from django.core.management.color import no_style

        statements = self.connection.ops.sql_flush(
            no_style(), tables, reset_sequences=self.flush_resets_sequences, allow_cascade=False
        )
        with self.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
        self.after_flush()
        return None

    def restart_numbering(self, tables: list[str]) -> None:
        """After the import's last commit, make the tables flush emptied number their next rows
        as a fresh table would: after the highest id they hold, from 1 if empty. Here nothing:
        flush did it inside the transaction (flush_resets_sequences), or nothing can."""

    def after_flush(self) -> None:
        """Undo what Django's sql_flush statements changed in the session; here, nothing."""

    @contextlib.contextmanager
    def immediate_constraints(self) -> Iterator[None]:
        """Check foreign keys as each statement runs, for a while (deferrable ones: PostgreSQL)."""
        yield

    def check_foreign_keys(self, tables: list[type[models.Model]]) -> None:
        """Raise StreamdumpError naming a row of these models' tables whose foreign key points
        nowhere (Django's check: PostgreSQL fires its deferred constraint triggers, SQLite runs
        foreign_key_check)."""
        try:
            self.connection.check_constraints(table_names=[m._meta.db_table for m in tables])
        except DatabaseError as exc:
            raise DanglingReference(f"the imported rows break a foreign key: {exc}") from exc


def constrained_keys(model: type[models.Model]) -> list[Any]:
    """The model's own foreign keys that have a database constraint."""
    return [
        field
        for field in model._meta.local_concrete_fields
        if field.is_relation and getattr(field, "db_constraint", False)
    ]


def check_references(connection: BaseDatabaseWrapper, fields: list[Any], context: str = "") -> None:
    """Raise DanglingReference (its message `context` then the row) naming a row whose foreign
    key, one of `fields`, points nowhere. One anti-join per key, set-wise, from the installed
    models' metadata, stopping at the first missing key.

    It looks up each distinct key once (read from the foreign key's own index) rather than each
    row: half the time at a million rows on MariaDB, where many rows share a key; only when it
    finds a missing key is a row holding it looked for, to name it.
    """
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for field in fields:
            opts, target = field.model._meta, field.target_field
            table, parent = qn(opts.db_table), target.model._meta.db_table
            child, parent_key = qn(field.column), qn(target.column)
            cursor.execute(
                f"SELECT c.v FROM (SELECT DISTINCT {child} AS v FROM {table} "
                f"WHERE {child} IS NOT NULL) c LEFT JOIN {qn(parent)} p "
                f"ON c.v = p.{parent_key} WHERE p.{parent_key} IS NULL LIMIT 1"
            )
            missing = cursor.fetchone()
            if missing is None:
                continue
            cursor.execute(
                f"SELECT {qn(opts.pk.column)}, {child} FROM {table} WHERE {child} = %s LIMIT 1",
                [missing[0]],
            )
            pk, value = cursor.fetchone()
            raise DanglingReference(
                f"{context}the row in table {opts.db_table!r} with primary key {pk!r} has "
                f"{field.column} = {value!r}, which is not in {parent}.{target.column}"
            )


def own_converter(converter: Any, ops: Any, name: str) -> bool:
    """Whether the converter is the backend's own method `name`, not a subclass's override."""
    func = getattr(converter, "__func__", None)
    own = getattr(type(ops), name, None)
    return func is not None and func is own and own.__module__.startswith("django.db.backends.")


def slow_read(converter: Any, encode: Fn | None, connection: BaseDatabaseWrapper) -> Fn:
    """The converter then the encoder, for values a fast read does not handle itself."""

    def read(v: Any) -> Any:
        v = converter(v, None, connection)  # these backend converters ignore the expression
        return v if v is None or encode is None else encode(v)

    return read


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\Z").match


def _decimal_prep(field: Any, connection: BaseDatabaseWrapper, parse: Fn) -> Fn:
    # DecimalField.get_db_prep_save of a finite Decimal is the backend's adapt step of
    # to_python(value), which is Decimal(value): an equal Decimal.
    prep = field.get_db_prep_save
    adapt = connection.ops.adapt_decimalfield_value
    digits, places = field.max_digits, field.decimal_places

    def dec_decimal(v: Any) -> Any:
        if v.__class__ is str:
            try:
                value: Decimal | None = Decimal(v)
            except InvalidOperation:
                value = None
            if value is not None and value.is_finite():
                return adapt(value, digits, places)
        return prep(parse(v), connection)  # the field's own errors for anything else

    return dec_decimal


__all__ = [
    "Backend", "BlockInserter", "Inserter", "PortableInserter", "Postponed", "StreamingInserter",
    "insert_path",
]  # fmt: skip
