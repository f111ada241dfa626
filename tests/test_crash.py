"""The import changes nothing until every check has passed, and --clear over a populated target
is exact on every backend (docs/RELIABILITY.md, "Import"). The kill loops are in test_kills.py.
"""

from __future__ import annotations

import io

import pytest
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

from streamdump.digest import database_digests
from streamdump.errors import ImportFailed, MissingReferences, TargetNotEmpty
from streamdump.exporter import export
from streamdump.sequencer import load

from .servers import VENDORS, migrated_database

pytestmark = pytest.mark.server


@pytest.fixture(autouse=True)
def _database_access(django_db_blocker):
    with django_db_blocker.unblock():
        yield


def _differences(expected: dict, actual: dict) -> list[str]:
    return [
        f"{label}: expected {expected.get(label)} got {actual.get(label)}"
        for label in sorted(set(expected) | set(actual))
        if expected.get(label) != actual.get(label)
    ]


def _forward_references(using: str) -> None:
    """Rows referring to rows later in the stream: a child category and location whose parent
    has a higher id (MariaDB's flush turned the checks back on, and these were refused)."""
    from inventory.models import PartCategory, StockLocation

    for model in (PartCategory, StockLocation):
        manager = model._base_manager.db_manager(using)
        child = manager.create(name="child")
        parent = manager.create(name="parent")
        manager.filter(pk=child.pk).update(parent_id=parent.pk)


@pytest.fixture(scope="module")
def populated_dump(django_db_blocker):
    """A SQLite source with trees, the Part <-> SupplierPart cycle, multi-table children and
    forward references, exported once."""
    from inventory.generate import generate
    from inventory.models import Part, TrackedStockItem

    with django_db_blocker.unblock(), migrated_database("sqlite") as source:
        generate(400, seed=1, using=source)
        _forward_references(source)
        parts = Part._base_manager.using(source)
        assert parts.filter(default_supplier__isnull=False).exists()  # the cycle is there
        assert parts.filter(category__parent__isnull=False).exists()  # a tree
        assert TrackedStockItem._base_manager.using(source).exists()  # multi-table children
        out = io.BytesIO()
        export(out, using=source)
        yield out.getvalue(), database_digests(source)


@pytest.mark.parametrize("target", VENDORS)
def test_clear_over_a_populated_target_with_trees_cycles_and_inheritance(populated_dump, target):
    """--clear replaces a target holding other data (another seed) exactly, on every backend."""
    from inventory.generate import generate

    dump, expected = populated_dump
    with migrated_database(target) as alias:
        generate(300, seed=7, using=alias)
        _forward_references(alias)
        assert _differences(expected, database_digests(alias))  # other data to start with
        load(io.BytesIO(dump), using=alias, clear=True)
        assert not _differences(expected, database_digests(alias))


def _pending_migration(alias: str) -> tuple[str, str]:
    """Make the plugins app's migration pending again (its record and its table gone): migrate
    would create the table and record the migration."""
    from plugins.models import PluginConfig

    connection = connections[alias]
    recorder = MigrationRecorder(connection)
    recorder.migration_qs.filter(app="plugins", name="0001_initial").delete()
    with connection.schema_editor() as editor:
        editor.delete_model(PluginConfig)
    return "plugins", "0001_initial"


@pytest.mark.parametrize("target", VENDORS)
def test_refused_import_applies_no_pending_migration(populated_dump, target):
    """Rows in the way and a migration pending: the import is refused, and the migration is
    still pending (migrate ran before the refusal, then "unchanged" was printed)."""
    from inventory.models import Tag

    dump, _ = populated_dump
    with migrated_database(target) as alias:
        Tag._base_manager.db_manager(alias).create(name="in the way")
        app, name = _pending_migration(alias)
        recorder = MigrationRecorder(connections[alias])
        applied = set(recorder.applied_migrations())
        with pytest.raises(ImportFailed) as failed:
            load(io.BytesIO(dump), using=alias)
        assert isinstance(failed.value.error, TargetNotEmpty)
        assert failed.value.target_state == ImportFailed.UNCHANGED
        assert set(recorder.applied_migrations()) == applied
        assert (app, name) not in applied
        tables = connections[alias].introspection.table_names()
        assert "plugins_pluginconfig" not in tables


