"""Values a target cannot hold are refused before anything is written, naming section, row and
column, on every backend (docs/RELIABILITY.md, "Input").

SQLite stores any 64-bit integer in any integer column, and the driver fails with OverflowError
on 2**63: the import holds every integer column to the range Django declares for its field type,
as PostgreSQL and MariaDB do.
"""

from __future__ import annotations

import datetime
import io
import json

import orjson
import pytest
from django.db import connections, models

from streamdump.backends import backend_for
from streamdump.codecs import decoder, row_function
from streamdump.digest import database_digests
from streamdump.errors import CodecError, FormatError, ImportFailed
from streamdump.exporter import export
from streamdump.sequencer import load

from .servers import VENDORS, migrated_database
from .streams import lines_of, rewrite

pytestmark = pytest.mark.server


@pytest.fixture(scope="module", autouse=True)
def _database_access(django_db_blocker):
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def dump() -> bytes:
    """A small example database exported from SQLite."""
    from inventory.generate import generate

    with migrated_database("sqlite") as source:
        generate(60, seed=5, using=source)
        out = io.BytesIO()
        export(out, using=source)
    return out.getvalue()


def with_value(data: bytes, model: str, column: str, value, row: int = 2) -> bytes:
    """The dump with `value` in `column` of row `row` of `model`'s section."""
    header = orjson.loads(lines_of(data)[0])
    (table,) = [t for t in header["tables"] if t["model"] == model]
    index = [name for name, _ in table["columns"]].index(column)
    seen = {"rows": 0}

    def mutate(section, obj):
        if section == model and isinstance(obj, list):
            seen["rows"] += 1
            if seen["rows"] == row:
                obj[index] = value
        return obj

    return rewrite(data, mutate)


OUT_OF_RANGE = [
    ("inventory.Part", "revision", 40000),  # SmallIntegerField
    ("inventory.Part", "revision", -40000),
    ("inventory.SupplierPart", "pack_quantity", 2**32 + 5),  # PositiveIntegerField
    ("inventory.SupplierPart", "pack_quantity", -1),
    ("inventory.Part", "sort_key", 2**63),  # BigIntegerField
    ("inventory.Part", "sort_key", 2**64 - 1),  # the largest integer JSON parsers read
]
IN_RANGE = [
    ("inventory.Part", "revision", 32767),
    ("inventory.Part", "revision", -32768),
    ("inventory.SupplierPart", "pack_quantity", 2**31 - 1),
    ("inventory.Part", "sort_key", 2**63 - 1),
    ("inventory.Part", "sort_key", -(2**63)),
]


@pytest.mark.parametrize("vendor", VENDORS)
def test_integers_out_of_the_fields_range_are_refused_naming_the_value(dump, vendor):
    with migrated_database(vendor) as alias:
        before = database_digests(alias)
        for model, column, value in OUT_OF_RANGE:
            with pytest.raises(ImportFailed) as info:
                load(io.BytesIO(with_value(dump, model, column, value)), using=alias,
                     migrate=False)  # fmt: skip
            error = info.value.__cause__
            assert isinstance(error, FormatError), repr(error)
            assert (error.section, error.row, error.column) == (model, 2, column)
            assert f"{value} is out of range" in str(error)
            assert info.value.target_state == ImportFailed.UNCHANGED
        assert database_digests(alias) == before


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_ends_of_each_range_import_exactly(dump, vendor):
    data = dump
    for number, (model, column, value) in enumerate(IN_RANGE):
        data = with_value(data, model, column, value, row=number + 1)
    with migrated_database(vendor) as alias:
        load(io.BytesIO(data), using=alias, migrate=False)
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT MIN(revision), MAX(revision), MIN(sort_key), MAX(sort_key) "
                           "FROM inventory_part")  # fmt: skip
            assert cursor.fetchone() == (-32768, 32767, -(2**63), 2**63 - 1)
            cursor.execute("SELECT MAX(pack_quantity) FROM inventory_supplierpart")
            assert cursor.fetchone() == (2**31 - 1,)


