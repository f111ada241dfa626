"""PostgreSQL: foreign keys and indexes set aside during an import and re-created before commit.

The schema after an import is the schema before it, every constraint and index definition and
name included (read from pg_catalog with pg_get_constraintdef / pg_get_indexdef), after success
and after any failure; a dangling key in the data still fails naming its table and constraint;
a duplicate key is still refused by the batch that brings it. REBUILD_MIN_ROWS is lowered so
that every table of these small dumps is rebuilt (its default leaves small tables alone).
"""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from django.db import connections

from streamdump import database_digests, export, load
from streamdump.conf import get_config
from streamdump.errors import DanglingReference, ImportFailed, StreamdumpError

from .helpers import digests, example_env, manage
from .servers import create_database, drop_database, migrated_database, require, unique_name
from .streams import rewrite
from .test_sequenced import dangling_reading, plugin_source  # noqa: F401  # a fixture

pytestmark = pytest.mark.server

# Every constraint and index of the public schema, by table and name, with its definition as
# PostgreSQL prints it, and the comments on them.
SCHEMA = """
SELECT 'constraint', rel.relname, con.conname, pg_get_constraintdef(con.oid),
       obj_description(con.oid, 'pg_constraint')
FROM pg_constraint con
JOIN pg_class rel ON rel.oid = con.conrelid
JOIN pg_namespace ns ON ns.oid = rel.relnamespace
WHERE ns.nspname = 'public'
UNION ALL
SELECT 'index', rel.relname, ic.relname, pg_get_indexdef(i.indexrelid),
       obj_description(i.indexrelid, 'pg_class')
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class rel ON rel.oid = i.indrelid
JOIN pg_namespace ns ON ns.oid = rel.relnamespace
WHERE ns.nspname = 'public'
ORDER BY 1, 2, 3
"""
# Objects the Django schema has on the imported tables, as the SCHEMA query names them.
STOCK_ITEM = "inventory_stockitem"
FOREIGN_KEY = ("constraint", STOCK_ITEM, re.compile(r"inventory_stockitem_part_id_.*_fk"))
INDEX = ("index", STOCK_ITEM, re.compile(r"inventory_stockitem_part_id_[0-9a-f]+$"))


def schema(alias: str) -> list[tuple]:
    with connections[alias].cursor() as cursor:
        cursor.execute(SCHEMA)
        return [tuple(row) for row in cursor.fetchall()]


def named(rows: list[tuple], kind: str, table: str, pattern: re.Pattern) -> list[tuple]:
    return [r for r in rows if r[0] == kind and r[1] == table and pattern.match(r[2])]


def rebuilding(least: int | None = 1):
    return dataclasses.replace(get_config(), rebuild_min_rows=least)


class DuringLoad:
    """An events callback reading the target's schema, in the import's transaction, as the
    verify step starts: what was set aside is missing then."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.schema: list[tuple] | None = None

    def __call__(self, event: dict) -> None:
        if event["event"] == "step_start" and event["step"] == "verify":
            self.schema = schema(self.alias)


@pytest.fixture(scope="module", autouse=True)
def _database_access(django_db_blocker):
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def dump():
    """Generated example data exported from PostgreSQL, and its digests."""
    from inventory.generate import generate

    with migrated_database("postgresql") as alias:
        generate(1200, seed=5, using=alias)
        out = io.BytesIO()
        export(out, using=alias)
        yield out.getvalue(), database_digests(alias)


@pytest.fixture
def target():
    with migrated_database("postgresql") as alias:
        yield alias


def test_schema_is_identical_after_an_import_that_rebuilt_it(dump, target):
    data, expected = dump
    before = schema(target)
    during = DuringLoad(target)
    load(io.BytesIO(data), using=target, config=rebuilding(), events=during)
    assert database_digests(target) == expected
    assert schema(target) == before
    # It did set them aside: the foreign keys between imported tables and the plain indexes
    # were missing while the rows went in; primary keys and unique constraints were not.
    assert named(before, *FOREIGN_KEY) and named(before, *INDEX)
    assert not named(during.schema, *FOREIGN_KEY) and not named(during.schema, *INDEX)
    missing = set(before) - set(during.schema)
    assert len(missing) > 40
    assert not [r for r in missing if r[3].startswith(("PRIMARY KEY", "UNIQUE", "CREATE UNIQUE"))]


def test_clear_into_a_target_holding_rows(dump, target):
    """--clear empties the target in the import's transaction, then the tables are rebuilt."""
    from inventory.generate import generate

    data, expected = dump
    generate(300, seed=9, using=target)
    before, rows_before = schema(target), database_digests(target)
    with pytest.raises(ImportFailed):
        load(
            io.BytesIO(rewrite(data, stock_item_to_nowhere)),
            using=target,
            clear=True,
            config=rebuilding(),
        )
    assert schema(target) == before and database_digests(target) == rows_before
    load(io.BytesIO(data), using=target, clear=True, config=rebuilding())
    assert database_digests(target) == expected
    assert schema(target) == before


