"""Import in process: exact, all or nothing, and every refusal names what is wrong."""

from __future__ import annotations

import contextlib
import io
import re

import orjson
import pytest
import zstandard
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connections, transaction
from inventory.generate import generate
from inventory.models import Comment, Part, Tag

from streamdump import database_digests, export, load
from streamdump.errors import (
    FormatError,
    ImportFailed,
    SchemaMismatch,
    StreamdumpError,
    TargetNotEmpty,
    TruncatedStream,
)

from .streams import rewrite

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "target"])


@pytest.fixture
def dump():
    """Example data in "default", exported to bytes."""
    generate(800, seed=3, using="default")
    buffer = io.BytesIO()
    export(buffer, using="default")
    return buffer.getvalue()


@contextlib.contextmanager
def fails_with(kind: type[Exception], match: str | None = None):
    """load() raises ImportFailed from an error of `kind`, and says the target is unchanged."""
    with pytest.raises(ImportFailed) as info:
        yield info
    assert isinstance(info.value.__cause__, kind), repr(info.value.__cause__)
    assert info.value.target_state == ImportFailed.UNCHANGED
    if match is not None:
        assert re.search(match, str(info.value)), str(info.value)


def snapshot(using="target"):
    return database_digests(using)


def test_load_gives_identical_tables(dump):
    summary = load(io.BytesIO(dump), using="target")
    assert summary.rows["inventory.Part"] == Part.objects.using("default").count()
    assert snapshot("target") == snapshot("default")


def test_auto_now_and_ids_are_kept_as_dumped(dump):
    load(io.BytesIO(dump), using="target")
    source = list(Part.objects.using("default").order_by("pk").values_list("pk", "last_modified"))
    target = list(Part.objects.using("target").order_by("pk").values_list("pk", "last_modified"))
    assert source == target
    assert any(modified.microsecond for _, modified in target)


def test_new_rows_after_import_get_fresh_ids(dump):
    load(io.BytesIO(dump), using="target")
    top = Part.objects.using("target").order_by("-pk").first().pk
    created = Part.objects.using("target").create(name="new", minimum_stock=0)
    assert created.pk > top


def test_natural_keys_map_to_the_target_ids(dump):
    # Renumber the target's content types so that the dump's ids point at other models there.
    with transaction.atomic(using="target"), connections["target"].cursor() as cursor:
        cursor.execute("UPDATE django_content_type SET id = id + 1000")
        cursor.execute("UPDATE auth_permission SET content_type_id = content_type_id + 1000")
    ContentType.objects.clear_cache()
    load(io.BytesIO(dump), using="target")
    source = Comment.objects.using("default").order_by("pk").first()
    target = Comment.objects.using("target").get(pk=source.pk)
    assert target.content_type_id != source.content_type_id
    assert target.content_type.natural_key() == source.content_type.natural_key()
    assert snapshot("target") == snapshot("default")


def test_custom_permission_missing_in_target_is_added(dump):
    # A permission the source application created at run time, unknown to the target.
    source_ct = ContentType.objects.db_manager("default").get_for_model(Part)
    Permission.objects.using("default").create(
        codename="audit_part", name="Can audit part", content_type=source_ct
    )
    buffer = io.BytesIO()
    connections["default"].close()
    export(buffer, using="default")
    with connections["target"].cursor() as cursor:
        cursor.execute("DELETE FROM auth_permission")  # the target regenerates these lazily
    summary = load(io.BytesIO(buffer.getvalue()), using="target")
    assert summary.natural_added["auth.Permission"] > 0
    assert Permission.objects.using("target").filter(codename="audit_part").exists()


def test_content_types_and_permissions_are_merged_in_batches_not_per_row(dump):
    # With -c the target's content types and permissions go too, and come back from the dump.
    from django.test.utils import CaptureQueriesContext

    load(io.BytesIO(dump), using="target")
    natural = (
        ContentType.objects.using("target").count() + Permission.objects.using("target").count()
    )
    ContentType.objects.clear_cache()
    with CaptureQueriesContext(connections["target"]) as queries:
        summary = load(io.BytesIO(dump), using="target", clear=True)
    tables = ("django_content_type", "auth_permission")
    merged = [
        q["sql"]
        for q in queries.captured_queries
        if any(t in q["sql"] for t in tables) and not q["sql"].lstrip().startswith("DELETE")
    ]
    assert summary.natural_added["auth.Permission"] > 0
    assert natural > 100
    assert len(merged) < 20, merged[:30]
    assert snapshot("target") == snapshot("default")


