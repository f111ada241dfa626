"""Load one section of the stream into its table of the target: one interface, three loaders.

- InsertLoader: decode each batch for the target and insert it (the backend's insert path);
- ReplaceLoader: the same, after deleting the target's start-up rows that collide with the
  batch (settings written at start-up, plugin registrations: collisions.py);
- MergeLoader: rows the target regenerates itself (content types, permissions), merged by
  natural key; it records natural key -> target primary key for the columns that refer to them.

A loader runs inside the transaction the sequencer opened and never opens one itself; foreign
keys are checked by the sequencer's verify step, not here. loader_for() chooses the loader of a
table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, models
from django.db.backends.base.base import BaseDatabaseWrapper

from .backends import (
    Backend,
    BlockInserter,
    StreamingInserter,
    backend_for,
    get_inserter,
    insert_path,
)
from .codecs import decoder, row_function
from .collisions import delete_colliding, unique_sets
from .conf import Config
from .cpuwatch import CpuWatch
from .decodeworker import decoded_batches, worker_pays
from .deferred import DeferredKeys
from .errors import CodecError, FormatError, StreamdumpError
from .natural import NaturalKeys
from .naturalkeys import merge_rows, pks_by_key
from .reader import RowParser, Section
from .startup import replaces_startup_rows
from .summary import Loaded
from .tables import Table

RowFn = Callable[[Any], list[Any]]
log = logging.getLogger("streamdump")


@dataclass
class LoadContext:
    """What every loader of one import shares: the target and the natural keys it has."""

    connection: BaseDatabaseWrapper
    portable_inserts: bool = False
    load_data: str | bool = "auto"  # STREAMDUMP["MYSQL_LOAD_DATA"]
    # Per regenerated model label: natural key -> the target's primary key.
    pks_by_key: dict[str, dict[tuple[Any, ...], Any]] = field(default_factory=dict)
    # Other models a stream refers to by natural key (made from a fixture): resolved in batches.
    natural_keys: NaturalKeys | None = None
    # Natural keys to rows not loaded yet, set once every section was (settle_deferred()).
    deferred: DeferredKeys = field(default_factory=DeferredKeys)
    # Sections of at least this many rows are decoded in a worker process (decodeworker.py);
    # None: never (STREAMDUMP["DECODE_WORKER"] off).
    decode_worker_min_rows: int | None = None
    # Whether a core was free lately (cpuwatch.py); None: do not look (DECODE_WORKER "always").
    cpu_watch: CpuWatch | None = None

    @property
    def using(self) -> str:
        return str(self.connection.alias)

    def keys_of(self, model: type[models.Model]) -> dict[tuple[Any, ...], Any]:
        """Natural key -> target primary key of a regenerated model, read once per import.

        A regenerated model the dump left out (-e contenttypes) is still referred to by natural
        key: references map to the target's own rows.
        """
        label = model._meta.label
        if label not in self.pks_by_key:
            self.pks_by_key[label] = pks_by_key(model, self.using)
        return self.pks_by_key[label]

    def natural(self) -> NaturalKeys:
        """The batched natural keys of models the target does not regenerate."""
        if self.natural_keys is None:
            self.natural_keys = NaturalKeys(self.using)
        return self.natural_keys

    def settle_deferred(self) -> int:
        """Set the natural keys that pointed to rows loaded after theirs; return how many."""
        return self.deferred.settle(self.natural(), self.using)

    @property
    def backend(self) -> Backend:
        return backend_for(self.connection)


class SectionLoader:
    """Decodes each batch of a section for its table and writes it; subclasses say how."""

    prep = True  # decode to the driver's values (False: Python values, for the ORM)
    merges = False  # counts the rows it added (Loaded.added)
    needs_rows = False  # write() reads the stream's rows too (then decoded in this process)

    def __init__(self, table: Table, section: Section, context: LoadContext) -> None:
        self.table, self.section, self.context = table, section, context
        by_column = {f.column: f for f in table.fields}
        self.fields = [by_column[c] for c in section.columns]
        # The section's codecs: the table's (checked by the preflight), except that a stream
        # made from a fixture may give any foreign key as a natural key, or as an id.
        self.codecs = dict(zip(section.columns, section.codecs, strict=True))
        self.decode = self.row_decoder(self.fields, prep=self.prep)
        # Set by a loader whose inserter takes a batch in its own encoding (PostgreSQL: one
        # COPY text block), made from the stream's values instead of decoded rows.
        self.encode_block: Callable[[list[list[Any]]], Sized] | None = None
        # Set with it where the inserter may also take a batch made from the row lines as they
        # are (PostgreSQL: CSV), unparsed; the lines it leaves are parsed and decoded.
        self.encode_lines: Callable[[list[bytes]], tuple[Any, list[int]]] | None = None
        # Natural-key columns resolved in batches: (position in the row, related model, whether
        # a key the target lacks may wait for the end of the import, NULL until then; not in
        # merged rows, whose ids the target chooses).
        self.batched = [
            (i, f.related_model, f.null and not f.primary_key and not self.merges)
            for i, f in enumerate(self.fields)
            if self.codecs[f.column] == "natural"
            and f.related_model._meta.label not in table.regenerated
        ]
        if any(deferrable for _, _, deferrable in self.batched):
            context.deferred.register(section.model, table.model, self.fields)
        self.pk_at = next((i for i, f in enumerate(self.fields) if f.primary_key), None)

    def row_decoder(self, fields: list[Any], *, prep: bool) -> RowFn:
        """One function decoding a row of these fields' stream values."""
        return row_function(self.column_decoders(fields, prep=prep))

    def column_decoders(self, fields: list[Any], *, prep: bool) -> list[Callable[[Any], Any]]:
        """Each field's decoder of one non-NULL stream value (codecs.decoder)."""
        codecs, backend = self.codecs, self.context.backend
        return [
            decoder(
                codecs[f.column],
                f,
                backend,
                self.natural_index(f.related_model) if codecs[f.column] == "natural" else None,
                prep,
            )
            for f in fields
        ]

    def natural_index(self, model: type[models.Model]) -> dict[tuple[Any, ...], Any]:
        """Natural key -> target primary key of `model`: a regenerated model's whole table,
        another's cache, which resolve_natural() fills batch by batch."""
        if model._meta.label in self.table.regenerated:
            return self.context.keys_of(model)
        return self.context.natural().index(model)

    def resolved_ahead(self) -> bool:
        """Whether every natural key of the section is in the cache before its rows, looked up
        from what the reader knows (a fixture's first pass kept them); then a worker process
        forked now decodes with that cache, and nothing waits for rows further on."""
        known = self.section.natural_keys()
        if known is None:
            return False
        natural = self.context.natural()
        wanted = []
        for position, model, _ in self.batched:
            keys = known.get(self.fields[position].column)
            if keys is None:
                return False
            wanted.append((model, keys))
        for model, keys in wanted:
            natural.resolve(model, keys)
        # Looked up again: two columns to one model may have pushed each other's keys out.
        return all(keys <= natural.index(model).keys() for model, keys in wanted)

    def resolve_natural(self, rows: list[list[Any]], first: int) -> None:
        """Look up, in a few queries, the natural keys of a batch that the cache lacks; those
        the target has not yet (rows further on, a cycle) wait in nullable columns."""
        natural = self.context.natural()
        for position, model, deferrable in self.batched:
            keys = {tuple(row[position]) for row in rows if row[position].__class__ is list}
            if not keys:
                continue
            natural.resolve(model, keys)
            index = natural.index(model)
            if not deferrable or self.pk_at is None or keys <= index.keys():
                continue
            defer, pk_at, section = self.context.deferred.add, self.pk_at, self.section.model
            for offset, row in enumerate(rows):
                key = row[position]
                if key.__class__ is list and tuple(key) not in index:
                    defer(section, row[pk_at], position, key, first + offset)
                    row[position] = None

    def load(self, on_rows: Callable[[int], None]) -> Loaded:
        """Load every batch of the section; `on_rows` hears of each batch as it is done."""
        section, loaded = self.section, Loaded(added=0 if self.merges else None)
        try:
            for first, rows, values in self.decoded_batches():
                try:
                    self.write(rows, values, loaded)
                except (DatabaseError, OverflowError) as exc:  # OverflowError: sqlite3's ints
                    raise StreamdumpError(
                        f"the database refused rows {first}-{first + len(values) - 1} of section "
                        f"{section.model} (table {self.table.db_table}): {exc}"
                    ) from exc
                finally:
                    on_rows(len(values))
            try:
                self.finish(loaded)
            except DatabaseError as exc:
                raise StreamdumpError(
                    f"the database refused rows of section {section.model} (table "
                    f"{self.table.db_table}): {exc}"
                ) from exc
        except BaseException:
            self.abort()
            raise
        if loaded.rows != section.rows:
            raise StreamdumpError(
                f"section {section.model}: wrote {loaded.rows} rows, the dump holds {section.rows}"
            )
        return loaded

    def decoded_batches(self) -> Iterator[tuple[int, list[list[Any]], list[list[Any]]]]:
        """(number of the first row, the rows as the stream has them, decoded) per batch.

        A large section is decoded in a worker process while this one writes (decodeworker.py);
        write() then gets no stream rows (an empty list), unless it asks for them (needs_rows).
        """
        section = self.section
        if (
            not self.needs_rows
            and section.has_lines
            and worker_pays(section.expected_rows, self.context.decode_worker_min_rows)
            and (not self.batched or self.resolved_ahead())
            and self.core_to_spare()
        ):
            adapters = self.context.backend.driver_adapters()
            for first, values in decoded_batches(
                section,
                self.decode_batch,
                self.decode_batch,
                adapters,
                self.decode_lines if self.encode_lines is not None else None,
            ):
                yield first, [], values
            return
        if self.encode_lines is not None and section.has_lines:
            parser = RowParser(section)
            for first, lines in section.line_batches(parser.hexdigest):
                yield first, [], self.decode_lines(parser, lines, first)
            return
        for first, rows in section.batches():
            if self.batched:
                self.resolve_natural(rows, first)
            yield first, rows, self.decode_batch(rows, first)

    def core_to_spare(self) -> bool:
        """Whether a core was free for a worker lately (always, when not watched)."""
        watch = self.context.cpu_watch
        if watch is None or watch.spare():
            return True
        log.info(
            "section %s: decoded in the importing process: its CPUs had %.1f cores to spare "
            "lately, a worker would compete with other work",
            self.section.model,
            watch.free,
        )
        return False

    def write(self, rows: list[list[Any]], values: list[list[Any]], loaded: Loaded) -> None:
        """Write one batch: `rows` as the stream has them (if needs_rows), `values` decoded."""
        raise NotImplementedError

    def finish(self, loaded: Loaded) -> None:
        """After the last batch: end what spans the section (a statement); say which path."""

    def abort(self) -> None:
        """After a failure: end what spans the section, without raising."""

    def decode_lines(self, parser: RowParser, lines: list[bytes], first: int) -> Any:
        """A batch of row lines encoded by encode_lines, and the lines it leaves parsed by
        `parser` and encoded by encode_block after it; `parser` accounts for every line."""
        assert self.encode_lines is not None and self.encode_block is not None
        block, left = self.encode_lines(lines)
        if block is None:
            return self.decode_batch(parser.parse(lines, first), first)
        if left:
            # Only the lines left are parsed; a bad one is named by its row all the same.
            block.then = self.decode_batch(parser.parse_some(lines, first, left), first, left)
        else:
            parser.account(lines)
        return block

    def decode_batch(
        self, rows: list[list[Any]], first: int, positions: list[int] | None = None
    ) -> Any:
        """The rows decoded for the target (a list of rows, or what the inserter's block
        encoder makes of them); a bad value names its row and column. `positions`: those of
        the rows in their batch, where they are some of its rows (decode_lines)."""
        if self.encode_block is not None:
            try:
                return self.encode_block(rows)
            except CodecError as exc:
                offset = exc.row_offset or 0
                number = first + (offset if positions is None else positions[offset])
                raise self.bad_value(exc, number) from None
        decode = self.decode
        try:
            return [decode(row) for row in rows]
        except CodecError:
            for offset, row in enumerate(rows):  # again, to name the row and the column
                try:
                    decode(row)
                except CodecError as exc:
                    raise self.bad_value(exc, first + offset) from None
            raise

    def bad_value(self, exc: CodecError, row: int) -> FormatError:
        """The error naming the section, row and column of a value its decoder refused."""
        index = exc.column_index
        return FormatError(
            str(exc),
            section=self.section.model,
            row=row,
            column=self.section.columns[index] if index is not None else None,
        )


