"""Kill -9 (and SIGTERM) at random moments of an import, in real manage.py processes.

For each backend, three paths: a dump that activates a plugin into a fresh target (the target's
start-up settings in place); the same dump with --clear over a target holding other data; and
"pending": a dump of release 2 of the example's upgrading app (EXAMPLE_RELEASE), with the plugin,
with --clear over a target migrated and filled with release 1, so that the target's own
migration upgrading.0002 (a column added, renamed and removed, a table and a constraint made)
runs inside the import: kills land before, during and after it. On MariaDB that migration
commits, and the target must come back with every table's definition (SHOW CREATE TABLE) as
before, as well as its rows (20 kills there; on SQLite and PostgreSQL, where the migration rolls
back with the import's transaction, a quarter of that).
Each kill lands at a uniformly random moment of the import (from its first step to the time an
uninterrupted run takes), then the target is checked table by table (tests/helpers.py digests):
it must be exactly as before, or, where DDL commits (MariaDB), be so after `loadstream
--recover`; or hold exactly the dump, when the import committed before the signal struck. A re-run
into a database holding the journal of an interrupted import is refused, naming --recover.

Marked `stress`: about 20 kills per backend and path (STREAMDUMP_KILLS sets how many), on small
data and a prepared template database per backend and path, so the loop runs no migrate but
the pending path's one migration. The target's digests after each kill are computed in this
process (digests_here), not in one more manage.py process per kill, but on the pending path,
whose two releases need a process each.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from streamdump import exitcodes

from .dbservers import mysql_schema
from .helpers import MANAGE, digests, example_env, manage, migrated_sqlite

pytestmark = [pytest.mark.stress]

KILLS = int(os.environ.get("STREAMDUMP_KILLS", "20"))
SEED = int(os.environ.get("STREAMDUMP_KILL_SEED", "10"))


@pytest.fixture(scope="module")
def plugin_dump(sqlite_template, tmp_path_factory):
    """A small SQLite source with the sensors plugin active and holding rows, dumped once."""
    directory = tmp_path_factory.mktemp("kill-src")
    env = example_env("sqlite", migrated_sqlite(sqlite_template, directory / "source.sqlite3"))
    manage("plugin", "enable", "sensors", env=env)
    manage("generate", "--rows", "400", env=env)
    dump = directory / "dump.ndjson.zst"
    manage("dumpstream", "-o", str(dump), env=env)
    return dump, digests(env)


FILL_1 = (
    "from upgrading.models import Shelf, Book; "
    "shelves = [Shelf.objects.create(label=f'shelf {i}') for i in range(4)]; "
    "Book.objects.bulk_create("
    "Book(shelf=shelves[i % 4], title=f'Book {i}', weight=i * 3) for i in range(60))"
)
FILL_2 = (
    "from upgrading.models import Shelf, Book; "
    "shelves = [Shelf.objects.create(label=f'shelf {i}') for i in range(3)]; "
    "Book.objects.bulk_create(Book(shelf=shelves[i % 3], name=f'B {i}', slug=f'b-{i}') "
    "for i in range(40))"
)


def at_release(env: dict[str, str], number: int) -> dict[str, str]:
    """The environment with the upgrading app installed at release `number`."""
    return {**env, "EXAMPLE_RELEASE": str(number)}


@pytest.fixture(scope="module")
def release2_dump(tmp_path_factory):
    """Like plugin_dump, at release 2 of the upgrading app, with rows in it."""
    directory = tmp_path_factory.mktemp("kill-src-2")
    env = at_release(example_env("sqlite", directory / "source.sqlite3"), 2)
    manage("migrate", "-v0", env=env)
    manage("plugin", "enable", "sensors", env=env)
    manage("generate", "--rows", "400", env=env)
    manage("shell", "-c", FILL_2, env=env)
    dump = directory / "dump.ndjson.zst"
    manage("dumpstream", "-o", str(dump), env=env)
    return dump, digests(env)


class Databases:
    """A template database per scenario, and work copies made from it, on one backend."""

    def __init__(self, vendor: str, directory: Path, sqlite_template: Path) -> None:
        self.vendor, self.directory, self.sqlite_template = vendor, directory, sqlite_template
        self.made: list[str] = []

    def new(self, template: str | None = None) -> str:
        from .servers import _template, create_database, unique_name

        if self.vendor == "sqlite":
            name = str(self.directory / f"{unique_name('kill')}.sqlite3")
            shutil.copyfile(template or self.sqlite_template, name)
        else:
            name = unique_name("sdkill")
            create_database(self.vendor, name, template=template or _template(self.vendor))
        self.made.append(name)
        return name

    def drop(self, name: str) -> None:
        from .servers import drop_database

        if self.vendor == "sqlite":
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(name + suffix).unlink(missing_ok=True)
        else:
            drop_database(self.vendor, name)
        self.made.remove(name)

    def close(self) -> None:
        for name in list(self.made):
            with contextlib.suppress(Exception):
                self.drop(name)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def databases(request, sqlite_template, tmp_path, django_db_blocker):
    from plugins.registry import reload

    from .servers import django_alias, require

    require(request.param)
    made = Databases(request.param, tmp_path, sqlite_template)
    try:
        with django_db_blocker.unblock():
            yield made
            # digests_here() installed the plugins of the database it read last: back to the
            # base apps, those of a database that activates none.
            with django_alias("sqlite", sqlite_template) as alias:
                reload(alias)
    finally:
        made.close()


def digests_here(vendor: str, name: str) -> dict[str, list]:
    """digests() of a database, computed in this process: as manage.py does at start-up,
    database_digests() first installs the plugins that database activates (PLUGIN_RELOAD)."""
    import streamdump

    from .servers import django_alias

    with django_alias(vendor, name) as alias:
        return {label: list(v) for label, v in streamdump.database_digests(alias).items()}


def journal_rows(vendor: str, name: str) -> int:
    """Rows in the target's import journal (MariaDB only: elsewhere there is none)."""
    if vendor != "mysql":
        return 0
    from .dbservers import _admin

    conn = _admin("mysql")
    try:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = 'streamdump_journal'",
            [name],
        )
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(f"SELECT count(*) FROM `{name}`.streamdump_journal")
        return int(cursor.fetchone()[0])
    finally:
        conn.close()


