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