def test_default_threshold_leaves_small_tables_alone(dump, target):
    data, expected = dump
    before = schema(target)
    during = DuringLoad(target)
    load(io.BytesIO(data), using=target, events=during)
    assert during.schema == before
    assert database_digests(target) == expected
    assert schema(target) == before


def stock_item_to_nowhere(model, obj):
    if model == "inventory.StockItem" and isinstance(obj, list) and obj[0] % 50 == 7:
        obj[1] = 10**9  # part_id pointing nowhere
    return obj


def test_dangling_key_fails_naming_table_and_constraint_and_the_schema_is_back(dump, target):
    data, _ = dump
    before, rows_before = schema(target), database_digests(target)
    with pytest.raises(ImportFailed) as info:
        load(io.BytesIO(rewrite(data, stock_item_to_nowhere)), using=target, config=rebuilding())
    assert isinstance(info.value.__cause__, DanglingReference)
    assert info.value.target_state == ImportFailed.UNCHANGED
    [(_, _, constraint, _, _)] = named(before, *FOREIGN_KEY)
    message = str(info.value)
    assert "foreign key" in message and f'"{constraint}"' in message, message
    assert 'table "inventory_stockitem"' in message and "(part_id)=(1000000000)" in message
    assert 'not present in table "inventory_part"' in message
    assert schema(target) == before
    assert database_digests(target) == rows_before


def test_dangling_key_message_is_the_same_with_and_without_rebuilding(dump):
    data, _ = dump
    bad = rewrite(data, stock_item_to_nowhere)
    messages = []
    for least in (1, None):
        with migrated_database("postgresql") as alias, pytest.raises(ImportFailed) as info:
            load(io.BytesIO(bad), using=alias, config=rebuilding(least))
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_duplicate_key_is_refused_by_its_batch_and_the_schema_is_back(dump, target):
    data, _ = dump
    before = schema(target)

    def duplicate_part(model, obj):
        if model == "inventory.Part" and isinstance(obj, list) and obj[0] % 50 == 9:
            obj[0] -= 1  # the id of the row before: primary keys stay while loading
        return obj

    with pytest.raises(ImportFailed) as info:
        load(io.BytesIO(rewrite(data, duplicate_part)), using=target, config=rebuilding())
    assert isinstance(info.value.__cause__, StreamdumpError)
    message = str(info.value)
    assert "section inventory.Part" in message and "duplicate key" in message, message
    assert "inventory_part_pkey" in message
    assert schema(target) == before


def test_failure_while_rebuilding_rolls_the_schema_back(dump, target):
    """An index that cannot be built over the rows (it divides by a column that is 0): the
    import fails at the rebuild, after other indexes were built, and nothing stays."""
    data, _ = dump
    with connections[target].cursor() as cursor:
        cursor.execute("CREATE INDEX zz_by_inverse ON inventory_part ((1 / revision))")
    before, rows_before = schema(target), database_digests(target)
    with pytest.raises(ImportFailed) as info:
        load(io.BytesIO(data), using=target, config=rebuilding())
    assert "division by zero" in str(info.value)
    assert info.value.target_state == ImportFailed.UNCHANGED
    assert schema(target) == before
    assert database_digests(target) == rows_before


HAND_MADE = [
    # keys and indexes Django does not make: each comes back exactly as it was
    "ALTER TABLE inventory_partcategory ADD CONSTRAINT hand_parent FOREIGN KEY (parent_id) "
    "REFERENCES inventory_partcategory (id) NOT DEFERRABLE",
    "ALTER TABLE inventory_stockitem ADD CONSTRAINT hand_location FOREIGN KEY (location_id) "
    "REFERENCES inventory_stocklocation (id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE",
    "ALTER TABLE inventory_stockmovement ADD CONSTRAINT hand_unchecked FOREIGN KEY (item_id) "
    "REFERENCES inventory_stockitem (id) NOT VALID",
    "CREATE INDEX hand_partial ON inventory_part (name) WHERE active",
    "CREATE INDEX hand_expression ON inventory_part (lower(name) DESC NULLS LAST) "
    "INCLUDE (sort_key) WITH (fillfactor = 70)",
    "CREATE INDEX hand_hash ON inventory_stockitem USING hash (batch)",
    # commented: left in place (pg_get_indexdef does not carry the comment)
    "CREATE INDEX hand_commented ON inventory_part (slug, name)",
    "COMMENT ON INDEX hand_commented IS 'kept'",
]


