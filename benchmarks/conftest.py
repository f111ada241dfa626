"""Fixtures for the benchmark suite: scales, schemas, backends, sources, dumps and the results file.

Environment:
- STREAMDUMP_BENCH_SCALES: comma-separated row counts (default 10000,100000,1000000);
- STREAMDUMP_BENCH_SCHEMAS: the schemas measured, inventory,textheavy by default (harness.SCHEMAS);
- STREAMDUMP_BENCH_LARGE: an optional larger scale, off by default (e.g. 10000000), measured on
  LARGE_BACKENDS only (SQLite and PostgreSQL, as issue 15 asks); dumpdata/loaddata skip it;
- STREAMDUMP_BENCH_BACKENDS: sqlite,postgresql,mysql by default; unreachable servers are skipped;
- STREAMDUMP_BENCH_DJANGO_MAX: largest scale at which dumpdata/loaddata run (default 100000);
- STREAMDUMP_BENCH_RESULTS: where the measurements go (default .benchmarks/results.json),
  read by benchmarks/report.py: pytest-benchmark's time of each run (the same number its table
  prints), with the peak RSS, output size and command time the run reported.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from . import ratios
from .harness import BACKENDS, ROOT, SCHEMAS, SUFFIX, Backend, Result, export_proc, run


def _ints(name: str, default: str) -> list[int]:
    return [int(x) for x in os.environ.get(name, default).replace(",", " ").split()]


SCALES = _ints("STREAMDUMP_BENCH_SCALES", "10000,100000,1000000")
LARGE = _ints("STREAMDUMP_BENCH_LARGE", "")
LARGE_BACKENDS = ("sqlite", "postgresql")
SCHEMA_NAMES = os.environ.get("STREAMDUMP_BENCH_SCHEMAS", ",".join(SCHEMAS)).split(",")
for _name in SCHEMA_NAMES:
    if _name not in SCHEMAS:
        raise pytest.UsageError(f"STREAMDUMP_BENCH_SCHEMAS: unknown schema {_name!r} ({SCHEMAS})")
BACKEND_NAMES = os.environ.get("STREAMDUMP_BENCH_BACKENDS", "sqlite,postgresql,mysql").split(",")
DJANGO_MAX = _ints("STREAMDUMP_BENCH_DJANGO_MAX", "100000")[0]
RESULTS = Path(os.environ.get("STREAMDUMP_BENCH_RESULTS", ROOT / ".benchmarks" / "results.json"))

_results: list[Result] = []


def record(result: Result) -> None:
    _results.append(result)


def results() -> list[Result]:
    return list(_results)


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        return out.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "missing"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    import django

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite3": _version(["sqlite3", "--version"]).split(" ")[0],
        "pg_dump": _version(["pg_dump", "--version"]),
        "mariadb-dump": _version(["mariadb-dump", "--version"]),
    }


def pytest_sessionfinish(session, exitstatus):
    if not _results:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "scales": sorted({*SCALES, *LARGE}),
        "schemas": SCHEMA_NAMES,
        "django_max": DJANGO_MAX,
        "results": [r.as_dict() for r in _results],
    }
    RESULTS.write_text(json.dumps(data, indent=1))


# trylast: after pytest-benchmark's table, whose times these ratios divide.
@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The ratios the gate checks, from the times of pytest-benchmark's table."""
    if not _results:
        return
    write = terminalreporter.write_line
    terminalreporter.section("streamdump's import against loaddata")
    write("loaddata's wall time / streamdump's: the min (single round) of pytest-benchmark's table")
    write("(test_import_faster_than_loaddata asserts these numbers; the targets are in make bench)")
    everything = [r.as_dict() for r in _results]
    for schema in ratios.schemas(everything):
        measured = ratios.of_schema(everything, schema)
        for vendor in ratios.backends(measured):
            for other, rows, ratio in ratios.import_speedups(measured, vendor):
                ours = ratios.find(measured, vendor, rows, "streamdump", "import")
                theirs = ratios.find(measured, vendor, rows, other, "import")
                write(f"  {schema:<10} {vendor:<11} {other:<15} {rows:>10,} rows  "
                      f"{ratios.seconds(theirs):8.3f} s / {ratios.seconds(ours):7.3f} s "
                      f"= {ratio:6.2f}x")  # fmt: skip


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="streamdump-bench-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


_backends: dict[str, Backend] = {}


@pytest.fixture(scope="session")
def backends(workdir):
    yield _backends
    for backend in _backends.values():
        backend.cleanup()


@pytest.fixture
def backend(request, backends, workdir) -> Backend:
    """The backend named by the test's `vendor` parameter; skipped when it is not reachable."""
    vendor = request.node.callspec.params["vendor"]
    if vendor not in backends:
        candidate = BACKENDS[vendor](workdir / vendor)
        candidate.workdir.mkdir(exist_ok=True)
        reason = candidate.available()
        if reason:
            pytest.skip(reason)
        candidate.template()
        backends[vendor] = candidate
    return backends[vendor]


class Sources:
    """Generated source databases (per backend, schema and scale) and the dumps each export tool
    wrote from them."""

    def __init__(self) -> None:
        self.sources: dict[tuple[str, str, int], tuple[str, int]] = {}
        self.dumps: dict[tuple[str, str, int, str], Path] = {}
        self.source_digests: dict[tuple[str, str, int], dict] = {}

    def source(self, backend: Backend, schema: str, scale: int) -> tuple[str, int]:
        key = (backend.vendor, schema, scale)
        if key not in self.sources:
            self.sources[key] = backend.source(scale, schema)
        return self.sources[key]

    def digests(self, backend: Backend, schema: str, scale: int) -> dict:
        """The source's digests, what every streamdump import must reproduce."""
        key = (backend.vendor, schema, scale)
        if key not in self.source_digests:
            self.source_digests[key] = backend.digests(self.source(backend, schema, scale)[0])
        return self.source_digests[key]

    def dump_path(self, backend: Backend, schema: str, scale: int, tool: str) -> Path:
        suffix = SUFFIX.get(tool, backend.native_suffix)
        return backend.workdir / f"{schema}-{scale}-{tool}{suffix}"

    def dump(self, backend: Backend, schema: str, scale: int, tool: str) -> Path:
        """The dump of this tool, made now (unmeasured) when its export test did not run."""
        key = (backend.vendor, schema, scale, tool)
        if key not in self.dumps:
            name, _ = self.source(backend, schema, scale)
            out = self.dump_path(backend, schema, scale, tool)
            run([export_proc(tool, backend, name, out)])
            self.dumps[key] = out
        return self.dumps[key]


@pytest.fixture(scope="session")
def sources() -> Sources:
    return Sources()


def skip_large_elsewhere(vendor: str, scale: int) -> None:
    """The optional large scale (STREAMDUMP_BENCH_LARGE) runs on LARGE_BACKENDS only."""
    if scale in LARGE and scale not in SCALES and vendor not in LARGE_BACKENDS:
        pytest.skip(f"STREAMDUMP_BENCH_LARGE runs on {', '.join(LARGE_BACKENDS)} only")