class InsertLoader(SectionLoader):
    """Inserts the rows as they are, ids included."""

    # Nothing but the inserter uses the connection between batches (unless natural keys are
    # looked up batch by batch): the section may go in as one statement.
    leaves_connection = True

    def __init__(self, table: Table, section: Section, context: LoadContext) -> None:
        super().__init__(table, section, context)
        whole = self.leaves_connection and not self.batched
        self.inserter = get_inserter(
            context.connection,
            table.db_table,
            [f.column for f in self.fields],
            portable=context.portable_inserts,
            section_mode=str(context.load_data) if whole else None,
        )
        if isinstance(self.inserter, BlockInserter):
            codecs = [self.codecs[f.column] for f in self.fields]
            decoders = self.column_decoders(self.fields, prep=True)
            self.encode_block = self.inserter.block_encoder(codecs, self.fields, decoders)
            if self.encode_block is not None and not self.batched and not self.needs_rows:
                self.encode_lines = self.inserter.line_encoder(codecs, self.fields, decoders)

    def load(self, on_rows: Callable[[int], None]) -> Loaded:
        """Load the section into its table, readied for a bulk load by the backend."""
        backend, section = self.context.backend, self.section
        with backend.loading_table(self.table.db_table, section.expected_rows):
            return super().load(on_rows)

    def write(self, rows: list[list[Any]], values: list[list[Any]], loaded: Loaded) -> None:
        loaded.rows += self.inserter.insert(values)

    def finish(self, loaded: Loaded) -> None:
        if isinstance(self.inserter, StreamingInserter):
            self.inserter.finish()
        loaded.path = insert_path(self.inserter)

    def abort(self) -> None:
        if isinstance(self.inserter, StreamingInserter):
            self.inserter.abort()


