"""Rows the target regenerates itself (content types, permissions) travel by natural key.

Export writes foreign keys to them as natural keys; import merges their rows into the target's
by natural key and maps every reference to the target's own primary key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterable
from typing import Any

from django.apps import apps
from django.db import models

# Ids per IN (...) query: under SQLite's historical limit of 999 bound parameters.
_IN_CHUNK = 900
_AUTO_FIELDS = ("AutoField", "BigAutoField", "SmallAutoField")


def _rows(model: type[models.Model], using: str) -> Generator[Any, None, None]:
    # natural_key() follows foreign keys (a permission's content type): fetch them in the join.
    related = [f.name for f in model._meta.concrete_fields if f.many_to_one or f.one_to_one]
    rows = model._base_manager.using(using).order_by("pk")
    return (rows.select_related(*related) if related else rows).iterator(2000)


def keys_by_pk(model: type[models.Model], using: str) -> dict[Any, list[Any]]:
    """Primary key -> natural key (as a list) of every row in the source."""
    # Closed at once when interrupted (a signal stops the export): left to the garbage
    # collector, Django's cursor generator would close its cursor after the connection,
    # printing a traceback.
    with contextlib.closing(_rows(model, using)) as rows:
        return {obj.pk: list(obj.natural_key()) for obj in rows}


def keys_by_pk_of_regenerated(tables: Iterable[Any], using: str) -> dict[str, dict[Any, list[Any]]]:
    """keys_by_pk() of every installed regenerated model, exported or left out (-e)."""
    labels = sorted(set().union(*(t.regenerated for t in tables)))
    return {label: keys_by_pk(apps.get_model(label), using) for label in labels}


def pks_by_key(model: type[models.Model], using: str) -> dict[tuple[Any, ...], Any]:
    """Natural key -> primary key of every row already in the target."""
    with contextlib.closing(_rows(model, using)) as rows:
        return {tuple(obj.natural_key()): obj.pk for obj in rows}


def merge_rows(
    model: type[models.Model],
    rows: list[dict[str, Any]],
    index: dict[tuple[Any, ...], Any],
    using: str,
) -> int:
    """Add a batch of dumped rows whose natural keys the target lacks; keep their ids when free.

    A few queries per batch, never per row: the rows' foreign keys (which natural_key() follows,
    e.g. a permission's content type) are read in one query per field, the ids already taken in
    one, and the new rows inserted in one bulk_create. Returns how many rows were inserted;
    `index` is updated with their target keys.
    """
    manager = model._base_manager.using(using)
    objs = [model(**values) for values in rows]
    for obj in objs:
        obj._state.db = using  # natural_key() may follow foreign keys: read them from the target
    _cache_related(model, objs, using)
    new: dict[tuple[Any, ...], models.Model] = {}
    for obj in objs:
        key = tuple(obj.natural_key())
        if key not in index and key not in new:
            new[key] = obj
    if not new:
        return 0
    wanted = [obj.pk for obj in new.values() if obj.pk is not None]
    taken: set[Any] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        taken.update(manager.filter(pk__in=chunk).values_list("pk", flat=True))
    moved = [obj for obj in new.values() if obj.pk in taken]  # the dump's id is another row's
    if moved and model._meta.pk.get_internal_type() in _AUTO_FIELDS:
        # Ids past every id of the table and of the batch, chosen here: a bulk insert of rows
        # with ids does not advance PostgreSQL's sequence, so ids it picked could collide with
        # the ones just inserted. The sequence is reset past them after the import (verify).
        top = manager.aggregate(top=models.Max("pk"))["top"] or 0
        top = max([top, *(obj.pk for obj in new.values() if obj.pk is not None)])
        for number, obj in enumerate(moved, 1):
            obj.pk = top + number
    else:
        for obj in moved:
            obj.pk = None  # let the database pick one
    manager.bulk_create(list(new.values()))
    for key, obj in new.items():
        if obj.pk is None:  # a backend that does not return the ids of bulk inserts
            obj.pk = model._base_manager.db_manager(using).get_by_natural_key(*key).pk
        index[key] = obj.pk
    return len(new)


def _cache_related(model: type[models.Model], objs: list[models.Model], using: str) -> None:
    # Read each foreign key's targets once for the batch, so natural_key() does not query per row.
    for f in model._meta.concrete_fields:
        if not (f.many_to_one or f.one_to_one):
            continue
        ids = {getattr(obj, f.attname) for obj in objs} - {None}
        if not ids:
            continue
        target = f.target_field
        related = f.related_model._base_manager.using(using).in_bulk(ids, field_name=target.name)
        for obj in objs:
            found = related.get(getattr(obj, f.attname))
            if found is not None:
                f.set_cached_value(obj, found)
