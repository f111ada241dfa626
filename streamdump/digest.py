"""A per-table digest of a database's content, to prove that two databases hold the same data.

Deliberately independent of the stream codecs: values are canonicalised from what Django reads,
so a codec that loses information shows up as a difference instead of hiding on both sides.
Foreign keys to regenerated rows (content types, permissions) compare by natural key, and those
tables compare by content without their ids, since each database numbers them itself. A table's
digest does not depend on row order, which differs between backends for non-integer keys.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from .conf import Config, activate_plugins, get_config
from .naturalkeys import keys_by_pk_of_regenerated
from .tables import Table, model_tables


def canonical_value(value: Any) -> Any:
    """The form of one plain column value that digests compare."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return "dt:" + value.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(value, Decimal):
        return "dec:" + str(value)
    return value


def _rows(table: Table, using: str, batch: int = 2000) -> Iterator[Any]:
    queryset = table.model._base_manager.using(using).order_by("pk").values_list(*table.select())
    pk_index = table.fields.index(table.model._meta.pk)
    last = None
    while True:
        page = list((queryset if last is None else queryset.filter(pk__gt=last))[:batch])
        yield from page
        if len(page) < batch:
            return
        last = page[-1][pk_index]


def _natural_key(index: dict[Any, list[Any]]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else tuple(index[v])


def table_digest(
    table: Table,
    using: str,
    keys: dict[str, dict[Any, list[Any]]],
    canonical: Callable[[Any], Any] = canonical_value,
    ignore: frozenset[str] = frozenset(),
) -> tuple[int, str]:
    """(row count, hex digest) of one table's content.

    `canonical` turns each plain value into what is compared; a caller comparing with a backend
    that stores less (see docs/BACKENDS.md) passes one that reduces exactly that. `ignore`
    names fields left out of the comparison.
    """
    transforms: list[Callable[[Any], Any]] = []
    for field, codec in zip(table.fields, table.codecs, strict=True):
        if codec == "natural":
            index = keys[field.related_model._meta.label]
            transforms.append(_natural_key(index))
        elif codec == "json":
            transforms.append(
                lambda v: None if v is None else json.dumps(json.loads(v), sort_keys=True)
            )
        else:
            transforms.append(canonical)
    skip = {i for i, f in enumerate(table.fields) if f.name in ignore}
    if table.is_regenerated:
        skip.add(table.fields.index(table.model._meta.pk))
    # Order-independent (a sum of row hashes): backends order the same keys differently
    # (MariaDB's native uuid type, collations of text keys), and memory stays flat.
    total = count = 0
    for row in _rows(table, using):
        line = repr(
            [fn(v) for i, (fn, v) in enumerate(zip(transforms, row, strict=True)) if i not in skip]
        )
        total += int.from_bytes(hashlib.sha256(line.encode("utf-8")).digest(), "big")
        count += 1
    return count, f"{total % 2**256:064x}"


def database_digests(
    using: str = "default",
    config: Config | None = None,
    exclude: tuple[str, ...] = (),
    canonical: Callable[[Any], Any] = canonical_value,
    ignore: tuple[str, ...] = (),
) -> dict[str, tuple[int, str]]:
    """Model label -> (row count, hex digest) for every table streamdump exports from `using`.

    Two databases hold the same data when their digests are equal, whatever their backends
    (see docs/BACKENDS.md). `config` replaces the STREAMDUMP settings; `exclude` leaves more
    apps or models out, as export() does; `canonical` maps each plain value to what is
    compared (pass one that reduces what a backend stores less of); `ignore` leaves fields
    out of the comparison, each as app_label.Model.field (an auto-created many-to-many table
    as app_label.Model_field, e.g. auth.Group_permissions.id), for columns that the way the
    data got there does not reproduce (timestamps an application writes at start-up). Reads
    every row once, in keyset pages; raises UnknownField (a ValueError) naming an ignored
    field that is not there, and Django's DatabaseError if a table cannot be read.
    """
    config = config or get_config()
    activate_plugins(config, using)
    tables = model_tables(config, using, exclude)
    ignored = ignored_fields(tables, ignore)
    keys = keys_by_pk_of_regenerated(tables, using)
    return {
        t.label: table_digest(t, using, keys, canonical, ignored.get(t.label, frozenset()))
        for t in tables
    }


class UnknownField(ValueError):
    """A field named to be ignored that the digested tables do not have."""


def ignored_fields(tables: list[Table], ignore: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Model label -> names of the fields `ignore` (app_label.Model.field, ...) leaves out."""
    by_label = {t.label.lower(): t for t in tables}
    found: dict[str, set[str]] = {}
    for name in ignore:
        label, _, field = name.rpartition(".")
        table = by_label.get(label.lower())
        if table is None:
            raise UnknownField(f"{name}: no table {label!r} among those digested")
        names = {f.name for f in table.fields} | {f.attname for f in table.fields}
        if field not in names:
            raise UnknownField(
                f"{name}: {table.label} has no field {field!r} "
                f"(its fields: {', '.join(f.name for f in table.fields)})"
            )
        fields = {f.name for f in table.fields if field in (f.name, f.attname)}
        found.setdefault(table.label, set()).update(fields)
    return {label: frozenset(names) for label, names in found.items()}
