"""One fixture record (a model, its pk and fields, as dumpdata writes them) into table rows.

A record becomes a row of its model's table, in the table's column order and in the stream's
value encodings (codecs.py), and one row of an auto-created many-to-many table per value of
each many-to-many field. Values are read the way loaddata reads them (the field's
to_python, Django's JSON encodings: ISO dates with "Z", decimals as strings, durations as ISO
8601, binary as base64), checked here so that a bad value names its record, model and field.

Foreign keys given as natural keys (--natural-foreign) stay natural keys: the loader resolves
them against the target. Records without a pk (--natural-primary), and many-to-many rows (a
fixture has no ids for them), get the ids a fresh database would give them: 1, 2, ... per
table in file order.
"""

from __future__ import annotations

import datetime
import re
import sys
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import models

from . import exactjson
from .codecs import codec_name, encoder
from .conf import Config
from .errors import FormatError
from .fixtures import json_document
from .tables import Table, phase_of

Convert = Callable[[Any], Any]


def _iso(parse: Callable[[str], Any]) -> Convert:
    def check(v: str) -> str:
        parse(v)
        return v

    return check


_Z_UNREAD = sys.version_info < (3, 11)


def _datetime(v: str) -> str:
    # Django's JSON encoder writes UTC as "Z", which fromisoformat reads only from Python 3.11.
    if _Z_UNREAD and v.endswith("Z"):
        v = v[:-1] + "+00:00"
    # The stream's own layout (isoformat, microseconds in full), which the loaders' fast paths
    # read without parsing again (dumpdata writes milliseconds: "...05.123Z").
    value = datetime.datetime.fromisoformat(v)
    # isoformat() of an aware datetime costs 4 µs (its offset formatted in Python); dumpdata's
    # two UTC layouts, once parsed, give the same text cut from the value's own.
    if v[-1] == "Z" and v[10] == "T" and v[4] == "-" and v[7] == "-" and v[13] == ":":
        if len(v) == 24 and v[19] == "." and value.microsecond % 1000 == 0 and value.microsecond:
            return f"{v[:23]}000+00:00"
        if len(v) == 20 and not value.microsecond:
            return f"{v[:19]}+00:00"
    return value.isoformat()


# DjangoJSONEncoder's layout of a timedelta (duration_string): "[-]D HH:MM:SS[.ffffff]".
_DURATION = re.compile(
    r"(-?[0-9]{1,8}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{6}))?"
).fullmatch


def _duration(slow: Convert) -> Convert:
    def convert(v: Any) -> Any:
        found = _DURATION(v) if v.__class__ is str else None
        if found is None:
            return slow(v)
        days, hours, minutes, seconds, micro = found.groups()
        # parse_duration's sum: the days (signed), then the time of day added to them.
        total = int(days) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
        return total * 1_000_000 + int(micro or 0)

    return convert


def _decimal(v: Any) -> str:
    if v.__class__ is float:
        return repr(v)
    Decimal(v)
    return str(v)


# str(UUID(v)) of this layout is v itself.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch


# Fixture strings that the stream carries as they are, once checked (by the same parser the
# loader uses, so that a bad value is named here, with its record).
_STRING_CHECKS: dict[str, Convert] = {
    "datetime": _datetime,
    "date": _iso(datetime.date.fromisoformat),
    "time": _iso(datetime.time.fromisoformat),
    "decimal": _decimal,
    "uuid": lambda v: v if _UUID(v) else str(uuid.UUID(v)),
}
_NATIVE = {"int": int, "str": str, "bool": bool}


def value_converter(field: models.Field, codec: str) -> Convert:
    """The function turning one non-NULL fixture value of `field` into its stream value."""
    value_field = field.target_field if field.is_relation else field
    if codec == "json":
        return lambda v: [json_document(v)]
    native = _NATIVE.get(codec)
    check = _STRING_CHECKS.get(codec)
    encode = encoder(codec, value_field) or (lambda v: v)

    def slow(v: Any) -> Any:
        return encode(value_field.to_python(v))

    if codec == "duration":
        return _duration(slow)
    if check is not None:  # one call less per value: these are the most frequent
        return lambda v: check(v) if v.__class__ is str or v.__class__ is Decimal else slow(v)
    if native is not None:
        return lambda v: v if v.__class__ is native else slow(v)
    return slow


KEYS_CAP = 10_000  # distinct natural keys kept per column (fewer than natural.py's cache holds)


class KeySet:
    """The distinct natural keys of one column, while there are at most KEYS_CAP of them:
    the loader resolves them all before the section's rows (then decoded in a worker process).
    `keys` is None once there are more, or a key that is not a flat list."""

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: set[tuple[Any, ...]] | None = set()

    def add(self, value: list[Any]) -> None:
        """Keep one key (a list, as the record gives it)."""
        keys = self.keys
        if keys is None:
            return
        try:
            keys.add(tuple(value))
        except TypeError:  # a nested key: unhashable
            self.keys = None
            return
        if len(keys) > KEYS_CAP:
            self.keys = None

    def merge(self, other: KeySet) -> None:
        """Add the keys of another set of the same column."""
        if self.keys is None or other.keys is None:
            self.keys = None
        else:
            self.keys |= other.keys
            if len(self.keys) > KEYS_CAP:
                self.keys = None