@pytest.mark.parametrize("target", VENDORS)
def test_clear_of_a_part_checks_the_rows_it_leaves_in_place(target):
    """-c with app labels empties the part's tables only: a row outside the part (a company's
    contact) that refers to a user the part does not hold again refuses the import, the
    target unchanged. MariaDB checked only the imported tables, and committed the import."""
    from django.contrib.auth.models import User
    from inventory.models import Company

    with migrated_database("sqlite") as source:
        User.objects.db_manager(source).create_user("only")  # id 1
        out = io.BytesIO()
        export(out, using=source)
    with migrated_database(target) as alias:
        users = User.objects.db_manager(alias)
        users.create_user("first")
        kept = users.create_user("second")  # id 2: the dump has no such user
        company = Company.objects.using(alias).create(name="c", currency="EUR")
        company.contacts.add(kept)
        keys = _foreign_keys(alias, Company.contacts.through._meta.db_table)
        before = database_digests(alias)
        with pytest.raises(ImportFailed) as failed:
            load(io.BytesIO(out.getvalue()), using=alias, clear=True, include=("auth.User",))
        assert failed.value.target_state == ImportFailed.UNCHANGED
        assert not _differences(before, database_digests(alias))
        # PostgreSQL's TRUNCATE refused a table other tables refer to (without CASCADE, which
        # would have emptied them): the keys are set aside, and back after the rollback.
        assert isinstance(failed.value.error, MissingReferences)
        assert "inventory_company_contacts" in str(failed.value)
        assert _foreign_keys(alias, Company.contacts.through._meta.db_table) == keys
        # Without the row that refers to the missing user, the part imports; the company and
        # its table of contacts, outside the part, are not emptied.
        company.contacts.clear()
        company.contacts.add(users.get(username="first"))  # id 1: the dump has it
        load(io.BytesIO(out.getvalue()), using=alias, clear=True, include=("auth.User",))
        assert list(users.values_list("username", flat=True)) == ["only"]
        assert list(company.contacts.values_list("username", flat=True)) == ["only"]
        assert _foreign_keys(alias, Company.contacts.through._meta.db_table) == keys


def _foreign_keys(alias: str, table: str) -> dict:
    """The foreign-key constraints of a table, by name: what they point at."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name: c["foreign_key"] for name, c in constraints.items() if c["foreign_key"]}


@pytest.mark.parametrize("part", [("auth.User", "auth.Group"), ()], ids=["part", "whole"])
@pytest.mark.parametrize("target", VENDORS)
def test_clear_restarts_the_numbering_of_the_tables_it_empties(target, part):
    """After -c (of the whole dump, or with app labels), the next row the application makes in
    an emptied table gets the id after the imported ones, and in a table the dump leaves empty,
    id 1 (as after `manage.py flush`), not ids past the rows -c deleted. MariaDB's DELETEs left
    AUTO_INCREMENT where it was (PostgreSQL's TRUNCATE refused the part)."""
    from django.contrib.auth.models import Group, User
    from inventory.models import Company

    with migrated_database("sqlite") as source:
        User.objects.db_manager(source).create_user("only")  # id 1, and no group
        out = io.BytesIO()
        export(out, using=source)
    with migrated_database(target) as alias:
        users = User.objects.db_manager(alias)
        for name in ("first", "second", "third"):
            users.create_user(name)
        Group.objects.using(alias).create(name="g1")
        Group.objects.using(alias).create(name="g2")
        company = Company.objects.using(alias).create(name="c", currency="EUR")
        company.contacts.add(users.get(username="first"))  # outside the part, into it
        load(io.BytesIO(out.getvalue()), using=alias, clear=True, include=part)
        assert users.create_user("next").pk == 2
        assert Group.objects.using(alias).create(name="g").pk == 1


@pytest.mark.parametrize("target", VENDORS)
def test_one_anti_join_names_the_row_whose_key_points_nowhere(target):
    """The set-wise check of foreign keys (rows left in place by -c with app labels, and
    MariaDB's check of the imported tables) is one function on every backend: it names the
    table, the row's primary key and the missing key, and passes where every key is found."""
    from django.contrib.auth.models import User
    from django.db import transaction
    from inventory.models import Company

    from streamdump.backends import check_references, constrained_keys
    from streamdump.errors import DanglingReference

    with migrated_database(target) as alias:
        connection = connections[alias]
        user = User.objects.db_manager(alias).create_user("u")
        company = Company.objects.using(alias).create(name="c", currency="EUR")
        company.contacts.add(user)
        through = Company.contacts.through
        keys = constrained_keys(through)
        assert {f.column for f in keys} == {"company_id", "user_id"}
        check_references(connection, keys)  # every key found
        table, qn = through._meta.db_table, connection.ops.quote_name
        with connection.constraint_checks_disabled(), transaction.atomic(using=alias):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {qn(table)} SET {qn('user_id')} = %s", [user.pk + 1000]
                )  # fmt: skip
            with pytest.raises(DanglingReference) as found:
                check_references(connection, keys, "context: ")
            transaction.set_rollback(True, using=alias)
        row = through.objects.using(alias).get()
        assert str(found.value) == (
            f"context: the row in table {table!r} with primary key {row.pk!r} has user_id = "
            f"{user.pk + 1000!r}, which is not in auth_user.id"
        )
