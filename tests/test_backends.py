"""The migration matrix: export from each backend, import into each, compare every table's digest.

Each source is a migrated database filled by the example generator plus a few rows at the edges of
what the backends store; it is exported once (in small pages, so keyset pagination is exercised,
MariaDB's native uuid keys included) and imported into a fresh migrated database of every backend.
Where the target stores less than the source held, the comparison reduces exactly that (see
docs/BACKENDS.md); nothing else. After each import, new rows get fresh ids on every table with an
auto id (sequences and AUTO_INCREMENT were reset).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import io
import uuid

import pytest
from django.db import connections, models

from streamdump.digest import canonical_value, database_digests
from streamdump.errors import StreamdumpError
from streamdump.exporter import export
from streamdump.sequencer import load
from streamdump.tables import model_tables

from .servers import VENDORS, migrated_database

pytestmark = pytest.mark.server

ROWS = 2500
EXPORT_PAGE = 97  # rows per keyset page: many pages per table

# Values beyond what the generator uses, one per claim in docs/BACKENDS.md.
WIDE_DECIMAL = decimal.Decimal("123456789012345678.1234567891")  # 28 significant digits
WIDE_PRICE = decimal.Decimal("-123456789012345678.123456789012")  # 30 significant digits
JSON_KEY_ORDER = {"zeta": 1, "alpha": [3, 2, 1], "ä": {"b": None, "a": "x"}, "": 0.5}
EDGE_FLOATS = (5e-324, 2.2250738585072014e-308, -0.0)


def add_edge_rows(alias: str) -> None:
    """Rows at the edges of what each backend stores, next to the generated ones."""
    from inventory.models import Company, Part, SupplierPart

    parts = Part._base_manager.db_manager(alias)
    for n, weight in enumerate(EDGE_FLOATS):
        parts.create(
            id=900_001 + n,
            name=f"edge part {n}",
            minimum_stock=WIDE_DECIMAL,
            weight_kg=weight,
            metadata=JSON_KEY_ORDER,
            lead_time=datetime.timedelta(days=-1, microseconds=1),
        )
    SupplierPart._base_manager.db_manager(alias).create(
        id=900_001, part_id=900_001, supplier=Company._base_manager.using(alias).first(),
        SKU="edge", unit_price=WIDE_PRICE,
    )  # fmt: skip


def sqlite_precision(value):
    """SQLite keeps decimals as REAL: compare them at 15 significant digits, nothing else."""
    if isinstance(value, decimal.Decimal):
        return "dec15:" + str(decimal.Context(prec=15).create_decimal(value).normalize())
    return canonical_value(value)


class Sources:
    """One generated, exported source per backend, made on first use and kept for the module."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.made: dict[str, tuple[bytes, dict, dict]] = {}

    def get(self, vendor: str) -> tuple[bytes, dict, dict]:
        """(dump bytes, exact digests, digests at SQLite's precision) of this backend's source."""
        if vendor not in self.made:
            from inventory.generate import generate

            alias = self.stack.enter_context(migrated_database(vendor))
            generate(ROWS, seed=7, using=alias)
            add_edge_rows(alias)
            out = io.BytesIO()
            export(out, using=alias, batch_size=EXPORT_PAGE)
            self.made[vendor] = (
                out.getvalue(),
                database_digests(alias),
                database_digests(alias, canonical=sqlite_precision),
            )
        return self.made[vendor]


@pytest.fixture(scope="module", autouse=True)
def _database_access(django_db_blocker):
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def sources():
    with contextlib.ExitStack() as stack:
        yield Sources(stack)


def _differences(expected: dict, actual: dict) -> list[str]:
    return [
        f"{label}: source {expected.get(label)} target {actual.get(label)}"
        for label in sorted(set(expected) | set(actual))
        if expected.get(label) != actual.get(label)
    ]


# --- sequences after import -------------------------------------------------------------------


def _free_pair(manager, fields: list[models.Field], obj: models.Model) -> bool:
    """Point the last foreign key of a unique set at a row that makes the set unused."""
    *fixed, last = fields
    taken = set(
        manager.filter(**{f.attname: getattr(obj, f.attname) for f in fixed}).values_list(
            last.attname, flat=True
        )
    )
    related = last.related_model._base_manager.using(manager.db)
    for pk in related.order_by("pk").values_list("pk", flat=True)[:200]:
        if pk not in taken:
            setattr(obj, last.attname, pk)
            return True
    return False


