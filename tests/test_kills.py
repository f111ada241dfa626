"""Kill -9 (and SIGTERM) at random moments of an import, in real manage.py processes.

For each backend, two paths: a dump that activates a plugin into a fresh target (the target's
start-up settings in place), and the same dump with --clear over a target holding other data.
Each kill lands at a uniformly random moment of the import (from its first step to the time an
uninterrupted run takes), then the target is checked table by table (tests/helpers.py digests):
it must be exactly as before, or, where DDL commits (MariaDB), be so after `loadstream
--recover`; or hold exactly the dump, when the import committed before the signal struck. A re-run
into a database holding the journal of an interrupted import is refused, naming --recover.

Marked `stress`: about 20 kills per backend and path (STREAMDUMP_KILLS sets how many), on small
data and a prepared template database per backend and path, so the loop runs no migrate. The
target's digests after each kill are computed in this process (digests_here), not in one more
manage.py process per kill.
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


@pytest.mark.parametrize("path", ["plugin", "clear"])
def test_kill_at_random_moments_leaves_the_target_as_before(plugin_dump, databases, path):
    dump, expected = plugin_dump
    vendor = databases.vendor
    args = ["--clear"] if path == "clear" else []
    # The state before: migrated, with the start-up settings (and, for --clear, other data).
    template = databases.new()
    template_env = example_env(vendor, template)
    manage("migrate", "-v0", env=template_env)
    if path == "clear":
        manage("generate", "--rows", "200", "--seed", "7", env=template_env)
    before = digests(template_env)
    assert before != expected

    target = databases.new(template)
    env = example_env(vendor, target)
    # An uninterrupted run: how long the import takes, and the dump's content after it.
    process = start(env, dump, args)
    _, tail = process.communicate()
    assert process.returncode == 0, tail.decode(errors="replace")[-3000:]
    # Kills fall from the first step to the import's own time (a run in the loop, on a warm
    # machine, often commits a little earlier: those kills find the dump complete).
    duration = import_seconds(tail.decode(errors="replace").splitlines())
    assert digests(env) == expected  # in a process of its own, as the application would
    assert digests_here(vendor, target) == expected  # what the loop below compares with
    databases.drop(target)
    target = databases.new(template)
    env = example_env(vendor, target)

    rng = random.Random(f"{SEED}-{vendor}-{path}")
    outcomes: Counter[str] = Counter()
    moments: Counter[str] = Counter()
    refusal_seen = False
    started = time.monotonic()
    for kill in range(KILLS):
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
            said, after = recover_then_digests(env)
            assert "back exactly as it was" in said
            assert journal_rows(vendor, target) == 0
        else:
            after = digests_here(vendor, target)
        complete = after == expected  # all of it: it committed before the signal struck
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
            outcomes["recovered from the journal" if journaled else "as before"] += 1
        if complete:  # start again from the state before
            databases.drop(target)
            target = databases.new(template)
            env = example_env(vendor, target)
    seconds = time.monotonic() - started
    print(
        f"\n{vendor}/{path}: {KILLS} signals in {seconds:.0f}s (import {duration:.2f}s); "
        f"outcomes {dict(outcomes)}; last step logged before the signal {dict(moments)}"
    )
    assert sum(outcomes.values()) == KILLS
