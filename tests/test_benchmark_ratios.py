"""benchmarks/ratios.py: every ratio divides the one measure, pytest-benchmark's wall time."""

import pytest

from benchmarks import ratios

# Its subject does not depend on Django's version (arithmetic on results): `make compat` leaves
# it out, it runs in the main venv.
pytestmark = pytest.mark.version_independent


def _result(backend, rows, tool, operation, wall, command=None):
    return {
        "backend": backend,
        "rows": rows,
        "tool": tool,
        "operation": operation,
        "wall": wall,
        "command": command,
        "rss_kb_each": {tool: 1024},
        "bytes": None,
    }


def test_import_speedup_divides_wall_times_and_ignores_command_times():
    results = [
        # The command times say 10x; the wall times pytest-benchmark measured say 4x.
        _result("sqlite", 100, "streamdump", "import", wall=2.0, command=1.0),
        _result("sqlite", 100, "loaddata-json", "import", wall=8.0, command=10.0),
    ]
    assert ratios.import_speedups(results, "sqlite") == [("loaddata-json", 100, 4.0)]


def test_speedup_is_taken_at_the_largest_scale_where_both_ran():
    results = [
        _result("mysql", 10, "streamdump", "import", wall=1.0),
        _result("mysql", 10, "loaddata-jsonl", "import", wall=3.0),
        _result("mysql", 100, "streamdump", "import", wall=2.0),
        _result("mysql", 100, "loaddata-jsonl", "import", wall=10.0),
        _result("mysql", 1000, "streamdump", "import", wall=20.0),  # loaddata did not run here
    ]
    assert ratios.speedup(results, "mysql", "import", "loaddata-jsonl") == (100, 5.0)


def test_versus_native_divides_the_same_measure():
    results = [
        _result("postgresql", 100, "streamdump", "import", wall=3.0, command=2.5),
        _result("postgresql", 100, "native", "import", wall=2.0),
    ]
    assert ratios.versus_native(results, "postgresql", "import") == [(100, 1.5)]


def test_each_schema_is_compared_within_itself():
    results = [
        _result("sqlite", 100, "streamdump", "import", wall=2.0),  # no schema: inventory
        _result("sqlite", 100, "loaddata-json", "import", wall=8.0),
        {**_result("sqlite", 100, "streamdump", "import", wall=1.0), "schema": "textheavy"},
        {**_result("sqlite", 100, "loaddata-json", "import", wall=5.0), "schema": "textheavy"},
    ]
    assert ratios.schemas(results) == ["inventory", "textheavy"]
    wide = ratios.of_schema(results, "textheavy")
    assert ratios.import_speedups(wide, "sqlite") == [("loaddata-json", 100, 5.0)]
    narrow = ratios.of_schema(results, "inventory")
    assert ratios.import_speedups(narrow, "sqlite") == [("loaddata-json", 100, 4.0)]


def test_the_pipe_is_compared_with_an_export_then_an_import():
    results = [
        _result("postgresql", 100, "streamdump", "pipe", wall=2.0),
        _result("postgresql", 100, "native", "export", wall=1.0),
        _result("postgresql", 100, "native", "import", wall=2.0),
    ]
    assert ratios.pipe_versus(results, "postgresql", "native", "native") == [(100, 1.5)]
    assert ratios.pipe_versus(results, "postgresql", "dumpdata-json", "loaddata-json") == []


def test_the_report_has_a_section_per_schema():
    from benchmarks.report import render

    results = [
        {**_result("sqlite", 100, tool, "import", wall=wall), "schema": schema}
        for schema in ("inventory", "textheavy")
        for tool, wall in (("streamdump", 1.0), ("loaddata-json", 3.0))
    ]
    machine = dict.fromkeys(["cpu", "cores", "memory_gb", "os", "python", "django", "sqlite3",
                             "pg_dump", "mariadb-dump"], "x")  # fmt: skip
    text = render({"results": results, "machine": machine, "django_max": 100}, None)
    for schema in ("inventory", "textheavy"):
        assert f"## Schema: {schema} (" in text
        assert f"### SQLite ({schema})" in text
    assert text.count("| import: times faster than loaddata (json), 100 rows | 3.0x |") == 2


def test_a_forked_worker_counts_in_the_peak_rss_and_the_target():
    from benchmarks.report import render

    result = {
        **_result("sqlite", 100, "streamdump", "import", wall=1.0),
        "rss_kb_each": {"streamdump": 130 * 1024},
        "rss_kb_workers": {"streamdump": 60 * 1024},
    }
    assert ratios.rss_text(result) == "130 (70 + 60)"
    assert ratios.peak_rss_mb([result], "sqlite") == 130
    machine = dict.fromkeys(["cpu", "cores", "memory_gb", "os", "python", "django", "sqlite3",
                             "pg_dump", "mariadb-dump"], "x")  # fmt: skip
    text = render({"results": [result], "machine": machine, "django_max": 100}, None)
    assert "| 130 (70 + 60) |" in text
    assert "| 130 MB (70 MB + its decode worker's 60 MB) |" in text


def test_the_memory_target_takes_what_process_and_worker_held_together():
    """Where PSS was measured, it is the target's measure: the peak RSS of the two counts the
    pages they share since the fork twice."""
    result = {
        **_result("sqlite", 100, "streamdump", "import", wall=1.0),
        "rss_kb_each": {"streamdump": 160 * 1024},
        "rss_kb_workers": {"streamdump": 70 * 1024},
        "pss_kb_each": {"streamdump": 120 * 1024},
    }
    assert ratios.rss_text(result) == "160 (90 + 70), PSS 120"
    assert ratios.peak_memory([result], "sqlite") == (120, "PSS, own + worker")
    (memory,) = [t for t in ratios.targets([result]) if t[1].startswith("memory")]
    assert memory[2] is True
    assert memory[3].startswith("120 MB held together (PSS); peak RSS 160 MB (90 MB")
    over = {**result, "pss_kb_each": {"streamdump": 151 * 1024}}
    assert [t[2] for t in ratios.targets([over]) if t[1].startswith("memory")] == [False]
    fixture = {**result, "tool": "loadstream-json"}
    assert ratios.peak_memory([fixture], "sqlite", tool="loadstream-json")[0] == 120
    assert ratios.peak_memory([fixture], "sqlite")[0] == 0  # not streamdump's own import


# Child: touches 64 MiB, then exits; the parent, small, waits for it (as the import reaps its
# decode worker, so that /usr/bin/time's ru_maxrss is the larger of the two, not their sum).
_FORKING = """
import os, time
pid = os.fork()
if pid == 0:
    block = b"x" * (64 << 20)
    time.sleep(0.5)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_the_harness_adds_a_forked_workers_peak_rss(tmp_path):
    import shutil
    import sys

    from benchmarks.harness import TIME, Proc, run

    if not shutil.which(TIME):
        pytest.skip(f"{TIME} (GNU time) is missing")
    _, rss, _, workers, pss = run([Proc("tool", [sys.executable, "-c", _FORKING])])
    own = rss["tool"] - workers["tool"]
    assert workers["tool"] >= 64 * 1024
    assert own < 48 * 1024  # the parent's own peak, not the child's
    assert rss["tool"] >= 64 * 1024 + own
    # Sampled while the child held its block: both processes together, shared pages once.
    assert 64 * 1024 <= pss["tool"] <= rss["tool"]