def test_hand_made_keys_and_indexes_come_back_as_they_were(dump, target):
    data, expected = dump
    with connections[target].cursor() as cursor:
        for statement in HAND_MADE:
            cursor.execute(statement)
    before = schema(target)
    during = DuringLoad(target)
    load(io.BytesIO(data), using=target, config=rebuilding(), events=during)
    assert schema(target) == before
    assert database_digests(target) == expected
    names = {r[2] for r in set(before) - set(during.schema)}
    assert {"hand_parent", "hand_location", "hand_unchecked"} <= names
    assert {"hand_partial", "hand_expression", "hand_hash"} <= names
    assert "hand_commented" not in names


def test_partial_import_keeps_keys_to_the_tables_left_out(dump, target):
    """Keys to tables the import does not write stay (their re-creation would lock those
    tables until commit) and are checked row by row; the written table's indexes go."""
    data, expected = dump
    load(io.BytesIO(data), using=target)
    before = schema(target)
    during = DuringLoad(target)
    load(
        io.BytesIO(data),
        using=target,
        clear=True,
        include=("inventory.StockMovement",),
        config=rebuilding(),
        events=during,
    )
    missing = set(before) - set(during.schema)
    assert missing and {r[1] for r in missing} == {"inventory_stockmovement"}
    assert all(r[0] == "index" for r in missing)  # its keys point at stock items and users
    assert schema(target) == before
    assert database_digests(target) == expected


# --- plugins: two stretches of loading, the plugins' migrations in between -----------------


@pytest.fixture
def plugin_target():
    """A fresh, migrated PostgreSQL target that never saw the plugin; dropped after."""
    require("postgresql")
    name = unique_name("sdrebuild")
    create_database("postgresql", name)
    try:
        env = example_env("postgresql", name)
        manage("migrate", "-v0", env=env)
        yield env
    finally:
        drop_database("postgresql", name)


def catalog(env) -> list[tuple]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=env["EXAMPLE_DB_NAME"]) as db:
        return [tuple(row) for row in db.execute(SCHEMA).fetchall()]


def loadstream(env, data: bytes, tmp_path, **extra):
    path = tmp_path / "in.ndjson.zst"
    path.write_bytes(data)
    return manage("loadstream", str(path), "-v2", env={**env, **extra}, check=False)


def test_plugin_import_rebuilds_before_the_plugins_migrate(
    plugin_source,  # noqa: F811
    plugin_target,
    tmp_path,
):
    """The first stage's tables are rebuilt before the plugins' migrations alter the schema,
    the remainder's before commit; after a failure the schema is as before, after success
    as an import that rebuilt nothing leaves it."""
    _, expected, dump = plugin_source
    env = plugin_target
    before, rows_before = catalog(env), digests(env)
    rebuild = {"EXAMPLE_REBUILD_MIN_ROWS": "1"}
    failed = loadstream(env, rewrite(dump, dangling_reading), tmp_path, **rebuild)
    assert failed.returncode != 0 and b"foreign key" in failed.stderr
    assert b"sensors_sensorreading" in failed.stderr
    assert catalog(env) == before and digests(env) == rows_before
    result = loadstream(env, dump, tmp_path, **rebuild)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr.count(b"set aside") == 2 and result.stderr.count(b"re-created") == 2
    assert digests(env) == expected
    rebuilt = catalog(env)
    # The same import into another fresh target, nothing set aside: the same schema.
    name = unique_name("sdrebuild")
    create_database("postgresql", name)
    try:
        other = example_env("postgresql", name)
        manage("migrate", "-v0", env=other)
        plain = loadstream(other, dump, tmp_path)
        assert plain.returncode == 0 and b"set aside" not in plain.stderr
        assert catalog(other) == rebuilt
    finally:
        drop_database("postgresql", name)
    assert {r[1] for r in rebuilt} - {r[1] for r in before} >= {"sensors_sensorreading"}