class RecordRows:
    """Turns the records of one model into rows of its table and of its many-to-many tables."""

    def __init__(self, model: type[models.Model], config: Config) -> None:
        regenerated = frozenset(config.natural_key_models)
        self.label = model._meta.label
        self.table = Table(model, phase_of(model, config), regenerated)
        self.regenerated = self.table.is_regenerated
        # Per column but the primary key: position, field, name in the record, converter, the
        # type a value may have to be taken as it is, whether it is a foreign key.
        self.columns: list[tuple[int, models.Field, str, Convert, type | None, bool]] = []
        self.width = len(self.table.fields)
        pk = model._meta.pk
        self.parent_link = pk.name if pk.remote_field and pk.remote_field.parent_link else None
        # Per table (this model's, its many-to-many tables'): columns that held a natural key.
        self.natural: dict[str, set[str]] = {self.label: set()}
        # The natural keys of each foreign key of the model's table (not of its pk).
        self.keys: dict[str, KeySet] = {}
        for i, f in enumerate(self.table.fields):
            codec = codec_name(f)
            if f.primary_key:
                self.pk_at, self.pk_convert = i, value_converter(f, codec)
                self.pk_native = _NATIVE.get(codec)
                self.pk_check = None if f.is_relation else _STRING_CHECKS.get(codec)
                continue
            self.columns.append(
                (i, f, f.name, value_converter(f, codec), _NATIVE.get(codec), f.is_relation)
            )
            if f.is_relation:
                self.keys[f.column] = KeySet()
        self._fill = self._compiled_fill()
        # Per auto-created many-to-many table: field name, table, positions of the id, the
        # owner and the target in its rows, converter of the target's values.
        self.m2m: list[tuple[str, Table, int, int, int, Convert]] = []
        for f in model._meta.local_many_to_many:
            through = f.remote_field.through
            if not through._meta.auto_created:
                continue  # an explicit through model: dumpdata writes its rows as records
            table = Table(through, phase_of(through, config), regenerated)
            self.natural[table.label] = set()
            owner = through._meta.get_field(f.m2m_field_name())
            target = through._meta.get_field(f.m2m_reverse_field_name())
            positions = [table.columns.index(x.column) for x in (through._meta.pk, owner, target)]
            self.m2m.append(
                (f.name, table, *positions, value_converter(target, codec_name(target)))
            )
        # Records of this model are one row each, with the pk given: rows() takes a short cut.
        self.simple = not self.m2m and self.parent_link is None

    def _compiled_fill(self) -> Callable[[dict[str, Any], list[Any]], None]:
        """fill(fields, row): the columns but the pk of a record whose fields are all there and
        valid, in one generated function (no loop, no lookups); anything else raises, and
        _fill_slowly does the record again."""
        natural = self.natural[self.label]
        namespace: dict[str, Any] = {"natural_add": natural.add}
        lines = ["def fill(fields, row):"]
        for k, (i, f, name, convert, native, relation) in enumerate(self.columns):
            namespace[f"n{k}"], namespace[f"c{k}"], namespace[f"col{k}"] = name, convert, f.column
            lines += [f"    v = fields[n{k}]", "    if v is not None:"]
            test = "if"
            if native is not None:
                namespace[f"t{k}"] = native
                lines += [f"        if v.__class__ is t{k}:", f"            row[{i}] = v"]
                test = "elif"
            if relation:
                namespace[f"key{k}"] = self.keys[f.column].add
                lines += [
                    f"        {test} v.__class__ is list:",
                    f"            natural_add(col{k})",
                    f"            key{k}(v)",
                    f"            row[{i}] = v",
                ]
                test = "elif"
            check = _STRING_CHECKS.get(codec_name(f)) if not f.is_relation else None
            if check is not None:
                namespace[f"s{k}"] = check
                lines += [f"        {test} v.__class__ is str:", f"            row[{i}] = s{k}(v)"]
                test = "elif"
            if test == "if":
                lines += [f"        row[{i}] = c{k}(v)"]
            else:
                lines += ["        else:", f"            row[{i}] = c{k}(v)"]
        if len(lines) == 1:
            lines.append("    pass")
        exec("\n".join(lines), namespace)  # source made of column positions only
        fill: Callable[[dict[str, Any], list[Any]], None] = namespace["fill"]
        return fill

    def converted(self, number: int, pk: Any) -> Any:
        """The stream value of a record's primary key."""
        try:
            return self.pk_convert(pk)
        except Exception as exc:
            raise self.error(number, "pk", f"invalid value {pk!r:.60}: {exc}") from None

    def error(self, number: int, field: str, message: str) -> FormatError:
        """An error naming the record, its model and the field."""
        return FormatError(f"record {number} ({self.label}), field {field}: {message}")

    def unwritable(
        self, number: int, label: str, row: list[Any], exc: Exception
    ) -> FormatError:
        """The error for one of the record's rows (of table `label`) that JSON cannot hold (a
        lone surrogate, nesting deeper than orjson writes), naming the field."""
        if label == self.label:
            names = [f.name for f in self.table.fields]
        else:  # a many-to-many row: its field's
            names = [name for name, through, *_ in self.m2m if through.label == label] * 3
        for name, value in zip(names, row, strict=False):
            try:
                exactjson.dumps(value)
            except TypeError as refused:
                return self.error(number, name, f"invalid value {value!r:.60}: {refused}")
        return FormatError(f"record {number} ({self.label}): {exc}")

    def rows(
        self,
        number: int,
        record: dict[str, Any],
        next_id: Callable[[str], int],
    ) -> list[tuple[str, list[Any]]]:
        """[(table label, row), ...]: the model's row, then one per many-to-many value.

        `next_id(label)` gives the id of a row the fixture gives none (--natural-primary,
        many-to-many rows). Columns that held a natural key are added to `natural`.
        """
        fields = record.get("fields")
        owner = record.get("pk")
        if self.simple and owner is not None and fields.__class__ is dict:
            row: list[Any] = [None] * self.width
            if owner.__class__ is self.pk_native:
                row[self.pk_at] = owner
            elif owner.__class__ is str and self.pk_check is not None:
                try:
                    row[self.pk_at] = self.pk_check(owner)
                except Exception:  # noqa: BLE001 - converted() names the field
                    row[self.pk_at] = self.converted(number, owner)
            else:
                row[self.pk_at] = self.converted(number, owner)
            try:
                self._fill(fields, row)
            except Exception:  # noqa: BLE001 - the loop does it again and names the field
                self._fill_slowly(number, fields, row, self.natural[self.label])
            return [(self.label, row)]
        if not isinstance(fields, dict):
            raise FormatError(f"record {number} ({self.label}) has no fields object")
        row = [None] * self.width
        natural = self.natural[self.label]
        if owner is None and self.parent_link is not None:
            # A multi-table child (--natural-primary): its id is its parent's, which the record
            # gives as the link to it (a natural key, or an id).
            owner = fields.get(self.parent_link)
            if owner is None:
                raise self.error(number, self.parent_link, "no pk and no link to the parent")
            if owner.__class__ is list:
                natural.add(self.table.fields[self.pk_at].column)
                row[self.pk_at] = owner
            else:
                owner = self.converted(number, owner)
                row[self.pk_at] = owner
        elif owner is None:
            if not self.regenerated:  # regenerated rows are merged by natural key
                owner = next_id(self.label)
            row[self.pk_at] = owner
        else:
            owner = self.converted(number, owner)
            row[self.pk_at] = owner
        try:
            self._fill(fields, row)
        except Exception:  # noqa: BLE001 - the loop below does it again and names the field
            self._fill_slowly(number, fields, row, natural)
        rows = [(self.label, row)]
        for name, through, id_at, owner_at, target_at, convert in self.m2m:
            values = fields.get(name) or []
            if not isinstance(values, list):
                raise self.error(number, name, f"expected a list, got {values!r:.60}")
            if values and owner is None:
                raise self.error(number, name, "a record without a pk cannot have these links")
            if values and owner.__class__ is list:  # a child's natural key: its parent's
                self.natural[through.label].add(through.columns[owner_at])
            for value in values:
                link: list[Any] = [None, None, None]
                link[id_at], link[owner_at] = next_id(through.label), owner
                if value.__class__ is list:
                    self.natural[through.label].add(through.columns[target_at])
                    link[target_at] = value
                else:
                    try:
                        link[target_at] = convert(value)
                    except Exception as exc:
                        raise self.error(
                            number, name, f"invalid value {value!r:.60}: {exc}"
                        ) from None
                rows.append((through.label, link))
        return rows

    def _fill_slowly(
        self, number: int, fields: dict[str, Any], row: list[Any], natural: set[str]
    ) -> None:
        """Fill the row's columns but the pk, field by field: defaults of missing fields, the
        error naming the field of a bad value (_fill, compiled, does the usual case)."""
        for i, f, name, convert, native, relation in self.columns:
            try:
                value = fields[name]
            except KeyError:  # loaddata builds the instance with the field's default
                value = f.get_default()
                if isinstance(value, models.Model):
                    value = value.pk
            if value is None:
                continue
            if value.__class__ is native:
                row[i] = value
            elif relation and value.__class__ is list:
                natural.add(f.column)
                self.keys[f.column].add(value)
                row[i] = value
            else:
                try:
                    row[i] = convert(value)
                except Exception as exc:  # the field's own parsing, whatever it raises
                    raise self.error(number, name, f"invalid value {value!r:.60}: {exc}") from None


def model_of(label: Any, number: int) -> type[models.Model] | None:
    """The installed model of a record's "model" value, or None when not installed."""
    if not isinstance(label, str) or "." not in label:
        raise FormatError(f"record {number} has no model (app_label.ModelName): {label!r:.60}")
    try:
        model = apps.get_model(label)
    except LookupError:
        return None
    return model._meta.concrete_model if model._meta.proxy else model
