"""A Django fixture as a format v1 stream: what `convert` writes; load() reads the same spool
through fixturereader.py, without the stream.

Two passes, bounded memory: the first reads every record (fixtures.py), turns it into table
rows (fixturerows.py) and spools them per table (fixturespool.py), counting them; the second
writes the stream, with a header listing every table (rows counted) and the sections in phase
then dependency order, whatever order the records came in. load() gives the sequencer the same
sections (fixturereader.py): same plan, steps, transactions and checks as a stream.

What the stream cannot say without a database stays as the fixture has it: foreign keys given
as natural keys are written as natural keys (codec "natural"), which the loader resolves
against the target in batches (natural.py). The header's "fixture" entry says that the stream
came from a fixture (no migration state is known) and holds its metadata record, if any.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, BinaryIO

import django
from django.db import models

from . import __version__, fixturesplit
from .conf import Config
from .errors import FormatError
from .fixturerows import KeySet, RecordRows, model_of
from .fixtures import is_metadata, iter_fixture, json_numbers
from .fixturesplit import FirstPassHelper, merged_natural
from .fixturespool import ChunkSpool
from .framing import Framed, Kind
from .tables import model_tables
from .writer import StreamWriter

log = logging.getLogger("streamdump")


class FixtureTables:
    """The first pass: a fixture's records read into a spool of rows per table."""

    def __init__(self, framed: Framed, config: Config, *, ignore_missing: bool = False) -> None:
        self.kind, self.config = framed.kind, config
        self.metadata: dict[str, Any] | None = None
        self.records = 0
        self.skipped: dict[str, int] = {}
        self.natural: dict[str, set[str]] = defaultdict(set)  # label -> columns
        # label -> column -> its distinct natural keys (while few: fixturerows.KeySet)
        self.natural_keys: dict[str, dict[str, KeySet]] = defaultdict(dict)
        self.spool = ChunkSpool()
        self._ids: dict[str, int] = defaultdict(int)
        # Rows of regenerated models (content types, permissions) by the fixture's ids: the ids
        # other rows refer to them by are mapped to natural keys (see source_keys()).
        self._regenerated: dict[str, dict[Any, list[Any]]] = defaultdict(dict)
        self.keys: dict[str, dict[Any, list[Any]]] = {}
        try:
            self._read(framed, ignore_missing)
        except BaseException:
            self.spool.close()
            raise

    def _next_id(self, label: str) -> int:
        self._ids[label] += 1
        return self._ids[label]

    def _read(self, framed: Framed, ignore_missing: bool) -> None:
        by_label: dict[Any, RecordRows | None] = {}
        add = self.spool.add
        # After HELPER_AFTER records, a forked helper converts the records of some models
        # first seen from then on (fixturesplit.py).
        helper_at = fixturesplit.HELPER_AFTER if fixturesplit.helper_pays(self.config) else -1
        helper: FirstPassHelper | None = None
        number = 0
        try:
            for number, record in enumerate(iter_fixture(framed), 1):
                if number == helper_at:
                    helper = FirstPassHelper(self._record_rows, self._next_id)
                if not isinstance(record, dict):
                    raise FormatError(f"record {number} is not a JSON object: {record!r:.60}")
                if number == 1 and is_metadata(record):
                    self.metadata = json_numbers(record)
                    continue
                self.records += 1
                label = record.get("model")
                try:
                    rows = by_label[label]
                except (KeyError, TypeError):
                    rows = by_label[label] = self._record_rows(label, number)
                    if helper is not None and rows is not None:
                        helper.takes(label, rows)
                if rows is None:
                    self.skipped[str(label)] = self.skipped.get(str(label), 0) + 1
                    if not ignore_missing:
                        raise FormatError(
                            f"record {number}: model {label} is not installed in this project "
                            "(--ignore-missing skips its records)"
                        )
                    continue
                if helper is not None:
                    if label in helper.labels:
                        helper.add(number, record, rows, framed.bytes_read)
                        continue
                    helper.converted_here(rows)
                for table, row in rows.rows(number, record, self._next_id):
                    try:
                        add(table, row)
                    except TypeError as exc:
                        raise rows.unwritable(number, table, row, exc) from None
                if rows.regenerated and record.get("pk") is not None:
                    self._regenerated[rows.label][record["pk"]] = row
            found = [merged_natural(by_label)]
            if helper is not None:
                found.append(self._helper_finished(helper, before=None))
        except FormatError:
            if helper is not None and not helper.finished:  # its error may come first
                self._helper_finished(helper, before=number + 1)
            raise
        finally:
            if helper is not None:
                helper.close()
        for natural, keys in found:
            for table, columns in natural.items():
                self.natural[table] |= columns
            for label, by_column in keys.items():
                known = self.natural_keys[label]
                for column, keyset in by_column.items():
                    if column in known:
                        known[column].merge(keyset)
                    else:
                        known[column] = keyset
        self.keys = self.source_keys()

    def _helper_finished(
        self, helper: FirstPassHelper, before: int | None
    ) -> tuple[dict[str, set[str]], dict[str, dict[str, KeySet]]]:
        """What the helper found; its first error raised if it came before record `before`
        (None: the end); the helper's rows read as the spool's own."""
        error, found = helper.finish()
        if error is not None and (before is None or error[0] < before):
            raise FormatError(error[1])
        self.spool.adopt(helper.spool)
        return found

    def source_keys(self) -> dict[str, dict[Any, list[Any]]]:
        """Natural key of every regenerated row the fixture gives with its id, by that id.

        A fixture written without --natural-foreign refers to content types and permissions by
        the source's ids, which mean nothing in another database (loaddata then overwrites the
        target's rows with those ids, or fails on their unique keys). Their own records, when
        the fixture holds them, say which natural key each id stands for.
        """
        keys: dict[str, dict[Any, list[Any]]] = {}
        instances: dict[str, dict[Any, models.Model]] = {}
        everything = Config(**{**self.config.__dict__, "exclude": ()})
        for table in model_tables(everything):
            found = self._regenerated.get(table.label)
            if not found:
                continue
            made = instances[table.label] = {}
            for pk, row in found.items():
                obj = table.model(**dict(zip([f.attname for f in table.fields], row, strict=True)))
                for f in table.fields:  # natural_key() follows these: the fixture's rows
                    related = f.related_model._meta.label if f.is_relation else None
                    value = getattr(obj, f.attname)
                    if related in instances and value.__class__ is not list:
                        found_obj = instances[related].get(value)
                        if found_obj is not None:
                            setattr(obj, f.name, found_obj)
                made[pk] = obj
            try:
                keys[table.label] = {pk: list(obj.natural_key()) for pk, obj in made.items()}
            except Exception as exc:  # natural_key() needs what the fixture does not hold
                log.debug("%s: ids left as they are (%s)", table.label, exc)
        return keys

    def _record_rows(self, label: Any, number: int) -> RecordRows | None:
        model = model_of(label, number)
        return None if model is None else RecordRows(model, self.config)

    def header(self, tables: list[dict[str, Any]]) -> dict[str, Any]:
        """The stream's header fields: where the data came from, and its tables."""
        return {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "source": {"django": django.get_version(), "streamdump": __version__},
            "fixture": {
                "kind": self.kind.value,
                "records": self.records,
                "metadata": self.metadata,
                "skipped": self.skipped,
            },
            "tables": tables,
        }

    def ordered(
        self, using: str = "default"
    ) -> list[tuple[dict[str, Any], str, dict[int, tuple[str, dict[Any, list[Any]]]]]]:
        """(section description with its row count, label, columns whose ids are mapped to
        natural keys) of every table that has rows, in phase then dependency order."""
        everything = Config(**{**self.config.__dict__, "exclude": ()})
        order = []
        counts = self.spool.counts  # counted over what the spool holds: once
        for table in model_tables(everything, using):
            rows = counts.get(table.label, 0)
            if not rows:
                continue
            described = table.describe()
            natural = self.natural.get(table.label, set())
            mapped = {}
            for position, (pair, field) in enumerate(
                zip(described["columns"], table.fields, strict=True)
            ):
                if pair[0] in natural:
                    pair[1] = "natural"
                elif pair[1] == "natural":  # a key to a regenerated model given as an id
                    related = field.related_model._meta.label
                    if related in self.keys:
                        mapped[position] = (related, self.keys[related])
                    else:  # the fixture does not say what the id stands for: kept, as loaddata
                        pair[1] = _value_codec(field)
            order.append(({**described, "rows": rows}, table.label, mapped))
        missing = set(counts) - {label for _, label, _ in order}
        if missing:  # a table the router keeps out of this database
            raise FormatError(f"the fixture has rows for tables not in this database: {missing}")
        return order

    def write(self, sink: Any, *, level: int = 3, using: str = "default") -> None:
        """Write the whole stream to `sink` (a binary file, or anything with its write())."""
        for _ in self.stream_chunks(sink, level=level, using=using):
            pass

    def stream_chunks(self, sink: Any, *, level: int, using: str) -> Iterator[None]:
        """Write the stream to `sink` section by section, pausing after each chunk of rows."""
        order = self.ordered(using)
        with StreamWriter(sink, level=level) as writer:
            writer.header(self.header([described for described, _, _ in order]))
            yield
            for described, label, mapped in order:
                writer.section({k: v for k, v in described.items() if k != "rows"})
                for rows in self.spool.batches(label):
                    if mapped:
                        map_ids(label, rows, mapped)
                    writer.rows(rows)
                    yield
                writer.end()
            writer.trailer()
        self.spool.close()

    def close(self) -> None:
        """Delete the spool."""
        self.spool.close()


