"""Django's conventions at the user boundary (issue 13), in real processes: labels to include
and exclude on both commands, validated as dumpdata validates them; partial imports; option
ranges; exit codes by kind; the console script's help and settings errors."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from streamdump import exitcodes

from .helpers import ROOT, digests, example_env, manage
from .streams import rewrite

SCRIPT = [sys.executable, "-m", "streamdump"]


@pytest.fixture
def filled(small_source):
    """A small example database, its digests and a good dump of it (conftest.py)."""
    return small_source.env, small_source.digests, small_source.dump


def header_models(path) -> list[str]:
    result = subprocess.run([*SCRIPT, "inspect", "--json", str(path)], capture_output=True)
    return [t["model"] for t in json.loads(result.stdout)["header"]["tables"]]


def error_lines(result) -> list[str]:
    return result.stderr.decode().strip().splitlines()


# --- labels ------------------------------------------------------------------------------


# Messages are checked in this process (call_command raises the CommandError with its exit
# code); a few real processes below check that the command line exits with those codes.

LABELS = [
    (["-e", "nosuchapp"], "-e nosuchapp: No installed app with label 'nosuchapp'."),
    (["-e", "inventory.Nope"], "-e inventory.Nope: unknown model: inventory.Nope"),
    (["nosuchapp"], "label nosuchapp: No installed app with label 'nosuchapp'."),
    (["inventory.Nope"], "label inventory.Nope: unknown model: inventory.Nope"),
]


@pytest.mark.parametrize(("args", "message"), LABELS)
@pytest.mark.parametrize("command", ["dumpstream", "loadstream"])
def test_unknown_labels_are_refused_as_dumpdata_refuses_them(tmp_path, command, args, message):
    where = ["-o", str(tmp_path / "x.ndjson.zst")] if command == "dumpstream" else ["x.zst"]
    with pytest.raises(CommandError) as refused:
        call_command(command, *where, *args)
    assert str(refused.value) == message and refused.value.returncode == exitcodes.USAGE
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_bad_label_on_the_command_line_exits_2(filled, tmp_path):
    env, _, _ = filled
    result = manage("dumpstream", "inventory.Nope", "-o", str(tmp_path / "x.ndjson.zst"),
                    env=env, check=False)  # fmt: skip
    assert result.returncode == exitcodes.USAGE
    assert error_lines(result) == [
        "CommandError: label inventory.Nope: unknown model: inventory.Nope"
    ]
    assert list(tmp_path.iterdir()) == []


def test_labels_choose_what_is_exported(filled, tmp_path):
    env, _, _ = filled
    only = tmp_path / "inventory.ndjson.zst"
    manage("dumpstream", "inventory", "auth.Group", "-o", str(only), env=env)
    models = header_models(only)
    assert models and all(m.startswith("inventory.") or m.startswith("auth.Group") for m in models)
    assert "inventory.Part_tags" in models and "auth.Group_permissions" in models  # m2m go along
    assert "auth.User" not in models
    without = tmp_path / "without.ndjson.zst"
    manage("dumpstream", "-e", "inventory", "-e", "auth.User", "-o", str(without), env=env)
    models = header_models(without)
    assert not [m for m in models if m.startswith("inventory.") or m.startswith("auth.User")]
    assert "auth.Group" in models


def test_a_part_of_the_dump_is_imported_alone(filled, empty_target):
    env, expected, dump = filled
    result = manage("loadstream", str(dump), "inventory.Unit", "inventory.Tag", "-v2",
                    env=empty_target, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    after = digests(empty_target)
    assert after["inventory.Unit"] == expected["inventory.Unit"]
    assert after["inventory.Tag"] == expected["inventory.Tag"]
    assert after["inventory.Part"][0] == 0 and after["auth.User"][0] == 0
    assert "Imported 40 rows into 2 tables" in result.stderr.decode()


def test_a_part_referring_to_rows_nowhere_is_refused_naming_both_sides(filled, empty_target):
    env, _, dump = filled
    before = digests(empty_target)
    result = manage("loadstream", str(dump), "inventory.Part", env=empty_target, check=False)
    assert result.returncode == exitcodes.REFUSED
    stderr = result.stderr.decode()
    assert "inventory.Part.category -> inventory.PartCategory" in stderr
    assert "neither in the part imported nor already in the target" in stderr
    assert stderr.rstrip().endswith("Nothing was imported; the database is unchanged.")
    assert digests(empty_target) == before


def test_a_part_is_imported_where_the_target_holds_the_rows_it_refers_to(filled, tmp_path):
    env, expected, dump = filled
    target = tmp_path / "copy.sqlite3"
    target.write_bytes(open(env["EXAMPLE_DB_NAME"], "rb").read())
    with sqlite3.connect(target) as db:
        db.execute("UPDATE inventory_tag SET name = name || ' (changed)'")
        db.execute("UPDATE inventory_unit SET name = name || ' (kept)'")
    target_env = example_env("sqlite", target)
    result = manage("loadstream", "-c", str(dump), "inventory.Tag", env=target_env, check=False)
    assert result.returncode == 0, result.stderr.decode()
    after = digests(target_env)
    assert after["inventory.Tag"] == expected["inventory.Tag"]  # emptied and imported again
    assert after["inventory.Unit"] != expected["inventory.Unit"]  # -c left the rest alone
    assert after["inventory.Part_tags"] == expected["inventory.Part_tags"]


def test_a_label_the_dump_does_not_hold_is_refused(filled, empty_target):
    _, _, dump = filled
    result = manage("loadstream", str(dump), "sessions", env=empty_target, check=False)
    assert result.returncode == exitcodes.USAGE
    assert "label sessions: the dump holds no section of it" in result.stderr.decode()


# --- options -------------------------------------------------------------------------------


OPTIONS = [
    (["--database", "nope"], "argument --database: invalid choice: 'nope' (choose from"),
    (["--batch-size", "-5"], "argument --batch-size: -5 is too small: at least 1"),
    (["--batch-size", "0"], "argument --batch-size: 0 is too small: at least 1"),
    (["--batch-size", "many"], "argument --batch-size: 'many' is not a whole number"),
]


@pytest.mark.parametrize(("args", "message"), OPTIONS)
@pytest.mark.parametrize("command", ["dumpstream", "loadstream"])
def test_option_values_are_checked(tmp_path, command, args, message):
    where = ["-o", str(tmp_path / "x.ndjson.zst")] if command == "dumpstream" else ["x.zst"]
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command(command, *where, *args)


@pytest.mark.parametrize("level", ["99", "-8"])
def test_compression_level_range(tmp_path, level):
    message = f"argument --compression-level: {level} is out of range: zstd levels go from -7 to 22"
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("dumpstream", "-o", str(tmp_path / "x.ndjson.zst"),
                     f"--compression-level={level}")  # fmt: skip


def test_a_bad_option_value_on_the_command_line_exits_2(filled):
    env, _, dump = filled
    result = manage("loadstream", str(dump), "--batch-size", "-1", env=env, check=False)
    assert result.returncode == exitcodes.USAGE
    assert "argument --batch-size: -1 is too small: at least 1" in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_skip_checks_and_the_highest_compression_level(filled, tmp_path):
    env, _, _ = filled
    out = tmp_path / "x.ndjson.zst"
    manage("dumpstream", "--skip-checks", "--compression-level=22", "inventory.Unit", "-o",
           str(out), env=env)  # fmt: skip
    assert out.exists()


@pytest.mark.parametrize(
    ("name", "promise"),
    [("backup.json.gz", "gzip"), ("backup.json", "a JSON document (as dumpdata writes)"),
     ("b.ndjson.bz2", "bzip2"), ("b.xz", "xz")],
)  # fmt: skip
def test_an_output_name_promising_another_format_is_refused(tmp_path, name, promise):
    with pytest.raises(CommandError) as refused:
        call_command("dumpstream", "-o", str(tmp_path / name))
    assert f"the name promises {promise}, but the export is zstd-compressed NDJSON" in str(
        refused.value
    )
    assert refused.value.returncode == exitcodes.USAGE
    assert list(tmp_path.iterdir()) == []


def test_an_output_name_without_zst_is_warned_about(filled, tmp_path):
    env, _, _ = filled
    result = manage("dumpstream", "-o", str(tmp_path / "backup.dump"), "inventory.Unit", env=env)
    assert "usually named *.ndjson.zst" in result.stderr.decode()
    assert (tmp_path / "backup.dump").exists()


# --- exit codes ---------------------------------------------------------------------------


def test_exit_codes_by_kind_of_failure(filled, empty_target, tmp_path):
    env, _, dump = filled
    data = dump.read_bytes()
    truncated = tmp_path / "truncated.ndjson.zst"
    truncated.write_bytes(data[: len(data) // 2])
    result = manage("loadstream", str(truncated), env=empty_target, check=False)
    assert result.returncode == exitcodes.BAD_INPUT, result.stderr.decode()
    missing = manage("loadstream", str(tmp_path / "nope.zst"), env=empty_target, check=False)
    assert missing.returncode == exitcodes.BAD_INPUT and b"no such file" in missing.stderr
    refused = manage("loadstream", str(dump), env=env, check=False)  # the source is not empty
    assert refused.returncode == exitcodes.REFUSED and b"already holds rows" in refused.stderr

    def future(model, obj):
        if isinstance(obj, dict) and obj["type"] == "header":
            obj["migrations"]["inventory"].append("0099_future")
        return obj

    newer = tmp_path / "newer.ndjson.zst"
    newer.write_bytes(rewrite(data, future))
    mismatch = manage("loadstream", str(newer), env=empty_target, check=False)
    assert mismatch.returncode == exitcodes.REFUSED and b"0099_future" in mismatch.stderr
    directory = tmp_path / "not-a-database"
    directory.mkdir()
    unreachable = manage("dumpstream", "-o", str(tmp_path / "x.ndjson.zst"),
                         env=example_env("sqlite", directory), check=False)  # fmt: skip
    assert unreachable.returncode == exitcodes.DATABASE
    assert error_lines(unreachable) == [
        "CommandError: database 'default': unable to open database file"
    ]


# --- the console script --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["export", "import", "inspect", "cat", "digest"])
def test_every_subcommand_has_help_without_settings(tmp_path, name):
    env = example_env()
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run([*SCRIPT, name, "--help"], capture_output=True, env=env,
                            cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().startswith(f"usage: streamdump {name} ")


def test_export_help_with_settings_names_the_databases(filled):
    env, _, _ = filled
    result = subprocess.run(
        [*SCRIPT, "export", "--settings", "example_project.settings", "--help"],
        capture_output=True, env=env, cwd=ROOT / "example",
    )  # fmt: skip
    assert result.returncode == 0
    assert "usage: streamdump export" in result.stdout.decode()
    assert "{default,target}" in result.stdout.decode()


@pytest.mark.parametrize("name", ["export", "import", "digest"])
def test_a_bad_settings_module_is_one_line(tmp_path, name):
    extra = ["x.ndjson.zst"] if name == "import" else []
    result = subprocess.run([*SCRIPT, name, "--settings", "no.such.settings", *extra],
                            capture_output=True, cwd=tmp_path)  # fmt: skip
    assert result.returncode == exitcodes.USAGE
    assert error_lines(result) == [
        "streamdump: cannot import the settings module 'no.such.settings': No module named 'no'"
    ]


def test_the_console_script_keeps_the_commands_exit_codes(filled, tmp_path):
    env, _, _ = filled
    result = subprocess.run(
        [*SCRIPT, "export", "--settings", "example_project.settings", "-e", "nosuchapp",
         "-o", str(tmp_path / "x.ndjson.zst")],
        capture_output=True, env=env, cwd=ROOT / "example",
    )  # fmt: skip
    assert result.returncode == exitcodes.USAGE
    assert error_lines(result) == [
        "CommandError: -e nosuchapp: No installed app with label 'nosuchapp'."
    ]
