"""The commands as a user meets them: inspect, and every export error a user can cause."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import stat
import subprocess
import sys

import pytest
import zstandard

from streamdump import exitcodes

from .helpers import MANAGE, ROOT, example_env, manage
from .streams import lines_of

INSPECT = [sys.executable, "-m", "streamdump", "inspect"]


@pytest.fixture
def filled(small_source):
    """A small example database and a good dump of it (conftest.py)."""
    return small_source.env, small_source.dump


def inspect(path, *extra):
    return subprocess.run([*INSPECT, *extra, str(path)], capture_output=True, check=False)


def test_inspect_good_file(filled):
    _, dump = filled
    result = inspect(dump, "--json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["intact"] and report["header"]["source"]["vendor"] == "sqlite"
    parts = next(s for s in report["sections"] if s["model"] == "inventory.Part")
    assert parts["rows"] > 0


def test_inspect_reads_stdin_and_plain_ndjson(filled, tmp_path):
    _, dump = filled
    plain = tmp_path / "plain.ndjson"
    plain.write_bytes(b"\n".join(lines_of(dump.read_bytes())) + b"\n")
    with open(plain, "rb") as stdin:
        result = subprocess.run([*INSPECT, "-"], stdin=stdin, capture_output=True, check=False)
    assert result.returncode == 0 and b"intact" in result.stdout


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], b"truncated"),
        (lambda data: data[:-1], b""),
        (lambda data: b"", b"empty"),
        (lambda data: b'[{"model": "auth.user", "pk": 1}]', b"Django fixture"),
        (lambda data: b"PK\x03\x04zipfile", b"the zip archive is damaged"),
    ],
)
def test_inspect_damaged_files_exit_non_zero(filled, tmp_path, damage, message):
    _, dump = filled
    bad = tmp_path / "bad.zst"
    bad.write_bytes(damage(dump.read_bytes()))
    result = inspect(bad)
    assert result.returncode == 1
    assert b"DAMAGED" in result.stdout and message in result.stdout


def test_inspect_detects_a_changed_row(filled, tmp_path):
    _, dump = filled
    lines = lines_of(dump.read_bytes())
    index = next(i for i, line in enumerate(lines) if line.startswith(b'[') and b"Pump" in line
                 or line.startswith(b"[") and i > len(lines) // 2)  # fmt: skip
    lines[index] = lines[index].replace(b"1", b"2", 1)
    bad = tmp_path / "changed.zst"
    bad.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))
    result = inspect(bad)
    assert result.returncode == 1 and b"digest mismatch" in result.stdout


def test_inspect_missing_file(tmp_path):
    result = inspect(tmp_path / "nope.zst")
    assert result.returncode == 2 and b"no such file" in result.stderr


def test_export_refuses_a_terminal(filled):
    env, _ = filled
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, str(MANAGE), "dumpstream"], env=env, stdout=follower,
            stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 1 and b"refusing to write compressed data to a terminal" in (
        result.stderr
    )


def test_export_to_a_full_disk_fails_clearly(filled, tmp_path):
    env, _ = filled
    device = tmp_path / "full"
    os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 7))  # a /dev/full of our own
    with open(device, "wb") as full:
        result = subprocess.run(
            [sys.executable, str(MANAGE), "dumpstream"], env=env, stdout=full,
            stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert b"no space left on device" in result.stderr
    assert b"Traceback" not in result.stderr


def test_export_into_a_closed_pipe_fails_clearly(source):
    # The reader is gone before the first write: an export into a pipe that is still open could
    # fit whole into the pipe (1 MiB, files.PIPE_BYTES) and end before the reader closes it.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        exporter = subprocess.Popen(
            [sys.executable, str(MANAGE), "dumpstream", "--batch-size", "50"], env=source[0],
            stdout=writer, stderr=subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(writer)
    stderr = exporter.stderr.read()
    assert exporter.wait() == 1
    assert b"closed the pipe" in stderr and b"Traceback" not in stderr


def test_export_to_a_missing_directory(filled, tmp_path):
    env, _ = filled
    result = manage("dumpstream", "-o", str(tmp_path / "no" / "x.zst"), env=env, check=False)
    assert result.returncode == 1 and b"does not exist" in result.stderr


def test_failed_export_leaves_no_file_behind(filled, tmp_path):
    env, _ = filled
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(open(env["EXAMPLE_DB_NAME"], "rb").read())
    with sqlite3.connect(broken) as db:
        db.execute("DROP TABLE inventory_stockmovement")
    target = tmp_path / "out.ndjson.zst"
    result = manage("dumpstream", "-o", str(target), env=example_env("sqlite", broken), check=False)
    assert result.returncode == exitcodes.DATABASE
    assert b"inventory.StockMovement (table inventory_stockmovement)" in result.stderr
    assert os.listdir(tmp_path) == ["broken.sqlite3"]


def test_loadstream_missing_file(filled, tmp_path):
    env, _ = filled
    result = manage("loadstream", str(tmp_path / "missing.zst"), env=env, check=False)
    assert result.returncode == exitcodes.BAD_INPUT and b"no such file" in result.stderr
    assert b"database is unchanged" in result.stderr


def test_dump_file_is_owner_only(filled):
    _, dump = filled
    assert os.stat(dump).st_mode & 0o777 == 0o600  # it holds password hashes and tokens


def test_help_texts():
    for command in ("dumpstream", "loadstream"):
        result = manage(command, "--help", env=example_env())
        assert b"--database" in result.stdout
    assert b"--clear" in manage("loadstream", "--help", env=example_env()).stdout


INVENTREE = ROOT.parent / "shared" / "fixtures" / "inventree-1.5-demo.json.zst"


def test_inspect_reads_a_real_inventree_export_in_one_pass():
    """InvenTree 1.5's own export-records file: a dumpdata array led by a metadata record."""
    assert INVENTREE.exists(), f"the shared fixture is missing: {INVENTREE}"
    result = inspect(INVENTREE, "--json")
    assert result.returncode == 0, result.stdout.decode()[-500:]
    report = json.loads(result.stdout)
    assert report["header"]["metadata"] is True and report["header"]["source_version"]
    counts = {s["model"]: s["rows"] for s in report["sections"]}
    data = zstandard.ZstdDecompressor().stream_reader(INVENTREE.read_bytes()).read()
    everything = json.loads(data)
    assert sum(counts.values()) == len(everything) - 1  # all but the metadata record
    assert counts["part.part"] == sum(1 for o in everything if o.get("model") == "part.part")


