"""Write docs/BENCHMARKS.md and its plot from the results file of a benchmark run.

Usage: python -m benchmarks.report [RESULTS_JSON[,RESULTS_JSON...]] [OUTPUT_MD]

Several results files (runs on the same machine, e.g. one per backend) are reported together.
Each schema (benchmarks/harness.py SCHEMAS) gets its own targets, tables and plot.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from .harness import SCHEMAS
from .ratios import (
    MB,
    backends,
    find,
    of_schema,
    pipe_versus,
    rss_text,
    scales,
    schemas,
    seconds,
    size_versus_native,
    speedup,
    targets,
    versus_native,
)

ROOT = Path(__file__).resolve().parent.parent
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB"}
NATIVE = {
    "sqlite": ("sqlite3 .dump", "sqlite3 < dump.sql"),
    "postgresql": ("pg_dump -Fc", "pg_restore"),
    "mysql": ("mariadb-dump", "mariadb < dump.sql"),
}
ROWS = [
    ("export", "streamdump", "streamdump dumpstream"),
    ("export", "native", None),
    ("export", "dumpdata-json", "dumpdata (json)"),
    ("export", "dumpdata-jsonl", "dumpdata (jsonl)"),
    ("import", "streamdump", "streamdump loadstream"),
    ("import", "native", None),
    ("import", "loaddata-json", "loaddata (json)"),
    ("import", "loaddata-jsonl", "loaddata (jsonl)"),
    ("import", "loadstream-json", "loadstream of dumpdata's json (a fixture)"),
    ("pipe", "streamdump", "dumpstream -o - \\| loadstream -"),
]


def _label(backend: str, operation: str, tool: str, label: str | None) -> str:
    if label:
        return label
    return NATIVE[backend][0 if operation == "export" else 1]


def _size(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _table(results: list[dict], backend: str) -> list[str]:
    lines = [
        "| rows | operation | tool | time (s) | rows/s | peak RSS (MB) | output |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for rows in scales(results, backend):
        for operation, tool, label in ROWS:
            r = find(results, backend, rows, tool, operation)
            if r is None:
                continue
            rss = rss_text(r)
            lines.append(
                f"| {rows:,} | {operation} | {_label(backend, operation, tool, label)} "
                f"| {seconds(r):.2f} | {rows / seconds(r):,.0f} | {rss} "
                f"| {_size(r.get('bytes'))} |"
            )
    return lines


def _ratios(results: list[dict], backend: str) -> list[str]:
    lines = ["| comparison | ratio |", "| --- | ---: |"]
    for op, other, verb in (
        ("import", "loaddata-json", "import: times faster than loaddata (json)"),
        ("import", "loaddata-jsonl", "import: times faster than loaddata (jsonl)"),
        ("export", "dumpdata-json", "export: times faster than dumpdata (json)"),
        ("export", "dumpdata-jsonl", "export: times faster than dumpdata (jsonl)"),
    ):
        s = speedup(results, backend, op, other)
        if s:
            lines.append(f"| {verb}, {s[0]:,} rows | {s[1]:.1f}x |")
    for rows in reversed(scales(results, backend)):  # a fixture: loadstream against loaddata
        ours = find(results, backend, rows, "loadstream-json", "import")
        theirs = find(results, backend, rows, "loaddata-json", "import")
        if ours and theirs:
            ratio = seconds(theirs) / seconds(ours)
            lines.append(f"| fixture import: times faster than loaddata (json), {rows:,} rows "
                         f"| {ratio:.1f}x |")  # fmt: skip
            break
    dump, restore = NATIVE[backend]
    for op, tool in (("import", restore), ("export", dump)):
        for rows, ratio in versus_native(results, backend, op):
            lines.append(f"| {op}: streamdump time / {tool} time, {rows:,} rows | {ratio:.2f} |")
    for label, export_tool, import_tool in (
        ("dumpdata (json) then loaddata (json)", "dumpdata-json", "loaddata-json"),
        (f"{dump} then {restore}", "native", "native"),
        ("dumpstream then loadstream", "streamdump", "streamdump"),
    ):
        for rows, ratio in pipe_versus(results, backend, export_tool, import_tool)[-1:]:
            lines.append(f"| pipe: times faster than {label}, {rows:,} rows | {ratio:.2f}x |")
    for rows, ratio in size_versus_native(results, backend):
        lines.append(f"| output size: streamdump / {dump}, {rows:,} rows | {ratio:.2f} |")
    return lines


def plot(results: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = backends(results)
    fig, axes = plt.subplots(2, len(names), figsize=(5 * len(names), 8), squeeze=False)
    for col, backend in enumerate(names):
        for operation, tool, label in ROWS:
            points = [
                (rows, r)
                for rows in scales(results, backend)
                if (r := find(results, backend, rows, tool, operation))
            ]
            if not points:
                continue
            xs = [rows for rows, _ in points]
            name = f"{operation}: {_label(backend, operation, tool, label)}".replace("\\|", "|")
            style = "-" if tool == "streamdump" else "--" if tool == "native" else ":"
            axes[0][col].plot(xs, [rows / seconds(r) for rows, r in points], style, marker="o",
                              label=name)  # fmt: skip
            axes[1][col].plot(xs, [max(r["rss_kb_each"].values()) / MB for _, r in points], style,
                              marker="o", label=name)  # fmt: skip
        axes[0][col].set_title(f"{NAMES[backend]}: throughput")
        axes[1][col].set_title(f"{NAMES[backend]}: peak RSS")
        axes[0][col].set_ylabel("rows/s")
        axes[1][col].set_ylabel("MB")
        for row in (0, 1):
            axes[row][col].set_xscale("log")
            axes[row][col].set_xlabel("rows")
            axes[row][col].grid(True, which="both", alpha=0.3)
        axes[0][col].set_yscale("log")
        axes[1][col].axhline(150, color="red", linewidth=0.8, label="150 MB target")
    axes[0][0].legend(fontsize=7)
    axes[1][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def render(data: dict, png_names: dict[str, str] | None) -> str:
    """docs/BENCHMARKS.md from a results file; png_names: schema -> its plot's file name."""
    results, m = data["results"], data["machine"]
    out = [
        "# Benchmarks",
        "",
        "streamdump against `dumpdata`/`loaddata` and each backend's native dump and restore, on",
        "the same data in the same run. Written by `make bench` (`benchmarks/`, pytest-benchmark)",
        f"from a run on {data.get('date', 'an unrecorded date')}; do not edit by hand.",
        "",
        "## How it is measured",
        "",
        "- Data: two schemas, each filled by the example project's deterministic generator:",
        "  **inventory** (`manage.py generate --rows N`: narrow rows over many tables, relations,",
        "  trees, generic keys) and **textheavy** (`manage.py generate --schema textheavy --rows",
        "  N`: wide rows, about 1 kB each of text, JSON, binary, decimals and datetimes);",
        "  rows below are the rows it generated. Every import goes into a fresh database: a copy",
        "  of a migrated, empty one for streamdump and loaddata, an empty one for the native",
        "  restore (which creates its own schema, indexes included).",
        "- Each tool is its own process, run once under pytest-benchmark (`benchmark.pedantic`,",
        "  one round). **time** is the wall time pytest-benchmark measured for that run, start-up",
        "  included (the interpreter's and Django's, about 0.3 s, that streamdump and",
        "  dumpdata/loaddata both pay), the min column of the table it prints: the one measure of",
        "  this page. Every ratio, and the gate `make test` runs, is computed from it.",
        "  Django commands run with `DEBUG = False`.",
        "- dumpdata runs as users must run it for loaddata to accept its output in a migrated",
        "  database: `--natural-foreign --natural-primary -e contenttypes -e auth.Permission",
        "  -e sessions`, uncompressed.",
        f"- dumpdata and loaddata run up to {data['django_max']:,} rows; their ratios are given at",
        "  the largest scale where both ran.",
        "- **peak RSS** is measured from outside: `/usr/bin/time -f %M` (the kernel's",
        "  `ru_maxrss`) around each process; for the pipe it is export/import. A process that",
        "  forks a worker (streamdump's import decodes a section of 10,000 rows or more in a",
        "  forked process) counts with it: its own peak plus the worker's, both sampled from",
        "  /proc (`VmHWM`), shown as total (own + worker); pages they share after the fork are",
        "  counted twice. What the two hold together is measured too: the sum of their",
        "  proportional set sizes (`Pss` of `/proc/PID/smaps_rollup`: a page two processes",
        "  share counts half in each), read at one moment every 0.1 s, the largest sum shown",
        '  as "PSS". The memory targets (150 MB; fixtures 200 MB) are that sum, where it was',
        "  measured. Database servers are not counted.",
        "- The targets below are reported, never asserted: a busy machine must not fail a build.",
        "  What the benchmark tests assert (and `make test` runs at 2,000 rows of each schema,",
        "  `make bench-quick`): every streamdump import and pipe gives a database identical by",
        "  digest to the source, and streamdump imports faster than loaddata at all",
        "  (`STREAMDUMP_BENCH_MIN_IMPORT_SPEEDUP`, default 1), by the times of pytest-benchmark's",
        "  table, as the ratio summary printed after it shows them.",
        "- `STREAMDUMP_BENCH_SCHEMAS` picks the schemas (default both); `STREAMDUMP_BENCH_LARGE`",
        "  (off by default, e.g. `10000000`) adds a larger scale on SQLite and PostgreSQL.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory_gb']} GB",
        f"- OS: {m['os']}",
        f"- Python {m['python']}, Django {m['django']}, SQLite {m['sqlite3']},",
        f"  {m['pg_dump']}, {m['mariadb-dump']}",
        "",
    ]
    for schema in schemas(results):
        out += _schema_section(of_schema(results, schema), schema, (png_names or {}).get(schema))
    return "\n".join(out) + "\n"


