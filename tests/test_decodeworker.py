"""Decoding in a worker process (decodeworker.py, issue 15): the same import, the same errors,
bounded, and safe whichever process dies; SQLite's indexes rebuilt after the data."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import zstandard
from django.db import connections
from inventory.generate import generate
from textheavy.generate import generate as textheavy_generate

from streamdump import cpuwatch, database_digests, decodeworker, export, files, load
from streamdump.backends import backend_for
from streamdump.backends import sqlite as sqlite_backend
from streamdump.backends.pgcopy import CopyBlock
from streamdump.conf import get_config
from streamdump.decodeworker import WorkerDied, worker_pays
from streamdump.errors import FormatError, ImportFailed
from streamdump.reader import RowParser, Section

from .helpers import MANAGE, digests, example_env, manage, migrated_sqlite
from .streams import lines_of

# Its subject does not depend on Django's version (a forked process, its pipe and its death; the
# decoding it runs is the loader's, tested in every venv by the codec and value tests): `make
# compat` leaves it out, it runs in the main venv.
pytestmark = [
    pytest.mark.django_db(transaction=True, databases=["default", "target"]),
    pytest.mark.version_independent,
]

# A worker for every section, whether or not the machine has a core to spare.
FORCED = {"decode_worker": "always", "decode_worker_min_rows": 0}
OFF = {"decode_worker": False}
STARTED = re.compile(r"section (\S+): decoding in worker process (\d+)")


def config(**changes):
    return dataclasses.replace(get_config(), **changes)


@pytest.fixture
def dump():
    generate(800, seed=3, using="default")
    buffer = io.BytesIO()
    export(buffer, using="default")
    return buffer.getvalue()


class Workers(logging.Handler):
    """The worker processes an import starts (its debug log), and what to do when one starts."""

    def __init__(self, on_start=None) -> None:
        super().__init__(logging.DEBUG)
        self.started: list[tuple[str, int]] = []
        self.on_start = on_start

    def emit(self, record: logging.LogRecord) -> None:
        found = STARTED.match(record.getMessage())
        if found:
            self.started.append((found[1], int(found[2])))
            if self.on_start:
                self.on_start(found[1], int(found[2]))


@contextlib.contextmanager
def watching(on_start=None):
    logger = logging.getLogger("streamdump")
    handler, level = Workers(on_start), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def gone(pid: int) -> bool:
    """Whether the process has exited (and was reaped, or is a zombie not ours)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def test_a_worker_per_section_gives_identical_tables(dump):
    with watching() as workers:
        summary = load(io.BytesIO(dump), using="target", batch_size=37, config=config(**FORCED))
    assert database_digests("target") == database_digests("default")
    models = [model for model, _ in workers.started]
    # Every section decoded by the loaders (not the regenerated ones' merge... all of them) had one.
    assert "inventory.Part" in models and "inventory.StockMovement" in models
    assert len(models) >= len(summary.rows) - 5
    assert all(gone(pid) for _, pid in workers.started)


def test_without_the_setting_or_for_small_sections_no_worker(dump):
    with watching() as workers:
        load(io.BytesIO(dump), using="target", config=config(**OFF, decode_worker_min_rows=0))
    assert workers.started == []
    assert database_digests("target") == database_digests("default")


def test_small_sections_are_decoded_in_process(dump):
    assert get_config().decode_worker_min_rows > 800
    with watching() as workers:
        load(io.BytesIO(dump), using="target")
    assert workers.started == []


def test_one_cpu_means_no_worker():
    cpus = os.sched_getaffinity(0)
    assert worker_pays(None, 0) == (len(cpus) > 1)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        assert not worker_pays(None, 0)
        assert not worker_pays(10**9, 0)
    finally:
        os.sched_setaffinity(0, cpus)
    assert not worker_pays(None, None)  # DECODE_WORKER off
    assert not worker_pays(999, 1000)  # a small section


class Busy:
    """A CpuWatch of a machine whose every core is taken."""

    free = 0.2

    def spare(self) -> bool:
        return False


