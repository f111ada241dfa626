"""Example data, SQLite to SQLite, through a file and a real OS pipe: every table identical."""

from __future__ import annotations

import subprocess
import sys

from .helpers import MANAGE, digests, example_env, manage, migrated_sqlite


def assert_identical(expected: dict, actual: dict) -> None:
    assert sorted(actual) == sorted(expected)
    differing = [label for label in expected if expected[label] != actual[label]]
    assert not differing, f"tables differ after the round trip: {differing}"


def test_every_example_table_holds_rows(source):
    _, expected = source
    empty = [label for label, (rows, _) in expected.items() if rows == 0]
    assert not empty, (
        f"the generator left tables empty, the round trip would prove nothing: {empty}"
    )
    assert "sessions.Session" not in expected  # excluded by default


def test_round_trip_through_a_file(source, sqlite_template, tmp_path):
    env, expected = source
    dump = tmp_path / "dump.ndjson.zst"
    manage("dumpstream", "-o", str(dump), env=env)
    assert dump.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    target = migrated_sqlite(sqlite_template, tmp_path / "target.sqlite3")
    target_env = example_env("sqlite", target)
    manage("loadstream", str(dump), env=target_env)
    assert_identical(expected, digests(target_env))


def test_round_trip_through_an_os_pipe(source, sqlite_template, tmp_path):
    env, expected = source
    target = migrated_sqlite(sqlite_template, tmp_path / "target.sqlite3")
    target_env = example_env("sqlite", target)
    exporter = subprocess.Popen(
        [sys.executable, str(MANAGE), "dumpstream"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    importer = subprocess.run(
        [sys.executable, str(MANAGE), "loadstream", "-"], env=target_env, stdin=exporter.stdout,
        capture_output=True, check=False,
    )  # fmt: skip
    exporter.stdout.close()
    assert exporter.wait() == 0, exporter.stderr.read().decode()
    assert importer.returncode == 0, importer.stderr.decode()
    assert_identical(expected, digests(target_env))


def test_console_script_export_import_and_inspect(source, sqlite_template, tmp_path):
    env, expected = source
    dump = tmp_path / "cli.ndjson.zst"
    settings = ["--settings", "example_project.settings", "--pythonpath", str(MANAGE.parent)]
    run = [sys.executable, "-m", "streamdump"]
    subprocess.run([*run, "export", *settings, "-o", str(dump)], env=env, check=True)
    inspected = subprocess.run([*run, "inspect", str(dump)], capture_output=True, check=False)
    assert inspected.returncode == 0
    assert b"intact" in inspected.stdout and b"inventory.Part " in inspected.stdout
    target_env = example_env("sqlite", migrated_sqlite(sqlite_template, tmp_path / "t.sqlite3"))
    subprocess.run([*run, "import", *settings, str(dump)], env=target_env, check=True)
    assert_identical(expected, digests(target_env))


def test_same_database_exports_the_same_rows(source, tmp_path):
    """Row bytes are deterministic: two exports of one database have equal section digests."""
    env, _ = source
    first, second = tmp_path / "1.zst", tmp_path / "2.zst"
    manage("dumpstream", "-o", str(first), env=env)
    manage("dumpstream", "-o", str(second), env=env)
    run = [sys.executable, "-m", "streamdump", "inspect", "--json"]
    import json

    one = json.loads(subprocess.run([*run, str(first)], capture_output=True).stdout)
    two = json.loads(subprocess.run([*run, str(second)], capture_output=True).stdout)
    assert [s["digest"] for s in one["sections"]] == [s["digest"] for s in two["sections"]]
