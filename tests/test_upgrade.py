"""A dump of release 1 imported into release 2's code: at the dump's state, then migrated forward.

The upgrading app (example/upgrading) comes in two releases, chosen by EXAMPLE_RELEASE; release
2's migration 0002 adds a column filled by a data migration, a model made from old rows, a
rename, a removed field and a unique constraint. The reference is release 1's database upgraded
in place (`migrate` with release 2's code) on the same backend: the import must equal it, table
by table.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import pytest

from .dbservers import create_database, drop_database, mysql_schema, require, unique_name
from .helpers import digests, example_env, manage

# Rows of release 2 in a freshly migrated target (-c empties them at the dump's state).
RELEASE_2_ROWS = (
    "from upgrading.models import Shelf, Book, ShelfTotal; "
    "s = Shelf.objects.create(label='x'); "
    "Book.objects.create(shelf=s, name='n', slug='n'); "
    "ShelfTotal.objects.create(shelf=s, books=1, weight=1)"
)
FILL = (
    "from upgrading.models import Shelf, Book; "
    "shelves = [Shelf.objects.create(label=f'shelf {i}') for i in range(4)]; "
    "Book.objects.bulk_create("
    "Book(shelf=shelves[i % 4], title=f'Book {i}', weight=i * 3) for i in range(120))"
)
MIGRATION = "upgrading.0002_release_2"


def release(vendor: str, name: str, number: int, sensors: int = 1, **extra: str) -> dict[str, str]:
    """The environment of a process running release `number` (and release `sensors` of the
    sensors plugin) against database `name`."""
    env = example_env(vendor, name)
    env["EXAMPLE_RELEASE"] = str(number)
    env["EXAMPLE_SENSORS_RELEASE"] = str(sensors)
    for key in ("EXAMPLE_UPGRADE_FAIL", "EXAMPLE_UPGRADE_IRREVERSIBLE", "EXAMPLE_SENSORS_FAIL"):
        env.pop(key, None)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def release1_dump(tmp_path_factory):
    """A release-1 SQLite database with rows, and its dump."""
    directory = tmp_path_factory.mktemp("release1")
    env = release("sqlite", str(directory / "source.sqlite3"), 1)
    manage("migrate", "-v0", env=env)
    manage("shell", "-c", FILL, env=env)
    dump = directory / "dump.ndjson.zst"
    manage("dumpstream", "-o", str(dump), env=env)
    return dump, env["EXAMPLE_DB_NAME"]


def upgraded_in_place(
    vendor: str, dump, source: str, directory, dropped: list, number: int, **target: int
) -> dict:
    """The digests of a release-1 database upgraded in place on `vendor` to release `number`
    (release(..., **target)): on SQLite a copy of `source`, elsewhere `dump` imported by release
    1's own code into a new database (appended to `dropped`), then migrated."""
    if vendor == "sqlite":
        name = str(directory / "in-place.sqlite3")
        shutil.copyfile(source, name)
    else:
        require(vendor)
        name = unique_name("sdinplace")
        create_database(vendor, name)
        dropped.append((vendor, name))
        manage("loadstream", str(dump), env=release(vendor, name, 1))
    env = release(vendor, name, number, **target)
    manage("migrate", "-v0", env=env)
    return digests(env)


@pytest.fixture(scope="module")
def in_place(release1_dump, tmp_path_factory) -> Iterator:
    """in_place(vendor): the digests of release 1's database upgraded in place on `vendor`,
    made once per module (the reference every import is compared with)."""
    dump, source = release1_dump
    made: dict[str, dict] = {}
    dropped: list[tuple[str, str]] = []

    def upgraded(vendor: str) -> dict:
        if vendor not in made:
            directory = tmp_path_factory.mktemp("in-place")
            made[vendor] = upgraded_in_place(vendor, dump, source, directory, dropped, 2)
        return made[vendor]

    yield upgraded
    for vendor, name in dropped:
        with contextlib.suppress(Exception):
            drop_database(vendor, name)