def test_no_worker_when_no_core_was_free_lately(dump, monkeypatch, caplog):
    monkeypatch.setattr("streamdump.sequencer.CpuWatch", Busy)
    for setting, expected in ((True, False), ("always", True)):
        with watching() as workers:
            load(io.BytesIO(dump), using="target", clear=True, config=config(
                decode_worker=setting, decode_worker_min_rows=0))  # fmt: skip
        assert bool(workers.started) == expected
        assert database_digests("target") == database_digests("default")
    assert "decoded in the importing process: its CPUs had 0.2 cores to spare" in caplog.text


class Clock:
    """What CpuWatch reads, moved by hand: wall time, idle time of the CPUs, this process's."""

    def __init__(self, monkeypatch) -> None:
        self.wall = self.idle = self.own = 0.0
        monkeypatch.setattr(cpuwatch.time, "monotonic", lambda: self.wall)
        monkeypatch.setattr(cpuwatch, "_idle_seconds", lambda cpus: self.idle)
        monkeypatch.setattr(cpuwatch, "_own_seconds", lambda: self.own)

    def run(self, wall: float, idle: float, own: float) -> None:
        self.wall, self.idle, self.own = self.wall + wall, self.idle + idle, self.own + own


def test_cpu_watch_counts_idle_cores_and_its_own_time(monkeypatch):
    clock = Clock(monkeypatch)
    watch = cpuwatch.CpuWatch()
    clock.run(wall=1.0, idle=0.9, own=1.0)  # two cores: this process on one, the other idle
    assert watch.spare() and watch.free == pytest.approx(1.9)
    clock.run(wall=1.0, idle=0.1, own=0.6)  # another job took most of both
    assert not watch.spare() and watch.free == pytest.approx(0.7)
    clock.run(wall=0.05, idle=0.1, own=0.05)  # too short a look: the last verdict stands
    assert not watch.spare()
    clock.run(wall=1.0, idle=0.0, own=1.9)  # this process and its worker: both cores ours
    assert watch.spare()


