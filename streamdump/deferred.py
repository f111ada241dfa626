"""Natural foreign keys that the target cannot answer yet: rows further on in the same table,
or around a cycle of tables (dumpdata --natural-foreign writes such fixtures, as loaddata's
deferred fields read them).

A nullable column whose natural key the target lacks when its batch is loaded goes in as NULL;
the key is kept with the row's primary key in a spool (bounded memory, fixturespool.py). Once
every section was loaded, the keys are resolved in batches (natural.py) and the rows updated,
a batch at a time. A key still missing then is named with its section, row and column, as the
loader names it. A column that is NOT NULL cannot wait (loaddata cannot either): it fails as
before, naming the key.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import models

from .errors import FormatError
from .fixturespool import ChunkSpool
from .natural import NaturalKeys

_UPDATE_BATCH = 500  # rows per UPDATE (a CASE per row): well under every parameter limit


class DeferredKeys:
    """Rows whose natural foreign keys are set once every section was loaded."""

    def __init__(self) -> None:
        self._spool: ChunkSpool | None = None
        # Per section: its model, and its fields by position in the section's rows.
        self._sections: dict[str, tuple[type[models.Model], list[models.Field]]] = {}
        self.rows = 0

    def register(self, section: str, model: type[models.Model], fields: list[Any]) -> None:
        """The section's model and its fields, in the order of the positions add() is given."""
        self._sections[section] = (model, fields)

    def add(self, section: str, pk: Any, position: int, key: list[Any], row: int) -> None:
        """Keep the key of row `row` (primary key `pk`, stream value), column at `position`."""
        if self._spool is None:
            self._spool = ChunkSpool()
        self._spool.add(section, [pk, position, key, row])
        self.rows += 1

    def settle(self, natural: NaturalKeys, using: str) -> int:
        """Set every deferred key to the target's row; return how many were set."""
        if self._spool is None:
            return 0
        spool, self._spool = self._spool, None
        try:
            for section, (model, fields) in self._sections.items():
                for entries in spool.batches(section):
                    self._update(section, model, fields, entries, natural, using)
        finally:
            spool.close()
        return self.rows

    def _update(
        self,
        section: str,
        model: type[models.Model],
        fields: list[Any],
        entries: list[list[Any]],
        natural: NaturalKeys,
        using: str,
    ) -> None:
        wanted: dict[type[models.Model], set[tuple[Any, ...]]] = defaultdict(set)
        pk_field = model._meta.pk
        for pk, position, key, _ in entries:
            wanted[fields[position].related_model].add(tuple(key))
            if pk.__class__ is list:  # a multi-table child whose parent link is a natural key
                wanted[pk_field.related_model].add(tuple(pk))
        for related, keys in wanted.items():
            natural.resolve(related, keys)
        updates: dict[int, list[models.Model]] = defaultdict(list)
        for pk, position, key, row in entries:
            field = fields[position]
            target = natural.index(field.related_model).get(tuple(key))
            if target is None:
                label = field.related_model._meta.label
                raise FormatError(
                    f"no {label} with natural key {key!r:.80} in the target, nor in the dump",
                    section=section,
                    row=row,
                    column=field.column,
                )
            if pk.__class__ is list:
                pk = natural.index(pk_field.related_model)[tuple(pk)]
            obj = model(pk=pk)
            setattr(obj, field.attname, target)
            updates[position].append(obj)
        manager = model._base_manager.using(using)
        for position, objs in updates.items():
            manager.bulk_update(objs, [fields[position].attname], batch_size=_UPDATE_BATCH)
