"""Rows the application already wrote (settings at start-up, plugin registrations) make way for
the dump's rows: target rows that collide on the primary key or a unique field are deleted."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

from django.db import models


def unique_sets(model: type[models.Model]) -> list[tuple[str, ...]]:
    """Attribute names of every unconditional uniqueness rule of the model, pk first."""
    opts = model._meta
    sets: list[tuple[str, ...]] = [(opts.pk.attname,)]
    sets += [(f.attname,) for f in opts.local_concrete_fields if f.unique and not f.primary_key]
    for together in opts.unique_together:
        sets.append(tuple(opts.get_field(name).attname for name in together))
    for constraint in opts.total_unique_constraints:
        sets.append(tuple(opts.get_field(name).attname for name in constraint.fields))
    return list(dict.fromkeys(sets))


def delete_colliding(model: type[models.Model], rows: list[dict[str, Any]], using: str) -> int:
    """Delete the target rows that share a primary key or unique value with `rows`.

    Returns how many were deleted. No signals, no cascades: the rows are replaced, and the
    foreign-key check before commit catches anything left pointing at a deleted row.
    """
    conditions = []
    for names in unique_sets(model):
        if len(names) == 1:
            values = {row[names[0]] for row in rows if row.get(names[0]) is not None}
            if values:
                conditions.append(models.Q(**{f"{names[0]}__in": values}))
        else:
            for row in rows:
                if all(row.get(name) is not None for name in names):
                    conditions.append(models.Q(**{name: row[name] for name in names}))
    if not conditions:
        return 0
    queryset = model._base_manager.using(using).filter(reduce(operator.or_, conditions))
    return queryset._raw_delete(using)
