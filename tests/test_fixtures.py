"""Django fixtures imported as dumpdata writes them: the same content as loaddata gives.

Every shape dumpdata writes (JSON array, JSON lines; ids, natural foreign keys, natural primary
keys) is written from the example project, imported with load(), and compared table by table
with what loaddata makes of the same file in the same database. The compressions (gzip, bz2,
xz, zip, zstd, none) are spread over the shapes, one each, to keep the run short.

Where loaddata's result is not what the file says, the test names it (LOADDATA_DIFFERENCES).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import sys
import zipfile

import orjson
import pytest
import zstandard
from django.apps import apps
from django.core.management import call_command
from django.db import IntegrityError, connections
from django.test.utils import CaptureQueriesContext
from inventory.generate import generate
from inventory.models import Part, Unit

from streamdump import database_digests, inspect_stream, load
from streamdump.conf import get_config
from streamdump.errors import FormatError, ImportFailed
from streamdump.fixturestream import convert

from .helpers import MANAGE, digests, example_env, manage, migrated_sqlite

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "target"])


def compress(data: bytes, how: str) -> bytes:
    """The bytes of a fixture file compressed as loaddata reads them (and zstd)."""
    if how == "gz":
        return gzip.compress(data)
    if how == "bz2":
        return bz2.compress(data)
    if how == "xz":
        return lzma.compress(data)
    if how == "zst":
        return zstandard.ZstdCompressor().compress(data)
    if how == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("fixture.json", data)
        return buffer.getvalue()
    return data


def dumpdata(
    tmp_path, fmt: str, *, foreign: bool = False, primary: bool = False, exclude=()
) -> bytes:
    path = tmp_path / f"fixture.{fmt}"
    call_command(
        "dumpdata", format=fmt, output=str(path), database="default", verbosity=0,
        use_natural_foreign_keys=foreign, use_natural_primary_keys=primary, exclude=exclude,
    )  # fmt: skip
    return path.read_bytes()


def auto_through_rows(using: str) -> dict[str, list[tuple]]:
    """The rows of every auto-created many-to-many table, without their ids, sorted."""
    rows = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.auto_created:
            names = [f.attname for f in model._meta.local_concrete_fields if not f.primary_key]
            rows[model._meta.label] = sorted(model._base_manager.using(using).values_list(*names))
    return rows


def fresh_target(same_ids: bool = True) -> None:
    """An empty target whose content types and permissions have the source's ids (so that a
    fixture referring to them by id means the same there, as loaddata needs)."""
    call_command("flush", database="target", interactive=False, verbosity=0)
    if not same_ids:
        return
    for label in ("auth.Permission", "contenttypes.ContentType"):
        apps.get_model(label)._base_manager.using("target").all().delete()
    for label in ("contenttypes.ContentType", "auth.Permission"):
        model = apps.get_model(label)
        model._base_manager.using("target").bulk_create(model._base_manager.using("default"))


# loaddata saves many-to-many values through a set: the rows of auto-created many-to-many
# tables get ids in set order, not in the order the file lists them (streamdump keeps the
# file's order). Their content is the same; only those ids differ.
LOADDATA_DIFFERENCES = "ids of auto-created many-to-many rows"


# loaddata defers a natural foreign key to a row it has not met yet, and then inserts NULL
# there: a multi-table child without a pk listed before its parent cannot be loaded, its
# parent link being NOT NULL (dumpdata writes parents first, other tools may not).
LOADDATA_REFUSES = "NOT NULL constraint failed: inventory_specialgrade.grade_ptr_id"
REGENERATED = ["contenttypes", "auth.permission"]

SHAPES = [  # format, --natural-foreign, --natural-primary, compression
    ("json", False, False, "none"),
    ("json", True, False, "gz"),
    ("json", True, True, "bz2"),
    ("jsonl", False, False, "xz"),
    ("jsonl", True, False, "zip"),
    ("jsonl", True, True, "zst"),
]


@pytest.mark.parametrize(("fmt", "foreign", "primary", "how"), SHAPES)
def test_fixture_imports_as_loaddata_does(tmp_path, fmt, foreign, primary, how):
    generate(150, seed=11, using="default")
    # Without content types and permissions, as Django's documentation advises for loaddata
    # into another database (see the next test for why).
    data = dumpdata(tmp_path, fmt, foreign=foreign, primary=primary, exclude=REGENERATED)
    fresh_target()
    # loaddata fails on the settings rows the target wrote at start-up (unique key): the user
    # has to delete them first. streamdump replaces them (test_start_up_rows_are_replaced...).
    apps.get_model("common", "Setting").objects.using("target").all().delete()
    path = tmp_path / f"fixture.{fmt}"
    call_command("loaddata", str(path), database="target", verbosity=0)
    expected, expected_links = database_digests("target"), auto_through_rows("target")
    fresh_target()
    # --clear keeps the target's content types and permissions: the fixture has none.
    summary = load(io.BytesIO(compress(data, how)), using="target", clear=fmt == "jsonl")
    actual, links = database_digests("target"), auto_through_rows("target")
    assert summary.rows["inventory.Part"] == Part.objects.using("default").count()
    differing = sorted(label for label in expected if expected[label] != actual[label])
    assert set(differing) <= set(links), f"tables differ from loaddata's: {differing}"
    assert links == expected_links, LOADDATA_DIFFERENCES
    assert sorted(actual) == sorted(expected)


def test_content_types_by_id_map_to_the_target_s_own(tmp_path):
    """A fixture with content types and references to them by id, into a database whose
    content types have other ids: loaddata fails on their unique key (or, where it does not,
    overwrites the target's rows); streamdump maps each id to the natural key the fixture's own
    records give it."""
    from inventory.models import Comment

    generate(60, seed=3, using="default")
    data = dumpdata(tmp_path, "json")
    fresh_target()
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using("target").all().delete()  # made again below, with other ids
    call_command("migrate", database="target", verbosity=0)
    from django.contrib.contenttypes.management import create_contenttypes

    for config in reversed(list(apps.get_app_configs())):
        create_contenttypes(config, using="target", verbosity=0)
    by_id = dict(ContentType.objects.using("default").values_list("pk", "model"))
    assert by_id != dict(ContentType.objects.using("target").values_list("pk", "model"))
    with pytest.raises(Exception, match="UNIQUE|unique|Duplicate"):
        call_command("loaddata", str(tmp_path / "fixture.json"), database="target", verbosity=0)
    load(io.BytesIO(data), using="target")
    source = sorted((c.pk, c.content_type.model) for c in Comment.objects.using("default").all())
    target = sorted((c.pk, c.content_type.model) for c in Comment.objects.using("target").all())
    assert source and target == source


def test_loaddata_numbers_many_to_many_rows_in_set_order(tmp_path):
    """The difference the test above allows, shown: streamdump keeps the file's order."""
    generate(150, seed=11, using="default")
    data = orjson.loads(dumpdata(tmp_path, "json"))
    group = next(
        obj for obj in data if obj["model"] == "auth.group" and obj["fields"]["permissions"]
    )
    listed = group["fields"]["permissions"]
    fresh_target()
    load(io.BytesIO(orjson.dumps(data)), using="target", clear=True)
    through = apps.get_model("auth", "Group_permissions")._base_manager.using("target")
    rows = through.filter(group_id=group["pk"]).order_by("id")
    assert list(rows.values_list("permission_id", flat=True)) == listed


def test_records_in_any_order_and_keys_to_later_rows(tmp_path):
    """Children before parents, links before their targets, natural keys to rows further on."""
    generate(60, seed=5, using="default")
    data = orjson.loads(dumpdata(tmp_path, "json", foreign=True))
    fresh_target()
    load(io.BytesIO(orjson.dumps(data)), using="target", clear=True)
    expected, expected_links = database_digests("target"), auto_through_rows("target")
    fresh_target()
    load(io.BytesIO(orjson.dumps(data[::-1])), using="target", clear=True)
    actual, links = database_digests("target"), auto_through_rows("target")
    # Many-to-many rows are numbered in file order, which is reversed too.
    assert {k: v for k, v in actual.items() if k not in links} == {
        k: v for k, v in expected.items() if k not in links
    }
    assert links == expected_links


def make_grades(using: str = "default") -> None:
    """Grades whose natural foreign keys point to rows further on in dumpdata's order (by pk):
    successors, schemes and assessors naming each other (a cycle of two models), and
    multi-table children (whose records --natural-primary writes without a pk)."""
    from inventory.models import Assessor, Grade, GradeScheme, SpecialGrade

    grades = Grade.objects.using(using)
    a, b, c, d = (grades.create(code=code) for code in "ABCD")
    e = SpecialGrade.objects.using(using).create(code="E", note="rare")
    f = SpecialGrade.objects.using(using).create(code="F", note="rarer", successor=e)
    for grade, successor in [(a, c), (b, d), (c, b), (d, f), (e, f)]:
        grade.successor = successor
        grade.save(using=using)
    coarse = GradeScheme.objects.using(using).create(name="coarse", default=d)
    fine = GradeScheme.objects.using(using).create(name="fine", default=e)
    ann = Assessor.objects.using(using).create(name="ann", scheme=fine)
    bob = Assessor.objects.using(using).create(name="bob", scheme=coarse)
    coarse.owner, fine.owner = ann, bob
    coarse.save(using=using)
    fine.save(using=using)


def _grades_in_target() -> list[tuple]:
    from inventory.models import Assessor, Grade, GradeScheme, SpecialGrade

    mine = {"code__in": list("ABCDEF")}
    grades = Grade.objects.using("target").filter(**mine).order_by("code")
    children = SpecialGrade.objects.using("target").filter(**mine).order_by("code")
    schemes = GradeScheme.objects.using("target").filter(name__in=["coarse", "fine"])
    people = Assessor.objects.using("target").filter(name__in=["ann", "bob"])
    return (
        [(g.code, g.successor and g.successor.code) for g in grades]
        + [(g.code, g.note) for g in children]
        + [(s.name, s.default.code, s.owner.name) for s in schemes.order_by("name")]
        + [(p.name, p.scheme.name) for p in people.order_by("name")]
    )


GRADES = [("A", "C"), ("B", "D"), ("C", "B"), ("D", "F"), ("E", "F"), ("F", "E"),
          ("E", "rare"), ("F", "rarer"), ("coarse", "D", "ann"), ("fine", "E", "bob"),
          ("ann", "fine"), ("bob", "coarse")]  # fmt: skip


def _records(data: bytes, fmt: str) -> list[dict]:
    return [orjson.loads(line) for line in data.splitlines()] if fmt == "jsonl" else (
        orjson.loads(data))  # fmt: skip


def _loaddata(path) -> dict:
    fresh_target()
    apps.get_model("common", "Setting").objects.using("target").all().delete()
    call_command("loaddata", str(path), database="target", verbosity=0)
    return database_digests("target")


def _same_as_loaddata(expected: dict) -> None:
    actual, links = database_digests("target"), auto_through_rows("target")
    differing = sorted(label for label in expected if expected[label] != actual[label])
    assert set(differing) <= set(links), f"tables differ from loaddata's: {differing}"


@pytest.mark.parametrize(("fmt", "primary"), [("jsonl", False), ("json", True)])
def test_natural_keys_to_later_rows_and_around_a_cycle_as_loaddata(tmp_path, fmt, primary):
    """A natural key to a row further on in its own table, or around a cycle of two models,
    waits for that row (NULL, then set once every section is in), as loaddata's deferred
    fields do; multi-table children without a pk (--natural-primary) take their parent's id
    from the link to it. The same tables as loaddata's from the same file."""
    generate(20, seed=3, using="default")
    make_grades()
    data = dumpdata(tmp_path, fmt, foreign=True, primary=primary, exclude=REGENERATED)
    records = _records(data, fmt)
    grades = [r for r in records if r["model"] == "inventory.grade"]
    codes = [r["fields"]["code"] for r in grades]
    assert codes.index("A") < codes.index(grades[codes.index("A")]["fields"]["successor"][0])
    children = [r for r in records if r["model"] == "inventory.specialgrade"]
    assert len(children) == 4 and all(("pk" in r) != primary for r in children)
    expected = _loaddata(tmp_path / f"fixture.{fmt}")
    for fixture in (compress(data, "gz"), _converted(data)):
        fresh_target()
        summary = load(io.BytesIO(fixture), using="target", clear=True)
        assert summary.rows["inventory.Grade"] == 12
        _same_as_loaddata(expected)
        assert _grades_in_target() == GRADES


def _converted(data: bytes) -> bytes:
    stream = io.BytesIO()
    convert(io.BytesIO(data), stream, get_config())
    return stream.getvalue()


def test_children_listed_before_their_parents(tmp_path):
    """Multi-table children without a pk listed before their parents (a file in any order):
    loaddata defers the link to the parent and then inserts NULL there (LOADDATA_REFUSES);
    streamdump imports the records as loaddata imports them in dumpdata's order."""
    make_grades()
    data = dumpdata(tmp_path, "json", foreign=True, primary=True, exclude=REGENERATED)
    records = _records(data, "json")
    children = [r for r in records if r["model"] == "inventory.specialgrade"]
    assert children and not any("pk" in r for r in children)
    expected = _loaddata(tmp_path / "fixture.json")
    children_first = tmp_path / "children-first.json"
    children_first.write_bytes(orjson.dumps(children + [r for r in records if r not in children]))
    with pytest.raises(IntegrityError, match=LOADDATA_REFUSES):
        _loaddata(children_first)
    fresh_target()
    load(io.BytesIO(children_first.read_bytes()), using="target", clear=True)
    _same_as_loaddata(expected)
    assert _grades_in_target() == GRADES


def test_many_keys_forward_are_set_in_batches(tmp_path):
    """Every grade names the next one as its successor: each key waits, and all are set with a
    few queries per few hundred rows, not one per row."""
    from inventory.models import Grade

    grades = Grade.objects.using("default")
    made = grades.bulk_create([Grade(code=f"g{i:05}") for i in range(3000)])
    for grade, successor in zip(made, made[1:], strict=False):
        grade.successor = successor
    grades.bulk_update(made, ["successor"])
    data = dumpdata(tmp_path, "jsonl", foreign=True, primary=True, exclude=REGENERATED)
    fresh_target()
    with CaptureQueriesContext(connections["target"]) as queries:
        load(io.BytesIO(data), using="target", clear=True, migrate=False)
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "inventory_grade"')]
    assert 0 < len(updates) <= 10, len(updates)
    pairs = Grade.objects.using("target").values_list("code", "successor__code")
    assert sorted(pairs) == [(g.code, g.successor and g.successor.code) for g in made]


def test_a_natural_key_missing_from_target_and_dump_is_named_after_the_wait(tmp_path):
    """A nullable natural key that nothing in the dump provides: named, with its section, row
    and column, once every section was loaded; the target unchanged."""
    make_grades()
    data = orjson.loads(dumpdata(tmp_path, "json", foreign=True, primary=True))
    for record in data:
        if record["model"] == "inventory.grade" and record["fields"]["code"] == "B":
            record["fields"]["successor"] = ["no such grade"]
    fresh_target()
    with pytest.raises(ImportFailed) as info:
        load(io.BytesIO(orjson.dumps(data)), using="target", clear=True)
    message = str(info.value)
    assert "no inventory.Grade with natural key ['no such grade']" in message, message
    assert "section inventory.Grade, row 2, column successor_id" in message, message
    assert info.value.target_state == ImportFailed.UNCHANGED
    assert not apps.get_model("inventory", "Grade").objects.using("target").exists()


def test_natural_keys_resolved_in_batches(tmp_path):
    """Many references by natural key: a few queries per batch, not one per row."""
    generate(400, seed=2, using="default")
    units = Unit.objects.using("default").bulk_create(
        [Unit(name=f"unit {i}", symbol=str(i)) for i in range(400)]
    )
    parts = list(Part.objects.using("default").all())
    for i, part in enumerate(parts):
        part.units = units[i % len(units)]
    Part.objects.using("default").bulk_update(parts, ["units"])
    data = dumpdata(tmp_path, "jsonl", foreign=True, primary=True)
    referring = sum(1 for line in data.splitlines() if b'"units": [' in line)
    assert referring >= 40
    fresh_target()
    with CaptureQueriesContext(connections["target"]) as queries:
        load(io.BytesIO(data), using="target", clear=True, migrate=False)
    # The lookups read the units' own columns (not the -c's DELETE, nor the foreign-key check
    # of inventory_part, which names the table in a subquery).
    lookups = [q["sql"] for q in queries if q["sql"].startswith('SELECT "inventory_unit".')]
    assert 0 < len(lookups) <= 2, lookups  # one per row would be `referring`
    assert Part.objects.using("target").filter(units__name="unit 7").exists()


def test_a_json_number_ijson_overflowed_on_reads_exactly(tmp_path):
    """-9223372036854775808 in a JSONField: yajl's floats overflow; the value is kept."""
    generate(20, seed=1, using="default")
    data = orjson.loads(dumpdata(tmp_path, "json"))
    part = next(obj for obj in data if obj["model"] == "inventory.part")
    part["fields"]["metadata"] = {"low": -9223372036854775808, "big": 1e300, "x": [1.5]}
    raw = json.dumps(data).encode()
    report = inspect_stream(io.BytesIO(raw))
    assert report.intact, report.error
    assert report.kind == "json"
    fresh_target()
    load(io.BytesIO(raw), using="target", clear=True)
    stored = Part.objects.using("target").get(pk=part["pk"]).metadata
    assert stored == {"low": -9223372036854775808, "big": 1e300, "x": [1.5]}


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_integers_beyond_64_bits_parsed_exactly(fmt):
    """orjson (3.10+) reads an integer beyond 64 bits as a float: the record holding one is
    parsed by Python's json instead, in a JSON array (among records orjson reads, in one
    buffer) and in JSON lines."""
    from streamdump.fixtures import iter_fixture
    from streamdump.framing import Framed

    huge = {"big": 123456789012345678901234567890, "neg": -(2**70), "u64": 2**64 - 1,
            "below_i64": -(2**63) - 1}  # 19 digits, as many as the lowest 64-bit integer's
    records = [
        {"model": "inventory.part", "pk": n, "fields": {"metadata": {"n": n}}} for n in range(50)
    ]
    records[20]["fields"]["metadata"] = huge
    if fmt == "json":
        raw = json.dumps(records).encode()
    else:
        raw = b"".join(json.dumps(obj).encode() + b"\n" for obj in records)
    read = list(iter_fixture(Framed(io.BytesIO(raw))))
    assert read == records
    assert type(read[20]["fields"]["metadata"]["big"]) is int
    assert type(read[20]["fields"]["metadata"]["below_i64"]) is int


HUGE = {"n": 2**70, "below": -(2**64) - 1, "ends": [2**64 - 1, 2**64, -(2**63), -(2**63) - 1],
        "deep": [{"x": [10**40, 1.5, -0.25]}], "digits": "12345678901234567890"}  # fmt: skip


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_integers_beyond_64_bits_import_as_loaddata_imports_them(tmp_path, fmt):
    """Issue 11: a JSONField holding integers beyond 64 bits, which dumpdata writes and
    loaddata reads back exactly, is imported exactly by load() and by convert (then inspected
    and loaded), the same tables as loaddata's."""
    generate(30, seed=2, using="default")
    parts = list(Part.objects.using("default").order_by("pk")[:3])
    for part in parts[:2]:  # two records: one section's rows go the exact way in a batch
        Part.objects.using("default").filter(pk=part.pk).update(metadata=HUGE)
    data = dumpdata(tmp_path, fmt, exclude=REGENERATED)
    expected = _loaddata(tmp_path / f"fixture.{fmt}")
    assert Part.objects.using("target").get(pk=parts[0].pk).metadata == HUGE
    fresh_target()
    load(io.BytesIO(data), using="target", clear=True)
    _same_as_loaddata(expected)
    stored = Part.objects.using("target").get(pk=parts[1].pk).metadata
    assert json.dumps(stored) == json.dumps(HUGE)  # integers stay integers, not equal floats
    out = io.BytesIO()
    convert(io.BytesIO(data), out, get_config())
    report = inspect_stream(io.BytesIO(out.getvalue()))
    assert report.intact, report.error
    fresh_target()
    load(io.BytesIO(out.getvalue()), using="target", clear=True)
    _same_as_loaddata(expected)


BAD_VALUES = [  # field, value as the fixture's JSON text has it, what the message shows
    ("created", '"yesterday"', "yesterday"),
    ("metadata", '{"x": NaN}', "nan"),  # dumpdata writes NaN; orjson would write null
    ("metadata", '{"x": [1e400, 123456789012345678901234567890]}', "1E+400"),
    ("name", '"\\ud800 alone"', "surrogate"),  # no JSON text holds it
]


@pytest.mark.parametrize(("field", "text", "shown"), BAD_VALUES)
def test_a_bad_value_names_record_model_and_field_and_changes_nothing(
    tmp_path, field, text, shown
):
    generate(40, seed=1, using="default")
    data = orjson.loads(dumpdata(tmp_path, "json"))
    number, part = next((i, o) for i, o in enumerate(data, 1) if o["model"] == "inventory.part")
    part["fields"][field] = "BAD"
    fixture = orjson.dumps(data).replace(b'"BAD"', text.encode())
    fresh_target()
    before = database_digests("target")
    with pytest.raises(ImportFailed) as info:
        load(io.BytesIO(fixture), using="target", clear=True)
    message = str(info.value)
    assert f"record {number} (inventory.Part), field {field}" in message, message
    assert shown in message
    assert info.value.target_state == ImportFailed.UNCHANGED
    assert database_digests("target") == before


def test_a_missing_natural_key_is_named(tmp_path):
    generate(40, seed=1, using="default")
    data = orjson.loads(dumpdata(tmp_path, "json", foreign=True))
    part = next(o for o in data if o["model"] == "inventory.part" and o["fields"].get("units"))
    part["fields"]["units"] = ["no such unit"]
    fresh_target()
    with pytest.raises(ImportFailed) as info:
        load(io.BytesIO(orjson.dumps(data)), using="target", clear=True)
    message = str(info.value)
    assert "no inventory.Unit with natural key ['no such unit']" in message, message
    assert "section inventory.Part" in message and "column units_id" in message
    assert info.value.target_state == ImportFailed.UNCHANGED


def test_unknown_model_and_damaged_file_are_named(tmp_path):
    fixture = [{"model": "inventory.unit", "pk": 1, "fields": {"name": "m"}},
               {"model": "nowhere.thing", "pk": 1, "fields": {}}]  # fmt: skip
    with pytest.raises(ImportFailed, match=r"record 2: model nowhere.thing is not installed"):
        load(io.BytesIO(orjson.dumps(fixture)), using="target", clear=True)
    cut = orjson.dumps(fixture)[:-20]
    with pytest.raises(ImportFailed, match="damaged or truncated after object 1"):
        load(io.BytesIO(cut), using="target", clear=True)
    summary = load(io.BytesIO(orjson.dumps(fixture)), using="target", clear=True,
                   ignore_missing=True)  # fmt: skip
    assert summary.rows == {"inventory.Unit": 1}


def test_metadata_record_is_the_header_and_a_version_difference_is_reported(tmp_path, caplog):
    generate(20, seed=1, using="default")
    data = orjson.loads(dumpdata(tmp_path, "json", foreign=True))
    metadata = {"metadata": True, "source_version": "0.9", "django_version": "1.0",
                "installed_apps": ["inventory", "not.an.app"]}  # fmt: skip
    raw = orjson.dumps([metadata, *data])
    report = inspect_stream(io.BytesIO(raw))
    assert report.intact and report.header["source_version"] == "0.9"
    fresh_target()
    summary = load(io.BytesIO(raw), using="target", clear=True)
    assert (
        "Source version '0.9' does not match the current version 'None' - this may lead to "
        "issues with the import process"
    ) in summary.warnings
    assert any("Source app 'not.an.app' is not installed" in w for w in summary.warnings)
    assert summary.rows["inventory.Part"] == Part.objects.using("default").count()


def test_convert_writes_a_stream_that_imports_the_same(tmp_path):
    generate(80, seed=4, using="default")
    data = dumpdata(tmp_path, "json", foreign=True, primary=True)
    fresh_target()
    load(io.BytesIO(data), using="target", clear=True)
    expected = database_digests("target")
    out = io.BytesIO()
    records = convert(io.BytesIO(data), out, get_config())
    assert records == len(orjson.loads(data))
    report = inspect_stream(io.BytesIO(out.getvalue()))
    assert report.intact and report.kind == "streamdump", report.error
    assert report.header["fixture"]["records"] == records
    fresh_target()
    load(io.BytesIO(out.getvalue()), using="target", clear=True)
    _same_as_loaddata(expected)


def test_convert_refuses_what_is_not_a_fixture():
    with pytest.raises(FormatError, match="not a Django fixture"):
        convert(io.BytesIO(b"hello"), io.BytesIO(), get_config())


@pytest.mark.parametrize("how", ["gz", "xz"])
def test_a_damaged_compressed_fixture_is_named(how):
    fixture = orjson.dumps([{"model": "inventory.unit", "pk": 1, "fields": {"name": "m"}}] * 50)
    cut = compress(fixture, how)[:-12]
    with pytest.raises(ImportFailed, match=f"the {'gzip' if how == 'gz' else how} data"):
        load(io.BytesIO(cut), using="target", clear=True)
    report = inspect_stream(io.BytesIO(cut))
    assert not report.intact


def test_start_up_rows_are_replaced_by_the_fixture_s(tmp_path):
    """Settings rows the target wrote itself make way for the fixture's rows with their key."""
    from common.models import Setting

    generate(20, seed=1, using="default")
    Setting.objects.using("default").update(value="from the dump")
    data = dumpdata(tmp_path, "json")
    fresh_target()
    Setting.objects.using("target").update_or_create(
        key="SITE_NAME", defaults={"value": "written at start-up"}
    )
    summary = load(io.BytesIO(data), using="target")
    assert set(Setting.objects.using("target").values_list("value", flat=True)) == {"from the dump"}
    assert summary.replaced.get("common.Setting")


@pytest.mark.django_db(databases=[])
def test_commands_read_a_compressed_fixture_from_stdin_and_convert_it(
    source, sqlite_template, tmp_path
):
    """loadstream - reads a gzipped JSON-lines fixture from a pipe; convert and inspect work
    through the console script."""
    env, expected = source
    fixture = tmp_path / "fixture.jsonl.gz"
    out = manage("dumpdata", "--format", "jsonl", "--natural-foreign", env=env).stdout
    fixture.write_bytes(gzip.compress(out))
    target = migrated_sqlite(sqlite_template, tmp_path / "target.sqlite3")
    target_env = example_env("sqlite", target)
    with open(fixture, "rb") as stdin:
        manage("loadstream", "-", "-c", "--no-progress", env=target_env, stdin=stdin)
    counts = {label: rows for label, (rows, _) in digests(target_env).items()}
    assert counts == {label: rows for label, (rows, _) in expected.items()}
    stream = tmp_path / "converted.ndjson.zst"
    settings = ["--settings", "example_project.settings", "--pythonpath", str(MANAGE.parent)]
    run = [sys.executable, "-m", "streamdump"]
    subprocess.run([*run, "convert", *settings, str(fixture), str(stream)], env=env, check=True)
    report = subprocess.run([*run, "inspect", str(stream)], capture_output=True, text=True)
    assert report.returncode == 0, report.stdout
    assert "a Django fixture (JSON lines" in report.stdout
    report = subprocess.run([*run, "inspect", str(fixture)], capture_output=True, text=True)
    assert report.returncode == 0 and "intact" in report.stdout, report.stdout


@pytest.mark.server
@pytest.mark.parametrize("vendor", ["postgresql", "mysql"])
def test_a_natural_key_fixture_imports_alike_on_every_backend(tmp_path, vendor):
    """The insert paths of PostgreSQL (COPY) and MariaDB (multi-row INSERT), natural keys
    resolved there: the same tables as on SQLite (in processes: a database of its own)."""
    from .servers import create_database, drop_database, require, unique_name

    require(vendor)
    generate(120, seed=8, using="default")
    make_grades()  # keys that wait for rows further on, children without a pk
    data = dumpdata(tmp_path, "jsonl", foreign=True, primary=True, exclude=REGENERATED)
    fresh_target()
    load(io.BytesIO(data), using="target", clear=True)
    expected = database_digests("target")
    fixture = tmp_path / "fixture.jsonl.xz"
    fixture.write_bytes(lzma.compress(data))
    name = unique_name()
    create_database(vendor, name)
    try:
        env = example_env(vendor, name)
        manage("loadstream", "-c", "--no-progress", str(fixture), env=env)
        actual = digests(env)
    finally:
        drop_database(vendor, name)
    assert [label for label in expected if list(expected[label]) != actual.get(label)] == []


def test_sections_decoded_in_a_worker_process(tmp_path, caplog):
    """A fixture's large sections are decoded in a worker process as a stream's are, those with
    natural keys too once the target has every key (looked up before the rows): the tables are
    the same as decoded in the importing process. Keys to rows further on (grades) keep their
    section in the importing process."""
    import dataclasses
    import logging

    generate(300, seed=13, using="default")
    make_grades()
    data = dumpdata(tmp_path, "json", foreign=True, primary=True)
    fresh_target()
    off = dataclasses.replace(get_config(), decode_worker=False)
    load(io.BytesIO(data), using="target", clear=True, config=off)
    expected = database_digests("target")
    fresh_target()
    forced = dataclasses.replace(get_config(), decode_worker="always", decode_worker_min_rows=0)
    with caplog.at_level(logging.DEBUG, logger="streamdump"):
        load(io.BytesIO(data), using="target", clear=True, config=forced)
    assert database_digests("target") == expected
    started = {
        r.getMessage().split()[1].rstrip(":")
        for r in caplog.records
        if "decoding in worker process" in r.getMessage()
    }
    # StockMovement and Comment refer to users by natural key, Part to its unit.
    assert {"inventory.StockItem", "inventory.StockMovement", "inventory.Part"} <= started
    assert "inventory.Grade" not in started  # its successors come later in the file