def _schema_section(results: list[dict], schema: str, png_name: str | None) -> list[str]:
    """Targets, then a table and the ratios per backend, of one schema's results."""
    title = SCHEMAS[schema].title if schema in SCHEMAS else schema
    out = [
        "",
        f"## Schema: {title}",
        "",
        "### Targets",
        "",
        "| backend | target | met | measured |",
        "| --- | --- | --- | --- |",
    ]
    for backend, text, met, evidence in targets(results):
        mark = "not measured" if met is None else ("yes" if met else "**no**")
        out.append(f"| {NAMES[backend]} | {text} | {mark} | {evidence} |")
    out += ["", "Where a target is not met, [PERFORMANCE.md](PERFORMANCE.md) shows with profiles",
            "what bounds it."]  # fmt: skip
    if png_name:
        out += ["", f"![{schema}: throughput and peak RSS against rows]({png_name})"]
    for backend in backends(results):
        out += [
            "",
            f"### {NAMES[backend]} ({schema})",
            "",
            *_table(results, backend),
            "",
            *_ratios(results, backend),
        ]
    return out


def main(argv: list[str]) -> int:
    sources = argv[1].split(",") if len(argv) > 1 else [ROOT / ".benchmarks" / "results.json"]
    target = Path(argv[2]) if len(argv) > 2 else ROOT / "docs" / "BENCHMARKS.md"
    runs = [json.loads(Path(source).read_text()) for source in sources]
    data = runs[0]
    for run in runs[1:]:
        data["results"] += run["results"]
    data.setdefault("date", datetime.date.today().isoformat())
    target.parent.mkdir(parents=True, exist_ok=True)
    pngs = {}
    for schema in schemas(data["results"]):
        # The first schema's plot keeps the name it had before there were two.
        png = target.with_name("benchmarks.png" if not pngs else f"benchmarks-{schema}.png")
        if plot(of_schema(data["results"], schema), png):
            pngs[schema] = png.name
    target.write_text(render(data, pngs))
    plots = ", ".join(pngs.values())
    print(f"wrote {target}" + (f" and {plots}" if pngs else " (no matplotlib: no plot)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
