"""Check a stream without a database: header, sections, row counts and integrity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO

from .errors import FormatError
from .fixtures import fixture_summary, sniff
from .reader import StreamReader


@dataclass
class InspectReport:
    """What a stream holds and whether it is intact."""

    kind: str = "streamdump"  # or "json" / "jsonl": a Django fixture
    header: dict | None = None
    sections: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def intact(self) -> bool:
        return self.error is None and (self.header is not None or self.kind != "streamdump")

    @property
    def total_rows(self) -> int:
        return sum(s["rows"] for s in self.sections)


def inspect_stream(stream: BinaryIO) -> InspectReport:
    """Read the whole stream, verifying every count and digest; never raises on bad input."""
    kind, stream = sniff(stream)
    report = InspectReport(kind="streamdump" if kind == "unknown" else kind)
    if report.kind != "streamdump":
        return _inspect_fixture(stream, report)
    try:
        reader = StreamReader(stream)
        report.header = reader.header
        for section in reader.sections():
            entry = {"model": section.model, "table": section.table, "phase": section.phase}
            entry["columns"] = len(section.columns)
            report.sections.append(entry)
            entry["rows"] = 0
            for _, rows in section.batches():
                entry["rows"] += len(rows)
            entry["digest"] = section.digest
    except FormatError as exc:
        report.error = str(exc)
    return report


def _inspect_fixture(stream, report: InspectReport) -> InspectReport:
    try:
        metadata, counts = fixture_summary(stream, report.kind)
    except FormatError as exc:
        report.error = str(exc)
        return report
    report.header = metadata
    report.sections = [{"model": m, "rows": n, "phase": "-"} for m, n in sorted(counts.items())]
    return report


def format_report(report: InspectReport) -> str:
    """The report as text for a terminal."""
    lines = []
    if report.kind != "streamdump":
        what = "JSON array" if report.kind == "json" else "JSON lines"
        lines.append(f"format:     Django fixture ({what}, as written by dumpdata)")
        for key in ("source_version", "django_version", "exported_at_utc", "comment"):
            if report.header and key in report.header:
                lines.append(f"{key + ':':<17}{report.header[key]}")
        lines.append("")
        lines.append(f"{'model':<44}{'objects':>12}")
        for section in report.sections:
            lines.append(f"{section['model']:<44}{section['rows']:>12}")
        lines.append(f"{'total':<44}{report.total_rows:>12}")
        lines.append("")
        lines.append("intact" if report.intact else f"DAMAGED: {report.error}")
        return "\n".join(lines)
    header = report.header
    if header:
        source = header.get("source") or {}
        lines.append(f"format:     {header.get('format')} v{header.get('version')}")
        lines.append(f"created:    {header.get('created')}")
        lines.append(
            f"source:     {source.get('vendor')} {source.get('database_version')}, "
            f"Django {source.get('django')}, Python {source.get('python')}, "
            f"streamdump {source.get('streamdump')}"
            + (f", app {source['app_version']}" if source.get("app_version") else "")
        )
        migrations = header.get("migrations") or {}
        lines.append(
            f"migrations: {sum(len(v) for v in migrations.values())} in {len(migrations)} apps"
        )
        lines.append("")
        lines.append(f"{'phase':<14}{'model':<44}{'rows':>12}")
        for section in report.sections:
            lines.append(f"{section['phase']:<14}{section['model']:<44}{section['rows']:>12}")
        lines.append(f"{'':<14}{'total':<44}{report.total_rows:>12}")
    lines.append("")
    lines.append("intact" if report.intact else f"DAMAGED: {report.error}")
    return "\n".join(lines)
