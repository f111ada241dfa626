"""streamdump against dumpdata/loaddata and the native tools, same data, same run.

pytest-benchmark times each tool, run once per backend and scale as its own process (rounds=1:
the large scales take minutes, and the ratios are an order of magnitude or more). The one measure
of the suite is the wall time pytest-benchmark measured (its table's min column, the only round):
the results file, every ratio, the gate and docs/BENCHMARKS.md use that number and no other.

Every import is checked: streamdump's, and the pipe's, must give a database identical by digest
to the source; the others must hold as many rows in the largest table.

The gates at the end assert nothing a busy machine can break: streamdump's import must be faster
than loaddata's at all (MIN_IMPORT_SPEEDUP, default 1), computed by ratios.import_speedups() from
pytest-benchmark's times, as the summary printed at the end of the run shows them (conftest.py);
the targets (50x, 20x, 2x the native tools) are reported by `make bench` in docs/BENCHMARKS.md,
not asserted.
"""

from __future__ import annotations

import os

import pytest

from .conftest import (
    BACKEND_NAMES,
    DJANGO_MAX,
    LARGE,
    SCALES,
    SCHEMA_NAMES,
    record,
    results,
    skip_large_elsewhere,
)
from .harness import IMPORT_OF, SCHEMAS, Measured, Result, export_proc, import_proc, pipe_procs, run
from .ratios import RSS_LIMIT_MB, import_speedups, of_schema, peak_memory

EXPORTS = ["streamdump", "native", "dumpdata-json", "dumpdata-jsonl"]
IMPORTS = ["streamdump", "native", "loaddata-json", "loaddata-jsonl"]
MIN_IMPORT_SPEEDUP = float(os.environ.get("STREAMDUMP_BENCH_MIN_IMPORT_SPEEDUP", "1"))

scale = pytest.mark.parametrize(
    "scale", SCALES + [n for n in LARGE if n not in SCALES], ids=lambda n: f"{n}rows"
)
vendor = pytest.mark.parametrize("vendor", BACKEND_NAMES)
schema = pytest.mark.parametrize("schema", SCHEMA_NAMES)


def _skip_slow_django_tool(tool: str, rows: int) -> None:
    if tool.startswith(("dumpdata", "loaddata")) and rows > DJANGO_MAX:
        pytest.skip(f"{tool} runs up to {DJANGO_MAX} rows (STREAMDUMP_BENCH_DJANGO_MAX)")


def _measure(benchmark, procs) -> Measured:
    """Run the processes once under pytest-benchmark: run()'s measures, with pytest-benchmark's
    wall time."""
    benchmark.extra_info["tools"] = [p.name for p in procs]
    measured = benchmark.pedantic(run, args=(procs,), rounds=1, iterations=1)
    if benchmark.stats is None:
        pytest.fail(
            "the benchmarks are timed by pytest-benchmark: run them without --benchmark-disable"
        )
    # The number pytest-benchmark's table prints (min of the single round), not run()'s own clock.
    return measured._replace(wall=benchmark.stats.stats.min)


def _keep(benchmark, result: Result) -> None:
    record(result)
    benchmark.extra_info.update(result.as_dict())


def _whole(backend, sources, schema: str, scale: int, source: str, target: str) -> None:
    """An import by streamdump gave the source's data: identical by digest (up to DJANGO_MAX
    rows; above, the largest table holds as many rows)."""
    if scale <= DJANGO_MAX:
        assert backend.digests(target) == sources.digests(backend, schema, scale)
    else:
        table = SCHEMAS[schema].check_table
        assert backend.count(target, table) == backend.count(source, table)


