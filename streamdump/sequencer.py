"""Import: run the steps in order, own the transaction, and leave the target unchanged on failure.

stream -> reader (bounded batches) -> codecs (decode for this connection) -> inserter.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.core.management.color import no_style
from django.db import DatabaseError, connections, router, transaction

from .codecs import decoder, row_function
from .conf import Config, get_config
from .errors import CodecError, FormatError, SchemaMismatch, StreamdumpError, TargetNotEmpty
from .inserters import get_inserter
from .naturalkeys import import_index, merge_row
from .preflight import migration_problems, table_problems
from .progress import progress_bar
from .reader import Section, StreamReader
from .tables import Table, model_tables

log = logging.getLogger("streamdump")


@dataclass
class ImportSummary:
    """What an import wrote."""

    rows: dict[str, int] = field(default_factory=dict)
    natural_added: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _execute(using: str, statements: list[str]) -> None:
    with connections[using].cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


class Importer:
    """One import of one stream into one database."""

    def __init__(
        self,
        reader: StreamReader,
        using: str = "default",
        *,
        clear: bool = False,
        config: Config | None = None,
        progress: bool = False,
        check_migrations: bool = True,
    ) -> None:
        self.reader, self.using, self.clear = reader, using, clear
        self.config = config or get_config()
        self.progress = progress
        self.check_migrations = check_migrations
        self.connection = connections[using]
        self.tables: dict[str, Table] = {}
        self.natural: dict[str, dict[tuple, Any]] = {}
        self.summary = ImportSummary()

    # --- steps --------------------------------------------------------------------------

    def preflight(self) -> None:
        """Refuse, before anything is written, a stream that does not fit the target."""
        header = self.reader.header
        problems: list[str] = []
        if self.check_migrations:
            problems += migration_problems(header.get("migrations") or {}, self.using)
        for described in header.get("tables") or []:
            table, found = table_problems(described, self.config)
            problems += found
            if table is not None:
                self.tables[table.label] = table
        if problems:
            raise SchemaMismatch(problems)

    def empty_target(self) -> None:
        """With clear: delete every row of every table (migration history is not a model)."""
        tables = self.connection.introspection.django_table_names(
            only_existing=True, include_views=False
        )
        statements = self.connection.ops.sql_flush(
            no_style(), tables, reset_sequences=False, allow_cascade=False
        )
        _execute(self.using, statements)
        log.info("emptied %d tables of database %r", len(tables), self.using)

    def refuse_non_empty(self) -> None:
        """Refuse a target that holds rows other than those it regenerates itself."""
        regenerated = set(self.config.natural_key_models)
        holding = [
            t.label
            for t in model_tables(self.config, self.using)
            if t.label not in regenerated
            and router.allow_migrate_model(self.using, t.model)
            and t.model._base_manager.using(self.using).exists()
        ]
        if holding:
            shown = ", ".join(holding[:8]) + (
                f" and {len(holding) - 8} more" if len(holding) > 8 else ""
            )
            raise TargetNotEmpty(
                f"the target database {self.using!r} already holds rows in {shown}; "
                "import into an empty, migrated database or use --clear to empty it first"
            )

    def load_section(self, section: Section, bar: Any) -> None:
        """Insert (or, for regenerated tables, merge) every row of one section."""
        table = self.tables[section.model]
        by_column = {f.column: f for f in table.fields}
        fields = [by_column[c] for c in section.columns]
        codecs = dict(zip(table.columns, table.codecs, strict=True))
        natural_for = {
            f.column: self.natural.get(f.related_model._meta.label)
            for f in fields
            if f.is_relation and f.related_model is not None
        }
        decode = row_function(
            [
                decoder(
                    codecs[f.column],
                    f,
                    self.connection,
                    natural_for.get(f.column),
                    prep=not table.is_natural,
                )
                for f in fields
            ]
        )
        if table.is_natural:
            index = self.natural.setdefault(table.label, import_index(table.model, self.using))
            attnames = [f.attname for f in fields]
            added = 0
        else:
            inserter = get_inserter(self.connection, table.db_table, [f.column for f in fields])
        written = 0
        for first, rows in section.batches():
            prepared = self._decode_rows(decode, rows, section, first)
            try:
                if table.is_natural:
                    for values in prepared:
                        added += merge_row(
                            table.model, dict(zip(attnames, values, strict=True)), index, self.using
                        )
                    written += len(prepared)
                else:
                    written += inserter.insert(prepared)
            except DatabaseError as exc:
                raise StreamdumpError(
                    f"the database refused rows {first}-{first + len(rows) - 1} of section "
                    f"{section.model} (table {table.db_table}): {exc}"
                ) from exc
            bar.update(len(rows))
        if written != section.rows:
            raise StreamdumpError(
                f"section {section.model}: wrote {written} rows, the dump holds {section.rows}"
            )
        self.summary.rows[section.model] = written
        if table.is_natural:
            self.summary.natural_added[section.model] = added

    @staticmethod
    def _decode_rows(decode: Any, rows: list, section: Section, first: int) -> list:
        try:
            return [decode(row) for row in rows]
        except CodecError:
            for offset, row in enumerate(rows):
                try:
                    decode(row)
                except CodecError as exc:
                    column = (
                        section.columns[exc.column_index] if exc.column_index is not None else None
                    )
                    raise FormatError(
                        str(exc), section=section.model, row=first + offset, column=column
                    ) from None
            raise

    def finish(self) -> None:
        """Check every foreign key of the imported tables, then reset sequences."""
        imported = [self.tables[label] for label in self.summary.rows]
        try:
            self.connection.check_constraints(table_names=[t.db_table for t in imported])
        except DatabaseError as exc:
            raise StreamdumpError(f"the imported rows break a foreign key: {exc}") from exc
        statements = self.connection.ops.sequence_reset_sql(no_style(), [t.model for t in imported])
        _execute(self.using, statements)

    # --- the whole import ---------------------------------------------------------------

    def run(self) -> ImportSummary:
        """Preflight, then every section in one transaction; any error rolls it all back."""
        started = time.monotonic()
        self.preflight()
        total = sum(t.get("rows") or 0 for t in self.reader.header.get("tables") or [])
        with transaction.atomic(using=self.using):
            with self.connection.constraint_checks_disabled():
                if self.clear:
                    self.empty_target()
                else:
                    self.refuse_non_empty()
                with progress_bar(total, "import", self.progress) as bar:
                    for section in self.reader.sections():
                        t0 = time.monotonic()
                        self.load_section(section, bar)
                        log.debug(
                            "imported %s: %d rows in %.2fs",
                            section.model,
                            section.rows,
                            time.monotonic() - t0,
                        )
            self.finish()
        self._forget_cached_rows()
        self.summary.seconds = time.monotonic() - started
        log.info(
            "imported %d rows into %d tables in %.2fs",
            self.summary.total_rows,
            len(self.summary.rows),
            self.summary.seconds,
        )
        return self.summary

    def _forget_cached_rows(self) -> None:
        # Content types are cached per process by id; ours may have changed underneath.
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()


def load(
    stream: BinaryIO,
    using: str = "default",
    *,
    clear: bool = False,
    batch_size: int | None = None,
    progress: bool = False,
    config: Config | None = None,
) -> ImportSummary:
    """Import a format v1 stream into database `using`; all or nothing."""
    config = config or get_config()
    reader = StreamReader(stream, batch_size or config.batch_size, config.batch_bytes)
    return Importer(reader, using, clear=clear, config=config, progress=progress).run()