def test_a_first_decision_looks_at_the_command_s_life_not_the_load_average(monkeypatch):
    """cpuwatch.core_to_spare: the CPUs watched since the command started (watch_from_start)
    decide once FIRST_LOOK passed; before that, or unwatched, the load average does."""
    clock = Clock(monkeypatch)
    monkeypatch.setattr(cpuwatch, "cpus", lambda: {0, 1})
    monkeypatch.setattr(cpuwatch, "_since_start", None)
    monkeypatch.setattr(cpuwatch.os, "getloadavg", lambda: (2.6, 1.0, 1.0))  # a job just ended
    assert not cpuwatch.core_to_spare()  # unwatched: the lagging average says no
    cpuwatch.watch_from_start()
    clock.run(wall=0.05, idle=0.05, own=0.05)
    assert not cpuwatch.core_to_spare()  # too short a look: still the average
    clock.run(wall=0.1, idle=0.1, own=0.1)  # 0.15 s: the other core idle throughout
    assert cpuwatch.core_to_spare()
    monkeypatch.setattr(cpuwatch.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    cpuwatch.watch_from_start()
    clock.run(wall=0.2, idle=0.02, own=0.2)  # another job on the other core, the average low
    assert not cpuwatch.core_to_spare()


def test_cpu_watch_without_proc_stat_reads_the_load_average(monkeypatch):
    monkeypatch.setattr(cpuwatch, "_idle_seconds", lambda cpus: None)
    watch = cpuwatch.CpuWatch()
    watch.cpus = {0, 1}
    monkeypatch.setattr(cpuwatch.os, "getloadavg", lambda: (1.2, 1.0, 1.0))
    assert watch.spare()
    monkeypatch.setattr(cpuwatch.os, "getloadavg", lambda: (3.5, 1.0, 1.0))
    assert not watch.spare()


def _stored(values: list[list]) -> list[tuple]:
    """What SQLite stores for these values bound as the import binds them (type and value)."""
    columns = ", ".join(f"c{i}" for i in range(len(values[0])))
    with connections["target"].cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bound (c0 decimal, c1 blob, c2, c3, c4, c5, c6)")
        try:
            cursor.executemany(f"INSERT INTO bound ({columns}) VALUES ({', '.join(['%s'] * 7)})",
                               values)  # fmt: skip
            cursor.execute(f"SELECT {', '.join(f'typeof(c{i}), c{i}' for i in range(7))} "
                           "FROM bound ORDER BY rowid")  # fmt: skip
            return cursor.fetchall()
        finally:
            cursor.execute("DROP TABLE bound")


def test_values_cross_marshalled_as_the_driver_would_bind_them():
    if connections["target"].vendor != "sqlite":
        pytest.skip("SQLite's adapters")
    adapters = backend_for(connections["target"]).driver_adapters()
    assert adapters[Decimal] is str  # Django registers it; the wire relies on it being found
    values = [
        [Decimal("12.50"), memoryview(b"\x00\xff"), 7, None, "text é", True, 1.5],
        [None, None, -(2**63), 2.5, "", False, None],
        [Decimal("-0.000"), memoryview(b""), 0, "x", "0", None, 1e300],
    ]
    wire = decodeworker._Wire(adapters)
    message = wire.encode(41, [list(row) for row in values])
    assert message[:1] == decodeworker._MARSHALLED and wire.columns == {0, 1}
    kind, first, sent = decodeworker.decode_message(message)
    assert (kind, first) == ("values", 41)
    assert sent[0][:2] == ("12.50", b"\x00\xff") and sent[2][:2] == ("-0.000", b"")
    assert _stored(sent) == _stored(values)


def test_the_pipes_to_and_from_the_worker_hold_a_batch():
    """Each way, a batch goes in one write and out in one read (1 MiB pipes, where the
    system allows): through 64 KiB the importing process sat blocked in every send while the
    worker's reading thread waited for the GIL between reads."""
    fcntl = pytest.importorskip("fcntl")
    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        pytest.skip("no F_GETPIPE_SZ: not Linux")
    if int(Path("/proc/sys/fs/pipe-max-size").read_text()) < files.PIPE_BYTES:
        pytest.skip("the system allows smaller pipes")
    section = Section("app.A", "app_a", "remainder", ["id"], ["int"], None)
    rows = [[i] for i in range(50_000)]
    with decodeworker.worker_for(section, lambda rows, first: rows, lambda r, f: r) as worker:
        for end in (worker._to_worker, worker._from_worker):
            assert fcntl.fcntl(end.fileno(), fcntl.F_GETPIPE_SZ) >= files.PIPE_BYTES
        lines = iter([(1, [orjson.dumps(row) for row in rows])])
        got = [values for _, values in worker.batches(lines)]
        worker.finish()
    assert [list(row) for batch in got for row in batch] == rows


def test_the_worker_parses_a_joined_batch_as_its_lines_are_parsed():
    """The worker digests the batch it received in one update: the same digest and rows as
    parse() of its lines, and a bad row named by the same row and line."""
    section = Section("app.A", "app_a", "remainder", ["id", "name"], ["int", "str"], None)
    lines = [orjson.dumps([i, "é" * (i % 7)]) for i in range(1, 500)]
    by_lines, joined = RowParser(section), RowParser(section)
    for start in range(0, len(lines), 97):
        batch = lines[start : start + 97]
        expected = by_lines.parse(batch, start + 1)
        assert joined.parse_joined(b"\n".join(batch), start + 1) == expected
    assert joined.hexdigest() == by_lines.hexdigest()
    with pytest.raises(FormatError, match="row has 1 values") as error:
        RowParser(section).parse_joined(b'[1, "a"]\n[2]', 41)
    assert error.value.row == 42


class Tagged(str):
    """A str subclass: marshal refuses it, pickle keeps its class."""


def test_values_marshal_cannot_write_cross_pickled_unchanged():
    wire = decodeworker._Wire({Decimal: str})
    values = [[Decimal("1.5"), Tagged("a"), 3]]
    message = wire.encode(1, [list(row) for row in values])
    assert message[:1] != decodeworker._MARSHALLED and not wire.marshals
    kind, first, sent = decodeworker.decode_message(message)
    assert (kind, first) == ("values", 1)
    assert sent == [["1.5", "a", 3]] and type(sent[0][1]) is Tagged
    # The section's next batches go pickled at once, even those marshal could write.
    assert wire.encode(2, [[Decimal("2"), "b", 4]])[:1] != decodeworker._MARSHALLED


def test_a_block_made_for_the_inserter_crosses_as_it_is():
    """A loader's batch that is not a list of rows (PostgreSQL's COPY text) goes pickled, as
    the bytes it holds, and marshal stays on for the section's lists of rows."""
    block = CopyBlock(b"1\tan\\tescaped\n2\t\\N\n", 2)
    wire = decodeworker._Wire({})
    message = wire.encode(9, block)  # type: ignore[arg-type]
    kind, first, sent = decodeworker.decode_message(message)
    assert (kind, first) == ("values", 9)
    assert type(sent) is CopyBlock and (sent.data, len(sent)) == (block.data, 2)
    assert wire.marshals and wire.encode(10, [[1, "a"]])[:1] == decodeworker._MARSHALLED


def test_textheavy_values_give_the_same_tables_with_and_without_a_worker():
    """Decimals, binary, JSON, UUIDs and datetimes through the wire: identical by digest."""
    textheavy_generate(120, seed=5, using="default")
    buffer = io.BytesIO()
    export(buffer, using="default")
    source = database_digests("default")
    started = {}
    for name, changes in (("forced", FORCED), ("off", OFF)):
        with watching() as workers:
            load(io.BytesIO(buffer.getvalue()), using="target", batch_size=16, clear=True,
                 config=config(**changes))  # fmt: skip
        assert database_digests("target") == source
        started[name] = {model for model, _ in workers.started}
    assert {"textheavy.Document", "textheavy.Revision"} <= started["forced"]
    assert started["off"] == set()


def _damage(data: bytes, model: str, row: int, change) -> bytes:
    """The stream with row `row` of section `model` replaced by change(line) (digests kept
    as they were: a damaged row also breaks the digest, as on disk)."""
    lines = lines_of(data)
    if row < 0:  # counted from the end: -1 is the last row
        ends = [orjson.loads(x) for x in lines if x.startswith(b'{"type":"end"')]
        row += 1 + next(end["rows"] for end in ends if end.get("model") == model)
    out, current, number = [], None, 0
    for line in lines:
        if line.startswith(b'{"type":"section"'):
            current, number = orjson.loads(line)["model"], 0
        elif line.startswith(b"["):
            number += 1
            if current == model and number == row:
                line = change(line)
                if line is None:
                    continue
        out.append(line + b"\n")
    return zstandard.ZstdCompressor().compress(b"".join(out))


def _bad_value(line: bytes) -> bytes:
    row = orjson.loads(line)
    row[-1] = "not a date" if isinstance(row[-1], str) else {"not": "a value"}
    return orjson.dumps(row)


DAMAGES = {
    "invalid JSON": lambda line: line[:-3],
    "wrong width": lambda line: line[:-1] + b',"extra"]',
    "bad value": _bad_value,
    "digest": lambda line: line + b" ",  # still valid JSON: only the digest differs
    "missing row": lambda line: None,
}


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("row", [1, 60, -1])
def test_errors_are_the_same_with_a_worker(dump, damage, row):
    damaged = _damage(dump, "inventory.StockMovement", row, DAMAGES[damage])
    before = database_digests("target")
    messages = []
    for changes in (OFF, FORCED):
        with pytest.raises(ImportFailed) as info:
            load(io.BytesIO(damaged), using="target", batch_size=50, config=config(**changes))
        assert info.value.target_state == ImportFailed.UNCHANGED
        assert database_digests("target") == before
        messages.append((type(info.value.__cause__), str(info.value)))
    assert messages[0] == messages[1]
    assert "inventory.StockMovement" in messages[0][1]


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_stream_fails_the_same_with_a_worker(dump, cut):
    raw = b"".join(line + b"\n" for line in lines_of(dump))
    truncated = zstandard.ZstdCompressor().compress(raw[: int(len(raw) * cut)])
    messages = []
    for changes in (OFF, FORCED):
        with pytest.raises(ImportFailed) as info:
            load(io.BytesIO(truncated), using="target", batch_size=50, config=config(**changes))
        assert info.value.target_state == ImportFailed.UNCHANGED
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_a_worker_killed_fails_the_import_cleanly(dump):
    before = database_digests("target")

    def kill(model, pid):
        if model == "inventory.StockItem":
            os.kill(pid, signal.SIGKILL)

    with watching(kill), pytest.raises(ImportFailed) as info:
        load(io.BytesIO(dump), using="target", batch_size=50, config=config(**FORCED))
    assert isinstance(info.value.__cause__, WorkerDied)
    assert info.value.target_state == ImportFailed.UNCHANGED
    assert "section inventory.StockItem was killed by signal SIGKILL" in str(info.value)
    assert database_digests("target") == before


def _schema(using: str = "target") -> list[tuple]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
        return cursor.fetchall()


def _indexes_of(table: str) -> set[str]:
    with connections["target"].cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s", [table]
        )
        return {name for (name,) in cursor.fetchall()}