def _make_unique(manager, model: type[models.Model], obj: models.Model) -> bool:
    """Change a copied row so that it breaks no unique constraint; False if it cannot."""
    token = uuid.uuid4().hex
    opts = model._meta
    unique_sets = [[f] for f in opts.local_concrete_fields if f.unique and not f.primary_key]
    unique_sets += [[opts.get_field(n) for n in names] for names in opts.unique_together]
    for fields in unique_sets:
        text = [f for f in fields if isinstance(f, models.CharField)]
        if text:
            f = text[0]
            setattr(obj, f.attname, f"new-{token}"[: f.max_length])
        elif isinstance(fields[-1], models.UUIDField):
            setattr(obj, fields[-1].attname, uuid.uuid4())
        elif not (fields[-1].is_relation and _free_pair(manager, fields, obj)):
            return False
    return True


def assert_new_rows_get_fresh_ids(alias: str) -> None:
    """Create a row through the ORM in every imported table with an auto id."""
    checked = []
    for table in model_tables(_config(), alias):
        model = table.model
        if not isinstance(model._meta.pk, models.AutoField):  # Big/Small auto fields subclass it
            continue
        manager = model._base_manager.using(alias)
        top = manager.order_by("-pk").first()
        if top is None:
            continue
        highest = top.pk
        obj = manager.get(pk=highest)
        obj.pk = None
        assert _make_unique(manager, model, obj), f"cannot make a unique copy of a {table.label}"
        obj.save(using=alias, force_insert=True)
        assert obj.pk > highest, (
            f"{table.label}: new row got id {obj.pk}, existing ids reach {highest}"
        )
        checked.append(table.label)
    assert "auth.User_groups" in checked and "inventory.Part_tags" in checked, checked


def _config():
    from streamdump.conf import get_config

    return get_config()


# --- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", VENDORS)
@pytest.mark.parametrize("source", VENDORS)
def test_migration_is_exact(sources, source, target):
    """Every table identical by digest after export from `source` and import into `target`."""
    with migrated_database(target) as alias:
        dump, exact, reduced = sources.get(source)
        summary = load(io.BytesIO(dump), using=alias)
        assert summary.total_rows > ROWS
        if target == "sqlite" and source != "sqlite":
            expected, actual = reduced, database_digests(alias, canonical=sqlite_precision)
            # The reduction matters: the edge rows differ without it.
            assert database_digests(alias)["inventory.Part"] != exact["inventory.Part"]
        else:
            expected, actual = exact, database_digests(alias)
        assert not _differences(expected, actual)
        assert_new_rows_get_fresh_ids(alias)


# --- streaming reads and unreachable servers ---------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
def test_export_reads_in_bounded_pages(sources, vendor):
    """No query returns a whole table: the client never holds more than a page.

    The default MySQL cursor buffers a whole result set, so boundedness must come from the SQL:
    every read of a table's rows is a keyset page with LIMIT. Counts return one row; the only
    whole-table reads are of the small tables the target regenerates (content types, permissions)
    and the application's own plugin reload hook reading its plugin configuration.
    """
    from django.test.utils import CaptureQueriesContext

    from streamdump.conf import get_config

    config = get_config()
    rows_of = {
        quote + t.db_table + quote
        for t in model_tables(config)
        if t.label not in config.natural_key_models and t.label not in config.plugin_config_models
        for quote in '"`'
    }
    with migrated_database(vendor) as alias:
        load(io.BytesIO(sources.get("sqlite")[0]), using=alias)
        with CaptureQueriesContext(connections[alias]) as queries:
            export(io.BytesIO(), using=alias, batch_size=EXPORT_PAGE)
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT")
        and "COUNT(" not in q["sql"].upper()
        and any(name in q["sql"] for name in rows_of)
    ]
    unbounded = [sql[:200] for sql in reads if " LIMIT " not in sql.upper()]
    assert len(reads) > 30
    assert not unbounded


