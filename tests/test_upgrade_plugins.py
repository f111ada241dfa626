"""A release-1 dump whose plugin configuration activates the sensors plugin, into release 2.

The sensors plugin (example/example_plugins/sensors) has two releases, chosen by
EXAMPLE_SENSORS_RELEASE; release 2's migration 0002 adds Sensor.label, filled by a data
migration. The target never saw the plugin: its migrations are known only once the import has
activated it (PLUGIN_RELOAD), so its tables are taken to the dump's state then, the rows go in
there, and the plugin is migrated forward with everything else. Two scenarios: only the plugin
moved on (`plugin`), and the plugin with the upgrading app (`both`). The reference is the
release-1 database upgraded in place on the same backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from .dbservers import drop_database
from .helpers import digests, manage
from .test_upgrade import FILL, release, upgraded_in_place

MIGRATION = "sensors.0002_release_2"
CORE = {"plugin": 1, "both": 2}  # the upgrading app's release in the target, per scenario
FORWARD = {"plugin": 1, "both": 2}  # migrations run forward


def target_env(vendor: str, name: str, scenario: str, **extra: str) -> dict[str, str]:
    """Release 2 of the sensors plugin (and of the upgrading app in scenario `both`)."""
    return release(vendor, name, CORE[scenario], sensors=2, **extra)


@pytest.fixture(scope="module")
def plugin_dump(tmp_path_factory):
    """A release-1 SQLite database with the sensors plugin active and rows, and its dump."""
    directory = tmp_path_factory.mktemp("plugin-release1")
    env = release("sqlite", str(directory / "source.sqlite3"), 1)
    manage("migrate", "-v0", env=env)
    manage("plugin", "enable", "sensors", env=env)
    manage("generate", "--rows", "400", env=env)
    manage("shell", "-c", FILL, env=env)
    dump = directory / "dump.ndjson.zst"
    manage("dumpstream", "-o", str(dump), env=env)
    return dump, env["EXAMPLE_DB_NAME"]


@pytest.fixture(scope="module")
def plugin_in_place(plugin_dump, tmp_path_factory) -> Iterator:
    """plugin_in_place(vendor, scenario): digests of the release-1 database upgraded in place."""
    dump, source = plugin_dump
    made: dict[tuple[str, str], dict] = {}
    dropped: list[tuple[str, str]] = []

    def upgraded(vendor: str, scenario: str) -> dict:
        if (vendor, scenario) not in made:
            directory = tmp_path_factory.mktemp("plugin-in-place")
            made[vendor, scenario] = upgraded_in_place(
                vendor, dump, source, directory, dropped, CORE[scenario], sensors=2
            )
        return made[vendor, scenario]

    yield upgraded
    for vendor, name in dropped:
        with contextlib.suppress(Exception):
            drop_database(vendor, name)


LABELS = (
    "from example_plugins.sensors.models import Sensor; "
    "bad = [s.id for s in Sensor.objects.all() if s.label != f'{s.name} ({s.serial})']; "
    "print('SENSORS', Sensor.objects.count(), 'UNFILLED', len(bad))"
)


def history(env: dict[str, str]) -> str:
    # Without the checks: Django 6.1's would connect to the "target" alias too, absent here.
    return manage("showmigrations", "--skip-checks", env=env).stdout.decode()


# SQLite in every combination; PostgreSQL in two (each import costs seconds: make test stays fast).
EQUAL = [
    *[
        ("sqlite", target, scenario)
        for target in ("never migrated", "freshly migrated")
        for scenario in ("plugin", "both")
    ],
    ("postgresql", "never migrated", "plugin"),
    ("postgresql", "freshly migrated", "both"),  # backwards first; start-up ids in the way
]


@pytest.mark.parametrize(("vendor", "target", "scenario"), EQUAL)
def test_a_dump_activating_an_older_plugin_equals_the_upgrade_in_place(
    vendor, target, scenario, new_database, plugin_dump, plugin_in_place
):
    dump, _ = plugin_dump
    expected = plugin_in_place(vendor, scenario)
    env = target_env(vendor, new_database(vendor), scenario)
    if target == "freshly migrated":  # the new release, deployed; the plugin never enabled
        manage("migrate", "-v0", env=env)
    result = manage("loadstream", "-v2", str(dump), env=env)
    err = result.stderr.decode()
    assert "plugins at the dump's state: 1 migrations" in err  # sensors.0001 only
    assert "step reload plugins" in err
    assert f"migrate forward: {FORWARD[scenario]} migrations" in err
    assert err.index("step remainder") < err.index("step migrate forward")
    got = digests(env)
    assert got == expected
    assert got["sensors.Sensor"][0] > 0 and got["sensors.SensorReading"][0] > 0
    out = manage("shell", "-c", LABELS, env=env).stdout.decode()
    assert f"SENSORS {got['sensors.Sensor'][0]} UNFILLED 0" in out  # 0002 ran on the rows
    assert f"[X] {MIGRATION.split('.')[1]}" in history(env)


@pytest.mark.parametrize(
    ("vendor", "scenario"), [("sqlite", "plugin"), ("sqlite", "both"), ("postgresql", "both")]
)
def test_a_failing_plugin_forward_migration_leaves_the_target_as_it_was(
    vendor, scenario, new_database, plugin_dump
):
    dump, _ = plugin_dump
    env = target_env(vendor, new_database(vendor), scenario, EXAMPLE_SENSORS_FAIL="1")
    manage("migrate", "-v0", env=env)
    before, migrations = digests(env), history(env)
    result = manage("loadstream", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        f"migrate forward: migration {MIGRATION} failed: ValueError: sensors release 2 cannot "
        "fill the labels"
    ) in err
    assert "unchanged" in err
    assert "Traceback" not in err
    assert digests(env) == before
    assert "sensors.Sensor" not in before  # the plugin is not active: its rows went too
    assert history(env) == migrations
    assert "sensors" not in migrations  # nor its migrations


def test_strict_migrations_refuses_a_dump_activating_an_older_plugin(new_database, plugin_dump):
    dump, _ = plugin_dump
    env = target_env("sqlite", new_database("sqlite"), "plugin")
    manage("migrate", "-v0", env=env)
    before = digests(env)
    result = manage("loadstream", "--strict-migrations", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        f"migration {MIGRATION} exists in the target but is not applied in the dump (the dump "
        "is older than the target's code)"
    ) in err
    assert "unchanged" in err
    assert digests(env) == before


@pytest.mark.parametrize(
    ("target", "scenario"),
    [("never migrated", "plugin"), ("never migrated", "both"), ("freshly migrated", "plugin")],
)
def test_mariadb_a_dump_activating_an_older_plugin(
    target, scenario, new_database, plugin_dump, plugin_in_place
):
    """DDL commits: journaled; the plugin's forward migration commits on its own. (A migrated
    target with the application's own apps older is refused: test_upgrade.py.)"""
    dump, _ = plugin_dump
    expected = plugin_in_place("mysql", scenario)
    env = target_env("mysql", new_database("mysql"), scenario)
    if target == "freshly migrated":
        manage("migrate", "-v0", env=env)
    result = manage("loadstream", "-v2", str(dump), env=env)
    err = result.stderr.decode()
    assert "plugins at the dump's state: 1 migrations" in err
    assert f"migrate forward: {FORWARD[scenario]} migrations" in err
    assert "step journal:" in err
    assert digests(env) == expected
    assert "streamdump_journal" not in manage("inspectdb", env=env).stdout.decode()


