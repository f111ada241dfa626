"""Events for machines (--events), and reading a dump without a database: inspect's sizes,
`streamdump cat` and the DuckDB query the docs show (issue 13)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from streamdump import exitcodes

from .helpers import MANAGE, digests, manage
from .streams import lines_of, rewrite

SCRIPT = [sys.executable, "-m", "streamdump"]


@pytest.fixture
def exported(small_source):
    """A small example database exported with --events to a file (conftest.py)."""
    return small_source.env, small_source.dump, small_source.events


def read_events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_events(exported):
    _, dump, events = exported
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "summary"
    start, summary = events[0], events[-1]
    sections = [e for e in events if e["event"] == "section"]
    assert start["command"] == "export" and start["tables"] == len(sections) == summary["tables"]
    assert start["rows"] == sum(s["rows"] for s in sections) == summary["rows"] > 0
    assert summary["bytes"] == dump.stat().st_size
    assert all(s["bytes"] > 0 for s in sections if s["rows"])
    assert {"count", "write"} <= set(summary["steps"])
    assert kinds.count("step_start") == kinds.count("step_end")


def test_import_events_and_a_pipe_keeps_stdout_for_the_stream(exported, empty_target, tmp_path):
    env, _, _ = exported
    export_events, import_events = tmp_path / "export.jsonl", tmp_path / "import.jsonl"
    pipeline = (
        f"{sys.executable} {MANAGE} dumpstream -o - --events {export_events} | "
        f"EXAMPLE_DB_NAME={empty_target['EXAMPLE_DB_NAME']} "
        f"{sys.executable} {MANAGE} loadstream - --events {import_events} -v0"
    )
    result = subprocess.run(pipeline, shell=True, env=env, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    assert digests(empty_target) == digests(env)
    events = read_events(import_events)
    assert events[0]["event"] == "start" and events[0]["command"] == "import"
    steps = [e["step"] for e in events if e["event"] == "step_start"]
    # Every refusal (the journal, preflight, a target holding rows) comes before migrate.
    assert steps[:4] == ["journal check", "preflight", "refusal", "migrate"]
    assert steps[-1] == "verify"
    assert steps == [e["step"] for e in events if e["event"] == "step_end"]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["rows"] == events[0]["rows"]
    assert summary["rows"] == sum(e["rows"] for e in events if e["event"] == "section")
    assert list(summary["steps"]) == steps
    # Each section's NDJSON bytes, measured by the reader as the exporter measured them.
    written = {
        e["model"]: e["bytes"] for e in read_events(export_events) if e["event"] == "section"
    }
    read = {e["model"]: e["bytes"] for e in events if e["event"] == "section"}
    assert read == written and any(read.values())


def test_events_on_stdout(exported, tmp_path):
    env, _, _ = exported
    result = manage("dumpstream", "-o", str(tmp_path / "x.ndjson.zst"), "--events", "-",
                    "inventory.Unit", env=env)  # fmt: skip
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "summary"


def test_events_and_the_stream_cannot_share_stdout(exported):
    env, _, _ = exported
    result = manage("dumpstream", "--events", "-", env=env, check=False)
    assert result.returncode == exitcodes.USAGE and result.stdout == b""
    assert b"--events -: stdout carries the dump" in result.stderr


def test_an_error_event_says_where_and_what_the_target_holds(exported, empty_target, tmp_path):
    _, dump, _ = exported

    def damage(model, obj):  # a value that does not decode, in a known row and column
        if model == "inventory.Part" and isinstance(obj, list) and obj[0] == 3:
            obj[1] = {"not": "a name"}
        return obj

    bad, events = tmp_path / "bad.ndjson.zst", tmp_path / "events.jsonl"
    bad.write_bytes(rewrite(dump.read_bytes(), damage))
    result = manage("loadstream", str(bad), "--events", str(events), env=empty_target, check=False)
    assert result.returncode == exitcodes.BAD_INPUT, result.stderr.decode()
    error = read_events(events)[-1]
    assert error["event"] == "error" and error["kind"] == "bad input"
    assert error["section"] == "inventory.Part" and error["row"] is not None
    assert error["column"] and error["target_state"] == "unchanged" and error["exit_code"] == 3
    assert error["message"] in result.stderr.decode()


def test_inspect_shows_the_size_and_the_compression_ratio(exported):
    _, dump, _ = exported
    text = subprocess.run([*SCRIPT, "inspect", str(dump)], capture_output=True, check=True)
    data = sum(len(line) + 1 for line in lines_of(dump.read_bytes()))
    size = dump.stat().st_size
    assert f"{size:,} bytes ({data:,} bytes of NDJSON, compressed {data / size:.1f}x)" in (
        text.stdout.decode()
    )
    report = json.loads(
        subprocess.run([*SCRIPT, "inspect", "--json", str(dump)], capture_output=True).stdout
    )
    assert report["file_bytes"] == size and report["data_bytes"] == data and report["ratio"] > 2


def test_cat_writes_rows_as_objects_with_column_names(exported, tmp_path):
    env, dump, _ = exported
    result = subprocess.run([*SCRIPT, "cat", str(dump), "inventory.Unit"], capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == digests(env)["inventory.Unit"][0]
    assert set(rows[0]) == {"id", "name", "symbol", "definition"}
    assert rows[0]["name"] == "metre"
    everything = subprocess.run([*SCRIPT, "cat", str(dump), "inventory"], capture_output=True)
    assert len(everything.stdout.splitlines()) == sum(
        rows for label, (rows, _) in digests(env).items() if label.startswith("inventory.")
    )


def test_cat_refuses_a_label_the_dump_does_not_hold(exported):
    _, dump, _ = exported
    result = subprocess.run([*SCRIPT, "cat", str(dump), "nope.Thing"], capture_output=True)
    assert result.returncode == exitcodes.USAGE and result.stdout == b""
    assert b"nope.thing: the dump holds no such app or model" in result.stderr


def test_cat_of_a_damaged_dump_fails_clearly(exported, tmp_path):
    _, dump, _ = exported
    data = dump.read_bytes()
    cut = tmp_path / "cut.ndjson.zst"
    cut.write_bytes(data[: len(data) // 2])
    result = subprocess.run([*SCRIPT, "cat", str(cut)], capture_output=True)
    assert result.returncode == exitcodes.BAD_INPUT
    assert result.stderr.decode().splitlines() == [
        "streamdump cat: the compressed data ends inside a zstd frame: the file is truncated"
    ]


def test_the_duckdb_query_of_the_docs(exported, tmp_path):
    """docs/FORMAT.md shows this query on `streamdump cat` output."""
    import duckdb  # in the test extra

    _, dump, _ = exported
    parts = tmp_path / "parts.ndjson"
    with open(parts, "wb") as out:
        subprocess.run([*SCRIPT, "cat", str(dump), "inventory.Part"], stdout=out, check=True)
    rows = duckdb.sql(
        f"SELECT category_id, count(*) AS parts, max(name) AS last "
        f"FROM read_json_auto('{parts}') GROUP BY category_id ORDER BY parts DESC, category_id"
    ).fetchall()
    lines = parts.read_bytes().rstrip(b"\n").split(b"\n")  # not splitlines(): U+2028 in values
    expected: dict[int, list[str]] = {}
    for line in lines:
        row = json.loads(line)
        expected.setdefault(row["category_id"], []).append(row["name"])
    assert sum(count for _, count, _ in rows) == len(lines)
    for category, count, last in rows:
        assert count == len(expected[category]) and last == max(expected[category])


def test_warnings_reach_the_events_at_v0_and_the_console_stays_quiet(
    exported, empty_target, tmp_path
):
    _, dump, _ = exported

    def ghost(model, obj):  # admin.LogEntry becomes a model this installation does not have
        if isinstance(obj, dict) and obj["type"] == "header":
            for table in obj["tables"]:
                if table["model"] == "admin.LogEntry":
                    table["model"] = "ghost.LogEntry"
        elif isinstance(obj, dict) and obj.get("model") == "admin.LogEntry":
            obj["model"] = "ghost.LogEntry"
        return obj

    changed, events = tmp_path / "ghost.ndjson.zst", tmp_path / "events.jsonl"
    changed.write_bytes(rewrite(dump.read_bytes(), ghost))
    result = manage("loadstream", str(changed), "--ignore-missing", "-v0", "--events",
                    str(events), env=empty_target)  # fmt: skip
    assert result.stderr == b""
    warnings = [e for e in read_events(events) if e["event"] == "warning"]
    assert [w["message"] for w in warnings] == [
        "skipping sections of models not installed: ghost.LogEntry"
    ]


def test_an_input_that_cannot_be_opened_is_an_error_event(empty_target, tmp_path):
    events = tmp_path / "events.jsonl"
    result = manage("loadstream", str(tmp_path / "nope.zst"), "--events", str(events),
                    env=empty_target, check=False)  # fmt: skip
    assert result.returncode == exitcodes.BAD_INPUT
    (error,) = read_events(events)
    assert error["event"] == "error" and error["kind"] == "bad input"
    assert error["message"] == f"no such file: {tmp_path / 'nope.zst'}"