def test_sqlite_indexes_are_rebuilt_after_the_data_and_the_schema_is_identical(dump, monkeypatch):
    if connections["target"].vendor != "sqlite":
        pytest.skip("SQLite only")
    monkeypatch.setattr(sqlite_backend, "REBUILD_INDEXES_MIN_ROWS", 100)
    before = _schema()
    during = {}

    def look(model, pid):  # the worker starts inside the section's load: indexes are dropped
        if model == "inventory.StockMovement":
            during["indexes"] = _indexes_of("inventory_stockmovement")

    with watching(look):
        load(io.BytesIO(dump), using="target", batch_size=50, config=config(**FORCED))
    # The FK indexes (item, user) were gone while the rows went in; the primary key's stayed.
    assert during["indexes"] == {"sqlite_autoindex_inventory_stockmovement_1"}
    assert _schema() == before
    assert database_digests("target") == database_digests("default")


def test_sqlite_schema_is_identical_after_a_failure_past_a_rebuild(dump, monkeypatch):
    if connections["target"].vendor != "sqlite":
        pytest.skip("SQLite only")
    monkeypatch.setattr(sqlite_backend, "REBUILD_INDEXES_MIN_ROWS", 100)
    before, rows_before = _schema(), database_digests("target")
    # StockMovement comes after Part, StockItem...: their indexes were rebuilt, then this fails.
    damaged = _damage(dump, "inventory.StockMovement", -1, DAMAGES["bad value"])
    for changes in (OFF, FORCED):
        with pytest.raises(ImportFailed) as info:
            load(io.BytesIO(damaged), using="target", batch_size=50, config=config(**changes))
        assert info.value.target_state == ImportFailed.UNCHANGED
        assert _schema() == before
        assert database_digests("target") == rows_before