def test_non_empty_target_is_refused_and_unchanged(dump):
    load(io.BytesIO(dump), using="target")
    before = snapshot()
    with fails_with(TargetNotEmpty, match="already holds rows in .*inventory"):
        load(io.BytesIO(dump), using="target")
    assert snapshot() == before


def test_the_target_is_looked_at_for_rows_once(dump, monkeypatch):
    """The refusal of a target holding rows reads every table: once per import, before the
    first write, where the target's schema was current; once more, inside the transaction, only
    after migrations this import ran (a data migration may write rows)."""
    from django.test.utils import CaptureQueriesContext

    from streamdump import chores, startup

    looked = []
    real = startup.rows_in_the_way
    monkeypatch.setattr(
        startup, "rows_in_the_way", lambda *args: looked.append(args) or real(*args)
    )
    with CaptureQueriesContext(connections["target"]) as queries:
        load(io.BytesIO(dump), using="target")
    assert len(looked) == 1
    parts = [q["sql"] for q in queries.captured_queries
             if re.match(r'SELECT 1 AS "a" FROM "inventory_part"', q["sql"])]  # fmt: skip
    assert len(parts) == 1, parts
    # As if the target's migrations had run in the import: looked at again after them.
    call_command("flush", database="target", interactive=False, verbosity=0)
    migrate = chores.migrate
    monkeypatch.setattr(chores, "migrate", lambda connection: migrate(connection) or True)
    looked.clear()
    load(io.BytesIO(dump), using="target")
    assert len(looked) == 2


def test_clear_empties_the_target_first(dump):
    Part.objects.using("target").create(name="left over", minimum_stock=1)
    load(io.BytesIO(dump), using="target", clear=True)
    assert not Part.objects.using("target").filter(name="left over").exists()
    assert snapshot("target") == snapshot("default")


def test_bad_value_names_section_row_and_column_and_changes_nothing(dump):
    before = snapshot()
    seen = []

    def mutate(model, obj):
        if model == "inventory.Part" and isinstance(obj, list):
            seen.append(obj)
            if len(seen) == 7:
                obj[0] = "seven"  # the id column
        return obj

    with fails_with(FormatError) as info:
        load(io.BytesIO(rewrite(dump, mutate)), using="target")
    message = str(info.value)
    assert "section inventory.Part" in message and "row 7" in message and "column id" in message
    assert snapshot() == before


def test_dangling_foreign_key_rolls_everything_back(dump):
    before = snapshot()

    def mutate(model, obj):
        if model == "inventory.StockItem" and isinstance(obj, list):
            obj[1] = 10**9  # part_id pointing nowhere
        return obj

    with fails_with(StreamdumpError, match="foreign key"):
        load(io.BytesIO(rewrite(dump, mutate)), using="target")
    assert snapshot() == before


