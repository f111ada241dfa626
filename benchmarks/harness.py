"""Run each tool as its own process on the same data and measure it from outside.

- Time: wall-clock time of the process (or pipeline). Django commands also report the time of the
  command itself, measured inside the process around the command (``timed_manage.py``), so that
  streamdump and dumpdata/loaddata can be compared without the start-up both pay.
- Peak RSS: ``/usr/bin/time -f %M`` around each tool process: the kernel's ``ru_maxrss`` of the
  tool, measured from outside, per process, nothing running inside the tool. (The tool must be
  started by a small process: a child forked straight from this one would inherit this
  process's RSS as its high-water mark.) A process the tool forks (streamdump's decode worker)
  is not in that figure: ``ru_maxrss`` of a process that has reaped its children is the largest
  of their peaks, never their sum. So the tool's process tree is also sampled from /proc
  (PeakSampler: each process's own high-water mark, ``VmHWM``), and a tool's peak RSS is its
  own plus that of the largest process it forked: the memory both hold at once at worst
  (pages they share after the fork counted twice).
- Memory held together: the proportional set size (``Pss`` of ``/proc/PID/smaps_rollup``, which
  counts a page that n processes share as 1/n in each) of the tool and of every process it has
  forked, summed at one moment, sampled every PSS_EVERY samples; the run's figure is the largest
  such sum. It counts the interpreter's and Django's pages, which the decode worker shares with
  the tool since the fork, once; it is a sample, not a kernel high-water mark.
- Size: bytes of the output file.

Databases: one source per backend, schema and scale, filled by the example project's
deterministic generator of that schema (SCHEMAS) and cached between runs (keyed by the
generators, models and migrations). Every import
goes into a fresh database: a clone of a migrated, empty template for Django tools and streamdump,
an empty database for the native restore (which creates its own schema).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example"
TIMED_MANAGE = Path(__file__).resolve().parent / "timed_manage.py"
CACHE = ROOT / ".benchmarks" / "data"

PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
MY = ["-h", "127.0.0.1", "-P", "3306", "-u", "root"]


@dataclass(frozen=True)
class Schema:
    """A benchmark schema: an app of the example project and the command that fills it."""

    name: str
    generate: tuple[str, ...]  # manage.py arguments that, with --rows N, fill about N rows
    check_table: str  # its largest table: a cheap check that an import is whole
    title: str  # what docs/BENCHMARKS.md calls it


SCHEMAS = {
    "inventory": Schema(
        "inventory",
        ("generate",),
        "inventory_stockmovement",
        "inventory (the example project: narrow rows, many tables and relations)",
    ),
    "textheavy": Schema(
        "textheavy",
        ("generate", "--schema", "textheavy"),
        "textheavy_document",
        "textheavy (wide rows: about 1 kB of text, JSON, binary, decimals and datetimes each)",
    ),
}


class ToolFailed(AssertionError):
    """A measured process exited with an error."""


@dataclass
class Result:
    """One measured run of one tool."""

    backend: str
    rows: int
    tool: str
    operation: str  # export | import | pipe
    wall: float  # seconds, as pytest-benchmark measured the run: the measure of every ratio
    command: float | None = None  # seconds inside the process (Django commands only), information
    rss_kb: int = 0  # peak RSS of the (largest) process, its forked workers' included
    rss_kb_each: dict[str, int] = field(default_factory=dict)  # per process, workers included
    bytes: int | None = None
    schema: str = "inventory"  # SCHEMAS
    # Per process: the part of rss_kb_each that is its largest forked worker's (decode worker).
    rss_kb_workers: dict[str, int] = field(default_factory=dict)
    # Per process: the largest sampled PSS of it and its forked workers together (PeakSampler).
    pss_kb_each: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


# --- processes ------------------------------------------------------------------------------


TIME = "/usr/bin/time"  # GNU time (Debian package "time")


@dataclass
class Proc:
    """A process of a measured run: its command line and where its stdin/stdout go."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    stdin: Path | None = None
    stdout: Path | None = None
    timing: Path | None = None  # where timed_manage.py writes the command's own time


