"""MariaDB: the journal is written before migrate, so a failed or killed import puts back the
target's schema too: its own pending migrations, and the tables migrate created in a
never-migrated database (docs/RELIABILITY.md, "The journal").

The target runs release 2 of the example's upgrading app (EXAMPLE_RELEASE) over a database
migrated with release 1: migration upgrading.0002 is pending, and adds a column, a table, a
constraint, renames a column and removes one. "As before" is checked three ways: SHOW CREATE
TABLE of every table, the rows of django_migrations, and the per-table digests (read with
release 1's code, which matches the schema before).
"""

from __future__ import annotations

import signal
import subprocess
import sys

import orjson
import pytest

from streamdump import exitcodes

from .dbservers import mysql_rows, mysql_schema
from .helpers import MANAGE, digests, manage
from .streams import rewrite
from .test_upgrade import FILL, release

pytestmark = pytest.mark.server

HISTORY = "SELECT id, app, name, applied FROM django_migrations ORDER BY id"
FILL_2 = (
    "from upgrading.models import Shelf, Book; "
    "shelves = [Shelf.objects.create(label=f'shelf {i}') for i in range(3)]; "
    "Book.objects.bulk_create(Book(shelf=shelves[i % 3], name=f'B {i}', slug=f'b-{i}') "
    "for i in range(40))"
)


@pytest.fixture(scope="module")
def release2_dumps(tmp_path_factory):
    """A release-2 SQLite database with rows: its dump, and the same dump with a book whose
    shelf is missing (refused by the foreign-key check at the end of the import)."""
    directory = tmp_path_factory.mktemp("release2")
    env = release("sqlite", str(directory / "source.sqlite3"), 2)
    manage("migrate", "-v0", env=env)
    manage("shell", "-c", FILL_2, env=env)
    manage("generate", "--rows", "300", env=env)
    dump = directory / "dump.ndjson.zst"
    manage("dumpstream", "-o", str(dump), env=env)
    shelf = {}

    def dangling(model, obj):
        if isinstance(obj, dict) and obj["type"] == "header":
            columns = next(t for t in obj["tables"] if t["model"] == "upgrading.Book")["columns"]
            shelf["at"] = [c[0] for c in columns].index("shelf_id")
        if model == "upgrading.Book" and isinstance(obj, list):
            obj[shelf["at"]] = 10**9
        return obj

    bad = directory / "dangling.ndjson.zst"
    bad.write_bytes(rewrite(dump.read_bytes(), dangling))
    return dump, bad


def release1_target(new_database) -> tuple[str, dict]:
    """A MariaDB database migrated and filled with release 1, and its state (schema, history,
    digests read with release 1)."""
    name = new_database("mysql")
    manage("migrate", "-v0", env=release("mysql", name, 1))
    manage("shell", "-c", FILL, env=release("mysql", name, 1))
    manage("generate", "--rows", "200", "--seed", "7", env=release("mysql", name, 1))
    return name, state(name, 1)


def state(name: str, number: int) -> dict:
    return {
        "schema": mysql_schema(name),
        "history": mysql_rows(name, HISTORY),
        "digests": digests(release("mysql", name, number)),
    }


def journal_present(name: str) -> bool:
    tables = mysql_rows(name, "SHOW TABLES LIKE 'streamdump_journal'")
    return bool(tables) and bool(mysql_rows(name, "SELECT id FROM streamdump_journal"))


def test_a_failed_import_puts_back_the_targets_own_pending_migration(new_database, release2_dumps):
    _, bad = release2_dumps
    name, before = release1_target(new_database)
    assert "upgrading_shelftotal" not in before["schema"]
    result = manage("loadstream", "-c", str(bad), env=release("mysql", name, 2), check=False)
    err = result.stderr.decode()
    assert result.returncode == exitcodes.BAD_INPUT, err[-3000:]
    assert "foreign key" in err and "the database is unchanged" in err
    assert "Traceback" not in err
    assert "step migrate:" in err  # migrate ran, after the journal
    assert err.index("step journal:") < err.index("step migrate:")
    assert "made again as they were" in err and "upgrading_book" in err
    assert state(name, 1) == before
    assert not mysql_rows(name, "SHOW TABLES LIKE 'streamdump%'")


def test_a_failing_pending_migration_is_put_back(new_database, release2_dumps):
    """The target's own migration fails half-way (its AddField and CreateModel committed)."""
    dump, _ = release2_dumps
    name, before = release1_target(new_database)
    env = release("mysql", name, 2, EXAMPLE_UPGRADE_FAIL="1")
    result = manage("loadstream", "-c", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert "release 2 cannot fill the slugs" in err and "the database is unchanged" in err
    assert state(name, 1) == before


def test_a_killed_import_is_put_back_by_recover(new_database, release2_dumps):
    """SIGKILL as the target's pending migration starts (the journal committed just before)."""
    dump, _ = release2_dumps
    name, before = release1_target(new_database)
    env = release("mysql", name, 2)
    process = subprocess.Popen(
        [sys.executable, str(MANAGE), "loadstream", "-v3", "-c", "--no-progress", str(dump)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    for raw in process.stderr:
        if b"step migrate: started" in raw:
            process.send_signal(signal.SIGKILL)
            break
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert journal_present(name)
    ((detail,),) = mysql_rows(name, "SELECT detail FROM streamdump_journal")
    detail = orjson.loads(detail)
    assert detail["journal"] == 2 and set(detail["schema"]) == set(before["schema"])
    assert "django_migrations" in detail["copied"] and "upgrading_book" in detail["copied"]
    again = manage("loadstream", "-c", str(dump), env=env, check=False)
    assert again.returncode == exitcodes.REFUSED
    assert b"manage.py loadstream --recover" in again.stderr
    recovered = manage("loadstream", "--recover", env=env)
    assert b"back exactly as it was" in recovered.stderr
    assert state(name, 1) == before
    assert not mysql_rows(name, "SHOW TABLES LIKE 'streamdump%'")
    # And the same import then goes through: migrated, and holding the dump.
    manage("loadstream", "-c", str(dump), env=env)
    assert "upgrading_shelftotal" in mysql_schema(name)


def test_a_never_migrated_target_is_left_with_only_what_it_had(new_database, release2_dumps):
    """migrate created every table: after the failure, only the table that was there stays,
    with its row."""
    _, bad = release2_dumps
    name = new_database("mysql")
    mysql_rows(name, "CREATE TABLE keepme (id INTEGER PRIMARY KEY, note VARCHAR(20))")
    mysql_rows(name, "INSERT INTO keepme VALUES (1, 'kept')")
    schema = mysql_schema(name)
    result = manage("loadstream", str(bad), env=release("mysql", name, 2), check=False)
    err = result.stderr.decode()
    assert result.returncode == exitcodes.BAD_INPUT, err[-3000:]
    assert "the database is unchanged" in err
    assert mysql_schema(name) == schema
    assert mysql_rows(name, "SELECT id, note FROM keepme") == [(1, "kept")]
