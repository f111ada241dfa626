"""A text-heavy schema for the benchmarks: long text, JSON, binary, decimals and datetimes per row.

Installed in the example project beside inventory; its tables stay empty unless
``manage.py generate --schema textheavy`` fills them (benchmarks/, STREAMDUMP_BENCH_SCHEMAS).
"""