class PeakSampler:
    """Samples, from /proc, the peak RSS of each measured process and of the processes it forks.

    Every SAMPLE seconds, in a thread: the children of each /usr/bin/time process (the tool),
    their descendants (workers), and each one's VmHWM (its own high-water mark, which the
    kernel keeps: a sample misses only what a process gains in its last moments).
    """

    SAMPLE = 0.02
    # smaps_rollup walks the process's page tables: about a millisecond for the tool and its
    # worker, read every 0.1 s rather than every sample.
    PSS_EVERY = 5

    def __init__(self) -> None:
        self.timers: list[int] = []  # pids of the /usr/bin/time processes, one per tool
        self.tools: dict[int, int] = {}  # time's pid -> the tool's pid
        self.peaks: dict[int, int] = {}  # pid -> largest VmHWM seen (KiB)
        self.workers: dict[int, set[int]] = {}  # the tool's pid -> the pids it forked
        self.pss: dict[int, int] = {}  # the tool's pid -> largest PSS of its tree at once (KiB)
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self, timers: list[int]) -> None:
        self.timers = timers
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.SAMPLE)

    def sample(self) -> None:
        """Read the process trees once."""
        with_pss = self._samples % self.PSS_EVERY == 0
        self._samples += 1
        for timer in self.timers:
            if timer not in self.tools:
                children = _children(timer)
                if not children:
                    continue
                self.tools[timer] = children[0]
            tool = self.tools[timer]
            self._peak(tool)
            seen = self.workers.setdefault(tool, set())
            alive = [tool]
            pending = _children(tool)
            while pending:
                pid = pending.pop()
                seen.add(pid)
                alive.append(pid)
                self._peak(pid)
                pending += _children(pid)
            if with_pss:
                held = sum(_pss(pid) for pid in alive)
                self.pss[tool] = max(self.pss.get(tool, 0), held)

    def _peak(self, pid: int) -> None:
        try:
            with open(f"/proc/{pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"VmHWM:"):
                        kb = int(line.split()[1])
                        self.peaks[pid] = max(self.peaks.get(pid, 0), kb)
                        return
        except (OSError, ValueError):
            return  # gone (or a zombie without memory): its last sample stands

    def of(self, timer: int, ru_maxrss: int) -> tuple[int, int]:
        """(own, largest worker's) peak RSS in KiB of the tool that /usr/bin/time `timer` ran,
        given the ru_maxrss that time reported for it."""
        tool = self.tools.get(timer)
        worker = max((self.peaks.get(p, 0) for p in self.workers.get(tool, ())), default=0)
        # ru_maxrss is the largest of the tool's and its reaped workers' peaks: above the
        # workers', it is the tool's own (exact, where the samples may have missed the end).
        own = ru_maxrss if ru_maxrss > worker else self.peaks.get(tool or -1, ru_maxrss)
        return own, worker


def _pss(pid: int) -> int:
    """The proportional set size of a process in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


class Measured(NamedTuple):
    """What run() measured of a process or pipeline; every dict is keyed by Proc.name."""

    wall: float  # seconds
    rss: dict[str, int]  # peak RSS in KiB, its largest forked worker's added
    command: dict[str, float]  # seconds inside the command (timed_manage.py)
    workers: dict[str, int]  # the largest forked worker's peak RSS in KiB, 0 if none
    pss: dict[str, int]  # the largest sampled PSS of the process and its workers together, KiB


def run(procs: list[Proc]) -> Measured:
    """Run one process, or a pipeline of them, and measure it (Measured)."""
    sampler = PeakSampler()
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(open(os.devnull, "wb")) for _ in procs]
        errs = [stack.enter_context(_tempfile()) for _ in procs]
        peaks = [stack.enter_context(_tempfile(mode="w+")) for _ in procs]
        started = time.perf_counter()
        running: list[subprocess.Popen] = []
        previous = None
        for i, p in enumerate(procs):
            stdin = stack.enter_context(open(p.stdin, "rb")) if p.stdin else previous
            if i < len(procs) - 1:
                stdout = subprocess.PIPE
            elif p.stdout:
                stdout = stack.enter_context(open(p.stdout, "wb"))
            else:
                stdout = logs[i]
            argv = [TIME, "-f", "%M", "-o", f"/dev/fd/{peaks[i].fileno()}", *p.argv]
            proc = subprocess.Popen(
                argv,
                pass_fds=[peaks[i].fileno()],
                env=p.env,
                stdin=stdin or subprocess.DEVNULL,
                stdout=stdout,
                stderr=errs[i],
            )
            if previous is not None:
                previous.close()  # the next process owns the pipe's read end now
            previous = proc.stdout
            running.append(proc)
        sampler.start([proc.pid for proc in running])
        try:
            codes = [proc.wait() for proc in running]
            wall = time.perf_counter() - started
        finally:
            sampler.stop()
        for p, code, err in zip(procs, codes, errs, strict=True):
            if code != 0:
                err.seek(0)
                raise ToolFailed(
                    f"{p.name} ({' '.join(p.argv)}) exited {code}:\n"
                    + err.read().decode(errors="replace")[-3000:]
                )
        rss, workers, pss = {}, {}, {}
        for p, peak, proc in zip(procs, peaks, running, strict=True):
            peak.seek(0)
            own, worker = sampler.of(proc.pid, int(peak.read().split()[-1]))  # KiB
            rss[p.name], workers[p.name] = own + worker, worker
            pss[p.name] = sampler.pss.get(sampler.tools.get(proc.pid, -1), 0)
    command = {p.name: float(p.timing.read_text()) for p in procs if p.timing}
    return Measured(wall, rss, command, workers, pss)


def _tempfile(mode: str = "w+b"):
    import tempfile

    return tempfile.TemporaryFile(mode=mode)


def check(argv: list[str], **kwargs) -> str:
    """Run an unmeasured helper command; return its stdout."""
    result = subprocess.run(argv, capture_output=True, **kwargs)
    if result.returncode != 0:
        raise ToolFailed(
            f"{' '.join(map(str, argv))} exited {result.returncode}:\n"
            + result.stderr.decode(errors="replace")[-3000:]
        )
    return result.stdout.decode(errors="replace")


# --- backends -------------------------------------------------------------------------------


def _fingerprint() -> str:
    """Changes when the generated data could change: the example project (apps, migrations,
    generator, settings) or Django."""
    import django

    digest = hashlib.blake2b(digest_size=4)
    for path in sorted(EXAMPLE.rglob("*.py")):
        digest.update(str(path.relative_to(EXAMPLE)).encode() + b"\0" + path.read_bytes())
    digest.update(django.get_version().encode())
    return digest.hexdigest()


class Backend:
    """A database backend: sources, fresh targets, and its native dump and restore."""

    vendor = ""
    native_tool = ""
    native_suffix = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.fingerprint = _fingerprint()
        self.created: list[str] = []

    # names are SQLite paths or server database names
    def env(self, source: str | None = None, target: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        # Every tool runs as installed code does, from cached bytecode: where the environment
        # forbids writing it (as some CI images do), each run compiled the example project's
        # and streamdump's modules again, about 0.13 s that no deployment pays.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["EXAMPLE_DB"] = env["EXAMPLE_TARGET_DB"] = self.vendor
        if source:
            env["EXAMPLE_DB_NAME"] = source
        if target:
            env["EXAMPLE_TARGET_DB_NAME"] = target
        return env

    def manage(self, *args: str, source: str | None = None, target: str | None = None) -> str:
        return check(
            [sys.executable, str(EXAMPLE / "manage.py"), *args], env=self.env(source, target)
        )

    def digests(self, name: str) -> dict:
        """Row count and content digest of every table of a database (streamdump.digest)."""
        code = "import json, streamdump; print(json.dumps(streamdump.database_digests()))"
        return json.loads(self.manage("shell", "-c", code, source=name).splitlines()[-1])

    def source(self, rows: int, schema: str) -> tuple[str, int]:
        """A database whose `schema` holds about `rows` rows (cached); return (name, rows
        generated)."""
        CACHE.mkdir(parents=True, exist_ok=True)
        key = f"{self.vendor}-{schema}-{rows}-{self.fingerprint}"
        marker = CACHE / f"{key}.rows"
        name = self.source_name(rows, schema)
        if marker.exists() and self.exists(name):
            return name, int(marker.read_text())
        marker.unlink(missing_ok=True)
        self.drop_stale_sources(rows, schema)
        self.drop(name)
        self.create_empty(name)
        self.manage("migrate", "-v0", source=name)
        out = self.manage(*SCHEMAS[schema].generate, "--rows", str(rows), source=name)
        total = next(
            int(line.split()[-1]) for line in out.splitlines() if line.startswith("total ")
        )
        marker.write_text(str(total))
        return name, total

    def template(self) -> str:
        """A migrated, empty database to clone targets from (made once per run)."""
        name = self.temp_name("tmpl")
        self.create_empty(name)
        self.manage("migrate", "-v0", source=name)
        self._template = name
        return name

    def fresh_migrated(self) -> str:
        raise NotImplementedError

    def fresh_empty(self) -> str:
        name = self.temp_name("t")
        self.create_empty(name)
        return name

    def temp_name(self, kind: str) -> str:
        name = f"sdbench_{kind}_{uuid.uuid4().hex[:8]}"
        self.created.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.created:
            with contextlib.suppress(ToolFailed, OSError):
                self.drop(name)
        self.created = []

    # per backend
    def available(self) -> str | None:
        """None when usable, else the reason it is not."""
        raise NotImplementedError

    def source_name(self, rows: int, schema: str, fingerprint: str | None = None) -> str:
        return f"sdbench_src_{schema}_{rows}_{fingerprint or self.fingerprint}"

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def create_empty(self, name: str) -> None:
        raise NotImplementedError

    def drop(self, name: str) -> None:
        raise NotImplementedError

    def drop_stale_sources(self, rows: int, schema: str) -> None:
        """Sources of this schema and scale generated by other code more than a day ago.

        Younger ones stay: another run on this machine may be using them.
        """
        for marker in CACHE.glob(f"{self.vendor}-{schema}-{rows}-*.rows"):
            fingerprint = marker.stem.rsplit("-", 1)[1]
            if fingerprint != self.fingerprint and time.time() - marker.stat().st_mtime > 86400:
                self.drop(self.source_name(rows, schema, fingerprint))
                marker.unlink()

    def count(self, name: str, table: str) -> int:
        """Rows in one table of a database (to check that an import wrote everything)."""
        raise NotImplementedError

    def native_dump(self, source: str, out: Path) -> Proc:
        raise NotImplementedError

    def native_restore(self, dump: Path, target: str) -> Proc:
        raise NotImplementedError


class SQLite(Backend):
    vendor = "sqlite"
    native_tool = "sqlite3 .dump"
    native_suffix = ".sql"

    def available(self) -> str | None:
        return None if shutil.which("sqlite3") else "the sqlite3 command-line tool is missing"

    def path(self, name: str) -> Path:
        return Path(name) if name.startswith("/") else self.workdir / f"{name}.sqlite3"

    def source_name(self, rows: int, schema: str, fingerprint: str | None = None) -> str:
        return str(CACHE / f"sqlite-{schema}-{rows}-{fingerprint or self.fingerprint}.sqlite3")

    def temp_name(self, kind: str) -> str:
        return str(self.path(super().temp_name(kind)))

    def exists(self, name: str) -> bool:
        return Path(name).exists()

    def create_empty(self, name: str) -> None:
        Path(name).unlink(missing_ok=True)

    def drop(self, name: str) -> None:
        Path(name).unlink(missing_ok=True)

    def fresh_migrated(self) -> str:
        name = self.temp_name("t")
        shutil.copyfile(self._template, name)
        return name

    def count(self, name: str, table: str) -> int:
        return int(check(["sqlite3", name, f"SELECT count(*) FROM {table}"]))

    def native_dump(self, source: str, out: Path) -> Proc:
        return Proc("sqlite3", ["sqlite3", source, ".dump"], stdout=out)

    def native_restore(self, dump: Path, target: str) -> Proc:
        return Proc("sqlite3", ["sqlite3", target], stdin=dump)


class PostgreSQL(Backend):
    vendor = "postgresql"
    native_tool = "pg_dump -Fc"
    native_suffix = ".pgdump"

    def sql(self, statement: str, database: str = "postgres") -> str:
        return check(["psql", *PG, "-d", database, "-Atqc", statement])

    def available(self) -> str | None:
        if not all(shutil.which(t) for t in ("psql", "pg_dump", "pg_restore")):
            return "psql, pg_dump or pg_restore is missing"
        try:
            self.sql("SELECT 1")
        except (ToolFailed, OSError) as exc:
            return f"PostgreSQL does not answer on 127.0.0.1:5432: {exc}"
        return None

    def exists(self, name: str) -> bool:
        return self.sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"

    def create_empty(self, name: str) -> None:
        self.sql(f'CREATE DATABASE "{name}"')

    def drop(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def fresh_migrated(self) -> str:
        name = self.temp_name("t")
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return name

    def count(self, name: str, table: str) -> int:
        return int(self.sql(f"SELECT count(*) FROM {table}", name))

    def native_dump(self, source: str, out: Path) -> Proc:
        return Proc("pg_dump", ["pg_dump", *PG, "-Fc", "-d", source, "-f", str(out)])

    def native_restore(self, dump: Path, target: str) -> Proc:
        return Proc("pg_restore", ["pg_restore", *PG, "--exit-on-error", "-d", target, str(dump)])


class MariaDB(Backend):
    vendor = "mysql"
    native_tool = "mariadb-dump"
    native_suffix = ".sql"

    def sql(self, statement: str) -> str:
        return check(["mariadb", *MY, "-Nse", statement])

    def available(self) -> str | None:
        if not all(shutil.which(t) for t in ("mariadb", "mariadb-dump")):
            return "mariadb or mariadb-dump is missing"
        try:
            self.sql("SELECT 1")
        except (ToolFailed, OSError) as exc:
            return f"MariaDB does not answer on 127.0.0.1:3306: {exc}"
        return None

    def exists(self, name: str) -> bool:
        return bool(self.sql(f"SHOW DATABASES LIKE '{name}'").strip())

    def create_empty(self, name: str) -> None:
        # utf8mb4_bin, as the example project's tests use: unique text compares exactly.
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")

    def drop(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS `{name}`")

    def fresh_migrated(self) -> str:
        # No templates in MariaDB: copy the migrated template's schema and rows (unmeasured).
        name = self.fresh_empty()
        schema = self.workdir / "template.sql"
        if not schema.exists():
            with open(schema, "wb") as out:
                subprocess.run(["mariadb-dump", *MY, self._template], stdout=out, check=True)
        with open(schema, "rb") as stdin:
            subprocess.run(["mariadb", *MY, name], stdin=stdin, check=True)
        return name

    def count(self, name: str, table: str) -> int:
        return int(self.sql(f"SELECT count(*) FROM `{name}`.{table}"))

    def native_dump(self, source: str, out: Path) -> Proc:
        argv = ["mariadb-dump", *MY, "--single-transaction", source]
        return Proc("mariadb-dump", argv, stdout=out)

    def native_restore(self, dump: Path, target: str) -> Proc:
        return Proc("mariadb", ["mariadb", *MY, target], stdin=dump)


BACKENDS = {"sqlite": SQLite, "postgresql": PostgreSQL, "mysql": MariaDB}


# --- the tools ------------------------------------------------------------------------------

# What users run with dumpdata to get a fixture that loaddata accepts in a migrated database:
# rows the target creates itself are left out and referred to by natural keys.
DUMPDATA_ARGS = [
    "--natural-foreign",
    "--natural-primary",
    "-e",
    "contenttypes",
    "-e",
    "auth.Permission",
    "-e",
    "sessions",
]


def django_proc(
    name: str, backend: Backend, args: list[str], source=None, target=None, **kw
) -> Proc:
    timing = backend.workdir / f"timing-{uuid.uuid4().hex[:8]}"
    return Proc(
        name,
        [sys.executable, str(TIMED_MANAGE), str(timing), *args],
        env=backend.env(source, target),
        timing=timing,
        **kw,
    )


def export_proc(tool: str, backend: Backend, source: str, out: Path) -> Proc:
    if tool == "streamdump":
        return django_proc(tool, backend, ["dumpstream", "-o", str(out)], source=source)
    if tool in ("dumpdata-json", "dumpdata-jsonl"):
        fmt = tool.split("-")[1]
        args = ["dumpdata", *DUMPDATA_ARGS, "--format", fmt, "-o", str(out)]
        return django_proc(tool, backend, args, source=source)
    if tool == "native":
        return backend.native_dump(source, out)
    raise ValueError(tool)


def import_proc(tool: str, backend: Backend, dump: Path, target: str) -> Proc:
    if tool == "streamdump":
        args = ["loadstream", str(dump), "--database", "target"]
        return django_proc(tool, backend, args, target=target)
    if tool in ("loaddata-json", "loaddata-jsonl"):
        args = ["loaddata", str(dump), "--database", "target"]
        return django_proc(tool, backend, args, target=target)
    if tool == "native":
        return backend.native_restore(dump, target)
    raise ValueError(tool)


def pipe_procs(backend: Backend, source: str, target: str) -> list[Proc]:
    return [
        django_proc("export", backend, ["dumpstream", "-o", "-"], source=source),
        django_proc("import", backend, ["loadstream", "-", "--database", "target"], target=target),
    ]


SUFFIX = {
    "streamdump": ".ndjson.zst",
    "dumpdata-json": ".json",
    "dumpdata-jsonl": ".jsonl",
}
IMPORT_OF = {  # import tool -> the export tool whose output it reads
    "streamdump": "streamdump",
    "loaddata-json": "dumpdata-json",
    "loaddata-jsonl": "dumpdata-jsonl",
    "native": "native",
}
