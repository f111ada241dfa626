"""The insert fast paths against the portable path: same tables, chosen by vendor, bounded.

COPY (PostgreSQL) and multi-row INSERT (MariaDB) must store exactly what executemany stores; both
must leave foreign keys to be checked before commit.
"""

from __future__ import annotations

import contextlib
import io

import pytest
from django.db import IntegrityError, connections, transaction

from streamdump.backends import PortableInserter, backend_for, get_inserter
from streamdump.digest import database_digests
from streamdump.errors import StreamdumpError
from streamdump.exporter import export
from streamdump.sequencer import load

from .servers import VENDORS, migrated_database
from .test_backends import add_edge_rows, sqlite_precision

# Its subject does not depend on Django's version (COPY and multi-row INSERT against executemany:
# the drivers and the servers): `make compat` leaves it out, it runs in the main venv.
pytestmark = [pytest.mark.server, pytest.mark.version_independent]

FAST = {"postgresql": "CopyInserter", "mysql": "MultiRowInserter", "sqlite": "PortableInserter"}


@pytest.fixture(scope="module", autouse=True)
def _database_access(django_db_blocker):
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def postgres_dump():
    """A dump of generated data from PostgreSQL (full-precision decimals), and its digests."""
    from inventory.generate import generate

    with migrated_database("postgresql") as alias:
        generate(1500, seed=3, using=alias)
        add_edge_rows(alias)
        out = io.BytesIO()
        export(out, using=alias)
        yield out.getvalue(), database_digests(alias, canonical=sqlite_precision)


@pytest.mark.parametrize("vendor", VENDORS)
def test_fast_and_portable_paths_store_the_same(postgres_dump, monkeypatch, vendor):
    dump, expected = postgres_dump
    digests = {}
    for path in ("fast", "portable"):
        if path == "portable":
            monkeypatch.setenv("STREAMDUMP_PORTABLE_INSERTS", "1")
        with migrated_database(vendor) as alias:
            chosen = type(get_inserter(connections[alias], "inventory_tag", ["name"])).__name__
            assert chosen == (FAST[vendor] if path == "fast" else "PortableInserter")
            load(io.BytesIO(dump), using=alias)
            digests[path] = database_digests(alias)
            assert database_digests(alias, canonical=sqlite_precision) == expected
    assert digests["fast"] == digests["portable"]


@pytest.mark.parametrize("vendor", VENDORS)
def test_portable_path_on_request(vendor):
    with migrated_database(vendor) as alias:
        inserter = get_inserter(connections[alias], "inventory_tag", ["name"], portable=True)
        assert isinstance(inserter, PortableInserter)


@pytest.mark.parametrize("vendor", VENDORS)
def test_dangling_foreign_key_is_found_before_commit(vendor):
    """Checks are deferred or disabled while inserting, and found by the check over the tables."""
    with migrated_database(vendor) as alias:
        connection = connections[alias]
        inserter = get_inserter(connection, "inventory_part_tags", ["id", "part_id", "tag_id"])
        with pytest.raises(IntegrityError), transaction.atomic(using=alias):
            with connection.constraint_checks_disabled():
                assert inserter.insert([[1, 424242, 434343]]) == 1
            connection.check_constraints(table_names=["inventory_part_tags"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM inventory_part_tags")
            assert cursor.fetchone()[0] == 0


def test_mysql_statements_split_under_the_packet_limit():
    with migrated_database("mysql") as alias:
        connection = connections[alias]
        connection.ensure_connection()
        backend_for(connection)._statement_limit = 600  # bytes per statement, for this test
        statements = []
        raw_cursor = type(connection.connection.cursor())
        original = raw_cursor.execute

        def counting(self, query, args=None):
            statements.append(len(query))
            return original(self, query, args)

        inserter = get_inserter(connection, "inventory_tag", ["id", "name", "color"])
        rows = [[i, f"tag {i} 🚀 ' \\ \" \n", "#00ff00"] for i in range(1, 101)]
        with contextlib.ExitStack() as stack:
            stack.enter_context(transaction.atomic(using=alias))
            mp = stack.enter_context(pytest.MonkeyPatch.context())
            mp.setattr(raw_cursor, "execute", counting)
            assert inserter.insert(rows) == 100
        assert len(statements) > 5 and max(statements) <= 600
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, name, color FROM inventory_tag ORDER BY id")
            assert [list(r) for r in cursor.fetchall()] == rows
        with pytest.raises(StreamdumpError, match="max_allowed_packet"):
            with transaction.atomic(using=alias):
                inserter.insert([[500, "x" * 700, ""]])


@pytest.mark.parametrize("vendor", VENDORS)
def test_foreign_key_check_names_the_row(vendor):
    """The check before commit names table, row, column and value, on every backend."""
    from inventory.models import Part

    from streamdump.conf import get_config
    from streamdump.errors import StreamdumpError
    from streamdump.tables import model_tables

    with migrated_database(vendor) as alias:
        connection = connections[alias]
        tables = [t for t in model_tables(get_config(), alias) if t.model is Part]
        with pytest.raises(StreamdumpError) as info, transaction.atomic(using=alias):
            with connection.constraint_checks_disabled():
                Part._base_manager.db_manager(alias).create(id=7, name="p", minimum_stock=1)
                with connection.cursor() as cursor:
                    cursor.execute("UPDATE inventory_part SET category_id = 999999")
                backend_for(connection).check_foreign_keys([t.model for t in tables])
        message = str(info.value)
        assert "inventory_part" in message and "999999" in message
        assert Part._base_manager.using(alias).count() == 0