def test_truncated_stream_rolls_back_the_sections_already_written(dump):
    before = snapshot()
    cut = dump[: len(dump) * 3 // 4]
    with fails_with(FormatError):
        load(io.BytesIO(cut), using="target")
    assert snapshot() == before
    assert not Part.objects.using("target").exists()


def test_stream_without_trailer_is_truncated(dump):
    before = snapshot()

    def mutate(model, obj):
        return None if isinstance(obj, dict) and obj["type"] == "trailer" else obj

    with fails_with(TruncatedStream, match="without its trailer"):
        load(io.BytesIO(rewrite(dump, mutate)), using="target")
    assert snapshot() == before


def test_unknown_model_is_refused_before_anything_is_written(dump):
    def mutate(model, obj):
        if isinstance(obj, dict):
            if obj["type"] == "header":
                for table in obj["tables"]:
                    if table["model"] == "inventory.Tag":
                        table["model"] = "ghost.Tag"
            elif obj.get("model") == "inventory.Tag":
                obj["model"] = "ghost.Tag"
        return obj

    before = snapshot()
    with fails_with(SchemaMismatch, match=r"model ghost\.Tag .* is not installed"):
        load(io.BytesIO(rewrite(dump, mutate)), using="target")
    assert snapshot() == before


def test_column_difference_is_named(dump):
    def mutate(model, obj):
        if isinstance(obj, dict) and obj["type"] == "header":
            for table in obj["tables"]:
                if table["model"] == "inventory.Tag":
                    table["columns"].append(["shade", "str"])
        return obj

    with fails_with(SchemaMismatch, match="inventory.Tag: column shade is in the dump"):
        load(io.BytesIO(rewrite(dump, mutate)), using="target")


def test_migration_difference_is_named(dump):
    def mutate(model, obj):
        if isinstance(obj, dict) and obj["type"] == "header":
            obj["migrations"]["inventory"].append("0002_future")
        return obj

    with fails_with(SchemaMismatch, match="inventory.0002_future is applied in the dump"):
        load(io.BytesIO(rewrite(dump, mutate)), using="target")


def test_newer_format_version_is_refused(dump):
    def mutate(model, obj):
        if isinstance(obj, dict) and obj["type"] == "header":
            obj["version"] = 2
        return obj

    with fails_with(FormatError, match="format version 2, newer"):
        load(io.BytesIO(rewrite(dump, mutate)), using="target")


def test_sections_out_of_phase_order_are_spooled_and_replayed(dump):
    # Move the remainder table inventory.Tag in front of every auth section, header included.
    from .streams import lines_of

    lines = [orjson.loads(line) for line in lines_of(dump)]
    header, body = lines[0], lines[1:]
    start = next(
        i for i, o in enumerate(body) if isinstance(o, dict) and o.get("model") == "inventory.Tag"
    )
    end = next(
        i for i in range(start, len(body)) if isinstance(body[i], dict) and body[i]["type"] == "end"
    )
    moved, rest = body[start : end + 1], body[:start] + body[end + 1 :]
    tag = next(t for t in header["tables"] if t["model"] == "inventory.Tag")
    header["tables"] = [tag] + [t for t in header["tables"] if t is not tag]
    reordered = [header, *moved, *rest]
    data = rewrite(
        zstandard.ZstdCompressor().compress(b"".join(orjson.dumps(o) + b"\n" for o in reordered)),
        lambda model, obj: obj,
    )
    summary = load(io.BytesIO(data), using="target")
    assert summary.rows["inventory.Tag"] == 30
    assert snapshot("target") == snapshot("default")


def test_start_up_settings_are_replaced_not_reported(dump):
    from common.models import Setting

    ours = Setting.objects.using("target").get(key="INSTANCE_ID").value
    theirs = Setting.objects.using("default").get(key="INSTANCE_ID").value
    assert ours != theirs
    summary = load(io.BytesIO(dump), using="target")
    assert summary.replaced["common.Setting"] >= 3
    assert Setting.objects.using("target").get(key="INSTANCE_ID").value == theirs


def test_target_only_settings_are_kept_unless_their_id_collides(dump):
    from common.models import Setting

    dumped_ids = set(Setting.objects.using("default").values_list("pk", flat=True))
    Setting.objects.using("target").create(pk=10_000, key="TARGET_ONLY", value="kept")
    Setting.objects.using("target").create(pk=max(dumped_ids), key="UNLUCKY", value="replaced")
    load(io.BytesIO(dump), using="target")
    assert Setting.objects.using("target").get(key="TARGET_ONLY").value == "kept"
    assert not Setting.objects.using("target").filter(key="UNLUCKY").exists()


def test_ignore_missing_skips_models_that_are_not_installed(dump):
    def mutate(model, obj):
        if isinstance(obj, dict):
            if obj["type"] == "header":
                for table in obj["tables"]:
                    if table["model"] == "inventory.Tag":
                        table["model"] = "retired.Tag"
                    if table["model"] == "inventory.Part_tags":
                        table["rows"] = 0
                obj["apps"]["retired"] = "retired_app"
            elif obj.get("model") == "inventory.Tag":
                obj["model"] = "retired.Tag"
        if model == "inventory.Part_tags" and isinstance(obj, list):
            return None  # the rows that pointed at the retired tags go too
        return obj

    data = rewrite(dump, mutate)
    with fails_with(SchemaMismatch, match="code of its app 'retired' .* is not found"):
        load(io.BytesIO(data), using="target")
    summary = load(io.BytesIO(data), using="target", ignore_missing=True)
    assert summary.skipped == ["retired.Tag"]
    assert not Tag.objects.using("target").exists()
    assert Part.objects.using("target").count() == Part.objects.using("default").count()