@scale
@pytest.mark.parametrize("tool", EXPORTS)
@schema
@vendor
def test_export(benchmark, backend, sources, vendor, schema, tool, scale):
    skip_large_elsewhere(vendor, scale)
    _skip_slow_django_tool(tool, scale)
    benchmark.group = f"{vendor} {schema} export {scale} rows"
    name, rows = sources.source(backend, schema, scale)
    out = sources.dump_path(backend, schema, scale, tool)
    out.unlink(missing_ok=True)
    wall, rss, command, workers, pss = _measure(benchmark, [export_proc(tool, backend, name, out)])
    sources.dumps[(vendor, schema, scale, tool)] = out
    seconds = command.get(tool)
    _keep(benchmark, Result(vendor, rows, tool, "export", wall, seconds, max(rss.values()), rss,
                            out.stat().st_size, schema, rss_kb_workers=workers,
                            pss_kb_each=pss))  # fmt: skip


@scale
@pytest.mark.parametrize("tool", IMPORTS)
@schema
@vendor
def test_import(benchmark, backend, sources, vendor, schema, tool, scale):
    skip_large_elsewhere(vendor, scale)
    _skip_slow_django_tool(tool, scale)
    benchmark.group = f"{vendor} {schema} import {scale} rows"
    source, rows = sources.source(backend, schema, scale)
    dump = sources.dump(backend, schema, scale, IMPORT_OF[tool])
    # The native restore creates its own schema; the others import into a migrated database.
    target = backend.fresh_empty() if tool == "native" else backend.fresh_migrated()
    try:
        wall, rss, command, workers, pss = _measure(
            benchmark, [import_proc(tool, backend, dump, target)]
        )
        if tool == "streamdump":
            _whole(backend, sources, schema, scale, source, target)
        else:
            table = SCHEMAS[schema].check_table
            assert backend.count(target, table) == backend.count(source, table)
    finally:
        backend.drop(target)
    _keep(benchmark, Result(vendor, rows, tool, "import", wall, command.get(tool),
                            max(rss.values()), rss, schema=schema,
                            rss_kb_workers=workers, pss_kb_each=pss))  # fmt: skip


@scale
@schema
@vendor
def test_pipe(benchmark, backend, sources, vendor, schema, scale):
    """dumpstream -o - | loadstream -: both ends bounded in memory, as over ssh."""
    skip_large_elsewhere(vendor, scale)
    benchmark.group = f"{vendor} {schema} pipe {scale} rows"
    source, rows = sources.source(backend, schema, scale)
    target = backend.fresh_migrated()
    try:
        wall, rss, _, workers, pss = _measure(benchmark, pipe_procs(backend, source, target))
        _whole(backend, sources, schema, scale, source, target)
    finally:
        backend.drop(target)
    _keep(benchmark, Result(vendor, rows, "streamdump", "pipe", wall, None, max(rss.values()), rss,
                            schema=schema, rss_kb_workers=workers, pss_kb_each=pss))  # fmt: skip


# --- gates (run after the measurements above, in definition order) ----------------------------


@schema
@vendor
def test_import_faster_than_loaddata(vendor, schema):
    """A floor only a real regression breaks: loaddata's wall time / streamdump's, as
    pytest-benchmark measured and printed them and the closing summary shows the ratio."""
    found = import_speedups(of_schema([r.as_dict() for r in results()], schema), vendor)
    if not found:
        pytest.skip(f"streamdump and loaddata did not both import {schema} on {vendor}")
    other, rows, ratio = min(found, key=lambda s: s[2])
    assert ratio >= MIN_IMPORT_SPEEDUP, (
        f"{vendor}: streamdump imports {rows} {schema} rows only {ratio:.2f}x as fast as "
        f"{other} (pytest-benchmark wall time; at least {MIN_IMPORT_SPEEDUP:g}x required)"
    )


@vendor
def test_peak_rss_bounded(vendor):
    measured = [r.as_dict() for r in results() if r.backend == vendor]
    if not measured:
        pytest.skip(f"nothing measured on {vendor} in this run")
    held, measure = peak_memory(measured)
    assert held < RSS_LIMIT_MB, f"{vendor}: a streamdump process held {held:.0f} MB ({measure})"