def start(env: dict[str, str], dump: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(MANAGE), "loadstream", str(dump), "--no-progress", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_first_step(process: subprocess.Popen) -> list[str]:
    """Read stderr up to the import's first logged step (the process is importing)."""
    lines = []
    assert process.stderr is not None
    for raw in process.stderr:
        line = raw.decode(errors="replace")
        lines.append(line)
        if "step journal check:" in line:
            break
    return lines


def recover_then_digests(env: dict[str, str]) -> tuple[str, dict[str, list]]:
    """`loadstream --recover`, then the per-table digests, in one manage.py process (it
    starts with the plugins the half-imported target activates; the digest reloads them)."""
    import json

    code = (
        "import io, json, streamdump; from django.core.management import call_command; "
        "err = io.StringIO(); call_command('loadstream', recover=True, stderr=err); "
        "print('RECOVER=' + json.dumps(err.getvalue())); "
        "print('DIGESTS=' + json.dumps(streamdump.database_digests('default')))"
    )
    out = manage("shell", "-c", code, env=env).stdout.decode().splitlines()
    said = next(x for x in out if x.startswith("RECOVER="))[len("RECOVER=") :]
    found = next(x for x in out if x.startswith("DIGESTS="))[len("DIGESTS=") :]
    return json.loads(said), json.loads(found)


def import_seconds(lines: list[str]) -> float:
    """The import's own time, from its last log line ("imported N rows ... in 1.23s")."""
    line = next(x for x in reversed(lines) if "imported " in x and " rows into " in x)
    return float(line.rsplit(" in ", 1)[1].rstrip().rstrip("s"))


def last_step(lines: list[str]) -> str:
    steps = [line.split("step ", 1)[1].split(":", 1)[0] for line in lines if " step " in line]
    return steps[-1] if steps else "start-up"


def schema(vendor: str, name: str) -> dict[str, str] | None:
    """Every table's definition (MariaDB, where migrations commit); None elsewhere. The
    journal's own tables aside: a kill between their creation and the journal's commit leaves
    them empty, which means nothing (docs/RELIABILITY.md)."""
    if vendor != "mysql":
        return None
    return {k: v for k, v in mysql_schema(name).items() if not k.startswith("streamdump_journal")}


@pytest.mark.parametrize("path", ["plugin", "clear", "pending"])
def test_kill_at_random_moments_leaves_the_target_as_before(
    plugin_dump, release2_dump, databases, path
):
    dump, expected = release2_dump if path == "pending" else plugin_dump
    vendor = databases.vendor
    args = ["--clear"] if path in ("clear", "pending") else []
    # The state before: migrated, with the start-up settings (and, for --clear, other data;
    # for "pending", release 1 of the upgrading app, with rows, and release 2's code to import).
    template = databases.new()
    template_env = example_env(vendor, template)
    if path == "pending":
        template_env = at_release(template_env, 1)
    manage("migrate", "-v0", env=template_env)
    if path in ("clear", "pending"):
        manage("generate", "--rows", "200", "--seed", "7", env=template_env)
    if path == "pending":
        manage("shell", "-c", FILL_1, env=template_env)
    before = digests(template_env)
    schema_before = schema(vendor, template)
    assert before != expected

    def environment(name: str) -> dict[str, str]:
        env = example_env(vendor, name)
        return at_release(env, 2) if path == "pending" else env

    def state(env: dict[str, str], here: bool = False) -> tuple[dict[str, list], bool]:
        """The target's digests, and whether it is migrated (always, but on "pending"); `here`:
        computed in this process where the path allows (not "pending": two releases)."""
        if path != "pending":
            return (digests_here(vendor, target) if here else digests(env)), True
        history = manage("showmigrations", "upgrading", "--skip-checks", env=env).stdout.decode()
        migrated = "[X] 0002_release_2" in history
        return digests(env if migrated else at_release(env, 1)), migrated

    target = databases.new(template)
    env = environment(target)
    # An uninterrupted run: how long the import takes, and the dump's content after it.
    process = start(env, dump, args)
    _, tail = process.communicate()
    assert process.returncode == 0, tail.decode(errors="replace")[-3000:]
    # Kills fall from the first step to the import's own time (a run in the loop, on a warm
    # machine, often commits a little earlier: those kills find the dump complete).
    duration = import_seconds(tail.decode(errors="replace").splitlines())
    assert state(env) == (expected, True)  # in processes of their own, as the application
    if path != "pending":
        assert digests_here(vendor, target) == expected  # what the loop below compares with
    databases.drop(target)
    target = databases.new(template)
    env = environment(target)

    rng = random.Random(f"{SEED}-{vendor}-{path}")
    outcomes: Counter[str] = Counter()
    moments: Counter[str] = Counter()
    refusal_seen = False
    started = time.monotonic()
    # The pending path matters most where its migration commits (MariaDB: the journal puts the
    # schema back); where DDL rolls back with the transaction a quarter of the kills shows it.
    kills = KILLS if path != "pending" or vendor == "mysql" else max(1, KILLS // 4)
    for kill in range(kills):
        sig = signal.SIGTERM if kill % 5 == 4 else signal.SIGKILL
        process = start(env, dump, args)
        lines = wait_for_first_step(process)
        time.sleep(rng.uniform(0, duration))
        process.send_signal(sig)
        _, tail = process.communicate()
        lines += tail.decode(errors="replace").splitlines()
        moments[last_step(lines)] += 1
        finished = process.returncode == 0
        journaled = journal_rows(vendor, target)
        if journaled:
            assert vendor == "mysql"
            if not refusal_seen:  # a re-run says what happened and how to recover
                again = manage("loadstream", str(dump), *args, env=env, check=False)
                assert again.returncode == exitcodes.REFUSED  # InterruptedImport
                assert b"did not finish" in again.stderr, again.stderr.decode()[-2000:]
                assert b"manage.py loadstream --recover" in again.stderr
                refusal_seen = True
            if path == "pending":  # recovered in a process of its own, then read
                said = manage("loadstream", "--recover", env=env).stderr.decode()
                after, migrated = state(env)
            else:
                said, after = recover_then_digests(env)
                migrated = True
            assert "back exactly as it was" in said
            assert journal_rows(vendor, target) == 0
        else:
            after, migrated = state(env, here=True)
        complete = migrated and after == expected  # all of it: committed before the signal
        if finished:
            outcomes["finished before the signal"] += 1
            assert complete
        elif complete:
            outcomes["committed, then killed before exiting"] += 1
        else:
            assert after == before, (
                f"kill {kill} ({sig.name}) after step {last_step(lines)}: the target differs "
                f"from before in {sorted(k for k in before if before[k] != after.get(k))}"
            )
            assert schema(vendor, target) == schema_before, (
                f"kill {kill} ({sig.name}) after step {last_step(lines)}: a table's definition "
                "differs from before"
            )
            outcomes["recovered from the journal" if journaled else "as before"] += 1
        if complete:  # start again from the state before
            databases.drop(target)
            target = databases.new(template)
            env = environment(target)
    seconds = time.monotonic() - started
    print(
        f"\n{vendor}/{path}: {kills} signals in {seconds:.0f}s (import {duration:.2f}s); "
        f"outcomes {dict(outcomes)}; last step logged before the signal {dict(moments)}"
    )
    assert sum(outcomes.values()) == kills
