"""loadstream reading the fixture dumpdata wrote (JSON array, natural keys), against loaddata.

The fixture is the dumpdata-json dump of the main benchmark (made unmeasured when its export
did not run, at every scale: dumpdata keeps its memory flat, loaddata does not). The import is
checked: every table holds the source's row count. The targets (memory under
FIXTURE_RSS_LIMIT_MB at any scale, as ratios.peak_memory measures it; 20x loaddata's speed) are
reported in docs/BENCHMARKS.md; only the memory bound is asserted, which a busy machine cannot
break.
"""

from __future__ import annotations

import pytest

from .conftest import BACKEND_NAMES, DJANGO_MAX, SCALES, SCHEMA_NAMES, record, results
from .harness import SCHEMAS, Result, django_proc, run
from .ratios import peak_memory

FIXTURE_RSS_LIMIT_MB = 200
TOOL = "loadstream-json"  # streamdump's import of dumpdata's JSON array

scale = pytest.mark.parametrize("scale", SCALES, ids=lambda n: f"{n}rows")
vendor = pytest.mark.parametrize("vendor", BACKEND_NAMES)


@scale
@pytest.mark.parametrize("schema", SCHEMA_NAMES)
@vendor
def test_fixture_import(backend, sources, vendor, schema, scale):
    source, rows = sources.source(backend, schema, scale)
    fixture = sources.dump(backend, schema, scale, "dumpdata-json")
    target = backend.fresh_migrated()
    try:
        args = ["loadstream", str(fixture), "--database", "target", "--no-progress"]
        measured = run([django_proc(TOOL, backend, args, target=target)])
        if scale <= DJANGO_MAX:
            expected = sources.digests(backend, schema, scale)
            counts = {label: v[0] for label, v in backend.digests(target).items()}
            assert counts == {label: v[0] for label, v in expected.items()}
        else:
            table = SCHEMAS[schema].check_table
            assert backend.count(target, table) == backend.count(source, table)
    finally:
        backend.drop(target)
    wall, rss, command, workers, pss = measured
    record(Result(vendor, rows, TOOL, "import", wall, command.get(TOOL), max(rss.values()), rss,
                  schema=schema, rss_kb_workers=workers, pss_kb_each=pss))  # fmt: skip


@vendor
def test_fixture_import_memory_bounded(vendor):
    measured = [r for r in results() if r.backend == vendor and r.tool == TOOL]
    if not measured:
        pytest.skip(f"no fixture import measured on {vendor} in this run")
    held, measure = peak_memory([r.as_dict() for r in measured], tool=TOOL)
    assert held < FIXTURE_RSS_LIMIT_MB, (
        f"{vendor}: loadstream of a fixture held {held:.0f} MB ({measure})"
    )
