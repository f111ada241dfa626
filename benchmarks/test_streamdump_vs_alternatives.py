"""streamdump against dumpdata/loaddata and the native tools, same data, same run.

Each tool runs once per backend and scale as its own process (rounds=1: the large scales take
minutes, and the ratios are an order of magnitude or more). The gate at the end fails the run
when streamdump's import is not MIN_IMPORT_SPEEDUP times faster than loaddata.
"""

from __future__ import annotations

import os

import pytest

from .conftest import BACKEND_NAMES, DJANGO_MAX, SCALES, record, results
from .harness import IMPORT_OF, Result, export_proc, import_proc, pipe_procs, run
from .ratios import RSS_LIMIT_MB, peak_rss_mb, speedup

EXPORTS = ["streamdump", "native", "dumpdata-json", "dumpdata-jsonl"]
IMPORTS = ["streamdump", "native", "loaddata-json", "loaddata-jsonl"]
MIN_IMPORT_SPEEDUP = float(os.environ.get("STREAMDUMP_BENCH_MIN_IMPORT_SPEEDUP", "10"))
CHECK_TABLE = "inventory_stockmovement"  # the largest table: a cheap check that imports are whole

scale = pytest.mark.parametrize("scale", SCALES, ids=lambda n: f"{n}rows")
vendor = pytest.mark.parametrize("vendor", BACKEND_NAMES)


def _skip_slow_django_tool(tool: str, rows: int) -> None:
    if tool.startswith(("dumpdata", "loaddata")) and rows > DJANGO_MAX:
        pytest.skip(f"{tool} runs up to {DJANGO_MAX} rows (STREAMDUMP_BENCH_DJANGO_MAX)")


def _measure(benchmark, procs, setup=None):
    benchmark.extra_info["tools"] = [p.name for p in procs]
    return benchmark.pedantic(run, args=(procs,), setup=setup, rounds=1, iterations=1)


def _keep(benchmark, result: Result) -> None:
    record(result)
    benchmark.extra_info.update(result.as_dict())


@scale
@pytest.mark.parametrize("tool", EXPORTS)
@vendor
def test_export(benchmark, backend, sources, vendor, tool, scale):
    _skip_slow_django_tool(tool, scale)
    benchmark.group = f"{vendor} export {scale} rows"
    name, rows = sources.source(backend, scale)
    out = sources.dump_path(backend, scale, tool)
    out.unlink(missing_ok=True)
    wall, rss, command = _measure(benchmark, [export_proc(tool, backend, name, out)])
    sources.dumps[(vendor, scale, tool)] = out
    seconds = command.get(tool)
    _keep(benchmark, Result(vendor, rows, tool, "export", wall, seconds, max(rss.values()), rss,
                            out.stat().st_size))  # fmt: skip


@scale
@pytest.mark.parametrize("tool", IMPORTS)
@vendor
def test_import(benchmark, backend, sources, vendor, tool, scale):
    _skip_slow_django_tool(tool, scale)
    benchmark.group = f"{vendor} import {scale} rows"
    source, rows = sources.source(backend, scale)
    dump = sources.dump(backend, scale, IMPORT_OF[tool])
    # The native restore creates its own schema; the others import into a migrated database.
    target = backend.fresh_empty() if tool == "native" else backend.fresh_migrated()
    try:
        wall, rss, command = _measure(benchmark, [import_proc(tool, backend, dump, target)])
        assert backend.count(target, CHECK_TABLE) == backend.count(source, CHECK_TABLE)
    finally:
        backend.drop(target)
    _keep(benchmark, Result(vendor, rows, tool, "import", wall, command.get(tool),
                            max(rss.values()), rss))  # fmt: skip


@scale
@vendor
def test_pipe(benchmark, backend, sources, vendor, scale):
    """dumpstream -o - | loadstream -: both ends bounded in memory, as over ssh."""
    benchmark.group = f"{vendor} pipe {scale} rows"
    source, rows = sources.source(backend, scale)
    target = backend.fresh_migrated()
    try:
        wall, rss, _ = _measure(benchmark, pipe_procs(backend, source, target))
        assert backend.count(target, CHECK_TABLE) == backend.count(source, CHECK_TABLE)
    finally:
        backend.drop(target)
    _keep(benchmark, Result(vendor, rows, "streamdump", "pipe", wall, None, max(rss.values()), rss))


# --- gates (run after the measurements above, in definition order) ----------------------------


@vendor
def test_import_faster_than_loaddata(vendor):
    measured = [r.as_dict() for r in results()]
    found = [speedup(measured, vendor, "import", t) for t in ("loaddata-json", "loaddata-jsonl")]
    found = [s for s in found if s]
    if not found:
        pytest.skip(f"streamdump and loaddata did not both import on {vendor} in this run")
    rows, ratio = min(found, key=lambda s: s[1])
    assert ratio >= MIN_IMPORT_SPEEDUP, (
        f"{vendor}: streamdump imports {rows} rows only {ratio:.1f}x faster than loaddata "
        f"(at least {MIN_IMPORT_SPEEDUP:g}x required)"
    )


@vendor
def test_peak_rss_bounded(vendor):
    measured = [r.as_dict() for r in results() if r.backend == vendor]
    if not measured:
        pytest.skip(f"nothing measured on {vendor} in this run")
    peak = peak_rss_mb(measured)
    assert peak < RSS_LIMIT_MB, f"{vendor}: a streamdump process peaked at {peak:.0f} MB"