def map_ids(
    label: str, rows: list[list[Any]], mapped: dict[int, tuple[str, dict[Any, list[Any]]]]
) -> None:
    """Replace the ids of regenerated rows by their natural keys, in place."""
    for position, (related, keys) in mapped.items():
        for row in rows:
            value = row[position]
            if value is None or value.__class__ is list:
                continue
            try:
                row[position] = keys[value]
            except (KeyError, TypeError):
                raise FormatError(
                    f"a {label} record refers to {related} {value!r}, which the fixture "
                    "does not hold"
                ) from None


def _value_codec(field: models.Field) -> str:
    from .codecs import codec_name

    return codec_name(field)


def metadata_warnings(header: dict[str, Any], app_version: str | None) -> list[str]:
    """What a fixture's metadata record says about where it came from, worded as InvenTree's
    own import-records words it: a different version of the application, apps the source had
    that this project has not. Warnings, as there: the checks of the tables decide."""
    fixture = header.get("fixture")
    if fixture is None:
        return []
    metadata = fixture.get("metadata")
    if not metadata:
        return []
    warnings = []
    source_version = metadata.get("source_version")
    if "source_version" in metadata and source_version != app_version:
        warnings.append(
            f"Source version '{source_version}' does not match the current version "
            f"'{app_version}' - this may lead to issues with the import process"
        )
    from django.apps import apps

    local = {config.name for config in apps.get_app_configs()}
    for app in metadata.get("installed_apps") or []:
        if app not in local:
            warnings.append(
                f"Source app '{app}' is not installed in the current environment - this may "
                "break the import process"
            )
    return warnings


def convert(
    stream: BinaryIO, out: BinaryIO, config: Config, *, ignore_missing: bool = False
) -> int:
    """Write the fixture read from `stream` to `out` as a format v1 stream; return its records.

    Needs the project's models (their tables, columns and phases), not a database: natural
    keys stay natural keys in the stream and are resolved when it is imported.
    """
    framed = Framed(stream, config.max_line_bytes)
    if framed.kind not in (Kind.FIXTURE_JSON, Kind.FIXTURE_JSONL):
        raise FormatError(f"not a Django fixture (the input is {framed.kind.value})")
    tables = FixtureTables(framed, config, ignore_missing=ignore_missing)
    try:
        tables.write(out, level=config.compression_level)
    finally:
        tables.close()
    return tables.records