def test_sqlite_holds_integers_to_the_declared_range():
    backend = backend_for(connections["default"])
    assert connections["default"].vendor == "sqlite"
    small = models.SmallIntegerField()
    assert backend.integer_range(small) == (-32768, 32767)
    assert backend.integer_range(models.PositiveIntegerField()) == (0, 2147483647)
    assert backend.integer_range(models.CharField()) is None
    decode = row_function([decoder("int", small, backend)])
    assert decode([32767]) == [32767] and decode([None]) == [None]
    for bad in (40000, True, 1.5, "1"):
        with pytest.raises(CodecError):
            decode([bad])


@pytest.mark.parametrize(
    ("codec", "field", "value"),
    [
        ("duration", models.DurationField(), 10**20),  # OverflowError in timedelta
        ("datetime", models.DateTimeField(), "0001-01-01T00:00:00+05:00"),  # before year 1 in UTC
        ("datetime", models.DateTimeField(), "9999-12-31T23:00:00-05:00"),  # after year 9999
    ],
)
def test_a_value_django_cannot_convert_is_a_codec_error(codec, field, value):
    field.set_attributes_from_name("column")
    decode = row_function([None, decoder(codec, field, backend_for(connections["default"]))])
    with pytest.raises(CodecError) as info:
        decode([1, value])
    assert info.value.column_index == 1
    assert datetime.datetime.fromisoformat(value) if codec == "datetime" else True  # valid text


# Integers a JSON document holds beyond 64 bits (issue 11), the ends of orjson's range among
# them: orjson writes none and reads them as floats. No floats here: PostgreSQL's jsonb keeps
# numbers as numeric, which Django reads back as an integer where it has no fraction.
HUGE = {"n": 2**70, "below": -(2**64) - 1, "ends": [2**64 - 1, 2**64, -(2**63), -(2**63) - 1],
        "deep": [{"x": [10**40, "12345678901234567890"]}]}  # fmt: skip


def typed(value) -> str:
    """A JSON document's text, keys sorted (jsonb orders them its own way): an integer and the
    float equal to it differ here."""
    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize("vendor", VENDORS)
def test_json_integers_beyond_64_bits_move_exactly(vendor, tmp_path):
    """dumpstream then loadstream (decoded in a worker process and in this one), and a
    dumpdata fixture through loadstream, on each backend: the document as the source held it,
    every integer an integer, the same tables as the source's (stream) and loaddata's (fixture)."""
    import dataclasses

    from common.models import Setting
    from django.core.management import call_command
    from inventory.generate import generate
    from inventory.models import Part

    from streamdump.conf import get_config
    from streamdump.inspection import inspect_stream

    with migrated_database(vendor) as source:
        generate(40, seed=4, using=source)
        pks = list(Part.objects.using(source).order_by("pk").values_list("pk", flat=True)[:2])
        Part.objects.using(source).filter(pk__in=pks).update(metadata=HUGE)
        expected = database_digests(source)
        out = io.BytesIO()
        export(out, using=source)
        fixture = tmp_path / "fixture.json"
        call_command("dumpdata", database=source, output=str(fixture), verbosity=0,
                     exclude=["contenttypes", "auth.permission"])  # fmt: skip
    stream = out.getvalue()
    assert inspect_stream(io.BytesIO(stream)).intact
    worker = dataclasses.replace(get_config(), decode_worker="always", decode_worker_min_rows=0)
    for config in (get_config(), worker):
        with migrated_database(vendor) as target:
            load(io.BytesIO(stream), using=target, migrate=False, config=config)
            stored = Part.objects.using(target).get(pk=pks[1]).metadata
            assert typed(stored) == typed(HUGE)
            assert database_digests(target) == expected
    with migrated_database(vendor) as target:
        Setting.objects.using(target).all().delete()  # loaddata fails on the start-up rows
        call_command("loaddata", str(fixture), database=target, verbosity=0)
        by_loaddata = database_digests(target)
    with migrated_database(vendor) as target:
        load(io.BytesIO(fixture.read_bytes()), using=target, migrate=False)
        stored = Part.objects.using(target).get(pk=pks[0]).metadata
        assert typed(stored) == typed(HUGE)
        assert database_digests(target)["inventory.Part"] == by_loaddata["inventory.Part"]
