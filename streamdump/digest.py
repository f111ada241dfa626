"""A per-table digest of a database's content, to prove that two databases hold the same data.

Deliberately independent of the stream codecs: values are canonicalised from what Django reads,
so a codec that loses information shows up as a difference instead of hiding on both sides.
Foreign keys to regenerated rows (content types, permissions) compare by natural key, and those
tables compare by content without their ids, since each database numbers them itself.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from decimal import Decimal
from typing import Any

from django.db.models import TextField
from django.db.models.functions import Cast

from .conf import Config, get_config
from .naturalkeys import export_index
from .tables import Table, model_tables


def _canonical(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return "dt:" + value.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(value, Decimal):
        return "dec:" + str(value)
    return value


def _rows(table: Table, using: str, batch: int = 2000):
    fields = table.fields
    select = [
        Cast(f.attname, output_field=TextField()) if codec == "json" else f.attname
        for f, codec in zip(fields, table.codecs, strict=True)
    ]
    queryset = table.model._base_manager.using(using).order_by("pk").values_list(*select)
    pk_index = fields.index(table.model._meta.pk)
    last = None
    while True:
        page = list((queryset if last is None else queryset.filter(pk__gt=last))[:batch])
        yield from page
        if len(page) < batch:
            return
        last = page[-1][pk_index]


def table_digest(table: Table, using: str, natural: dict[str, dict]) -> tuple[int, str]:
    """(row count, hex digest) of one table's content."""
    transforms = []
    for field, codec in zip(table.fields, table.codecs, strict=True):
        if codec == "natural":
            index = natural[field.related_model._meta.label]
            transforms.append(lambda v, index=index: None if v is None else tuple(index[v]))
        elif codec == "json":
            transforms.append(
                lambda v: None if v is None else json.dumps(json.loads(v), sort_keys=True)
            )
        else:
            transforms.append(_canonical)
    skip_pk = table.fields.index(table.model._meta.pk) if table.is_natural else None
    lines = (
        repr([fn(v) for i, (fn, v) in enumerate(zip(transforms, row, strict=True)) if i != skip_pk])
        for row in _rows(table, using)
    )
    if table.is_natural:  # small tables; ids differ between databases, so order by content
        lines = iter(sorted(lines))
    digest = hashlib.sha256()
    count = 0
    for line in lines:
        digest.update(line.encode("utf-8") + b"\n")
        count += 1
    return count, digest.hexdigest()


def database_digests(
    using: str = "default", config: Config | None = None, exclude: tuple[str, ...] = ()
) -> dict[str, tuple[int, str]]:
    """Model label -> (row count, digest) for every table streamdump exports from `using`."""
    config = config or get_config()
    tables = model_tables(config, using, exclude)
    natural = {t.label: export_index(t.model, using) for t in tables if t.is_natural}
    return {t.label: table_digest(t, using, natural) for t in tables}