def test_unreachable_server_fails_on_ci_and_skips_visibly_elsewhere(monkeypatch):
    from . import dbservers

    monkeypatch.setattr(dbservers, "server_problem", lambda vendor: "cannot connect (test)")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set and postgresql is required"):
        dbservers.require("postgresql")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="cannot connect.*set CI=1"):
        dbservers.require("postgresql")


@pytest.mark.parametrize("target", VENDORS)
def test_clear_keeps_forward_references_loadable(target):
    """Rows referring to rows later in the stream (a category whose parent has a higher id) load
    with --clear too: MariaDB's flush turns foreign-key checks back on when it is done, and the
    import must turn them off again (Wagtail's workflow and task states refer to each other)."""
    from inventory.models import PartCategory

    with migrated_database("sqlite") as source:
        categories = PartCategory._base_manager.db_manager(source)
        child = categories.create(id=1, name="child")
        categories.create(id=2, name="parent")
        categories.filter(pk=child.pk).update(parent_id=2)
        out = io.BytesIO()
        export(out, using=source)
        expected = database_digests(source)
    with migrated_database(target) as alias:
        load(io.BytesIO(out.getvalue()), using=alias, clear=True)
        assert not _differences(expected, database_digests(alias))


@pytest.mark.parametrize("target", VENDORS)
def test_float_values_a_target_cannot_store_are_refused(target):
    """NaN and infinities: PostgreSQL stores them; SQLite would turn NaN into NULL and MariaDB
    has neither, so the import fails, names the row, and leaves the target unchanged."""
    from inventory.models import Part

    with migrated_database("postgresql") as source:
        for n, weight in enumerate((float("nan"), float("inf"), float("-inf"))):
            Part._base_manager.db_manager(source).create(
                id=n + 1, name=f"float {n}", minimum_stock=0, weight_kg=weight
            )
        out = io.BytesIO()
        export(out, using=source)
        expected = database_digests(source)
    with migrated_database(target) as alias:
        if target == "postgresql":
            load(io.BytesIO(out.getvalue()), using=alias)
            assert not _differences(expected, database_digests(alias))
            return
        reason = "NaN" if target == "sqlite" else "can not be used with MySQL"
        with pytest.raises(StreamdumpError, match=reason):
            load(io.BytesIO(out.getvalue()), using=alias)
        assert not Part._base_manager.using(alias).exists()


@pytest.mark.parametrize("kind", ["stream", "fixture"])
@pytest.mark.parametrize("target", VENDORS)
def test_clear_numbers_emptied_tables_afresh(target, kind):
    """After --clear, a row the application writes later gets the id it would get after Django's
    flush: rows an application writes at every start (InvenTree's plugin configurations, task
    schedules, templates) come back with ids 1, 2, ... as after its own restore, not with ids past
    the rows the clear deleted, also in a table the dump has no rows for (a fixture has no
    section for it). On MariaDB, where the ALTER TABLE that restarts AUTO_INCREMENT commits, it
    runs after the import's commit (backends/mysql.py), with the same result."""
    from django.core.management import call_command
    from inventory.models import PartCategory, Tag

    with migrated_database("sqlite") as source:
        for n in (1, 2, 3):
            PartCategory._base_manager.db_manager(source).create(id=n, name=f"dumped {n}")
        if kind == "stream":
            out = io.BytesIO()
            export(out, using=source)
            dump = out.getvalue()
        else:
            text = io.StringIO()
            call_command("dumpdata", "inventory.PartCategory", database=source, stdout=text)
            dump = text.getvalue().encode()
    with migrated_database(target) as alias:
        # What the application wrote before the import: more rows than the dump has.
        for n in range(30):
            Tag._base_manager.db_manager(alias).create(name=f"start-up {n}")
            PartCategory._base_manager.db_manager(alias).create(name=f"start-up {n}")
        load(io.BytesIO(dump), using=alias, clear=True)
        assert PartCategory._base_manager.using(alias).count() == 3
        assert not Tag._base_manager.using(alias).exists()
        tag = Tag._base_manager.db_manager(alias).create(name="written at the next start")
        category = PartCategory._base_manager.db_manager(alias).create(name="new")
        assert (tag.pk, category.pk) == (1, 4)