def migration_history(env: dict[str, str]) -> str:
    return manage("showmigrations", "upgrading", "--skip-checks", env=env).stdout.decode()


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql", "mysql"])
@pytest.mark.parametrize("target", ["never migrated", "freshly migrated"])
def test_a_release_1_dump_into_release_2_equals_the_upgrade_in_place(
    vendor, target, new_database, release1_dump, in_place
):
    dump, _ = release1_dump
    expected = in_place(vendor)
    env = release(vendor, new_database(vendor), 2)
    if target == "freshly migrated":
        manage("migrate", "-v0", env=env)
    result = manage("loadstream", "-v2", str(dump), env=env)
    err = result.stderr.decode()
    for step in ("schema at the dump's state", "import", "migrate forward: 1 migrations"):
        assert step in err
    got = digests(env)
    assert got == expected
    assert got["upgrading.Book"][0] == 120
    assert got["upgrading.ShelfTotal"][0] == 4  # made from release 1's rows by 0002
    code = (
        "from upgrading.models import Book, ShelfTotal; "
        "b = Book.objects.get(name='Book 7'); t = ShelfTotal.objects.get(shelf=b.shelf); "
        "print('ROW', b.slug, t.books, t.weight)"
    )
    out = manage("shell", "-c", code, env=env).stdout.decode()
    assert f"ROW book-7-{8} 30 " in out  # ids from 1; shelf 3 holds 30 books


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql", "mysql"])
def test_a_failing_forward_migration_leaves_the_target_as_it_was(
    vendor, new_database, release1_dump
):
    """On MariaDB the target was migrated backwards to the dump's state, imported, then
    forward until the data migration failed, each step committing: the journal puts its
    schema (every table's definition), rows and history back."""
    dump, _ = release1_dump
    env = release(vendor, new_database(vendor), 2, EXAMPLE_UPGRADE_FAIL="1")
    name = env["EXAMPLE_DB_NAME"]
    manage("migrate", "-v0", env=release(vendor, name, 2))
    manage("shell", "-c", RELEASE_2_ROWS, env=release(vendor, name, 2))
    schema = mysql_schema(name) if vendor == "mysql" else None
    before, history = digests(env), migration_history(env)
    result = manage("loadstream", "-c", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        f"migrate forward: migration {MIGRATION} failed: ValueError: release 2 cannot fill the "
        "slugs"
    ) in err
    assert "unchanged" in err
    assert "Traceback" not in err
    assert digests(env) == before
    assert before["upgrading.ShelfTotal"][0] == 1
    assert migration_history(env) == history
    assert "[X] 0002_release_2" in history
    if vendor == "mysql":
        assert mysql_schema(name) == schema


@pytest.mark.parametrize("vendor", ["sqlite", "postgresql", "mysql"])
def test_an_irreversible_migration_refuses_a_target_migrated_beyond_the_dump(
    vendor, new_database, release1_dump
):
    dump, _ = release1_dump
    env = release(vendor, new_database(vendor), 2, EXAMPLE_UPGRADE_IRREVERSIBLE="1")
    manage("migrate", "-v0", env=env)
    before = digests(env)
    result = manage("loadstream", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        f"migration {MIGRATION} cannot be reversed (RunPython without a reverse), and this "
        "target is migrated beyond the dump's state: import into a never-migrated database"
    ) in err
    assert "unchanged" in err
    assert "Traceback" not in err
    assert digests(env) == before
    # A never-migrated target needs no backwards step: the same dump imports there.
    fresh = release(vendor, new_database(vendor), 2, EXAMPLE_UPGRADE_IRREVERSIBLE="1")
    manage("loadstream", str(dump), env=fresh)
    assert digests(fresh)["upgrading.ShelfTotal"][0] == 4


def test_strict_migrations_refuses_an_older_dump(new_database, release1_dump):
    dump, _ = release1_dump
    env = release("sqlite", new_database("sqlite"), 2)
    result = manage("loadstream", "--strict-migrations", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        f"migration {MIGRATION} exists in the target but is not applied in the dump (the dump "
        "is older than the target's code)"
    ) in err
    assert "unchanged" in err


def test_mariadb_a_failing_forward_migration_drops_what_the_import_made(
    new_database, release1_dump
):
    dump, _ = release1_dump
    env = release("mysql", new_database("mysql"), 2, EXAMPLE_UPGRADE_FAIL="1")
    result = manage("loadstream", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert f"migrate forward: migration {MIGRATION} failed: ValueError" in err
    assert "Traceback" not in err
    assert "put back as it was, from its journal" in err
    tables = manage("inspectdb", env=env).stdout.decode()
    assert "class " not in tables  # back to never migrated: no table at all


def test_clear_empties_a_release_2_target_holding_rows_then_upgrades(
    new_database, release1_dump, in_place
):
    """-c on a migrated target holding the new release's rows: emptied at the dump's state."""
    dump, _ = release1_dump
    expected = in_place("sqlite")
    env = release("sqlite", new_database("sqlite"), 2)
    manage("migrate", "-v0", env=env)
    manage("shell", "-c", RELEASE_2_ROWS, env=env)
    refused = manage("loadstream", str(dump), env=env, check=False)
    assert refused.returncode != 0
    assert "upgrading.Shelf (1 row)" in refused.stderr.decode()
    manage("loadstream", "-c", str(dump), env=env)
    assert digests(env) == expected