def test_loading_a_fixture_is_checked_like_a_stream(filled, tmp_path):
    """A fixture is imported (test_fixtures.py), with the same refusals as a stream: a target
    that holds rows, a model that is not installed (named with its record)."""
    env, _ = filled
    fixture = tmp_path / "fixture.json"
    fixture.write_bytes(b'[{"model": "inventory.tag", "pk": 1, "fields": {"name": "x"}}]')
    result = manage("loadstream", str(fixture), env=env, check=False)
    assert result.returncode == exitcodes.REFUSED and b"holds rows" in result.stderr, result.stderr
    result = manage("loadstream", "-c", str(INVENTREE), env=env, check=False)
    # A fixture's record of a model that is not installed is bad input (a FormatError naming
    # the record), where a stream's section of one is a refusal of the target (SchemaMismatch).
    assert result.returncode == exitcodes.BAD_INPUT, result.stderr
    assert b"record 2: model build.buildline is not installed" in result.stderr
    assert b"the database is unchanged" in result.stderr


def test_digest_names_the_aliases_of_an_unknown_database():
    """As dumpdata does for --database: one line naming the choices, a usage exit, no
    traceback."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "example"), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "streamdump", "digest", "--database", "nope"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == exitcodes.USAGE, result.stderr
    assert "invalid choice 'nope' (choose from 'default', 'target'" in result.stderr
    assert "Traceback" not in result.stderr


def test_digest_leaves_out_the_fields_named_by_ignore(filled, tmp_path):
    """--ignore app_label.Model.field: two databases that differ only in those columns (a
    timestamp written at start-up, the ids of many-to-many links numbered in set order) digest
    alike; any other difference still shows; an unknown name is a usage error."""
    import shutil

    env, _ = filled
    db = tmp_path / "copy.sqlite3"
    shutil.copyfile(env["EXAMPLE_DB_NAME"], db)
    env = {**env, "EXAMPLE_DB_NAME": str(db), "DJANGO_SETTINGS_MODULE": "example_project.settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "example"), str(ROOT)])

    def digest(*ignore):
        result = subprocess.run(
            [sys.executable, "-m", "streamdump", "digest", *(f"--ignore={i}" for i in ignore)],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        return result.returncode, result.stdout, result.stderr

    ignore = ("inventory.Part.last_modified", "inventory.Part_tags.id")
    before, before_ignoring = json.loads(digest()[1]), json.loads(digest(*ignore)[1])
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE inventory_part SET last_modified = '2001-02-03 04:05:06'")
        conn.execute("UPDATE inventory_part_tags SET id = id + 100000")
    after, after_ignoring = json.loads(digest()[1]), json.loads(digest(*ignore)[1])
    changed = {label for label in before if before[label] != after[label]}
    assert changed == {"inventory.Part", "inventory.Part_tags"}
    assert after_ignoring == before_ignoring
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE inventory_part SET name = name || '!' WHERE id = 1")
    still = json.loads(digest(*ignore)[1])
    assert {t for t in still if still[t] != before_ignoring[t]} == {"inventory.Part"}
    code, out, err = digest("inventory.Part.no_such_field")
    assert code == exitcodes.USAGE and out == "" and "Traceback" not in err
    assert "inventory.Part.no_such_field: inventory.Part has no field 'no_such_field'" in err
    code, _, err = digest("inventory.Nothing.id")
    assert code == exitcodes.USAGE and "no table 'inventory.Nothing'" in err