class ReplaceLoader(InsertLoader):
    """Inserts the rows after deleting the target's rows that share a key with them."""

    leaves_connection = False  # deletes between batches
    needs_rows = True

    def __init__(self, table: Table, section: Section, context: LoadContext) -> None:
        super().__init__(table, section, context)
        # Only the key columns are decoded a second time, as Python values for the ORM.
        keys = {name for names in unique_sets(table.model) for name in names}
        self.key_positions = [i for i, f in enumerate(self.fields) if f.attname in keys]
        self.key_names = [self.fields[i].attname for i in self.key_positions]
        self.decode_keys = self.row_decoder(
            [self.fields[i] for i in self.key_positions], prep=False
        )

    def write(self, rows: list[list[Any]], values: list[list[Any]], loaded: Loaded) -> None:
        positions, names, decode_keys = self.key_positions, self.key_names, self.decode_keys
        keys = [
            dict(zip(names, decode_keys([row[i] for i in positions]), strict=True)) for row in rows
        ]
        loaded.replaced += delete_colliding(self.table.model, keys, self.context.using)
        super().write(rows, values, loaded)


class MergeLoader(SectionLoader):
    """Adds the rows the target lacks by natural key; maps every natural key to its row."""

    prep = False
    merges = True

    def __init__(self, table: Table, section: Section, context: LoadContext) -> None:
        super().__init__(table, section, context)
        self.attnames = [f.attname for f in self.fields]
        self.index = context.pks_by_key.setdefault(
            table.label, pks_by_key(table.model, context.using)
        )

    def write(self, rows: list[list[Any]], values: list[list[Any]], loaded: Loaded) -> None:
        model, using, index = self.table.model, self.context.using, self.index
        batch = [dict(zip(self.attnames, row, strict=True)) for row in values]
        added = merge_rows(model, batch, index, using)
        loaded.added = (loaded.added or 0) + added
        loaded.rows += len(values)

    def finish(self, loaded: Loaded) -> None:
        loaded.path = "merged by natural key"


def loader_for(
    table: Table, section: Section, context: LoadContext, config: Config
) -> SectionLoader:
    """The loader of this table: merged by natural key, replacing start-up rows, or inserted."""
    if table.is_regenerated:
        return MergeLoader(table, section, context)
    if replaces_startup_rows(table, config):
        return ReplaceLoader(table, section, context)
    return InsertLoader(table, section, context)
