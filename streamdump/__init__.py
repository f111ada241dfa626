"""streamdump: export and import a whole Django database as zstd-compressed NDJSON.

Public API:
    export(stream, using="default", exclude=()) -> ExportSummary
    load(stream, using="default", clear=False) -> ImportSummary
    inspect(stream) -> InspectReport
"""

__version__ = "0.1.0"