def test_mariadb_a_failing_plugin_forward_migration_drops_what_the_import_made(
    new_database, plugin_dump
):
    """Both moved on, into a never-migrated database: back to no tables at all."""
    dump, _ = plugin_dump
    env = target_env("mysql", new_database("mysql"), "both", EXAMPLE_SENSORS_FAIL="1")
    result = manage("loadstream", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert f"migrate forward: migration {MIGRATION} failed: ValueError" in err
    assert "Traceback" not in err
    assert "put back as it was, from its journal" in err
    assert "class " not in manage("inspectdb", env=env).stdout.decode()


def test_mariadb_a_failing_plugin_forward_migration_puts_a_migrated_target_back(
    new_database, plugin_dump
):
    """Only the plugin moved on, into a migrated database that never saw it: the journal puts
    the rows and the migration history back, and the plugin's tables are dropped."""
    dump, _ = plugin_dump
    env = target_env("mysql", new_database("mysql"), "plugin", EXAMPLE_SENSORS_FAIL="1")
    manage("migrate", "-v0", env=env)
    before, migrations = digests(env), history(env)
    result = manage("loadstream", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert f"migrate forward: migration {MIGRATION} failed: ValueError" in err
    assert "Traceback" not in err
    assert "put back as it was, from its journal" in err
    assert digests(env) == before
    assert history(env) == migrations
    assert "sensors_sensor" not in manage("inspectdb", env=env).stdout.decode()


def test_a_dump_of_a_newer_plugin_is_refused_after_the_reload_and_rolled_back(
    new_database, tmp_path
):
    """The plugin's migrations are known only once it is activated: a dump of its release 2
    into release 1 is refused then, inside the transaction, naming the migration."""
    source = release("sqlite", str(tmp_path / "source.sqlite3"), 1, sensors=2)
    manage("migrate", "-v0", env=source)
    manage("plugin", "enable", "sensors", env=source)
    dump = tmp_path / "dump.ndjson.zst"
    manage("dumpstream", "-o", str(dump), env=source)
    env = release("sqlite", new_database("sqlite"), 1)
    manage("migrate", "-v0", env=env)
    before, migrations = digests(env), history(env)
    result = manage("loadstream", "-v2", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        f"migration {MIGRATION} is applied in the dump but the target's code does not have it"
    ) in err
    assert "step reload plugins" in err  # refused after the reload, before any plugin migration
    assert "plugins at the dump's state" not in err and "step migrate plugins" not in err
    assert "the database is unchanged" in err and "Traceback" not in err
    assert digests(env) == before
    assert history(env) == migrations