# --- real processes: kills and Ctrl-C --------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(x) for x in text.split()]


def _start_on_a_fifo(env, fifo, **kwargs):
    return subprocess.Popen(
        [sys.executable, str(MANAGE), "loadstream", str(fifo), "--no-progress", "-v0"],
        env={**env, "EXAMPLE_DECODE_WORKER_MIN_ROWS": "0", "EXAMPLE_DECODE_WORKER": "always"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def _wait_for_worker(process) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _children(process.pid)
        if found:
            return found[0]
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        time.sleep(0.02)
    raise AssertionError("no worker process started")


def _wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def fifo_import(source, sqlite_template, tmp_path):
    """A dump of the 4,000-row source, a target, and a FIFO to feed an import half of it."""
    env, _ = source
    path = tmp_path / "dump.ndjson.zst"
    manage("dumpstream", "-o", str(path), env=env)
    target = example_env("sqlite", migrated_sqlite(sqlite_template, tmp_path / "t.sqlite3"))
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    return path.read_bytes(), target, fifo


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_worker_exits_when_the_import_process_dies(fifo_import, sig):
    data, target, fifo = fifo_import
    before = digests(target)
    process = _start_on_a_fifo(target, fifo)
    with open(fifo, "wb") as writer:
        writer.write(data[: len(data) * 2 // 3])  # then the import waits for more
        writer.flush()
        worker = _wait_for_worker(process)
        process.send_signal(sig)
        process.wait(timeout=30)
        assert _wait_gone(worker), "the worker outlived the import process"
    assert digests(target) == before


def test_ctrl_c_with_a_worker_is_one_line_and_exit_130(fifo_import):
    data, target, fifo = fifo_import
    before = digests(target)
    # Ctrl-C at a terminal signals the whole foreground process group: the worker too.
    process = _start_on_a_fifo(target, fifo, process_group=0)
    with open(fifo, "wb") as writer:
        writer.write(data[: len(data) * 2 // 3])
        writer.flush()
        worker = _wait_for_worker(process)
        # Once the import waits for input (a signal landing between two reads of one buffered
        # read would wait for the next data: Python's, with or without a worker).
        time.sleep(1)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.decode().splitlines() == [
        "CommandError: interrupted; nothing was imported; the database is unchanged."
    ]
    assert _wait_gone(worker)
    assert digests(target) == before


def test_a_fixture_is_decoded_in_workers_as_a_stream_is(tmp_path):
    """A fixture's spool holds its rows as a stream's row lines: with the worker forced for
    every section, the fixture's sections are decoded in workers (ids only here: no natural
    key to look up first; not the start-up rows replaced, which the importing process reads),
    and the tables are those of an import without it."""
    from django.core.management import call_command

    generate(300, seed=5, using="default")
    path = tmp_path / "fixture.json"
    call_command("dumpdata", output=str(path), database="default", verbosity=0,
                 exclude=["contenttypes", "auth.permission", "sessions"])  # fmt: skip
    with watching() as workers:
        load(path.open("rb"), using="target", config=config(**FORCED))
    started = [model for model, _ in workers.started]
    assert {"inventory.StockMovement", "inventory.StockItem", "inventory.Part"} <= set(started)
    assert len(started) == len(set(started)) and "common.Setting" not in started
    forced = database_digests("target")
    load(path.open("rb"), using="target", clear=True, config=config(**OFF))
    assert database_digests("target") == forced
    assert (
        forced["inventory.StockMovement"][0]
        == database_digests("default")["inventory.StockMovement"][0]
    )


def test_the_worker_gives_free_memory_back_above_its_bound(monkeypatch, tmp_path):
    """Above TRIM_ABOVE the worker hands its free pages back after a batch (glibc keeps wide
    rows' freed batches in its heaps otherwise): the same tables, and the trim ran."""
    assert 0 < decodeworker.resident_bytes() < 1 << 40
    marks = tmp_path / "trimmed"

    def trim() -> None:  # in the forked worker: what it did goes to a file
        with open(marks, "a") as out:
            out.write(".")

    monkeypatch.setattr(decodeworker, "TRIM_ABOVE", 0)
    monkeypatch.setattr(decodeworker, "trim", trim)
    textheavy_generate(120, seed=6, using="default")
    buffer = io.BytesIO()
    export(buffer, using="default")
    with watching() as workers:
        load(io.BytesIO(buffer.getvalue()), using="target", batch_size=16, clear=True,
             config=config(**FORCED))  # fmt: skip
    assert database_digests("target") == database_digests("default")
    assert workers.started and len(marks.read_text()) >= 120 // 16
